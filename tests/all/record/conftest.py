"""Fixtures of the recording suite (helpers live in ``record_support``)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest
from chatplug.testing import FakeServer
from chatplug.testing._fixtures import scrub_environment


@pytest.fixture(autouse=True)
def _glm_installed(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The suite records through the installed GLM and Kimi providers, in an environment without real keys."""
    missing = [name for name in ("chatplug_glm", "chatplug_kimi") if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"the recording suite records through GLM and Kimi; not installed: {', '.join(missing)}")
    scrub_environment(monkeypatch, tmp_path_factory.mktemp("xdg"), ["ZAI_API_KEY", "MOONSHOT_API_KEY"])


@pytest.fixture
def server() -> Iterator[FakeServer]:
    """A scripted loopback server standing in for the provider."""
    with FakeServer() as fake:
        yield fake
