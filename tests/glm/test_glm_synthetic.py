"""Synthetic GLM transcripts for the quirks no recording shows.

These chunks are written by hand in GLM's recorded chunk shape (no
``object``, ``role`` on every delta, no ``finish_reason`` key until the end,
usage on the finishing chunk); they are not captures.
"""

from __future__ import annotations

import json
from typing import Any

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from glm_support import MESSAGES, fixture_json

ID = "2026031305030700000000synthetic"


def chunk(delta: dict[str, Any], *, finish: str | None = None, usage: dict[str, Any] | None = None,
          **extra: Any) -> dict[str, Any]:
    """One chunk in GLM's shape."""
    choice: dict[str, Any] = {"index": 0, "delta": {"role": "assistant", **delta}}
    if finish is not None:
        choice["finish_reason"] = finish
    body: dict[str, Any] = {"id": ID, "created": 1773349387, "model": "glm-4.6", "choices": [choice], **extra}
    if usage is not None:
        body["usage"] = usage
    return body


USAGE = {"prompt_tokens": 20, "completion_tokens": 30, "total_tokens": 50,
         "completion_tokens_details": {"reasoning_tokens": 7}}


def call_fragment(arguments: str, *, first: bool = False, repeat_id: bool = False) -> dict[str, Any]:
    fragment: dict[str, Any] = {"index": 0, "function": {"arguments": arguments}}
    if first or repeat_id:
        fragment["id"] = "call_tool_stream_1"
    if first:
        fragment["type"] = "function"
        fragment["function"]["name"] = "get_weather"
    return fragment


def tool_stream_transcript(*, repeat_id: bool) -> list[dict[str, Any]]:
    pieces = ['{"city"', ': "Bei', 'jing", "unit"', ': "celsius"}']
    chunks = [chunk({"reasoning_content": "Need the weather."})]
    chunks.append(chunk({"tool_calls": [call_fragment("", first=True)]}))
    chunks += [chunk({"tool_calls": [call_fragment(piece, repeat_id=repeat_id)]}) for piece in pieces]
    chunks.append(chunk({"content": ""}, finish="tool_calls", usage=USAGE))
    return chunks


@pytest.mark.parametrize("repeat_id", [False, True], ids=["id-once", "id-on-every-fragment"])
def test_tool_stream_fragments_sync(client: chatplug.Client, server: FakeServer, repeat_id: bool) -> None:
    server.add(Reply.sse(tool_stream_transcript(repeat_id=repeat_id)))
    with client.chat.completions.create(
        model="glm-4.6", messages=MESSAGES, stream=True, extra_body={"tool_stream": True}
    ) as stream:
        fragments = [call.function.arguments for c in stream for call in (c.choices[0].delta.tool_calls or [])[:1]
                     if call.function is not None]
        final = stream.get_final_completion()
    assert fragments == ["", '{"city"', ': "Bei', 'jing", "unit"', ': "celsius"}']  # each arrives as sent
    calls = final.choices[0].message.tool_calls
    assert calls is not None and len(calls) == 1
    assert calls[0].id == "call_tool_stream_1"
    assert calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == {"city": "Beijing", "unit": "celsius"}
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.usage is not None and final.usage.completion_tokens_details is not None
    assert final.usage.completion_tokens_details.reasoning_tokens == 7
    assert server.requests[0].json()["tool_stream"] is True


@pytest.mark.anyio
async def test_tool_stream_fragments_async(aclient: chatplug.AsyncClient, server: FakeServer) -> None:
    server.add(Reply.sse(tool_stream_transcript(repeat_id=False), trickle=11))
    stream = await aclient.chat.completions.create(
        model="glm-4.6", messages=MESSAGES, stream=True, extra_body={"tool_stream": True}
    )
    async with stream:
        final = await stream.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert calls is not None
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("call_tool_stream_1", "get_weather", {"city": "Beijing", "unit": "celsius"})
    ]


def whole_call(index: int, call_id: str, city: str) -> dict[str, Any]:
    return {"index": index, "id": call_id, "type": "function",
            "function": {"name": "get_weather", "arguments": json.dumps({"city": city})}}


PARALLEL = {
    "one-chunk": [
        chunk({"tool_calls": [whole_call(0, "call_a", "Paris"), whole_call(1, "call_b", "Rome")]}),
        chunk({"content": ""}, finish="tool_calls", usage=USAGE),
    ],
    "one-chunk-each": [
        chunk({"tool_calls": [whole_call(0, "call_a", "Paris")]}),
        chunk({"tool_calls": [whole_call(1, "call_b", "Rome")]}),
        chunk({"content": ""}, finish="tool_calls", usage=USAGE),
    ],
    "index-repeated": [
        chunk({"tool_calls": [whole_call(0, "call_a", "Paris")]}),
        chunk({"tool_calls": [whole_call(0, "call_b", "Rome")]}),
        chunk({"content": ""}, finish="tool_calls", usage=USAGE),
    ],
}


@pytest.mark.parametrize("shape", list(PARALLEL))
def test_parallel_tool_calls(client: chatplug.Client, server: FakeServer, shape: str) -> None:
    server.add(Reply.sse(PARALLEL[shape]))
    with client.chat.completions.create(model="glm-4.6", messages=MESSAGES, stream=True) as stream:
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert calls is not None
    cities = [(c.id, json.loads(c.function.arguments)["city"]) for c in calls]
    assert cities == [("call_a", "Paris"), ("call_b", "Rome")]
    assert final.choices[0].finish_reason == "tool_calls"


def sensitive_transcript() -> list[dict[str, Any]]:
    return [
        chunk({"content": "Here is"}),
        chunk({"content": " the"}),
        chunk({"content": ""}, finish="sensitive", usage=USAGE,
              content_filter=[{"role": "assistant", "level": 1}]),
    ]


def test_sensitive_mid_stream_sync(client: chatplug.Client, server: FakeServer) -> None:
    server.add(Reply.sse(sensitive_transcript()))
    with client.chat.completions.create(model="glm-4.6", messages=MESSAGES, stream=True) as stream:
        chunks = list(stream)
        final = stream.get_final_completion()
    last = chunks[-1]
    assert last.choices[0].finish_reason == "content_filter"
    assert last.choices[0].native_finish_reason == "sensitive"
    assert last.content_filter == [{"role": "assistant", "level": 1}]  # kept as GLM sent it
    assert final.choices[0].message.content == "Here is the"  # nothing received is lost
    assert final.choices[0].finish_reason == "content_filter"
    assert final.choices[0].native_finish_reason == "sensitive"
    assert final.to_dict()["choices"][0]["native_finish_reason"] == "sensitive"


@pytest.mark.anyio
async def test_sensitive_mid_stream_async(aclient: chatplug.AsyncClient, server: FakeServer) -> None:
    server.add(Reply.sse(sensitive_transcript()))
    stream = await aclient.chat.completions.create(model="glm-4.6", messages=MESSAGES, stream=True)
    async with stream:
        final = await stream.get_final_completion()
    assert final.choices[0].message.content == "Here is the"
    assert (final.choices[0].finish_reason, final.choices[0].native_finish_reason) == ("content_filter", "sensitive")


def test_context_window_exceeded_is_length(client: chatplug.Client, server: FakeServer) -> None:
    body = fixture_json("glm-nonstream-glm46-reasoning.json")
    body["choices"][0]["finish_reason"] = "model_context_window_exceeded"
    server.add(Reply.json(body))
    server.add(Reply.sse([chunk({"content": "a"}), chunk({"content": "b"}, finish="model_context_window_exceeded")]))
    reply = client.chat.completions.create(model="glm-4.6", messages=MESSAGES)
    assert (reply.choices[0].finish_reason, reply.choices[0].native_finish_reason) == (
        "length", "model_context_window_exceeded")
    with client.chat.completions.create(model="glm-4.6", messages=MESSAGES, stream=True) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "ab"
    assert (final.choices[0].finish_reason, final.choices[0].native_finish_reason) == (
        "length", "model_context_window_exceeded")


USAGE_ON_FAILURE = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}


def network_error_transcript() -> list[dict[str, Any]]:
    return [
        chunk({"reasoning_content": "Thinking"}),
        chunk({"content": "Partial "}),
        chunk({"content": "answer"}, finish="network_error", usage=USAGE_ON_FAILURE),
    ]


def test_network_error_mid_stream_sync(client: chatplug.Client, server: FakeServer) -> None:
    server.add(Reply.sse(network_error_transcript()))
    received = []
    with pytest.raises(chatplug.InternalServerError) as caught:  # noqa: SIM117
        with client.chat.completions.create(model="glm-4.6", messages=MESSAGES, stream=True) as stream:
            for item in stream:
                received.append(item)
    error = caught.value
    assert len(received) == 3  # the failing chunk is delivered before the error
    assert received[-1].choices[0].finish_reason is None
    assert received[-1].choices[0].native_finish_reason == "network_error"
    assert error.retryable is True
    assert error.code == "network_error"
    assert error.provider == "glm"
    assert error.request_id == ID
    assert error.partial is not None
    assert error.partial.choices[0].message.content == "Partial answer"  # nothing that arrived is lost
    assert error.partial.choices[0].message.reasoning_content == "Thinking"
    assert error.partial.usage is not None and error.partial.usage.total_tokens == 12
    assert len(server.requests) == 1  # a stream is never retried once it has started


@pytest.mark.anyio
async def test_network_error_mid_stream_async(aclient: chatplug.AsyncClient, server: FakeServer) -> None:
    server.add(Reply.sse(network_error_transcript()))
    stream = await aclient.chat.completions.create(model="glm-4.6", messages=MESSAGES, stream=True)
    with pytest.raises(chatplug.InternalServerError) as caught:
        async with stream:
            await stream.get_final_completion()
    assert caught.value.retryable is True
    assert caught.value.partial is not None
    assert caught.value.partial.choices[0].message.content == "Partial answer"


def test_network_error_nonstream_is_retried(client: chatplug.Client, server: FakeServer) -> None:
    failed = fixture_json("glm-nonstream-reasoning.json")
    failed["choices"][0]["finish_reason"] = "network_error"
    server.add(Reply.json(failed), Reply.json(fixture_json("glm-nonstream-reasoning.json")))
    reply = client.chat.completions.create(model="glm-4.6", messages=MESSAGES)
    assert reply.choices[0].finish_reason == "stop"
    assert len(server.requests) == 2
    assert len(client._sleep) == 1  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_network_error_nonstream_gives_up_async(aclient: chatplug.AsyncClient, server: FakeServer) -> None:
    failed = fixture_json("glm-nonstream-reasoning.json")
    failed["choices"][0]["finish_reason"] = "network_error"
    server.default = Reply.json(failed)
    with pytest.raises(chatplug.InternalServerError) as caught:
        await aclient.chat.completions.create(model="glm-4.6", messages=MESSAGES)
    assert caught.value.code == "network_error"
    assert len(server.requests) == 3


def test_other_provider_chunks_untouched(client: chatplug.Client, server: FakeServer,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """GLM's normalizer serves GLM only: another provider's raw finish reason is not rewritten."""
    monkeypatch.setenv("OTHER_TEST_KEY", "other-key-0123456789")
    server.add(Reply.sse([chunk({"content": "x"}, finish="sensitive")]))
    with chatplug.Client(provider="other", base_url=server.base_url, registry=client.registry) as other, \
            other.chat.completions.create(model="other-1", messages=MESSAGES, stream=True) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].finish_reason == "sensitive"
    assert final.choices[0].native_finish_reason is None
