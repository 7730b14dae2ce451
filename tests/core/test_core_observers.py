"""Observer hooks see every step of a call; a raising observer breaks nothing;
the API key never shows in a repr, an exception, an event or a log line."""

from __future__ import annotations

import logging
from typing import Any

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from core_support import API_KEY, MESSAGES, chunk, completion_body


class Recorder:
    """Implements every observer hook and writes down what it saw."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    @chatplug.hookimpl
    def chatplug_on_request(self, request: chatplug.RequestEvent) -> None:
        self.calls.append(("request", request))

    @chatplug.hookimpl
    def chatplug_on_response(self, request: chatplug.RequestEvent, status_code: int) -> None:
        self.calls.append(("response", status_code))

    @chatplug.hookimpl
    def chatplug_on_chunk(self, chunk: chatplug.ChatCompletionChunk) -> None:
        self.calls.append(("chunk", chunk))

    @chatplug.hookimpl
    def chatplug_on_error(self, error: chatplug.APIError, will_retry: bool) -> None:
        self.calls.append(("error", (type(error), will_retry)))

    @chatplug.hookimpl
    def chatplug_on_finish(self, completion: chatplug.ChatCompletion | None, error: BaseException | None) -> None:
        self.calls.append(("finish", (completion, error)))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.calls]


class Broken:
    """Every observer raises."""

    @chatplug.hookimpl
    def chatplug_on_request(self) -> None:
        raise RuntimeError("observer bug")

    @chatplug.hookimpl
    def chatplug_on_response(self) -> None:
        raise RuntimeError("observer bug")

    @chatplug.hookimpl
    def chatplug_on_chunk(self) -> None:
        raise RuntimeError("observer bug")

    @chatplug.hookimpl
    def chatplug_on_error(self) -> None:
        raise RuntimeError("observer bug")

    @chatplug.hookimpl
    def chatplug_on_finish(self) -> None:
        raise RuntimeError("observer bug")


@pytest.fixture
def recorder(registry: chatplug.PluginRegistry) -> Recorder:
    rec = Recorder()
    registry.register(Broken(), "broken-before")
    registry.register(rec, "recorder")
    registry.register(Broken(), "broken-after")
    return rec


def test_observers_see_a_non_stream_call(recorder: Recorder, server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.json(completion_body("hi")))
    reply = client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert reply.choices[0].message.content == "hi"
    assert recorder.kinds() == ["request", "response", "finish"]
    event = recorder.calls[0][1]
    assert event.provider.id == "testprov" and event.model == "t-1" and event.attempt == 0
    assert event.payload["messages"] == MESSAGES
    assert event.url == f"{server.base_url}/chat/completions"
    assert recorder.calls[-1][1] == (reply, None)


def test_observers_see_retries_and_the_final_error(
    recorder: Recorder, server: FakeServer, client: chatplug.Client
) -> None:
    client.max_retries = 1
    server.add(Reply.error(503, {"error": {"message": "busy"}}), Reply.error(503, {"error": {"message": "busy"}}))
    with pytest.raises(chatplug.InternalServerError) as info:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert recorder.kinds() == ["request", "response", "error", "request", "response", "error", "finish"]
    errors = [value for kind, value in recorder.calls if kind == "error"]
    assert errors == [(chatplug.InternalServerError, True), (chatplug.InternalServerError, False)]
    attempts = [value.attempt for kind, value in recorder.calls if kind == "request"]
    call_ids = {value.call_id for kind, value in recorder.calls if kind == "request"}
    assert attempts == [0, 1] and len(call_ids) == 1
    assert recorder.calls[-1][1] == (None, info.value)


def test_observers_see_every_chunk_and_the_assembled_completion(
    recorder: Recorder, server: FakeServer, client: chatplug.Client
) -> None:
    server.add(Reply.sse([chunk({"content": "a"}), chunk({"content": "b"}, "stop")]))
    with client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True) as stream:
        received = list(stream)
    assert recorder.kinds() == ["request", "response", "chunk", "chunk", "finish"]
    assert [value for kind, value in recorder.calls if kind == "chunk"] == received
    completion, error = recorder.calls[-1][1]
    assert error is None and completion.choices[0].message.content == "ab"


def test_observers_see_an_interrupted_stream(recorder: Recorder, server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.sse([chunk({"content": "a"})], done=False))
    with pytest.raises(chatplug.StreamInterruptedError):
        client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True).get_final_completion()
    assert recorder.kinds()[-2:] == ["error", "finish"]
    completion, error = recorder.calls[-1][1]
    assert isinstance(error, chatplug.StreamInterruptedError)
    assert completion.choices[0].message.content == "a"


def test_an_observer_registered_during_a_call_sees_the_calls_that_start_after_it(
    registry: chatplug.PluginRegistry, server: FakeServer, client: chatplug.Client
) -> None:
    # A call that starts with no observer builds no request event; one registered mid-stream
    # is not handed a missing event for that call's chunks and finish, only the next call.
    server.add(Reply.sse([chunk({"content": "a"}), chunk({"content": "b"}, "stop")]),
               Reply.json(completion_body("next")))
    late = Recorder()
    with client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True) as stream:
        first = next(iter(stream))
        registry.register(late, "late")
        rest = list(stream)
    assert [first.choices[0].delta.content, *(c.choices[0].delta.content for c in rest)] == ["a", "b"]
    assert late.calls == []
    reply = client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert late.kinds() == ["request", "response", "finish"]
    assert late.calls[0][1].model == "t-1" and late.calls[0][1].attempt == 0
    assert late.calls[-1][1] == (reply, None)


def test_a_raising_observer_is_logged_with_its_name(
    recorder: Recorder, server: FakeServer, client: chatplug.Client, caplog: pytest.LogCaptureFixture
) -> None:
    server.add(Reply.json(completion_body()))
    with caplog.at_level(logging.ERROR, logger="chatplug"):
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert "broken-before" in caplog.text and "broken-after" in caplog.text


@pytest.mark.anyio
async def test_async_observers_see_the_same_sequence(
    recorder: Recorder, server: FakeServer, aclient: chatplug.AsyncClient
) -> None:
    server.add(Reply.sse([chunk({"content": "a"}), chunk({}, "stop")]))
    stream = await aclient.chat.completions.create(model="t-1", messages=MESSAGES, stream=True)
    async with stream:
        await stream.get_final_completion()
    assert recorder.kinds() == ["request", "response", "chunk", "chunk", "finish"]


# ----------------------------------------------------------------- the API key


def test_key_never_in_client_repr(client: chatplug.Client) -> None:
    assert API_KEY not in repr(client) and API_KEY not in str(client)
    assert "***" in repr(client)


def test_key_never_in_observer_events(recorder: Recorder, server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.json(completion_body()))
    client.chat.completions.create(model="t-1", messages=MESSAGES)
    event = recorder.calls[0][1]
    assert API_KEY not in repr(event)
    assert API_KEY not in str(dict(event.headers))
    assert server.requests[0].headers["authorization"] == f"Bearer {API_KEY}"  # it was sent, though


def test_key_echoed_by_the_server_is_scrubbed_from_errors(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.error(401, {"error": {"message": f"Incorrect API key provided: {API_KEY}",
                                           "type": "invalid_request_error", "code": "invalid_api_key"}}))
    with pytest.raises(chatplug.AuthenticationError) as info:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert API_KEY not in str(info.value)
    assert API_KEY not in repr(info.value)
    assert all(API_KEY not in str(arg) for arg in info.value.args)


def test_key_never_in_debug_logs(
    server: FakeServer, registry: chatplug.PluginRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    server.add(Reply.error(429, {"error": {"message": f"slow down {API_KEY}"}}, headers={"Retry-After": "0"}),
               Reply.json(completion_body()),
               Reply.sse([chunk({"content": "x"})], done=False))
    with (
        caplog.at_level(logging.DEBUG),  # every logger: chatplug, httpx, httpcore
        chatplug.Client(provider="testprov", api_key=API_KEY, base_url=server.base_url, registry=registry) as client,
    ):
        client._sleep = lambda seconds: None
        client.chat.completions.create(model="t-1", messages=MESSAGES)
        with pytest.raises(chatplug.StreamInterruptedError) as info:
            client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True).get_final_completion()
    assert caplog.records, "the run logged something at DEBUG"
    assert API_KEY not in caplog.text
    assert API_KEY not in str(info.value)


def test_logging_goes_through_the_chatplug_logger(
    server: FakeServer, client: chatplug.Client, caplog: pytest.LogCaptureFixture
) -> None:
    server.add(Reply.error(500, {"error": {"message": "x"}}), Reply.json(completion_body()))
    with caplog.at_level(logging.DEBUG, logger="chatplug"):
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert any(record.name == "chatplug" and "retrying" in record.getMessage() for record in caplog.records)
