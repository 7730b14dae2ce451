"""Fallbacks: which failures move a call to its next model, over real loopback
servers (one per provider), sync and async; what observers see; the one error
that carries every model's error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import chatplug
import pytest
from chatplug.params import CreateParams
from chatplug.testing import FakeServer, Reply
from core_support import MESSAGES, AsyncSleepRecorder, SleepRecorder, chunk, completion_body

KEY_A = "sk-aaaa-provider-key-0123456789"
KEY_B = "sk-bbbb-provider-key-9876543210"
QUOTA = {"error": {"message": "out of balance", "code": "quota"}}
RATE = {"error": {"message": "slow down", "type": "rate_limit_exceeded"}}


class Providers:
    """Two providers, each on its own loopback server; quota errors mapped as GLM's 1113 is."""

    def __init__(self, url_a: str, url_b: str) -> None:
        self.a = chatplug.Provider(id="aprov", base_url=url_a, model_prefixes=("a-",),
                                   limits=chatplug.Limits(temperature=(0, 1)))
        self.b = chatplug.Provider(id="bprov", base_url=url_b, model_prefixes=("b-",))

    @chatplug.hookimpl
    def chatplug_providers(self) -> list[chatplug.Provider]:
        return [self.a, self.b]

    @chatplug.hookimpl
    def chatplug_map_error(self, status_code: int | None, body: Any) -> chatplug.APIStatusError | None:
        if isinstance(body, dict) and body.get("error", {}).get("code") == "quota":
            return chatplug.QuotaExceededError("out of balance", status_code=status_code, code="quota", body=body)
        return None

    @chatplug.hookimpl
    def chatplug_prepare_payload(self, provider: chatplug.Provider, model: str, payload: dict[str, Any]) -> None:
        if provider.id == "aprov" and model == "a-small" and payload.get("max_tokens", 0) > 100:
            raise chatplug.ModelRuleError(
                "aprov: a-small takes max_tokens <= 100", param="max_tokens", provider="aprov", model="a-small"
            )


class Recorder:
    def __init__(self) -> None:
        self.requests: list[chatplug.RequestEvent] = []
        self.errors: list[tuple[str, bool]] = []
        self.finished: list[tuple[chatplug.ChatCompletion | None, BaseException | None]] = []

    @chatplug.hookimpl
    def chatplug_on_request(self, request: chatplug.RequestEvent) -> None:
        self.requests.append(request)

    @chatplug.hookimpl
    def chatplug_on_error(self, error: chatplug.APIError, will_retry: bool) -> None:
        self.errors.append((type(error).__name__, will_retry))

    @chatplug.hookimpl
    def chatplug_on_finish(self, completion: chatplug.ChatCompletion | None, error: BaseException | None) -> None:
        self.finished.append((completion, error))


@pytest.fixture
def server_b() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def two(server: FakeServer, server_b: FakeServer, recorder: Recorder) -> chatplug.PluginRegistry:
    reg = chatplug.PluginRegistry(load_entrypoints=False)
    reg.register(Providers(server.base_url, server_b.base_url), "two-providers")
    reg.register(recorder, "recorder")
    return reg


def make_client(registry: chatplug.PluginRegistry, **options: Any) -> chatplug.Client:
    client = chatplug.Client(api_key={"aprov": KEY_A, "bprov": KEY_B}, registry=registry, **options)
    client._sleep = SleepRecorder()
    return client


def make_aclient(registry: chatplug.PluginRegistry, **options: Any) -> chatplug.AsyncClient:
    client = chatplug.AsyncClient(api_key={"aprov": KEY_A, "bprov": KEY_B}, registry=registry, **options)
    client._sleep = AsyncSleepRecorder()
    return client


def seen(server: FakeServer) -> list[tuple[str, str]]:
    """(model, key) of every request a server received."""
    return [(r.json()["model"], r.headers["authorization"].removeprefix("Bearer ")) for r in server.requests]


# ----------------------------------------------------------- what falls over


def test_a_5xx_falls_over_after_the_retries_are_used_up(
    two: chatplug.PluginRegistry, server: FakeServer, server_b: FakeServer, recorder: Recorder
) -> None:
    server.add(Reply.error(500, {"error": {"message": "boom"}}), Reply.error(502, "bad gateway"),
               Reply.error(503, "down"))
    server_b.add(Reply.json(completion_body("from b")))
    with make_client(two, max_retries=2) as client:
        reply = client.chat.completions.create(model="a-1", messages=MESSAGES, fallbacks=["b-1"])
    assert reply.choices[0].message.content == "from b"
    assert seen(server) == [("a-1", KEY_A)] * 3
    assert seen(server_b) == [("b-1", KEY_B)]
    assert [(e.provider.id, e.model, e.attempt, e.fallback_index) for e in recorder.requests] == [
        ("aprov", "a-1", 0, 0), ("aprov", "a-1", 1, 0), ("aprov", "a-1", 2, 0), ("bprov", "b-1", 0, 1)]
    assert len({e.call_id for e in recorder.requests}) == 1
    assert recorder.errors == [("InternalServerError", True)] * 3
    assert len(recorder.finished) == 1
    assert recorder.finished[0][0] is reply and recorder.finished[0][1] is None


@pytest.mark.parametrize(
    ("reply", "kind", "timeout"),
    [
        (Reply.error(429, RATE), "RateLimitError", None),
        (Reply.error(429, QUOTA), "QuotaExceededError", None),
        # the timeout only where it is the point: on a loaded machine a 0.3 s one once cut a 429 reply short
        (Reply.json(completion_body(), delay_before_headers=10.0), "APITimeoutError", 1.0),
    ],
    ids=["rate-limit", "quota", "timeout"],
)
def test_rate_limits_quota_and_timeouts_fall_over(
    two: chatplug.PluginRegistry, server: FakeServer, server_b: FakeServer, reply: Reply, kind: str,
    timeout: float | None, recorder: Recorder,
) -> None:
    server.add(reply)
    server_b.add(Reply.json(completion_body("from b")))
    with make_client(two, max_retries=0) as client:
        options: CreateParams = {} if timeout is None else {"timeout": timeout}
        result = client.chat.completions.create(model="a-1", messages=MESSAGES, fallbacks=["b-1"], **options)
    assert result.choices[0].message.content == "from b"
    assert seen(server_b) == [("b-1", KEY_B)]
    assert recorder.errors == [(kind, True)]


def test_a_refused_connection_falls_over(server_b: FakeServer, recorder: Recorder) -> None:
    reg = chatplug.PluginRegistry(load_entrypoints=False)
    reg.register(Providers("http://127.0.0.1:9/v1", server_b.base_url), "two-providers")
    reg.register(recorder, "recorder")
    server_b.add(Reply.json(completion_body("from b")))
    with make_client(reg, max_retries=1) as client:
        result = client.chat.completions.create(model="a-1", messages=MESSAGES, fallbacks=["b-1"])
    assert result.choices[0].message.content == "from b"
    assert recorder.errors == [("APIConnectionError", True)] * 2
    assert [e.fallback_index for e in recorder.requests] == [0, 0, 1]


# -------------------------------------------------------- what never falls over


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply.error(400, {"error": {"message": "bad"}}), chatplug.BadRequestError),
        (Reply.error(401, {"error": {"message": "who?"}}), chatplug.AuthenticationError),
        (Reply.error(403, {"error": {"message": "no"}}), chatplug.PermissionDeniedError),
        (Reply.error(400, {"error": {"message": "filtered", "code": "content_filter"}}), chatplug.ContentFilterError),
        (Reply.error(400, {"error": {"message": "too long", "code": "context_length_exceeded"}}),
         chatplug.ContextLengthError),
    ],
    ids=["400", "401", "403", "content-filter", "context-length-by-default"],
)
def test_request_auth_and_filter_errors_never_fall_over(
    two: chatplug.PluginRegistry, server: FakeServer, server_b: FakeServer, reply: Reply,
    error: type[chatplug.APIError], recorder: Recorder,
) -> None:
    server.add(reply)
    with make_client(two) as client, pytest.raises(error) as caught:
        client.chat.completions.create(model="a-1", messages=MESSAGES, fallbacks=["b-1"])
    assert type(caught.value) is error
    assert server_b.requests == []
    assert recorder.errors == [(error.__name__, False)]
    assert [finished[1] for finished in recorder.finished] == [caught.value]


def test_context_length_falls_over_when_asked(
    two: chatplug.PluginRegistry, server: FakeServer, server_b: FakeServer
) -> None:
    server.add(Reply.error(400, {"error": {"message": "too long", "code": "context_length_exceeded"}}))
    server_b.add(Reply.json(completion_body("bigger window")))
    with make_client(two, fallback_on_context_length=True) as client:
        reply = client.chat.completions.create(model="a-1", messages=MESSAGES, fallbacks=["b-1"])
    assert reply.choices[0].message.content == "bigger window"
    assert seen(server_b) == [("b-1", KEY_B)]


def test_an_invalid_request_before_io_never_falls_over(
    two: chatplug.PluginRegistry, server: FakeServer, server_b: FakeServer, recorder: Recorder
) -> None:
    with make_client(two) as client, pytest.raises(chatplug.InvalidRequestError) as caught:
        client.chat.completions.create(model="a-1", messages=MESSAGES, temperature=1.5, fallbacks=["b-1"])
    assert "temperature" in str(caught.value)
    assert server.requests == [] and server_b.requests == []
    assert recorder.requests == [] and recorder.finished == []


def test_a_model_specific_rule_falls_over_before_any_io(
    two: chatplug.PluginRegistry, server: FakeServer, server_b: FakeServer, recorder: Recorder
) -> None:
    server_b.add(Reply.json(completion_body("from b")))
    with make_client(two) as client:
        reply = client.chat.completions.create(model="a-small", messages=MESSAGES, max_tokens=500, fallbacks=["b-1"])
    assert reply.choices[0].message.content == "from b"
    assert server.requests == []
    assert [r.json()["max_tokens"] for r in server_b.requests] == [500]
    assert [e.fallback_index for e in recorder.requests] == [1]
    assert len(recorder.finished) == 1


def test_an_unknown_fallback_model_is_an_error_before_any_io(
    two: chatplug.PluginRegistry, server: FakeServer
) -> None:
    with make_client(two) as client, pytest.raises(chatplug.ModelNotFoundError):
        client.chat.completions.create(model="a-1", messages=MESSAGES, fallbacks=["nobody-claims-this"])
    assert server.requests == []


def test_fallbacks_must_be_a_list_of_names(two: chatplug.PluginRegistry) -> None:
    with pytest.raises(chatplug.InvalidRequestError, match="list of model names"):
        make_client(two, fallbacks="b-1")


# --------------------------------------------------------------- all failed


def test_when_every_model_fails_one_error_carries_each_in_order(
    two: chatplug.PluginRegistry, server: FakeServer, server_b: FakeServer, recorder: Recorder
) -> None:
    server.add(Reply.error(500, {"error": {"message": "a is down"}}))
    server_b.add(Reply.error(429, QUOTA))
    with make_client(two, max_retries=0) as client, pytest.raises(chatplug.AllModelsFailedError) as caught:
        client.chat.completions.create(model="a-1", messages=MESSAGES, fallbacks=["b-1"])
    error = caught.value
    assert isinstance(error, chatplug.APIError)
    assert [type(e) for e in error.errors] == [chatplug.InternalServerError, chatplug.QuotaExceededError]
    assert error.models == ("aprov/a-1", "bprov/b-1")
    assert error.__cause__ is error.errors[1]
    assert "a is down" in str(error) and "out of balance" in str(error)
    assert recorder.errors == [("InternalServerError", True), ("QuotaExceededError", False)]
    assert [finished[1] for finished in recorder.finished] == [error]


def test_a_chain_stops_at_a_model_that_fails_for_a_reason_that_does_not_fall_over(
    two: chatplug.PluginRegistry, server: FakeServer, server_b: FakeServer
) -> None:
    server.add(Reply.error(503, "down"))
    server_b.add(Reply.error(401, {"error": {"message": "bad key"}}))
    with make_client(two, max_retries=0) as client, pytest.raises(chatplug.AllModelsFailedError) as caught:
        client.chat.completions.create(model="a-1", messages=MESSAGES, fallbacks=["b-1", "a-2"])
    assert [type(e) for e in caught.value.errors] == [chatplug.InternalServerError, chatplug.AuthenticationError]
    assert [r.json()["model"] for r in server.requests] == ["a-1"]  # a-2 never tried


# -------------------------------------------------------- defaults, overrides


def test_the_client_default_applies_and_a_call_can_turn_it_off(
    two: chatplug.PluginRegistry, server: FakeServer, server_b: FakeServer
) -> None:
    server.add(Reply.error(503, "down"), Reply.error(503, "down"))
    server_b.add(Reply.json(completion_body("from b")))
    with make_client(two, max_retries=0, fallbacks=["b-1"]) as client:
        assert client.chat.completions.create(model="a-1", messages=MESSAGES).choices[0].message.content == "from b"
        with pytest.raises(chatplug.InternalServerError):
            client.chat.completions.create(model="a-1", messages=MESSAGES, fallbacks=[])
    assert len(server_b.requests) == 1


# ------------------------------------------------------------------ streams


def stream_reply(text: str) -> Reply:
    return Reply.sse([chunk({"role": "assistant", "content": text}), chunk({}, finish_reason="stop")])


def test_a_stream_cut_before_its_first_chunk_falls_over(
    two: chatplug.PluginRegistry, server: FakeServer, server_b: FakeServer
) -> None:
    server.add(Reply.sse([chunk({"content": "never seen"})], close_after_bytes=10))
    server_b.add(stream_reply("from b"))
    with make_client(two, max_retries=0) as client, client.chat.completions.create(
        model="a-1", messages=MESSAGES, stream=True, fallbacks=["b-1"]
    ) as stream:
        texts = [c.choices[0].delta.content for c in stream if c.choices]
    assert texts == ["from b", None]
    assert stream.get_final_completion().choices[0].message.content == "from b"
    assert seen(server_b) == [("b-1", KEY_B)]


def test_a_stream_never_falls_over_after_its_first_chunk(
    two: chatplug.PluginRegistry, server: FakeServer, server_b: FakeServer
) -> None:
    server.add(Reply.sse([chunk({"role": "assistant", "content": "half"}), chunk({"content": " more"})],
                         done=False, close_after_chunks=1, delay_between_chunks=0.05))
    received = []
    with make_client(two) as client, pytest.raises(chatplug.StreamInterruptedError) as caught, \
            client.chat.completions.create(model="a-1", messages=MESSAGES, stream=True, fallbacks=["b-1"]) as s:
        for piece in s:
            received.append(piece.choices[0].delta.content)
    assert received == ["half"]
    assert caught.value.partial is not None and caught.value.partial.choices[0].message.content == "half"
    assert server_b.requests == []


def test_a_stream_answered_with_503_falls_over(
    two: chatplug.PluginRegistry, server: FakeServer, server_b: FakeServer
) -> None:
    server.add(Reply.error(503, "down"))
    server_b.add(stream_reply("from b"))
    with make_client(two, max_retries=0) as client:
        stream = client.chat.completions.create(model="a-1", messages=MESSAGES, stream=True, fallbacks=["b-1"])
        assert stream.get_final_completion().choices[0].message.content == "from b"


# -------------------------------------------------------------------- async


@pytest.mark.anyio
async def test_async_a_5xx_falls_over_and_observers_see_each_attempt(
    two: chatplug.PluginRegistry, server: FakeServer, server_b: FakeServer, recorder: Recorder
) -> None:
    server.add(Reply.error(500, "boom"), Reply.error(500, "boom"))
    server_b.add(Reply.json(completion_body("from b")))
    async with make_aclient(two, max_retries=1, fallbacks=["b-1"]) as client:
        reply = await client.chat.completions.create(model="a-1", messages=MESSAGES)
    assert reply.choices[0].message.content == "from b"
    assert seen(server) == [("a-1", KEY_A)] * 2
    assert seen(server_b) == [("b-1", KEY_B)]
    assert [e.fallback_index for e in recorder.requests] == [0, 0, 1]
    assert len(recorder.finished) == 1


@pytest.mark.anyio
async def test_async_every_model_failing_raises_one_error(
    two: chatplug.PluginRegistry, server: FakeServer, server_b: FakeServer
) -> None:
    server.add(Reply.error(429, RATE))
    server_b.add(Reply.error(502, "bad gateway"))
    async with make_aclient(two, max_retries=0) as client:
        with pytest.raises(chatplug.AllModelsFailedError) as caught:
            await client.chat.completions.create(model="a-1", messages=MESSAGES, fallbacks=["b-1"])
    assert [type(e) for e in caught.value.errors] == [chatplug.RateLimitError, chatplug.InternalServerError]


@pytest.mark.anyio
async def test_async_a_request_error_never_falls_over(
    two: chatplug.PluginRegistry, server: FakeServer, server_b: FakeServer
) -> None:
    server.add(Reply.error(401, {"error": {"message": "who?"}}))
    async with make_aclient(two) as client:
        with pytest.raises(chatplug.AuthenticationError):
            await client.chat.completions.create(model="a-1", messages=MESSAGES, fallbacks=["b-1"])
    assert server_b.requests == []


@pytest.mark.anyio
async def test_async_a_stream_cut_before_its_first_chunk_falls_over(
    two: chatplug.PluginRegistry, server: FakeServer, server_b: FakeServer
) -> None:
    server.add(Reply.sse([chunk({"content": "never seen"})], close_after_bytes=10))
    server_b.add(stream_reply("from b"))
    async with make_aclient(two, max_retries=0) as client:
        stream = await client.chat.completions.create(model="a-1", messages=MESSAGES, stream=True, fallbacks=["b-1"])
        async with stream:
            texts = [c.choices[0].delta.content async for c in stream if c.choices]
    assert texts == ["from b", None]
    assert seen(server_b) == [("b-1", KEY_B)]


def test_a_key_pool_with_no_key_left_falls_over(
    two: chatplug.PluginRegistry, server: FakeServer, server_b: FakeServer
) -> None:
    server.add(Reply.error(401, {"error": {"message": "bad key"}}))
    server_b.default = Reply.json(completion_body("from b"))
    with make_client(two) as client:
        with pytest.raises(chatplug.AuthenticationError):  # a wrong key is seen, not hidden by a fallback
            client.chat.completions.create(model="a-1", messages=MESSAGES, fallbacks=["b-1"])
        reply = client.chat.completions.create(model="a-1", messages=MESSAGES, fallbacks=["b-1"])
    assert reply.choices[0].message.content == "from b"
    assert len(server.requests) == 1
