"""Review fixes for shared limits: a request refused by one limit takes
nothing from the others (in memory and on a real Redis, sync and async)."""

from __future__ import annotations

from typing import Any

import chatplug
import pytest
from scale_support import CountingServer, registry_for

MESSAGES = [{"role": "user", "content": "hi"}]


def limiter(storage: str) -> chatplug.Limiter:
    return chatplug.Limiter(
        [chatplug.RateLimit(provider="scaleprov", rpm=4),               # the provider: 4 a minute
         chatplug.RateLimit(provider="scaleprov", model="t-slow", rpm=1)],  # one model: 1 a minute
        storage=storage,
        max_wait=0.5,
    )


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_a_request_refused_by_one_rpm_limit_uses_none_of_another(
    storage: str, counting: CountingServer, request: pytest.FixtureRequest
) -> None:
    url = "memory://" if storage == "memory" else request.getfixturevalue("redis_url")
    limits = limiter(url)
    with chatplug.Client(provider="scaleprov", base_url=counting.base_url, api_key="sk-scale-review-key-0001",
                         registry=registry_for(counting.base_url), limiter=limits, max_retries=0) as client:
        client.chat.completions.create(model="t-slow", messages=MESSAGES)
        for _ in range(4):  # each is refused at once: t-slow's minute is used up
            with pytest.raises(chatplug.LimitWaitTimeoutError, match="t-slow"):
                client.chat.completions.create(model="t-slow", messages=MESSAGES)
        for _ in range(3):  # the provider's minute still has 3 of its 4 requests
            client.chat.completions.create(model="t-fast", messages=MESSAGES)
    limits.close()
    assert counting.count == 4


@pytest.mark.anyio
@pytest.mark.parametrize("storage", ["memory", "redis"])
async def test_async_a_request_refused_by_one_rpm_limit_uses_none_of_another(
    storage: str, counting: CountingServer, request: pytest.FixtureRequest
) -> None:
    url = "memory://" if storage == "memory" else request.getfixturevalue("redis_url")
    limits = limiter(url)
    async with chatplug.AsyncClient(provider="scaleprov", base_url=counting.base_url,
                                    api_key="sk-scale-review-key-0001", registry=registry_for(counting.base_url),
                                    limiter=limits, max_retries=0) as client:
        await client.chat.completions.create(model="t-slow", messages=MESSAGES)
        for _ in range(4):
            with pytest.raises(chatplug.LimitWaitTimeoutError, match="t-slow"):
                await client.chat.completions.create(model="t-slow", messages=MESSAGES)
        for _ in range(3):
            await client.chat.completions.create(model="t-fast", messages=MESSAGES)
    await limits.aclose()
    assert counting.count == 4


def per_key_limiter(storage: str) -> chatplug.Limiter:
    return chatplug.Limiter([chatplug.RateLimit(provider="scaleprov", per_key=True, max_in_flight=1)],
                            storage=storage, max_wait=0.3)


def streaming_server() -> Any:
    from chatplug.testing import FakeServer, Reply

    server = FakeServer()
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "t-1",
             "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}
    server.default = Reply.sse([chunk])
    return server


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_per_key_limits_count_each_clients_own_key_apart(storage: str, request: pytest.FixtureRequest) -> None:
    url = "memory://" if storage == "memory" else request.getfixturevalue("redis_url")
    limits = per_key_limiter(url)
    with streaming_server() as server:
        registry = registry_for(server.base_url)
        tenant_a = chatplug.Client(provider="scaleprov", base_url=server.base_url, api_key="sk-tenant-a-000000001",
                                   registry=registry, limiter=limits)
        tenant_b = chatplug.Client(provider="scaleprov", base_url=server.base_url, api_key="sk-tenant-b-000000002",
                                   registry=registry, limiter=limits)
        with tenant_a, tenant_b:
            held = tenant_a.chat.completions.create(model="t-1", messages=MESSAGES, stream=True)  # a's one slot
            tenant_b.chat.completions.create(model="t-1", messages=MESSAGES, stream=True).close()  # b has its own
            with pytest.raises(chatplug.LimitWaitTimeoutError):  # a's second waits for a's slot
                tenant_a.chat.completions.create(model="t-1", messages=MESSAGES, stream=True)
            held.close()
            tenant_a.chat.completions.create(model="t-1", messages=MESSAGES, stream=True).close()
    limits.close()


@pytest.mark.anyio
async def test_async_per_key_limits_count_each_clients_own_key_apart() -> None:
    limits = per_key_limiter("memory://")
    with streaming_server() as server:
        registry = registry_for(server.base_url)
        async with chatplug.AsyncClient(provider="scaleprov", base_url=server.base_url,
                                        api_key="sk-tenant-a-000000001", registry=registry, limiter=limits) as a, \
                chatplug.AsyncClient(provider="scaleprov", base_url=server.base_url,
                                     api_key="sk-tenant-b-000000002", registry=registry, limiter=limits) as b:
            held = await a.chat.completions.create(model="t-1", messages=MESSAGES, stream=True)
            await (await b.chat.completions.create(model="t-1", messages=MESSAGES, stream=True)).close()
            with pytest.raises(chatplug.LimitWaitTimeoutError):
                await a.chat.completions.create(model="t-1", messages=MESSAGES, stream=True)
            await held.close()
