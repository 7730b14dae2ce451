"""Exact tests for the stream edges whose values nothing pinned (mutants that survived
``tox -e mutation`` in ``_streaming``, see docs/mutation.md), over loopback, sync and async.

- a whole JSON completion answering a stream request: the one chunk it becomes,
  field by field, and the completion assembled from it (equal to the non-stream answer);
  such a body read in pieces, or an event stream mislabelled as JSON after blank lines;
- the error when that body is no completion: its text, provider and body;
- events with an unfamiliar ``event:`` name: ``[DONE]`` under one ends the stream;
  one that is skipped is kept and logged exactly, even when its bytes are not UTF-8;
- a body cut inside an event: the error's text (the last 80 bytes), provider and body;
- a key pool that fails while a stream error is reported to it: the caller still
  gets the stream's error, and the failure is logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import chatplug
import httpx
import pytest
from chatplug.testing import FakeServer, Reply
from core_support import API_KEY, MESSAGES, chunk
from stream_support import HELLO, MODEL, STOP, Outcome, Runner, event

pytestmark = pytest.mark.anyio


DONE = b"data: [DONE]\n\n"



def chatplug_records(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(record.levelno, record.getMessage()) for record in caplog.records if record.name == "chatplug"]


# ------------------------------------------------------- a whole JSON completion answering a stream request


class SensitiveFinish(chatplug.ResponseNormalizer):
    """Like GLM: a provider finish reason the contract does not know becomes
    ``content_filter``, and the provider's own value stays in ``native_finish_reason``."""

    def normalize_completion(self, body: dict[str, Any]) -> dict[str, Any]:
        for choice in body["choices"]:
            if choice.get("finish_reason") == "sensitive":
                choice["finish_reason"] = "content_filter"
                choice["native_finish_reason"] = "sensitive"
        return body

    def normalize_chunk(self, data: dict[str, Any]) -> Sequence[dict[str, Any]]:
        return (data,)


class SensitiveProvider:
    @chatplug.hookimpl
    def chatplug_response_normalizer(self, provider: chatplug.Provider) -> chatplug.ResponseNormalizer | None:
        return SensitiveFinish() if provider.id == "testprov" else None


LOGPROBS = {"content": [{"token": "Hello", "logprob": -0.25, "bytes": [72, 101, 108, 108, 111], "top_logprobs": []}]}
WHOLE = {
    "id": "cmpl-whole-7",
    "object": "chat.completion",
    "created": 1700000123,
    "model": "t-1-2026-05",
    "system_fingerprint": "fp_44709d6fcb",
    "service_tier": "flex",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Hello",
                "reasoning_content": "The user greets me.",
                "tool_calls": [
                    {"id": "call_7", "type": "function", "function": {"name": "lookup", "arguments": '{"a": 1}'}},
                    {"id": "call_8", "type": "function", "function": {"name": "notify", "arguments": "{}"}},
                ],
            },
            "finish_reason": "tool_calls",
            "logprobs": LOGPROBS,
        },
        {
            "index": 1,
            "message": {"role": "assistant", "content": None, "refusal": "I can't help with that."},
            "finish_reason": "sensitive",
        },
    ],
    "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21},
}

#: The one chunk the client delivers for WHOLE: every field of the completion, as a delta.
WHOLE_AS_CHUNK: dict[str, Any] = {
    "id": "cmpl-whole-7",
    "object": "chat.completion.chunk",
    "created": 1700000123,
    "model": "t-1-2026-05",
    "system_fingerprint": "fp_44709d6fcb",
    "service_tier": "flex",
    "choices": [
        {
            "index": 0,
            "delta": {
                "role": "assistant",
                "content": "Hello",
                "reasoning_content": "The user greets me.",
                "tool_calls": [
                    {"index": 0, "id": "call_7", "type": "function",
                     "function": {"name": "lookup", "arguments": '{"a": 1}'}},
                    {"index": 1, "id": "call_8", "type": "function",
                     "function": {"name": "notify", "arguments": "{}"}},
                ],
            },
            "finish_reason": "tool_calls",
            "logprobs": LOGPROBS,
        },
        {
            "index": 1,
            "delta": {"role": "assistant", "refusal": "I can't help with that."},
            "finish_reason": "content_filter",
            "native_finish_reason": "sensitive",
        },
    ],
    "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21},
}


#: The same without a provider normalizer: the provider's finish reason stays as sent.
WHOLE_AS_PLAIN_CHUNK: dict[str, Any] = {**WHOLE_AS_CHUNK, "choices": [WHOLE_AS_CHUNK["choices"][0], {
    "index": 1, "delta": {"role": "assistant", "refusal": "I can't help with that."}, "finish_reason": "sensitive"}]}


async def test_a_whole_json_completion_becomes_one_chunk_with_every_field(
    server: FakeServer, registry: chatplug.PluginRegistry, stream_call: Runner, client: chatplug.Client
) -> None:
    registry.register(SensitiveProvider(), "sensitive-finish")
    server.add(Reply.json(WHOLE), Reply.json(WHOLE))
    outcome = await stream_call()
    assert outcome.error is None
    assert [item.to_dict() for item in outcome.chunks] == [WHOLE_AS_CHUNK]
    assert outcome.final is not None
    # What the stream assembles is what the same body gives a non-stream call.
    answer = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert outcome.final.to_dict() == answer.to_dict()
    assert answer.choices[1].to_dict() == {
        "index": 1,
        "message": {"role": "assistant", "content": None, "refusal": "I can't help with that."},
        "finish_reason": "content_filter",
        "native_finish_reason": "sensitive",
    }
    assert [request.json().get("stream") for request in server.requests] == [True, None]


async def test_a_json_body_read_in_pieces_is_joined_whole(
    server: FakeServer, stream_call: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps(WHOLE).encode()
    cuts = (body.index(b'"choices"'), body.index(b'"usage"'))
    thirds = (body[: cuts[0]], body[cuts[0] : cuts[1]], body[cuts[1] :])  # chunked: the client reads three parts
    server.add(Reply(headers=(("Content-Type", "application/json; charset=utf-8"),), chunks=thirds))
    with caplog.at_level(logging.INFO, logger="chatplug"):
        outcome = await stream_call()
    assert outcome.error is None
    assert [item.to_dict() for item in outcome.chunks] == [WHOLE_AS_PLAIN_CHUNK]
    assert chatplug_records(caplog) == [
        (logging.INFO, "testprov: the stream request was answered with a whole application/json completion; "
                       "delivered as one chunk"),
    ]


async def test_an_event_stream_labelled_json_is_decoded_after_leading_blank_lines(
    server: FakeServer, stream_call: Runner
) -> None:
    server.add(Reply(headers=(("Content-Type", "application/json"),), body=b"\r\n\n" + HELLO + STOP + DONE))
    outcome = await stream_call()
    assert outcome.error is None
    assert [item.choices[0].delta.content for item in outcome.chunks] == ["Hel", "lo", None]
    assert outcome.final is not None
    assert outcome.final.choices[0].message.content == "Hello"
    assert outcome.final.choices[0].finish_reason == "stop"


async def test_a_json_body_that_is_no_completion_is_an_error_with_its_body_and_provider(
    server: FakeServer, stream_call: Runner
) -> None:
    server.add(Reply.json({"object": "list", "data": []}))
    outcome = await stream_call()
    error = outcome.error
    assert type(error) is chatplug.APIResponseValidationError
    assert str(error) == (
        "testprov: the stream request was answered with Content-Type 'application/json', not text/event-stream, "
        "and the body is not a chat completion (testprov: the response is not a chat completion: "
        "it has no 'choices' list (its fields: data, object))"
    )
    assert error.provider == "testprov"
    assert error.body == {"object": "list", "data": []}
    assert error.partial is not None
    assert error.partial.to_dict() == {"id": "", "object": "chat.completion", "created": 0, "model": "", "choices": []}
    assert outcome.chunks == []


# ------------------------------------------------------- events with an unfamiliar event: name


async def test_done_under_an_unfamiliar_event_name_ends_the_stream(server: FakeServer, stream_call: Runner) -> None:
    # No finish_reason came: only the [DONE] (named "end" here) says the stream ended properly.
    server.add(Reply.sse_bytes(HELLO + b"event: end\ndata: [DONE] \n\n"))  # (a bare [DONE] ends any event)
    outcome = await stream_call()
    assert outcome.error is None
    assert outcome.skipped == []
    assert outcome.final is not None
    assert outcome.final.choices[0].message.content == "Hello"
    assert outcome.final.choices[0].finish_reason is None


async def test_a_skipped_event_is_kept_and_logged_exactly(
    server: FakeServer, stream_call: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    long_note = json.dumps({"note": "".join(f"{n:03d} " for n in range(80))}).encode()  # 332 bytes
    server.add(Reply.sse_bytes(HELLO + b"event: debug\ndata: " + long_note + b"\n\n"
                               + b"event: debug\ndata: {}\n\n" + STOP + DONE))
    with caplog.at_level(logging.DEBUG, logger="chatplug"):
        outcome = await stream_call()
    assert outcome.error is None
    assert outcome.skipped == [("debug", long_note), ("debug", b"{}")]
    assert chatplug_records(caplog) == [
        # the first time a name is seen: a warning showing the first 200 bytes of the data
        (logging.WARNING, f"testprov: skipped a stream event named 'debug' that carries no chat chunk: "
                          f"{long_note[:200].decode()}"),
        (logging.DEBUG, "testprov: skipped a stream event named 'debug' that carries no chat chunk: {}"),
    ]


async def test_a_skipped_event_that_is_not_utf8_is_kept_and_logged_with_replacements(
    server: FakeServer, stream_call: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    echo = b"\xff seen: Bearer " + API_KEY.encode()  # a server echoing the key, after a byte that is no UTF-8
    server.add(Reply.sse_bytes(HELLO + b"event: debug\ndata: " + echo + b"\n\n"
                               + b"event: trace\ndata: \xfe\xff ok\n\n" + STOP + DONE))
    with caplog.at_level(logging.DEBUG, logger="chatplug"):
        outcome = await stream_call()
    assert outcome.error is None
    assert outcome.skipped == [("debug", "\ufffd seen: ***".encode()), ("trace", b"\xfe\xff ok")]
    skipped = "testprov: skipped a stream event named {!r} that carries no chat chunk: {}"
    assert chatplug_records(caplog) == [
        (logging.WARNING, skipped.format("debug", "\ufffd seen: ***")),
        (logging.WARNING, skipped.format("trace", "\ufffd\ufffd ok")),
    ]
    assert API_KEY not in caplog.text


# ------------------------------------------------------- a body cut inside an event


async def test_a_body_cut_inside_an_event_names_its_last_80_bytes(server: FakeServer, stream_call: Runner) -> None:
    tail = b"".join(b"%03d," % n for n in range(20))  # the last 80 bytes
    cut = b'{"id": "chunk-1", "choices": [{"index": 0, "delta": {"content": "caf\xc3\xa9 \xff ' + b"=" * 20 + tail
    server.add(Reply.sse_bytes(HELLO + b"data: " + cut))
    outcome = await stream_call()
    error = outcome.error
    assert type(error) is chatplug.StreamInterruptedError
    assert str(error) == (
        "testprov: the body closed in the middle of an event after 2 chunks "
        f"(it ended with {tail!r})"
    )
    assert error.provider == "testprov"
    assert error.body == cut.decode("utf-8", "replace")
    assert error.body.startswith('{"id": "chunk-1", "choices": [{"index": 0, "delta": {"content": "café \ufffd ====')
    assert error.partial is not None and error.partial.choices[0].message.content == "Hello"


# ------------------------------------------------------- a key pool that fails while a stream error is reported


class QuotaInStream:
    @chatplug.hookimpl
    def chatplug_map_error(self, status_code: int | None, body: Any) -> chatplug.APIStatusError | None:
        if isinstance(body, dict) and body.get("error", {}).get("code") == "quota":
            return chatplug.QuotaExceededError("out of balance", status_code=status_code, code="quota", body=body)
        return None


class DownStorePool(chatplug.KeyPool):
    """A pool whose shared store is down when a key is to be taken out."""

    def remove(self, fingerprint: str, reason: str) -> bool:
        raise ConnectionError("the shared key store is down")


async def test_a_key_pool_failing_to_take_a_key_out_does_not_hide_the_stream_error(
    server: FakeServer, registry: chatplug.PluginRegistry, stream_call: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    registry.register(QuotaInStream(), "quota-in-stream")
    server.add(Reply.sse_bytes(HELLO + event({"error": {"message": "out of balance", "code": "quota"}})))
    pool = DownStorePool(["sk-pool-key-one-0123456789", "sk-pool-key-two-0123456789"])
    with caplog.at_level(logging.DEBUG, logger="chatplug"):
        outcome = await stream_call(api_key=pool)
    error = outcome.error
    assert type(error) is chatplug.QuotaExceededError
    assert error.message == "out of balance"
    assert error.partial is not None and error.partial.choices[0].message.content == "Hello"
    failures = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert [(record.name, record.getMessage()) for record in failures] == [
        ("chatplug", "chatplug: reporting a stream error to the key pool failed")]
    assert failures[0].exc_info is not None
    assert repr(failures[0].exc_info[1]) == "ConnectionError('the shared key store is down')"
    assert pool.status() == {chatplug.key_fingerprint(key): "ready" for key in
                             ("sk-pool-key-one-0123456789", "sk-pool-key-two-0123456789")}


# ------------------------------------------------------- what observers and the caller see around the chunks


class Watcher:
    """An observer of the whole call: the request sent, each chunk with its request, the end."""

    def __init__(self) -> None:
        self.requests: list[chatplug.RequestEvent] = []
        self.chunks: list[tuple[chatplug.RequestEvent, chatplug.ChatCompletionChunk]] = []
        self.finished: list[tuple[chatplug.ChatCompletion | None, BaseException | None]] = []
        self.interrupt_at: int | None = None
        self.errors: list[tuple[chatplug.RequestEvent, chatplug.APIError, bool]] = []

    @chatplug.hookimpl
    def chatplug_on_request(self, request: chatplug.RequestEvent) -> None:
        self.requests.append(request)

    @chatplug.hookimpl
    def chatplug_on_chunk(self, request: chatplug.RequestEvent, chunk: chatplug.ChatCompletionChunk) -> None:
        self.chunks.append((request, chunk))
        if len(self.chunks) == self.interrupt_at:
            raise KeyboardInterrupt  # Ctrl-C pressed while an observer runs

    @chatplug.hookimpl
    def chatplug_on_finish(
        self, request: chatplug.RequestEvent, completion: chatplug.ChatCompletion | None, error: BaseException | None
    ) -> None:
        assert request is self.requests[-1], "chatplug_on_finish got another request than the one sent"
        self.finished.append((completion, error))

    @chatplug.hookimpl
    def chatplug_on_error(self, request: chatplug.RequestEvent, error: chatplug.APIError, will_retry: bool) -> None:
        self.errors.append((request, error, will_retry))


@pytest.fixture
def watcher(registry: chatplug.PluginRegistry) -> Watcher:
    observer = Watcher()
    registry.register(observer, "watcher")
    return observer


async def test_every_chunk_reaches_the_observer_with_its_request(
    server: FakeServer, stream_call: Runner, watcher: Watcher
) -> None:
    # The last event has no closing blank line: its chunk is delivered when the body ends.
    server.add(Reply.sse_bytes(HELLO + b"data: " + json.dumps(chunk({}, "stop")).encode()))
    outcome = await stream_call()
    assert outcome.error is None
    assert len(outcome.chunks) == 3 and len(watcher.requests) == 1
    assert [(request, item) for request, item in watcher.chunks] == [
        (watcher.requests[0], item) for item in outcome.chunks]
    assert all(request is watcher.requests[0] for request, _ in watcher.chunks)
    assert all(seen is delivered for (_, seen), delivered in zip(watcher.chunks, outcome.chunks, strict=True))


async def test_a_whole_json_body_chunk_reaches_the_observer_with_its_request(
    server: FakeServer, stream_call: Runner, watcher: Watcher
) -> None:
    server.add(Reply.json(WHOLE))
    outcome = await stream_call()
    assert outcome.error is None
    assert [(request, item.to_dict()) for request, item in watcher.chunks] == [
        (watcher.requests[0], WHOLE_AS_PLAIN_CHUNK)]


HELLO_DONE = HELLO + DONE  # no finish_reason: only [DONE] says the stream ended


def test_a_stream_read_to_its_end_is_complete_after_close(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.sse_bytes(HELLO_DONE))
    with client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
        assert len(list(stream)) == 2
    final = stream.get_final_completion()  # after the with block closed it
    assert (final.choices[0].message.content, final.choices[0].finish_reason) == ("Hello", None)


async def test_async_a_stream_read_to_its_end_is_complete_after_close(
    server: FakeServer, aclient: chatplug.AsyncClient
) -> None:
    server.add(Reply.sse_bytes(HELLO_DONE))
    stream = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    async with stream:
        assert len([item async for item in stream]) == 2
    final = await stream.get_final_completion()
    assert (final.choices[0].message.content, final.choices[0].finish_reason) == ("Hello", None)


async def test_a_cut_connection_is_the_cause_of_the_stream_error(server: FakeServer, stream_call: Runner) -> None:
    server.add(Reply.sse([chunk({"role": "assistant", "content": "Hel"}), chunk({"content": "lo"}), chunk({}, "stop")],
                         close_after_chunks=2))
    outcome = await stream_call()
    error = outcome.error
    assert type(error) is chatplug.StreamInterruptedError
    assert type(error.__cause__) is httpx.RemoteProtocolError
    assert str(error) == (
        "testprov: the stream was cut after 2 chunks (connection failed (RemoteProtocolError: "
        "peer closed connection without sending complete message body (incomplete chunked read)))")
    assert error.partial is not None and error.partial.choices[0].message.content == "Hello"


async def test_an_error_event_is_raised_without_a_cause(server: FakeServer, stream_call: Runner) -> None:
    server.add(Reply.sse_bytes(HELLO + event({"error": {"message": "overloaded", "code": "busy"}})))
    outcome = await stream_call()
    error = outcome.error
    assert type(error) is chatplug.APIStatusError
    assert (error.message, error.code) == ("overloaded", "busy")
    assert error.__cause__ is None


async def test_a_malformed_chunk_error_keeps_the_structuring_error_as_its_cause(
    server: FakeServer, stream_call: Runner
) -> None:
    bad = {"id": "c", "choices": [{"index": "first", "delta": {}}]}
    server.add(Reply.sse_bytes(HELLO + event(bad)))
    outcome = await stream_call()
    error = outcome.error
    assert type(error) is chatplug.APIResponseValidationError
    assert error.__cause__ is not None and error.__cause__ is not error
    assert str(error).startswith("testprov: malformed stream chunk: ")
    assert (error.provider, error.body) == ("testprov", bad)


def test_ctrl_c_during_a_stream_is_reported_as_its_end(
    server: FakeServer, client: chatplug.Client, watcher: Watcher
) -> None:
    watcher.interrupt_at = 2
    server.add(Reply.sse_bytes(HELLO + STOP + DONE))
    with client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
        seen = []
        with pytest.raises(KeyboardInterrupt) as caught:
            for item in stream:
                seen.append(item)
        assert len(seen) == 1
        with pytest.raises(KeyboardInterrupt) as again:
            stream.get_final_completion()
    assert again.value is caught.value
    assert len(watcher.finished) == 1
    completion, error = watcher.finished[0]
    assert error is caught.value
    assert completion is not None and completion.choices[0].message.content == "Hello"


async def test_async_a_cancelled_stream_reports_the_cancellation_as_its_end(
    server: FakeServer, aclient: chatplug.AsyncClient, watcher: Watcher
) -> None:
    import asyncio

    server.add(Reply.sse([chunk({"role": "assistant", "content": "Hel"}), chunk({"content": "lo"})],
                         delay_between_chunks=60))  # the second chunk never comes before the cancel
    first_chunk = asyncio.Event()
    stream = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)

    async def read() -> None:
        async for _ in stream:
            first_chunk.set()

    task = asyncio.ensure_future(read())
    await first_chunk.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(asyncio.CancelledError):
        await stream.get_final_completion()
    assert len(watcher.finished) == 1
    completion, error = watcher.finished[0]
    assert type(error) is asyncio.CancelledError
    assert completion is not None and completion.choices[0].message.content == "Hel"
    await stream.close()


# ------------------------------------------------------- the event-stream decoding, read by read

BOM = b"\xef\xbb\xbf"


def content_of(outcome: Outcome) -> str:
    return "".join(item.choices[0].delta.content or "" for item in outcome.chunks if item.choices)


async def test_a_byte_order_mark_counts_only_at_the_start_of_the_stream(
    server: FakeServer, stream_call: Runner
) -> None:
    # As in the WHATWG rules (and openai-python's decoder): one leading BOM is dropped; later, U+FEFF
    # is part of the line, so "\ufeffdata:" is a field of another name, which is ignored.
    first, second = event(chunk({"role": "assistant", "content": "Hel"})), event(chunk({"content": "lo"}))
    server.add(Reply.sse([BOM + first, BOM + second, STOP], done=True))  # each piece its own read
    outcome = await stream_call()
    assert outcome.error is None
    assert content_of(outcome) == "Hel"
    assert outcome.final is not None and outcome.final.choices[0].message.content == "Hel"


async def test_line_endings_may_change_within_a_stream(server: FakeServer, stream_call: Runner) -> None:
    hel, lo = (json.dumps(chunk(delta)).encode() for delta in ({"role": "assistant", "content": "Hel"},
                                                                   {"content": "lo"}))
    # CRLF, then a CR ending a read (a CRLF split between reads), then LF endings: a lone LF read later
    # is a blank line of its own, not the second half of that CRLF.
    server.add(Reply.sse([b"data: " + hel + b"\r\n\r", b"\ndata: " + lo + b"\n", b"\n", STOP], done=True))
    outcome = await stream_call()
    assert outcome.error is None
    assert [item.choices[0].delta.content for item in outcome.chunks] == ["Hel", "lo", None]


async def test_an_event_split_over_data_lines_with_crlf_endings_is_joined(
    server: FakeServer, stream_call: Runner
) -> None:
    text = json.dumps(chunk({"role": "assistant", "content": "Hi"}, "stop"), indent=1).encode()
    lines = b"".join(b"data: " + line + b"\r\n" for line in text.split(b"\n"))
    assert lines.count(b"data: ") > 5
    server.add(Reply.sse_bytes(lines + b"\r\n" + b"data: [DONE]\r\n\r\n"))
    outcome = await stream_call()
    assert outcome.error is None
    assert [item.to_dict() for item in outcome.chunks] == [chunk({"role": "assistant", "content": "Hi"}, "stop")]


async def test_an_event_name_that_is_not_utf8_is_kept_with_replacements(
    server: FakeServer, stream_call: Runner
) -> None:
    server.add(Reply.sse_bytes(HELLO + b"event: d\xffbug\ndata: {}\n\n" + STOP + DONE))
    outcome = await stream_call()
    assert outcome.error is None
    assert outcome.skipped == [("d\ufffdbug", b"{}")]
    assert content_of(outcome) == "Hello"


async def test_a_json_content_type_with_several_parameters_is_read_as_a_whole_body(
    server: FakeServer, stream_call: Runner
) -> None:
    server.add(Reply.json(WHOLE, headers={"Content-Type": "application/json; charset=utf-8; profile=chat"}))
    outcome = await stream_call()
    assert outcome.error is None
    assert [item.to_dict() for item in outcome.chunks] == [WHOLE_AS_PLAIN_CHUNK]


async def test_events_named_message_are_read_like_unnamed_ones(server: FakeServer, stream_call: Runner) -> None:
    # "message" is the event type of an event without an event: line, so naming it changes nothing,
    # even for a usage report that carries no "choices" at all.
    usage = {"id": "chunk-1", "object": "chat.completion.chunk", "created": 1700000000, "model": "t-1",
             "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}
    values = [chunk({"role": "assistant", "content": "Hel"}), chunk({"content": "lo"}), chunk({}, "stop"), usage]
    server.add(Reply.sse_bytes(b"".join(b"event: message\n" + event(value) for value in values) + DONE))
    outcome = await stream_call()
    assert outcome.error is None
    assert outcome.skipped == []
    assert len(outcome.chunks) == 4
    assert outcome.final is not None
    assert outcome.final.to_dict() == {
        "id": "chunk-1", "object": "chat.completion", "created": 1700000000, "model": "t-1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


# ------------------------------------------------------- what the final completion assembles


def token(text: str) -> dict[str, Any]:
    return {"token": text, "logprob": -0.5, "bytes": list(text.encode()), "top_logprobs": []}


async def test_a_refusal_over_several_chunks_is_joined_with_its_logprobs(
    server: FakeServer, stream_call: Runner
) -> None:
    pieces = ["I can't ", "help with ", "that."]
    values = [chunk({"role": "assistant", "refusal": piece} if n == 0 else {"refusal": piece},
                    logprobs={"content": None, "refusal": [token(piece)]}) for n, piece in enumerate(pieces)]
    for value in values:  # the chunk() helper puts extra fields on the chunk: logprobs belong to the choice
        value["choices"][0]["logprobs"] = value.pop("logprobs")
    server.add(Reply.sse([*values, chunk({}, "stop")]))
    outcome = await stream_call()
    assert outcome.error is None and outcome.final is not None
    assert outcome.final.choices[0].to_dict() == {
        "index": 0,
        "message": {"role": "assistant", "content": None, "refusal": "I can't help with that."},
        "finish_reason": "stop",
        "logprobs": {"refusal": [token(piece) for piece in pieces]},
    }


async def test_the_role_a_stream_sends_is_kept(server: FakeServer, stream_call: Runner) -> None:
    server.add(Reply.sse([chunk({"role": "model", "content": "Hi"}), chunk({}, "stop")]))
    outcome = await stream_call()
    assert outcome.final is not None
    assert outcome.final.choices[0].message.to_dict() == {"role": "model", "content": "Hi"}


async def test_a_stream_that_never_names_the_role_gives_an_assistant_message(
    server: FakeServer, stream_call: Runner
) -> None:
    server.add(Reply.sse([chunk({"content": "Hi"}), chunk({}, "stop")]))
    outcome = await stream_call()
    assert outcome.final is not None
    assert outcome.final.choices[0].message.to_dict() == {"role": "assistant", "content": "Hi"}


async def test_a_streamed_tool_call_keeps_the_type_it_was_sent_with(server: FakeServer, stream_call: Runner) -> None:
    # Moonshot's builtin web search comes back as a call of type "builtin_function".
    call = {"index": 0, "id": "$web_search-1", "type": "builtin_function",
            "function": {"name": "$web_search", "arguments": '{"search_result": {"search_id": "s-1"}}'}}
    server.add(Reply.sse([chunk({"role": "assistant", "tool_calls": [call]}), chunk({}, "tool_calls")]))
    outcome = await stream_call()
    assert outcome.final is not None
    calls = outcome.final.choices[0].message.tool_calls
    assert calls is not None
    assert [item.to_dict() for item in calls] == [
        {"id": "$web_search-1", "type": "builtin_function",
         "function": {"name": "$web_search", "arguments": '{"search_result": {"search_id": "s-1"}}'}}]


async def test_a_stream_of_only_done_is_an_error_naming_the_provider(server: FakeServer, stream_call: Runner) -> None:
    server.add(Reply.sse([]))  # data: [DONE] and nothing else
    outcome = await stream_call()
    error = outcome.error
    assert type(error) is chatplug.APIResponseValidationError
    assert str(error) == (
        "testprov: the stream sent [DONE] without any chunk before it; there is no completion to return")
    assert error.provider == "testprov"
    assert outcome.chunks == []


@pytest.mark.parametrize(
    ("data", "text", "code", "body"),
    [
        (b'{"message": "model overloaded", "type": "overloaded_error"}',
         "testprov, code overloaded_error: model overloaded", "overloaded_error",
         {"message": "model overloaded", "type": "overloaded_error"}),
        (b"upstream timed out", "testprov: upstream timed out", None, "upstream timed out"),
    ],
    ids=["flat-json", "text"],
)
async def test_an_error_event_whose_data_is_no_error_object_is_still_raised(
    server: FakeServer, stream_call: Runner, data: bytes, text: str, code: str | None, body: Any
) -> None:
    server.add(Reply.sse_bytes(HELLO + b"event: error\ndata: " + data + b"\n\n" + STOP + DONE))
    outcome = await stream_call()
    error = outcome.error
    assert type(error) is chatplug.APIStatusError
    assert (str(error), error.code, error.body, error.provider) == (text, code, body, "testprov")
    assert error.partial is not None and error.partial.choices[0].message.content == "Hello"
    assert outcome.skipped == []


async def test_an_event_with_text_after_its_json_is_malformed(server: FakeServer, stream_call: Runner) -> None:
    server.add(Reply.sse_bytes(HELLO + b'data: {"id": "x"} trailing\n\n' + STOP + DONE))
    outcome = await stream_call()
    error = outcome.error
    assert type(error) is chatplug.APIResponseValidationError
    assert str(error) == (
        "testprov: malformed JSON in stream event (Extra data: line 1 column 13 (char 12)): "
        "b'{\"id\": \"x\"} trailing'")
    assert error.partial is not None and error.partial.choices[0].message.content == "Hello"


async def test_an_event_with_blank_data_is_skipped_and_the_rest_of_the_read_kept(
    server: FakeServer, stream_call: Runner
) -> None:
    hel, lo = HELLO.split(b"\n\n")[:2]
    server.add(Reply.sse_bytes(hel + b"\n\ndata:\n\n" + lo + b"\n\n" + STOP + DONE))  # one read
    outcome = await stream_call()
    assert outcome.error is None
    assert [item.choices[0].delta.content for item in outcome.chunks] == ["Hel", "lo", None]


class SensitiveStop(chatplug.ResponseNormalizer):
    """Like GLM: a chunk finishing with "sensitive" is delivered, then the stream ends with a content-filter error."""

    def normalize_chunk(self, data: dict[str, Any]) -> Sequence[dict[str, Any]]:
        for choice in data.get("choices", ()):
            if choice.get("finish_reason") == "sensitive":
                choice["finish_reason"] = "content_filter"
                self.deferred_error = chatplug.ContentFilterError("the reply was stopped by the content filter")
        return (data,)


class SensitiveStopProvider:
    @chatplug.hookimpl
    def chatplug_response_normalizer(self, provider: chatplug.Provider) -> chatplug.ResponseNormalizer | None:
        return SensitiveStop() if provider.id == "testprov" else None


async def test_nothing_after_a_deferred_error_is_read_or_delivered(
    server: FakeServer, registry: chatplug.PluginRegistry, stream_call: Runner
) -> None:
    registry.register(SensitiveStopProvider(), "sensitive-stop")
    # A server that goes on after the chunk that ended the reply: each piece is its own read.
    server.add(Reply.sse([chunk({"role": "assistant", "content": "Hel"}), chunk({"content": "lo"}, "sensitive"),
                          chunk({"content": " again"}), chunk({}, "stop")]))
    outcome = await stream_call()
    error = outcome.error
    assert type(error) is chatplug.ContentFilterError
    assert [(item.choices[0].delta.content, item.choices[0].finish_reason) for item in outcome.chunks] == [
        ("Hel", None), ("lo", "content_filter")]
    assert error.partial is not None
    assert (error.partial.choices[0].message.content, error.partial.choices[0].finish_reason) == (
        "Hello", "content_filter")


async def test_an_event_that_is_json_but_no_object_is_an_error_showing_its_first_200_bytes(
    server: FakeServer, stream_call: Runner
) -> None:
    values = [f"item {n:03d}" for n in range(30)]  # a JSON array of 330 bytes
    data = json.dumps(values).encode()
    server.add(Reply.sse_bytes(HELLO + b"data: " + data + b"\n\n" + STOP + DONE))
    outcome = await stream_call()
    error = outcome.error
    assert type(error) is chatplug.APIResponseValidationError
    assert str(error) == f"testprov: stream event is not a JSON object: {data[:200]!r}"
    assert (error.provider, error.body) == ("testprov", values)
    assert error.partial is not None and error.partial.choices[0].message.content == "Hello"


async def test_a_usage_next_to_the_choices_wins_over_one_inside_a_choice(
    server: FakeServer, stream_call: Runner
) -> None:
    top = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    last = chunk({}, "stop", usage=top)
    last["choices"][0]["usage"] = {"prompt_tokens": 9, "completion_tokens": 9, "total_tokens": 18}
    server.add(Reply.sse_bytes(HELLO + event(last) + DONE))
    outcome = await stream_call()
    assert outcome.final is not None and outcome.final.usage is not None
    assert outcome.final.usage.to_dict() == top
    assert outcome.chunks[-1].usage is not None and outcome.chunks[-1].usage.to_dict() == top


async def test_an_error_event_is_reported_to_observers_once_as_final(
    server: FakeServer, stream_call: Runner, watcher: Watcher, caplog: pytest.LogCaptureFixture
) -> None:
    server.add(Reply.sse_bytes(HELLO + event({"error": {"message": "overloaded", "code": "busy"}})))
    with caplog.at_level(logging.DEBUG, logger="chatplug"):
        outcome = await stream_call()
    error = outcome.error
    assert type(error) is chatplug.APIStatusError
    assert [(request, seen, will_retry) for request, seen, will_retry in watcher.errors] == [
        (watcher.requests[0], error, False)]
    assert watcher.errors[0][1] is error and watcher.errors[0][2] is False
    assert [(completion is not None, seen) for completion, seen in watcher.finished] == [(True, error)]
    # no key pool here: nothing is reported to one, and nothing is logged as failing
    assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []


def test_a_stream_closed_early_says_so_when_its_completion_is_asked_for(
    server: FakeServer, client: chatplug.Client
) -> None:
    server.add(Reply.sse([chunk({"role": "assistant", "content": "Hel"}), chunk({"content": "lo"}), chunk({}, "stop")]))
    with client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
        first = next(iter(stream))
    assert first.choices[0].delta.content == "Hel"
    with pytest.raises(chatplug.StreamInterruptedError) as caught:
        stream.get_final_completion()
    error = caught.value
    assert str(error) == "testprov: the stream was closed after 1 chunks, before it finished"
    assert error.provider == "testprov"
    assert error.partial is not None and error.partial.choices[0].message.content == "Hel"


async def test_async_a_stream_closed_early_says_so_when_its_completion_is_asked_for(
    server: FakeServer, aclient: chatplug.AsyncClient
) -> None:
    server.add(Reply.sse([chunk({"role": "assistant", "content": "Hel"}), chunk({"content": "lo"}), chunk({}, "stop")]))
    stream = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    async with stream:
        first = await stream.__anext__()
    assert first.choices[0].delta.content == "Hel"
    with pytest.raises(chatplug.StreamInterruptedError) as caught:
        await stream.get_final_completion()
    error = caught.value
    assert str(error) == "testprov: the stream was closed after 1 chunks, before it finished"
    assert error.provider == "testprov"


async def test_a_structured_json_content_type_is_read_as_a_whole_body(server: FakeServer, stream_call: Runner) -> None:
    server.add(Reply.json(WHOLE, headers={"Content-Type": "application/vnd.chat+json"}))
    outcome = await stream_call()
    assert outcome.error is None
    assert [item.to_dict() for item in outcome.chunks] == [WHOLE_AS_PLAIN_CHUNK]
