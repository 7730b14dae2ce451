"""Fixtures for the core suite: a loopback FakeServer, an isolated plugin
registry with one test provider, and clients pointed at the server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import chatplug
import pytest
from chatplug.testing import FakeServer
from core_support import API_KEY, TEST_PROVIDER, AsyncSleepRecorder, ProviderPlugin, SleepRecorder


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def registry() -> chatplug.PluginRegistry:
    """An isolated registry (no entry points) with the test provider registered."""
    reg = chatplug.PluginRegistry(load_entrypoints=False)
    reg.register(ProviderPlugin(TEST_PROVIDER), "test-provider-plugin")
    return reg


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


@pytest.fixture
def client(server: FakeServer, registry: chatplug.PluginRegistry) -> Iterator[chatplug.Client]:
    """A sync client pinned to the test provider, pointed at the server, with no wall-time sleeps."""
    with chatplug.Client(provider="testprov", api_key=API_KEY, base_url=server.base_url, registry=registry) as c:
        c._sleep = SleepRecorder()
        yield c


@pytest.fixture
async def aclient(server: FakeServer, registry: chatplug.PluginRegistry) -> AsyncIterator[chatplug.AsyncClient]:
    """The async twin of ``client``."""
    async with chatplug.AsyncClient(
        provider="testprov", api_key=API_KEY, base_url=server.base_url, registry=registry
    ) as c:
        c._sleep = AsyncSleepRecorder()
        yield c
