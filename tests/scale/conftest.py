"""Fixtures for the scale suite: a real redis-server, started once per session
on a free loopback port (emptied before each test), and a counting server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from scale_support import CountingServer, RedisServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def redis_session() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def redis_url(redis_session: RedisServer) -> str:
    """The URL of a running, empty Redis."""
    redis_session.flush()
    return redis_session.url


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis this test may stop."""
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def counting() -> Iterator[CountingServer]:
    with CountingServer() as server:
        yield server
