"""Fixtures of the CLI suite (helpers live in ``cli_support``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chatplug.testing import FakeServer


def _require_plugins() -> None:
    import importlib.util

    missing = [name for name in ("chatplug_glm", "chatplug_kimi") if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"the CLI suite replays GLM and Kimi transcripts; not installed: {', '.join(missing)}")


@pytest.fixture(autouse=True)
def _providers_installed() -> None:
    _require_plugins()


@pytest.fixture
def server() -> Iterator[FakeServer]:
    """A fresh scripted loopback server, started in the test process."""
    with FakeServer() as fake:
        yield fake
