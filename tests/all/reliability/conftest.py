"""Fixtures of the reliability suite (helpers live in ``reliability_support``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from chatplug.testing import FakeServer
from reliability_support import BlackHole, Harness


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    """Every fault case runs through both clients."""
    return str(request.param)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    """A fresh scripted loopback server."""
    with FakeServer() as fake:
        yield fake


@pytest.fixture
def harness(mode: str, server: FakeServer) -> Callable[..., Harness]:
    """``harness(base_url=None, **client_options)``: a :class:`Harness` pointed at ``server``."""

    def make(base_url: str | None = None, **options: Any) -> Harness:
        return Harness(mode, base_url or server.base_url, **options)

    return make


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    """A loopback port where connecting hangs (for connect timeouts)."""
    hole = BlackHole()
    yield hole
    hole.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
