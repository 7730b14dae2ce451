"""The suite's own guards (issue 11, item 4): the Hypothesis profile tox selects is the one loaded,
and a run that promises a plugin stops with an error when the plugin is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hypothesis import settings

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent


def test_the_selected_hypothesis_profile_is_loaded() -> None:
    name = os.environ.get("HYPOTHESIS_PROFILE") or "dev"
    profile = settings.get_profile(name)  # raises if tests/conftest.py did not register it
    current = settings()
    assert (current.derandomize, current.database, current.deadline, current.print_blob) == (
        profile.derandomize, profile.database, profile.deadline, profile.print_blob,
    )


def test_the_ci_profile_is_deterministic_and_has_no_deadline() -> None:
    ci = settings.get_profile("ci")
    assert ci.derandomize is True
    assert ci.database is None
    assert ci.deadline is None


def _collect(require: str, profile: str = "ci") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CHATPLUG_TEST_REQUIRE_PLUGINS", "HYPOTHESIS_PROFILE")}
    env.update(CHATPLUG_TEST_REQUIRE_PLUGINS=require, HYPOTHESIS_PROFILE=profile)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider",
         str(Path(__file__).with_name("test_core_retry_class.py"))],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False,
    )


def test_a_missing_required_plugin_stops_the_run_with_an_error() -> None:
    done = _collect("chatplug, chatplug_surely_not_installed_anywhere")
    assert done.returncode == 4, done.stdout + done.stderr  # pytest's usage error: the tox env fails
    assert ("CHATPLUG_TEST_REQUIRE_PLUGINS says this run tests chatplug_surely_not_installed_anywhere, "
            "but it is not installed") in done.stderr


def test_installed_required_plugins_let_the_run_go_on() -> None:
    done = _collect("chatplug")
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_unknown_hypothesis_profile_is_an_error() -> None:
    done = _collect("", profile="no-such-profile")
    assert done.returncode != 0
    assert "Profile 'no-such-profile' is not registered" in done.stdout + done.stderr
