"""Settings every test folder shares: the Hypothesis profile, and the plugins a tox env promises.

- ``HYPOTHESIS_PROFILE`` picks one of the profiles registered here (tox sets
  ``ci``); unset, ``dev`` is loaded. An unknown name is an error, not a
  silent fallback.
- ``CHATPLUG_TEST_REQUIRE_PLUGINS`` (set by the tox envs that install plugins)
  names the import packages the run must have, comma-separated. If one is
  missing, the run stops with an error before any test: a suite that needs a
  plugin never quietly skips in the env that is meant to test it.
- A run started with SIGINT ignored (``pytest &`` or ``tox &`` from a
  non-interactive shell) gets the default back, so the commands the tests
  start can be interrupted with Ctrl-C as a user's can: a child inherits an
  ignored SIGINT, and Python leaves an ignored SIGINT ignored.
"""

from __future__ import annotations

import importlib.util
import os
import signal

import pytest

#: The environment variable naming the plugins a run must have.
REQUIRE_ENV = "CHATPLUG_TEST_REQUIRE_PLUGINS"


def _register_hypothesis_profiles() -> None:
    try:
        from hypothesis import HealthCheck, settings
    except ImportError:  # an env without Hypothesis runs no property test
        return
    # CI: the same examples on every run (a red build reproduces locally with
    # HYPOTHESIS_PROFILE=ci), no example database to carry between runs, no
    # deadline on a shared, noisy machine, and the reproduction blob printed.
    settings.register_profile(
        "ci",
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    # Local runs: fresh random examples each time, failures remembered in .hypothesis/.
    settings.register_profile("dev", deadline=None, print_blob=True)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or "dev")


_register_hypothesis_profiles()


def _interruptible_children() -> None:
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a caught signal is SIG_DFL again after exec


_interruptible_children()


def required_plugins(environ: os._Environ[str] | dict[str, str] = os.environ) -> list[str]:
    """The import names listed in ``CHATPLUG_TEST_REQUIRE_PLUGINS``."""
    return [name.strip() for name in environ.get(REQUIRE_ENV, "").split(",") if name.strip()]


def pytest_configure(config: pytest.Config) -> None:
    missing = [name for name in required_plugins() if importlib.util.find_spec(name) is None]
    if missing:
        raise pytest.UsageError(
            f"{REQUIRE_ENV} says this run tests {', '.join(missing)}, but it is not installed: "
            "install it (tox installs it in its env) instead of letting its tests skip"
        )
