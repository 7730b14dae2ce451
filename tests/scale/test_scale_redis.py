"""Limits shared across processes through a real redis-server: four worker
processes against one loopback server."""

from __future__ import annotations

import logging
import time
from typing import Any

import chatplug
import pytest
from scale_support import KEY, MESSAGES, CountingServer, RedisServer, kill, registry_for, result_of, start_worker


def test_four_processes_never_exceed_max_in_flight(redis_url: str, counting: CountingServer) -> None:
    workers = [
        start_worker(url=counting.base_url, redis=redis_url, requests=50, concurrency=10,
                     mode="async" if number % 2 else "sync", limit={"provider": "scaleprov", "max_in_flight": 5})
        for number in range(4)
    ]
    results = [result_of(worker) for worker in workers]
    assert [r["ok"] for r in results] == [50, 50, 50, 50]
    assert counting.count == 200
    assert counting.max_in_flight <= 5


def test_requests_per_minute_hold_across_processes(redis_url: str, counting: CountingServer) -> None:
    # 4 x 6 requests against rpm=12: exactly 12 are sent in this minute; the
    # others would wait the better part of a minute, past max_wait, and fail at once.
    workers = [
        start_worker(url=counting.base_url, redis=redis_url, requests=6, concurrency=3, max_wait=1.0,
                     mode="async" if number % 2 else "sync", limit={"provider": "scaleprov", "rpm": 12})
        for number in range(4)
    ]
    results = [result_of(worker) for worker in workers]
    assert sum(r["ok"] for r in results) == 12
    assert sum(r["waited_too_long"] for r in results) == 12
    assert counting.count == 12


def test_a_killed_process_frees_its_slots_within_the_lease(redis_url: str, counting: CountingServer) -> None:
    limit: dict[str, Any] = {"provider": "scaleprov", "max_in_flight": 2}
    holder = start_worker(url=counting.base_url, redis=redis_url, requests=2, concurrency=2, lease=1.0,
                          limit=limit, headers={"x-delay": "60"})
    deadline = time.monotonic() + 30
    while counting.in_flight < 2:  # both slots taken, both requests held by the server
        assert time.monotonic() < deadline, "the holder never sent its requests"
        time.sleep(0.02)
    kill(holder)
    limiter = chatplug.Limiter([chatplug.RateLimit(**limit)], storage=redis_url, lease=1.0, max_wait=10.0)
    with chatplug.Client(provider="scaleprov", api_key=KEY, base_url=counting.base_url,
                         registry=registry_for(counting.base_url), limiter=limiter) as client:
        for _ in range(2):
            assert client.chat.completions.create(model="t-1", messages=MESSAGES).choices[0].message.content == "ok"
    assert counting.count == 4


def test_a_running_request_keeps_its_slot_past_the_lease(redis_url: str, counting: CountingServer) -> None:
    # The lease is renewed while the request runs: a request three leases long
    # still holds its slot, so a second one waits past max_wait.
    limiter = chatplug.Limiter([chatplug.RateLimit(provider="scaleprov", max_in_flight=1)], storage=redis_url,
                               lease=0.3, max_wait=1.2)
    with chatplug.Client(provider="scaleprov", api_key=KEY, base_url=counting.base_url,
                         registry=registry_for(counting.base_url), limiter=limiter) as client:
        import threading

        slow = threading.Thread(target=client.chat.completions.create,
                                kwargs={"model": "t-1", "messages": MESSAGES, "extra_headers": {"x-delay": "3"}})
        slow.start()
        while counting.in_flight < 1:
            time.sleep(0.01)
        with pytest.raises(chatplug.LimitWaitTimeoutError, match="max_in_flight=1"):
            client.chat.completions.create(model="t-1", messages=MESSAGES)
        slow.join()
    assert counting.count == 1
    assert counting.max_in_flight == 1


def test_with_redis_down_the_default_fails_open(own_redis: RedisServer, counting: CountingServer,
                                                caplog: pytest.LogCaptureFixture) -> None:
    limiter = chatplug.Limiter([chatplug.RateLimit(provider="scaleprov", max_in_flight=1, rpm=5)],
                               storage=own_redis.url)
    own_redis.stop()
    with caplog.at_level(logging.WARNING, logger="chatplug"), chatplug.Client(
        provider="scaleprov", api_key=KEY, base_url=counting.base_url, registry=registry_for(counting.base_url),
        limiter=limiter,
    ) as client:
        reply = client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert reply.choices[0].message.content == "ok"
    assert counting.count == 1
    assert any("limiter: storage failed" in record.getMessage() for record in caplog.records)


def test_with_redis_down_fail_closed_sends_nothing(own_redis: RedisServer, counting: CountingServer) -> None:
    limiter = chatplug.Limiter([chatplug.RateLimit(provider="scaleprov", max_in_flight=1)], storage=own_redis.url,
                               on_storage_error="closed")
    own_redis.stop()
    with chatplug.Client(provider="scaleprov", api_key=KEY, base_url=counting.base_url,
                         registry=registry_for(counting.base_url), limiter=limiter) as client, \
            pytest.raises(chatplug.LimiterUnavailableError, match="on_storage_error='closed'"):
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert counting.count == 0


@pytest.mark.anyio
async def test_async_with_redis_down_both_behaviours_hold(own_redis: RedisServer, counting: CountingServer) -> None:
    rules = [chatplug.RateLimit(provider="scaleprov", max_in_flight=1, tpm=10_000)]
    opened = chatplug.Limiter(rules, storage=own_redis.url)
    closed = chatplug.Limiter(rules, storage=own_redis.url, on_storage_error="closed")
    own_redis.stop()
    registry = registry_for(counting.base_url)
    async with chatplug.AsyncClient(provider="scaleprov", api_key=KEY, base_url=counting.base_url,
                                    registry=registry, limiter=opened) as client:
        assert (await client.chat.completions.create(model="t-1", messages=MESSAGES)).usage is not None
    async with chatplug.AsyncClient(provider="scaleprov", api_key=KEY, base_url=counting.base_url,
                                    registry=registry, limiter=closed) as client:
        with pytest.raises(chatplug.LimiterUnavailableError):
            await client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert counting.count == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_tokens_per_minute_are_reserved_then_settled_across_processes(
    redis_url: str, counting: CountingServer, mode: str
) -> None:
    # Each request reserves max_tokens=400 plus ~its body; only two fit in
    # tpm=1000 at once. The server reports 10 tokens used, so each settles
    # down to 10 and the sequential requests all get through.
    worker = start_worker(url=counting.base_url, redis=redis_url, requests=8, concurrency=1, max_wait=0.5,
                          mode=mode, max_tokens=400, limit={"provider": "scaleprov", "tpm": 1000})
    assert result_of(worker) == {"ok": 8, "waited_too_long": 0}
    assert counting.count == 8


def test_redis_never_holds_a_key_only_fingerprints(redis_url: str, counting: CountingServer) -> None:
    import redis

    keys = ["sk-redis-secret-one-000000", "sk-redis-secret-two-000000"]
    limiter = chatplug.Limiter([chatplug.RateLimit(provider="scaleprov", per_key=True, max_in_flight=2, rpm=100,
                                                   tpm=100_000)], storage=redis_url)
    with chatplug.Client(provider="scaleprov", api_key=keys, base_url=counting.base_url,
                         registry=registry_for(counting.base_url), limiter=limiter) as client:
        import threading

        slow = threading.Thread(target=client.chat.completions.create,
                                kwargs={"model": "t-1", "messages": MESSAGES, "extra_headers": {"x-delay": "0.5"}})
        slow.start()
        while counting.in_flight < 1:
            time.sleep(0.01)
        client.chat.completions.create(model="t-1", messages=MESSAGES)
        stored = [name for name in redis.Redis.from_url(redis_url).keys("*") if isinstance(name, bytes)]
        slow.join()
    names = b" ".join(stored).decode()
    assert chatplug.key_fingerprint(keys[0]) in names and chatplug.key_fingerprint(keys[1]) in names
    assert all(key not in names for key in keys)
    for name in stored:
        value = redis.Redis.from_url(redis_url).dump(name) or b""
        assert all(key.encode() not in value for key in keys)


@pytest.mark.anyio
async def test_async_cancelling_a_wait_or_a_request_frees_its_redis_slot(
    redis_url: str, counting: CountingServer
) -> None:
    import asyncio

    limiter = chatplug.Limiter([chatplug.RateLimit(provider="scaleprov", max_in_flight=1)], storage=redis_url,
                               lease=30.0, max_wait=5.0)
    async with chatplug.AsyncClient(provider="scaleprov", api_key=KEY, base_url=counting.base_url,
                                    registry=registry_for(counting.base_url), limiter=limiter) as client:
        holding = asyncio.ensure_future(client.chat.completions.create(
            model="t-1", messages=MESSAGES, extra_headers={"x-delay": "30"}))
        while counting.in_flight < 1:
            await asyncio.sleep(0.01)
        waiting = asyncio.ensure_future(client.chat.completions.create(model="t-1", messages=MESSAGES))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        waiting.cancel()
        holding.cancel()
        for task in (waiting, holding):
            with pytest.raises(asyncio.CancelledError):
                await task
        # Both slots' holders are gone well before the 30 s lease: the next call gets in at once.
        reply = await asyncio.wait_for(client.chat.completions.create(model="t-1", messages=MESSAGES), 5.0)
        assert reply.choices[0].message.content == "ok"
    await limiter.aclose()
    assert counting.count == 2
