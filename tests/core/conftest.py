"""Fixtures for the core suite: a loopback FakeServer, an isolated plugin
registry with one test provider, clients pointed at the server, and one
streamed call run on each client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import chatplug
import pytest
from chatplug.testing import FakeServer
from core_support import API_KEY, TEST_PROVIDER, AsyncSleepRecorder, ProviderPlugin, SleepRecorder
from stream_support import Outcome, Runner, run_async, run_sync


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


@pytest.fixture(params=["sync", "async"])
def stream_call(request: pytest.FixtureRequest, server: FakeServer, registry: chatplug.PluginRegistry) -> Runner:
    """Runs one streamed call with the sync or the async client (the test is run for each)."""

    async def call(api_key: Any = API_KEY) -> Outcome:
        if request.param == "sync":
            with chatplug.Client(provider="testprov", api_key=api_key, base_url=server.base_url,
                                 registry=registry) as client:
                client._sleep = lambda seconds: None
                return run_sync(client)
        async with chatplug.AsyncClient(provider="testprov", api_key=api_key, base_url=server.base_url,
                                        registry=registry) as aclient:
            async def no_sleep(seconds: float) -> None:
                return None

            aclient._sleep = no_sleep
            return await run_async(aclient)

    return call
