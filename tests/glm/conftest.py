"""Fixtures for the GLM suite: a loopback FakeServer standing in for Z.ai, an
isolated registry holding the GLM plugin, and clients routed through
``ZAI_API_KEY`` / ``ZAI_BASE_URL`` exactly as a user's would be."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import chatplug
import chatplug_glm
import pytest
from chatplug.testing import FakeServer
from glm_support import API_KEY, API_PATH, OTHER_PROVIDER, AsyncSleepRecorder, ProviderPlugin, SleepRecorder


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def registry() -> chatplug.PluginRegistry:
    """An isolated registry (no entry points) with the GLM plugin and one unrelated provider."""
    reg = chatplug.PluginRegistry(load_entrypoints=False)
    reg.register(chatplug_glm, "glm")
    reg.register(ProviderPlugin(OTHER_PROVIDER), "other-provider")
    return reg


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    """A FakeServer; ``ZAI_BASE_URL`` points at its ``/api/paas/v4`` and ``ZAI_API_KEY`` is set."""
    with FakeServer() as fake:
        monkeypatch.setenv("ZAI_API_KEY", API_KEY)
        monkeypatch.setenv("ZAI_BASE_URL", fake.url + API_PATH)
        yield fake


@pytest.fixture
def client(server: FakeServer, registry: chatplug.PluginRegistry) -> Iterator[chatplug.Client]:
    """``chatplug.Client()`` over every provider of the registry, with sleeps recorded, not waited."""
    with chatplug.Client(registry=registry) as c:
        c._sleep = SleepRecorder()
        yield c


@pytest.fixture
async def aclient(server: FakeServer, registry: chatplug.PluginRegistry) -> AsyncIterator[chatplug.AsyncClient]:
    """The async twin of ``client``."""
    async with chatplug.AsyncClient(registry=registry) as c:
        c._sleep = AsyncSleepRecorder()
        yield c
