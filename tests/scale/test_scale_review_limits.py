"""Review fixes for shared limits: a request refused by one limit takes
nothing from the others (in memory and on a real Redis, sync and async)."""

from __future__ import annotations

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
