"""Shared fixtures for the chatplug-kimi tests: an isolated registry holding the
Kimi plugin, a loopback FakeServer, and clients whose retry sleeps are recorded."""

from __future__ import annotations

from collections.abc import Iterator

import chatplug
import chatplug_kimi
import pytest
from chatplug.testing import FakeServer

from .kimi_support import API_KEY


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def registry() -> chatplug.PluginRegistry:
    """A registry with only the core defaults and the Kimi plugin (no entry points)."""
    reg = chatplug.PluginRegistry(load_entrypoints=False)
    reg.register(chatplug_kimi, "kimi")
    return reg


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


@pytest.fixture
def sleeps() -> list[float]:
    """Delays the clients asked to sleep between retries (nothing actually waits)."""
    return []


@pytest.fixture
def client(server: FakeServer, registry: chatplug.PluginRegistry, sleeps: list[float]) -> Iterator[chatplug.Client]:
    c = chatplug.Client(provider="kimi", api_key=API_KEY, base_url=server.base_url, registry=registry)
    c._sleep = sleeps.append
    with c:
        yield c


@pytest.fixture
def aclient(server: FakeServer, registry: chatplug.PluginRegistry, sleeps: list[float]) -> chatplug.AsyncClient:
    c = chatplug.AsyncClient(provider="kimi", api_key=API_KEY, base_url=server.base_url, registry=registry)

    async def record(delay: float) -> None:
        sleeps.append(delay)

    c._sleep = record
    return c
