"""The stream and body edges settled in docs/stream-edges.md, over loopback HTTP, sync and async.

Each edge is written as raw response bytes (what a server really sends) and
checked on both clients: the chunks delivered, the final completion, the
error class and its ``.partial``, and the number of requests the server got.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from typing import Any

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from core_support import MESSAGES, chunk, completion_body
from stream_support import HELLO, MODEL, STOP, Runner, event

pytestmark = pytest.mark.anyio


# ------------------------------------------------------- [DONE] and whitespace


@pytest.mark.parametrize("done", [b"data: [DONE] \n\n", b"data: [DONE]\t \r\n\r\n", b"data:  [DONE]\n\n",
                                  b"data: [DONE]\n \n\n"])
async def test_done_with_whitespace_ends_normally(server: FakeServer, stream_call: Runner, done: bytes) -> None:
    # no finish_reason at all: only [DONE] can end this stream normally; what follows it is never read
    server.add(Reply.sse_bytes(HELLO + done + b"data: {not json after the end\n\n"))
    outcome = await stream_call()
    assert outcome.error is None
    assert outcome.final is not None and outcome.final.choices[0].message.content == "Hello"
    assert outcome.content == "Hello"


# ------------------------------------------------------- unfamiliar event names


async def test_named_chunk_events_are_delivered(server: FakeServer, stream_call: Runner) -> None:
    body = (b"event: delta\n" + event(chunk({"role": "assistant", "content": "Hel"}))
            + b"event: completion.chunk\n" + event(chunk({"content": "lo"}, "stop")) + b"event: done\ndata: [DONE]\n\n")
    server.add(Reply.sse_bytes(body))
    outcome = await stream_call()
    assert outcome.error is None
    assert outcome.content == "Hello"
    assert outcome.final is not None and outcome.final.choices[0].finish_reason == "stop"
    assert outcome.skipped == []


async def test_unfamiliar_events_are_logged_and_kept(
    server: FakeServer, stream_call: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    meta = b'{"trace_id": "t-42", "region": "eu"}'
    body = (HELLO + b"event: metadata\ndata: " + meta + b"\n\n" + b"event: metadata\ndata: {}\n\n"
            + b"event: ping\ndata: {}\n\n" + STOP + b"data: [DONE]\n\n")
    server.add(Reply.sse_bytes(body))
    with caplog.at_level(logging.DEBUG, logger="chatplug"):
        outcome = await stream_call()
    assert outcome.error is None and outcome.content == "Hello"
    assert outcome.skipped == [("metadata", meta), ("metadata", b"{}")]  # the keep-alive is not kept
    records = [r for r in caplog.records if "skipped a stream event" in r.getMessage()]
    assert [(r.levelno, "'metadata'" in r.getMessage()) for r in records] == [
        (logging.WARNING, True), (logging.DEBUG, True), (logging.DEBUG, False)]
    assert "t-42" in records[0].getMessage()


async def test_error_under_another_event_name_raises(server: FakeServer, stream_call: Runner) -> None:
    body = HELLO + b'event: failure\ndata: {"error": {"message": "upstream broke", "code": "server_error"}}\n\n'
    server.add(Reply.sse_bytes(body))
    outcome = await stream_call()
    assert isinstance(outcome.error, chatplug.APIStatusError)
    assert outcome.error.message == "upstream broke"
    assert outcome.error.partial is not None and outcome.error.partial.choices[0].message.content == "Hello"


# ------------------------------------------------------- finish_reason ""


async def test_empty_finish_reason_is_not_finished(server: FakeServer, stream_call: Runner) -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    body = (event(chunk({"role": "assistant", "content": "Hel"}, "")) + event(chunk({"content": "lo"}, ""))
            + event(chunk({}, "stop")) + event(chunk({}, "", usage=usage)) + b"data: [DONE]\n\n")
    server.add(Reply.sse_bytes(body))
    outcome = await stream_call()
    assert outcome.error is None
    assert [c.choices[0].finish_reason for c in outcome.chunks] == [None, None, "stop", None]
    assert outcome.final is not None
    assert outcome.final.choices[0].finish_reason == "stop"  # the trailing "" did not overwrite it
    assert outcome.final.usage is not None and outcome.final.usage.total_tokens == 5


async def test_only_empty_finish_reasons_then_eof_is_interrupted(server: FakeServer, stream_call: Runner) -> None:
    server.add(Reply.sse_bytes(event(chunk({"role": "assistant", "content": "Hel"}, ""))
                               + event(chunk({"content": "lo"}, ""))))
    outcome = await stream_call()
    assert isinstance(outcome.error, chatplug.StreamInterruptedError)
    assert outcome.error.partial is not None
    assert outcome.error.partial.choices[0].message.content == "Hello"
    assert outcome.error.partial.choices[0].finish_reason is None


# ------------------------------------------------------- a stream of only [DONE]


@pytest.mark.parametrize("body", [b"data: [DONE]\n\n", b": keep-alive\n\nevent: ping\ndata: {}\n\ndata: [DONE]\n\n",
                                  b"data: [DONE] \n\n"])
async def test_only_done_is_an_error(server: FakeServer, stream_call: Runner, body: bytes) -> None:
    server.add(Reply.sse_bytes(body))
    outcome = await stream_call()
    assert type(outcome.error) is chatplug.APIResponseValidationError
    assert "[DONE] without any chunk" in str(outcome.error)
    assert outcome.error.partial is not None and outcome.error.partial.choices == []
    assert outcome.final is None
    assert len(server.requests) == 1


# ------------------------------------------------------- a body cut inside an event


@pytest.mark.parametrize(("tail", "cut"), [
    (b'data: {"id": "chunk-1", "choi', '{"id": "chunk-1", "choi'),
    (b'data: {"id": "chunk-1"}\ndata: {"x', '{"id": "chunk-1"}\n{"x'),  # two data lines, the second cut
    (b"data: [DO", "[DO"),
])
async def test_body_closed_mid_event_is_interrupted(
    server: FakeServer, stream_call: Runner, tail: bytes, cut: str
) -> None:
    server.add(Reply.sse_bytes(HELLO + tail))  # the body ends cleanly, but inside an event
    outcome = await stream_call()
    error = outcome.error
    assert type(error) is chatplug.StreamInterruptedError
    assert isinstance(error, chatplug.APIConnectionError)  # code catching connection errors sees it
    assert "middle of an event" in str(error)
    assert error.partial is not None and error.partial.choices[0].message.content == "Hello"
    assert error.body == cut  # the cut event's data is kept
    assert outcome.content == "Hello"


async def test_connection_cut_mid_event_is_interrupted(server: FakeServer, stream_call: Runner) -> None:
    server.add(Reply.sse([HELLO + b'data: {"id": "chunk-1", "cho'], done=False, close_after_bytes=len(HELLO) + 20))
    outcome = await stream_call()
    assert type(outcome.error) is chatplug.StreamInterruptedError
    assert outcome.error.partial is not None and outcome.error.partial.choices[0].message.content == "Hello"


async def test_last_event_without_blank_line_is_accepted(server: FakeServer, stream_call: Runner) -> None:
    last = json.dumps(chunk({"content": "!"}, "stop")).encode()
    server.add(Reply.sse_bytes(HELLO + b"data: " + last))
    outcome = await stream_call()
    assert outcome.error is None
    assert outcome.final is not None and outcome.final.choices[0].message.content == "Hello!"


# ------------------------------------------------------- error next to chunks


async def test_error_null_next_to_chunks_is_ignored(server: FakeServer, stream_call: Runner) -> None:
    body = (event(chunk({"role": "assistant", "content": "Hel"}, error=None)) + event({"error": None})
            + event(chunk({"content": "lo"}, "stop", error=None)) + b"data: [DONE]\n\n")
    server.add(Reply.sse_bytes(body))
    outcome = await stream_call()
    assert outcome.error is None
    assert outcome.final is not None and outcome.final.choices[0].message.content == "Hello"


async def test_error_object_next_to_choices_is_raised_after_them(server: FakeServer, stream_call: Runner) -> None:
    failing = chunk({"content": "lo"}, error={"message": "generation failed", "code": "server_error"})
    server.add(Reply.sse_bytes(event(chunk({"role": "assistant", "content": "Hel"})) + event(failing)
                               + STOP + b"data: [DONE]\n\n"))
    outcome = await stream_call()
    assert isinstance(outcome.error, chatplug.APIStatusError)
    assert outcome.error.message == "generation failed"
    assert outcome.content == "Hello"  # the chunk that carried the error was delivered first
    assert outcome.error.partial is not None and outcome.error.partial.choices[0].message.content == "Hello"
    assert len(server.requests) == 1


async def test_error_object_with_empty_choices_is_raised(server: FakeServer, stream_call: Runner) -> None:
    server.add(Reply.sse_bytes(HELLO + event({"choices": [], "error": {"message": "quota", "code": "x"}})))
    outcome = await stream_call()
    assert isinstance(outcome.error, chatplug.APIStatusError) and outcome.error.message == "quota"


# ------------------------------------------------------- a JSON body answering a stream request


async def test_json_completion_is_delivered_as_a_stream(server: FakeServer, stream_call: Runner) -> None:
    body = completion_body("Hello")
    body["choices"][0]["message"]["tool_calls"] = [
        {"id": "call_7", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]
    body["choices"][0]["message"]["reasoning_content"] = "think"
    server.add(Reply.json(body))
    outcome = await stream_call()
    assert outcome.error is None
    assert len(outcome.chunks) == 1
    delta = outcome.chunks[0].choices[0].delta
    assert (delta.content, delta.reasoning_content) == ("Hello", "think")
    assert outcome.final is not None
    message = outcome.final.choices[0].message
    assert message.content == "Hello" and message.reasoning_content == "think"
    assert message.tool_calls is not None and message.tool_calls[0].function.arguments == '{"a": 1}'
    assert message.tool_calls[0].id == "call_7"
    assert outcome.final.choices[0].finish_reason == "stop"
    assert outcome.final.usage is not None and outcome.final.usage.total_tokens == 5
    assert outcome.final.id == "cmpl-1"


async def test_json_body_that_is_no_completion_names_the_content_type(
    server: FakeServer, stream_call: Runner
) -> None:
    server.add(Reply.json({"object": "list", "data": []}))
    outcome = await stream_call()
    assert type(outcome.error) is chatplug.APIResponseValidationError
    assert "'application/json'" in str(outcome.error) and "not a chat completion" in str(outcome.error)
    assert "after 0 chunks" not in str(outcome.error)


async def test_json_error_body_answering_a_stream_is_mapped(server: FakeServer, stream_call: Runner) -> None:
    server.add(Reply.json({"error": {"message": "model is loading", "type": "server_error"}}))
    outcome = await stream_call()
    assert isinstance(outcome.error, chatplug.APIStatusError)
    assert outcome.error.message == "model is loading"


async def test_event_stream_labelled_json_is_decoded(server: FakeServer, stream_call: Runner) -> None:
    server.add(Reply(headers=(("Content-Type", "application/json"),), body=HELLO + STOP + b"data: [DONE]\n\n"))
    outcome = await stream_call()
    assert outcome.error is None
    assert outcome.content == "Hello"
    assert outcome.final is not None and outcome.final.choices[0].finish_reason == "stop"


# ------------------------------------------------------- a 200 non-stream body with no choices


@pytest.mark.parametrize("body", [{"object": "list", "data": []}, {"error": None}, {"id": "x", "choices": None},
                                  {"id": "x", "choices": {"0": {}}}])
def test_nonstream_body_without_choices_sync(client: chatplug.Client, server: FakeServer,
                                             body: dict[str, Any]) -> None:
    server.default = Reply.json(body)
    with pytest.raises(chatplug.APIResponseValidationError) as caught:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert "not a chat completion" in str(caught.value) and "'choices'" in str(caught.value)
    assert caught.value.body == body
    assert len(server.requests) == 1


async def test_nonstream_body_without_choices_async(aclient: chatplug.AsyncClient, server: FakeServer) -> None:
    server.default = Reply.json({"object": "list", "data": []})
    with pytest.raises(chatplug.APIResponseValidationError, match="fields: data, object"):
        await aclient.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert len(server.requests) == 1


def test_nonstream_error_next_to_choices_is_raised(client: chatplug.Client, server: FakeServer) -> None:
    server.add(Reply.json(completion_body("partial", error={"message": "cut short", "code": "server_error"})))
    with pytest.raises(chatplug.APIStatusError, match="cut short"):
        client.chat.completions.create(model=MODEL, messages=MESSAGES)


def test_nonstream_error_null_next_to_choices_is_ignored(client: chatplug.Client, server: FakeServer) -> None:
    server.add(Reply.json(completion_body("fine", error=None)))
    reply = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert reply.choices[0].message.content == "fine"


def test_nonstream_empty_choices_is_a_completion(client: chatplug.Client, server: FakeServer) -> None:
    server.add(Reply.json(completion_body(choices=[])))
    assert client.chat.completions.create(model=MODEL, messages=MESSAGES).choices == []


# ------------------------------------------------------- the CLI on these edges (real subprocess)


def _cli(server: FakeServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("CHATPLUG_")}
    return subprocess.run(
        [sys.executable, "-m", "chatplug", "chat", "hi", "-m", "plain-model", "--base-url", server.base_url,
         "--max-retries", "0", *args],
        capture_output=True, text=True, encoding="utf-8", env=env, timeout=60, stdin=subprocess.DEVNULL,
    )


def test_cli_exits_1_on_a_200_body_that_is_no_completion(server: FakeServer) -> None:
    server.default = Reply.json({"object": "list", "data": []})
    result = _cli(server, "--no-stream")
    assert result.returncode == 1, result.stderr
    assert "not a chat completion" in result.stderr
    assert len(server.requests) == 1


def test_cli_prints_a_json_completion_answering_a_stream(server: FakeServer) -> None:
    server.default = Reply.json(completion_body("Olá from a JSON body"))
    result = _cli(server)
    assert result.returncode == 0, result.stderr
    assert "Olá from a JSON body" in result.stdout
    assert server.requests[0].json()["stream"] is True


async def test_skipped_event_echoing_the_key_is_scrubbed(
    server: FakeServer, stream_call: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    from core_support import API_KEY

    echo = b'{"seen_authorization": "Bearer ' + API_KEY.encode() + b'"}'
    server.add(Reply.sse_bytes(HELLO + b"event: debug\ndata: " + echo + b"\n\n" + STOP + b"data: [DONE]\n\n"))
    with caplog.at_level(logging.DEBUG, logger="chatplug"):
        outcome = await stream_call()
    assert outcome.error is None
    assert [name for name, _ in outcome.skipped] == ["debug"]
    kept = outcome.skipped[0][1]
    assert API_KEY.encode() not in kept and b'"seen_authorization": "' in kept and b"***" in kept
    assert API_KEY not in caplog.text
