"""Fixtures of the CLI suite (helpers live in ``cli_support``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from chatplug.testing import FakeServer
from cli_support import UserDirs


def _require_plugins() -> None:
    import importlib.util

    missing = [name for name in ("chatplug_glm", "chatplug_kimi") if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"the CLI suite replays GLM and Kimi transcripts; not installed: {', '.join(missing)}")


@pytest.fixture(autouse=True)
def _providers_installed() -> None:
    _require_plugins()


@pytest.fixture(autouse=True)
def user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> UserDirs:
    """A fresh HOME, data and config directory per test: no test reads or writes the developer's
    log or keys, and each starts with an empty log and key store."""
    dirs = UserDirs(home=tmp_path / "home", data=tmp_path / "data", config=tmp_path / "config")
    for path in (dirs.home, dirs.data, dirs.config):
        path.mkdir()
    monkeypatch.setenv("HOME", str(dirs.home))
    monkeypatch.setenv("XDG_DATA_HOME", str(dirs.data))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(dirs.config))
    monkeypatch.delenv("APPDATA", raising=False)
    monkeypatch.delenv("LOCALAPPDATA", raising=False)
    return dirs


@pytest.fixture
def server() -> Iterator[FakeServer]:
    """A fresh scripted loopback server, started in the test process."""
    with FakeServer() as fake:
        yield fake
