"""Fixtures for the gateway suite: a loopback FakeServer standing in for GLM and
Kimi (through their base-URL variables), and the gateway in front of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chatplug.testing import FakeServer
from gateway_support import TENANTS_TOML, ThreadedGateway, provider_env, threaded_gateway


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    """The fake provider; GLM and Kimi point at it, with provider keys in the environment."""
    with FakeServer() as server:
        for name, value in provider_env(server).items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("CHATPLUG_GATEWAY_KEYS", raising=False)
        yield server


@pytest.fixture
def gateway(fake: FakeServer) -> Iterator[ThreadedGateway]:
    """A gateway with no keys (loopback), no retries."""
    with threaded_gateway("[upstream]\nmax_retries = 0\n") as served:
        yield served


@pytest.fixture
def tenants(fake: FakeServer) -> Iterator[ThreadedGateway]:
    """A gateway with the two tenants of TENANTS_TOML."""
    with threaded_gateway(TENANTS_TOML) as served:
        yield served
