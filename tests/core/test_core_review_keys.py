"""Review fixes for keys: a key HTTP cannot carry (a stray newline, a non-ASCII
character) is refused before any I/O, and neither the error, its repr, its
traceback nor its chained causes show the key (sync and async, one key or a pool)."""

from __future__ import annotations

import traceback
from typing import Any

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from core_support import MESSAGES, AsyncSleepRecorder, SleepRecorder, completion_body

SECRET = "sk-review-secret-0123456789abcdef"
BAD_KEYS = [SECRET + "\n", SECRET[:10] + "\u00e9" + SECRET[10:], SECRET + "\u200b"]
IDS = ["trailing-newline", "non-ascii", "zero-width-space"]


class Started:
    def __init__(self) -> None:
        self.events: list[str] = []

    @chatplug.hookimpl
    def chatplug_on_start(self, request: chatplug.RequestEvent) -> None:
        self.events.append("start")

    @chatplug.hookimpl
    def chatplug_on_finish(self, request: chatplug.RequestEvent) -> None:
        self.events.append("finish")


def shows_no_key(error: BaseException) -> None:
    text = "".join(traceback.format_exception(error)) + repr(error) + repr(error.args)
    assert "review-secret" not in text
    assert error.__cause__ is None and error.__context__ is None


@pytest.mark.parametrize("key", BAD_KEYS, ids=IDS)
def test_a_key_http_cannot_carry_is_refused_before_any_io(
    key: str, server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    observer = Started()
    registry.register(observer, "started")
    server.default = Reply.json(completion_body())
    with chatplug.Client(provider="testprov", api_key=key, base_url=server.base_url, registry=registry) as client, \
            pytest.raises(chatplug.InvalidRequestError, match="API key has a character") as caught:
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert caught.value.param == "api_key"
    shows_no_key(caught.value)
    assert server.requests == []
    assert observer.events == []


@pytest.mark.anyio
@pytest.mark.parametrize("key", BAD_KEYS, ids=IDS)
async def test_async_a_key_http_cannot_carry_is_refused_before_any_io(
    key: str, server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    server.default = Reply.json(completion_body())
    async with chatplug.AsyncClient(provider="testprov", api_key=key, base_url=server.base_url,
                                    registry=registry) as client:
        with pytest.raises(chatplug.InvalidRequestError, match="API key has a character") as caught:
            await client.chat.completions.create(model="m", messages=MESSAGES)
    shows_no_key(caught.value)
    assert server.requests == []


@pytest.mark.parametrize("key", BAD_KEYS, ids=IDS)
def test_a_pool_refuses_such_a_key_when_it_is_built(key: str) -> None:
    with pytest.raises(chatplug.InvalidRequestError, match="key number 1 of the pool has a character") as caught:
        chatplug.KeyPool(["sk-review-good-key-0000000000", key])
    shows_no_key(caught.value)


def test_a_key_with_inner_spaces_in_its_header_is_still_sent(
    server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    server.add(Reply.json(completion_body()))
    with chatplug.Client(provider="testprov", api_key=SECRET, base_url=server.base_url, registry=registry) as client:
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert server.requests[0].headers["authorization"] == f"Bearer {SECRET}"


POOL = ["sk-review-pool-first-000000001", "sk-review-pool-second-00000002"]


def test_a_retry_on_the_next_key_after_a_removal_does_not_use_up_max_retries(
    server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    server.add(Reply.error(401, {"error": {"message": "bad key"}}), Reply.error(503, "busy"),
               Reply.json(completion_body("third time")))
    with chatplug.Client(provider="testprov", api_key=POOL, base_url=server.base_url, registry=registry,
                         max_retries=1) as client:
        client._sleep = lambda seconds: None
        reply = client.chat.completions.create(model="m", messages=MESSAGES)
    assert reply.choices[0].message.content == "third time"
    assert [r.headers["authorization"].removeprefix("Bearer ") for r in server.requests] == [POOL[0], POOL[1], POOL[1]]


@pytest.mark.anyio
async def test_async_a_retry_on_the_next_key_after_a_removal_does_not_use_up_max_retries(
    server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    server.add(Reply.error(401, {"error": {"message": "bad key"}}), Reply.error(503, "busy"),
               Reply.json(completion_body("third time")))
    async with chatplug.AsyncClient(provider="testprov", api_key=POOL, base_url=server.base_url, registry=registry,
                                    max_retries=1) as client:

        async def no_wait(seconds: float) -> None:
            return None

        client._sleep = no_wait
        reply = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert reply.choices[0].message.content == "third time"
    assert len(server.requests) == 3


@pytest.mark.parametrize("keys", [POOL, [POOL[0]], {"testprov": POOL[0]}], ids=["pool", "pool-of-one", "per-provider"])
def test_a_server_error_keeps_its_backoff_whatever_the_pool(
    keys: Any, server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    server.add(Reply.error(503, "busy"), Reply.error(502, "bad gateway"))
    server.default = Reply.json(completion_body())
    sleeps = SleepRecorder()
    with chatplug.Client(provider="testprov", api_key=keys, base_url=server.base_url, registry=registry) as client:
        client._sleep = sleeps
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert len(sleeps.delays) == 2
    assert 0.375 <= sleeps.delays[0] <= 0.5 and 0.75 <= sleeps.delays[1] <= 1.0  # 0.5 s, then 1 s, less jitter


@pytest.mark.anyio
async def test_async_a_server_error_keeps_its_backoff_with_a_pool(
    server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    server.add(Reply.error(503, "busy"))
    server.default = Reply.json(completion_body())
    sleeps = AsyncSleepRecorder()
    async with chatplug.AsyncClient(provider="testprov", api_key=POOL, base_url=server.base_url,
                                    registry=registry) as client:
        client._sleep = sleeps
        await client.chat.completions.create(model="m", messages=MESSAGES)
    assert len(sleeps.delays) == 1 and 0.375 <= sleeps.delays[0] <= 0.5


class SignedKeys:
    """A provider whose credentials hook sends a token made from the key, not the key itself."""

    @chatplug.hookimpl
    def chatplug_credentials(self, provider: chatplug.Provider, api_key: str | None) -> dict[str, str] | None:
        if provider.id != "testprov" or api_key is None:
            return None
        return {"X-Signed": signed(api_key)}


def signed(key: str) -> str:
    return "signed-" + key[::-1]


def test_a_token_made_from_a_pool_key_is_scrubbed_from_errors_like_the_key(
    server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    registry.register(SignedKeys(), "signed-keys")
    server.add(Reply.error(401, {"error": {"message": f"bad token {signed(POOL[0])}"}}),
               Reply.error(400, {"error": {"message": f"refused for {signed(POOL[1])}"}}))
    with chatplug.Client(provider="testprov", api_key=POOL, base_url=server.base_url, registry=registry) as client, \
            pytest.raises(chatplug.BadRequestError) as caught:
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert [r.headers["x-signed"] for r in server.requests] == [signed(POOL[0]), signed(POOL[1])]
    assert str(caught.value).endswith("refused for ***")
    assert signed(POOL[1]) not in repr(caught.value.body)


def quota_event_stream() -> Reply:
    return Reply.sse([{"error": {"message": "out of balance", "code": "quota"}}])


def test_a_quota_error_event_in_a_stream_takes_its_key_out_of_the_pool(
    server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    from test_core_keypool import QuotaMapper, Recorder

    recorder = Recorder()
    registry.register(recorder, "recorder")
    registry.register(QuotaMapper(), "quota-mapper")
    server.add(quota_event_stream())
    server.default = Reply.json(completion_body())
    with chatplug.Client(provider="testprov", api_key=POOL, base_url=server.base_url, registry=registry) as client:
        with pytest.raises(chatplug.QuotaExceededError), \
                client.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream:
            list(stream)
        client.chat.completions.create(model="m", messages=MESSAGES)
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert [r.headers["authorization"].removeprefix("Bearer ") for r in server.requests] == [POOL[0], POOL[1], POOL[1]]
    assert [(kind, fingerprint) for _, fingerprint, kind in recorder.removed] == [
        ("QuotaExceededError", chatplug.key_fingerprint(POOL[0]))]


@pytest.mark.anyio
async def test_async_a_quota_error_event_in_a_stream_takes_its_key_out_of_the_pool(
    server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    from test_core_keypool import QuotaMapper

    registry.register(QuotaMapper(), "quota-mapper")
    server.add(quota_event_stream())
    server.default = Reply.json(completion_body())
    async with chatplug.AsyncClient(provider="testprov", api_key=POOL, base_url=server.base_url,
                                    registry=registry) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(chatplug.QuotaExceededError):
            async with stream:
                async for _ in stream:
                    pass
        await client.chat.completions.create(model="m", messages=MESSAGES)
        await client.chat.completions.create(model="m", messages=MESSAGES)
    assert [r.headers["authorization"].removeprefix("Bearer ") for r in server.requests] == [POOL[0], POOL[1], POOL[1]]
