"""The pytest plugin: fixtures for tests that use chatplug.

Opt in from a ``conftest.py`` (it is never loaded automatically)::

    pytest_plugins = ["chatplug.testing"]

Fixtures:

- ``chatplug_registry``: an isolated :class:`~chatplug.PluginRegistry` that
  loads no installed plugin and reads no config file; register yours with
  ``chatplug_registry.register(plugin)``.
- ``chatplug_env``: the environment with every provider key, base-URL override
  and ``CHATPLUG_*`` variable removed, and the providers config file pointed at
  an empty place. It is a :class:`pytest.MonkeyPatch`: ``chatplug_env.setenv(...)``.
- ``fake_server``: a running :class:`~chatplug.testing.FakeServer`, stopped
  after the test. Works from sync and async tests (it runs in its own thread).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatplug.plugins import PluginRegistry
from chatplug.testing._server import FakeServer

__all__ = ["SCRUBBED_ENV_PATTERN", "chatplug_env", "chatplug_registry", "fake_server", "scrub_environment"]

#: Environment variable names removed by ``chatplug_env``: API keys and tokens,
#: base-URL overrides, and chatplug's own settings.
SCRUBBED_ENV_PATTERN = re.compile(r"(_API_KEY|_API_TOKEN|_ACCESS_TOKEN|_BASE_URL)$|^CHATPLUG_")


def scrub_environment(monkeypatch: pytest.MonkeyPatch, config_dir: Path) -> list[str]:
    """Remove provider keys, base-URL overrides and ``CHATPLUG_*`` variables
    from ``os.environ`` (restored by ``monkeypatch``), and point the providers
    config file at ``config_dir``. Returns the names removed."""
    removed = sorted(name for name in os.environ if SCRUBBED_ENV_PATTERN.search(name))
    for name in removed:
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_dir))
    return removed


@pytest.fixture
def chatplug_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """The environment scrubbed of provider keys; set what a test needs with ``.setenv``."""
    scrub_environment(monkeypatch, tmp_path / "xdg-config")
    return monkeypatch


@pytest.fixture
def chatplug_registry() -> PluginRegistry:
    """An isolated plugin registry: no installed plugin, no config file, strict loading."""
    return PluginRegistry(load_entrypoints=False, strict=True)


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    """A running FakeServer on 127.0.0.1 (ephemeral port), stopped after the test."""
    with FakeServer() as server:
        yield server
