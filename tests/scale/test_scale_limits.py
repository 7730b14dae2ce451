"""The limiter in one process (memory storage) and its contract with the
client: streams hold their slot until they end, waits can be cancelled, a
full limit can fall over to another model, bad settings are refused."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from scale_support import KEY, MESSAGES, CountingServer, registry_for


def stream_reply() -> Reply:
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "t-1",
             "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}],
             "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
    return Reply.sse([chunk])


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


def client_for(url: str, limiter: chatplug.Limiter, **options: Any) -> chatplug.Client:
    return chatplug.Client(provider="scaleprov", api_key=KEY, base_url=url, registry=registry_for(url),
                           limiter=limiter, **options)


def test_memory_max_in_flight_holds_across_threads(counting: CountingServer) -> None:
    limiter = chatplug.Limiter([chatplug.RateLimit(provider="scaleprov", max_in_flight=3)])
    with client_for(counting.base_url, limiter) as client:
        threads = [threading.Thread(target=lambda: [client.chat.completions.create(model="t-1", messages=MESSAGES)
                                                    for _ in range(5)]) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert counting.count == 40
    assert counting.max_in_flight <= 3


def test_a_stream_holds_its_slot_until_it_ends(fake: FakeServer) -> None:
    limiter = chatplug.Limiter([chatplug.RateLimit(provider="scaleprov", max_in_flight=1)], max_wait=0.2)
    fake.default = stream_reply()
    with client_for(fake.base_url, limiter) as client:
        stream = client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True)
        with pytest.raises(chatplug.LimitWaitTimeoutError, match="max_in_flight=1"):
            client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True)
        assert stream.get_final_completion().choices[0].message.content == "hi"
        with client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True) as second:
            pass  # closed unread: frees the slot too
        assert second is not None
        client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True).close()
        assert len(fake.requests) == 3


@pytest.mark.anyio
async def test_async_a_stream_holds_its_slot_and_a_wait_can_be_cancelled(fake: FakeServer) -> None:
    limiter = chatplug.Limiter([chatplug.RateLimit(provider="scaleprov", max_in_flight=1)], max_wait=30)
    fake.default = stream_reply()
    async with chatplug.AsyncClient(provider="scaleprov", api_key=KEY, base_url=fake.base_url,
                                    registry=registry_for(fake.base_url), limiter=limiter) as client:
        stream = await client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True)
        waiting = asyncio.ensure_future(client.chat.completions.create(model="t-1", messages=MESSAGES))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        async with stream:
            assert [c.choices[0].delta.content async for c in stream] == ["hi"]
        second = await client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True)
        await second.close()
    assert len(fake.requests) == 2


def test_tokens_are_settled_with_the_usage_reported(counting: CountingServer) -> None:
    limiter = chatplug.Limiter([chatplug.RateLimit(provider="scaleprov", tpm=1000)], max_wait=0.2)
    with client_for(counting.base_url, limiter) as client:
        for _ in range(10):  # each reserves ~440 tokens and settles to the 10 the server reports
            client.chat.completions.create(model="t-1", messages=MESSAGES, max_tokens=400)
    assert counting.count == 10


def test_without_usage_the_reservation_stands(fake: FakeServer) -> None:
    body = {"id": "x", "object": "chat.completion", "created": 1, "model": "t-1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}
    fake.default = Reply.json(body)
    limiter = chatplug.Limiter([chatplug.RateLimit(provider="scaleprov", tpm=1000)], max_wait=0.2)
    with client_for(fake.base_url, limiter) as client:
        client.chat.completions.create(model="t-1", messages=MESSAGES, max_tokens=400)
        client.chat.completions.create(model="t-1", messages=MESSAGES, max_tokens=400)
        with pytest.raises(chatplug.LimitWaitTimeoutError, match="tpm=1000"):
            client.chat.completions.create(model="t-1", messages=MESSAGES, max_tokens=400)
    assert len(fake.requests) == 2


def test_a_request_larger_than_the_token_limit_fails_at_once(fake: FakeServer) -> None:
    limiter = chatplug.Limiter([chatplug.RateLimit(provider="scaleprov", tpm=100)])
    with client_for(fake.base_url, limiter) as client, pytest.raises(chatplug.LimitWaitTimeoutError,
                                                                     match="lower max_tokens"):
        client.chat.completions.create(model="t-1", messages=MESSAGES, max_tokens=500)
    assert fake.requests == []


def test_a_limit_can_cover_one_model(counting: CountingServer) -> None:
    limiter = chatplug.Limiter([chatplug.RateLimit(provider="scaleprov", model="t-1", rpm=1)], max_wait=0)
    with client_for(counting.base_url, limiter) as client:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
        with pytest.raises(chatplug.LimitWaitTimeoutError, match="model=t-1"):
            client.chat.completions.create(model="t-1", messages=MESSAGES)
        for _ in range(3):
            client.chat.completions.create(model="t-2", messages=MESSAGES)
    assert counting.count == 4


def test_a_limit_can_count_each_key_of_a_pool(counting: CountingServer) -> None:
    limiter = chatplug.Limiter([chatplug.RateLimit(provider="scaleprov", per_key=True, rpm=1)], max_wait=0)
    url = counting.base_url
    with chatplug.Client(provider="scaleprov", api_key=["sk-key-one-000000", "sk-key-two-000000"], base_url=url,
                         registry=registry_for(url), limiter=limiter) as client:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
        client.chat.completions.create(model="t-1", messages=MESSAGES)
        with pytest.raises(chatplug.LimitWaitTimeoutError, match="rpm=1"):
            client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert counting.keys == ["sk-key-one-000000", "sk-key-two-000000"]


def test_a_full_limit_falls_over_to_the_next_model(fake: FakeServer) -> None:
    limiter = chatplug.Limiter([chatplug.RateLimit(provider="scaleprov", model="t-busy", rpm=1)], max_wait=0)
    fake.default = Reply.json({"id": "x", "object": "chat.completion", "created": 1, "model": "t-1", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]})
    with client_for(fake.base_url, limiter, fallbacks=["t-spare"]) as client:
        client.chat.completions.create(model="t-busy", messages=MESSAGES)
        client.chat.completions.create(model="t-busy", messages=MESSAGES)
    assert [r.json()["model"] for r in fake.requests] == ["t-busy", "t-spare"]


def test_bad_limits_are_refused_with_a_clear_error() -> None:
    with pytest.raises(chatplug.InvalidRequestError, match="limits nothing"):
        chatplug.RateLimit(provider="glm")
    with pytest.raises(chatplug.InvalidRequestError, match="max_in_flight=0"):
        chatplug.RateLimit(max_in_flight=0)
    with pytest.raises(chatplug.InvalidRequestError, match="memory://"):
        chatplug.Limiter([chatplug.RateLimit(rpm=1)], storage="postgres://x")
    with pytest.raises(chatplug.InvalidRequestError, match="'open' or 'closed'"):
        chatplug.Limiter([chatplug.RateLimit(rpm=1)], on_storage_error="maybe")  # type: ignore[arg-type]


def test_an_error_response_gives_its_token_reservation_back(fake: FakeServer) -> None:
    fake.add(*[Reply.error(500, {"error": {"message": "down"}})] * 3)
    fake.default = Reply.json({"id": "x", "object": "chat.completion", "created": 1, "model": "t-1", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}})
    limiter = chatplug.Limiter([chatplug.RateLimit(provider="scaleprov", tpm=1000)], max_wait=0.2)
    with client_for(fake.base_url, limiter, max_retries=0) as client:
        for _ in range(3):  # each reserves ~440 tokens: without the refund the third would not fit
            with pytest.raises(chatplug.InternalServerError):
                client.chat.completions.create(model="t-1", messages=MESSAGES, max_tokens=400)
        assert client.chat.completions.create(model="t-1", messages=MESSAGES, max_tokens=400).usage is not None
    assert len(fake.requests) == 4


class Finishes:
    def __init__(self) -> None:
        self.errors: list[BaseException | None] = []

    @chatplug.hookimpl
    def chatplug_on_finish(self, error: BaseException | None) -> None:
        self.errors.append(error)


def test_every_retry_counts_against_requests_per_minute(fake: FakeServer) -> None:
    fake.add(Reply.error(503, "busy"), Reply.error(503, "busy"))
    limiter = chatplug.Limiter([chatplug.RateLimit(provider="scaleprov", rpm=2)], max_wait=0.2)
    finishes = Finishes()
    with client_for(fake.base_url, limiter, max_retries=2) as client:
        client.registry.register(finishes, "finishes")
        client._sleep = lambda seconds: None
        with pytest.raises(chatplug.LimitWaitTimeoutError, match="rpm=2") as caught:
            client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert len(fake.requests) == 2
    assert finishes.errors == [caught.value]  # the call still ends once for observers
