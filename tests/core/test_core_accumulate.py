"""Assembling the final completion from stream chunks: tool calls in every
shape providers send them, usage wherever it arrives, reasoning kept."""

from __future__ import annotations

import json
from typing import Any

import chatplug
import pytest
from chatplug._accumulate import ChunkAccumulator
from chatplug.testing import FakeServer, Reply
from core_support import FIXTURES, MESSAGES, chunk


def assemble(*wire_chunks: dict[str, Any]) -> chatplug.ChatCompletion:
    accumulator = ChunkAccumulator()
    for wire in wire_chunks:
        accumulator.add(chatplug.from_dict(wire, chatplug.ChatCompletionChunk))
    return accumulator.completion()


def call(index: int | None = None, id: str | None = None, name: str | None = None,
         arguments: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if index is not None:
        out["index"] = index
    if id is not None:
        out["id"] = id
        out["type"] = "function"
    function = {k: v for k, v in (("name", name), ("arguments", arguments)) if v is not None}
    if function:
        out["function"] = function
    return out


def calls_of(completion: chatplug.ChatCompletion) -> list[tuple[str, str, str]]:
    return [(c.id, c.function.name, c.function.arguments) for c in completion.choices[0].message.tool_calls or []]


def test_whole_tool_call_in_one_chunk() -> None:
    final = assemble(
        chunk({"role": "assistant", "tool_calls": [call(0, "call_1", "weather", '{"city":"Rome"}')]}),
        chunk({}, "tool_calls"),
    )
    assert calls_of(final) == [("call_1", "weather", '{"city":"Rome"}')]
    assert final.choices[0].finish_reason == "tool_calls"


def test_arguments_split_over_many_chunks_keep_a_kimi_style_id() -> None:
    final = assemble(
        chunk({"role": "assistant", "tool_calls": [call(0, "functions.get_weather:0", "get_weather", "")]}),
        chunk({"tool_calls": [call(0, arguments='{"ci')]}),
        chunk({"tool_calls": [call(0, arguments='ty": "Par')]}),
        chunk({"tool_calls": [call(0, arguments='is"}')]}),
        chunk({}, "tool_calls"),
    )
    assert calls_of(final) == [("functions.get_weather:0", "get_weather", '{"city": "Paris"}')]


def test_parallel_calls_interleaved_by_index() -> None:
    final = assemble(
        chunk({"tool_calls": [call(0, "a", "f", ""), call(1, "b", "g", "")]}),
        chunk({"tool_calls": [call(1, arguments='{"y":'), call(0, arguments='{"x":')]}),
        chunk({"tool_calls": [call(0, arguments="1}"), call(1, arguments="2}")]}),
        chunk({}, "tool_calls"),
    )
    assert calls_of(final) == [("a", "f", '{"x":1}'), ("b", "g", '{"y":2}')]


def test_missing_index_continues_the_last_call_and_a_new_id_starts_another() -> None:
    final = assemble(
        chunk({"tool_calls": [call(None, "a", "f", '{"x"')]}),
        chunk({"tool_calls": [call(None, arguments=":1}")]}),
        chunk({"tool_calls": [call(None, "b", "g", "{}")]}),
        chunk({}, "tool_calls"),
    )
    assert calls_of(final) == [("a", "f", '{"x":1}'), ("b", "g", "{}")]


def test_repeated_index_with_a_new_id_is_a_new_call() -> None:
    # Some providers number every whole call 0.
    final = assemble(
        chunk({"tool_calls": [call(0, "a", "f", "{}")]}),
        chunk({"tool_calls": [call(0, "b", "g", '{"k":1}')]}),
        chunk({}, "tool_calls"),
    )
    assert calls_of(final) == [("a", "f", "{}"), ("b", "g", '{"k":1}')]


def test_repeated_index_with_the_same_id_is_not_duplicated() -> None:
    final = assemble(
        chunk({"tool_calls": [call(0, "a", "f", '{"x":')]}),
        chunk({"tool_calls": [call(0, "a", "f", "1}")]}),
        chunk({}, "tool_calls"),
    )
    assert calls_of(final) == [("a", "f", '{"x":1}')]


def test_usage_on_the_finishing_chunk() -> None:
    usage = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12,
             "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 3}}
    final = assemble(chunk({"content": "hi"}), chunk({}, "stop", usage=usage))
    assert final.usage is not None and final.usage.to_dict() == usage


def test_usage_on_a_trailing_chunk_with_no_choices() -> None:
    trailing = chunk(usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3})
    trailing["choices"] = []
    final = assemble(chunk({"content": "hi"}, "stop"), trailing)
    assert final.usage is not None and final.usage.total_tokens == 3
    assert final.choices[0].message.content == "hi"


def test_usage_sent_twice_is_not_counted_twice() -> None:
    usage = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    final = assemble(chunk({"content": "hi"}, "stop", usage=usage), chunk(usage=usage))
    assert final.usage is not None and final.usage.total_tokens == 3


def test_usage_inside_the_choice_is_found(server: FakeServer, client: chatplug.Client) -> None:
    # Kimi (and gateways copying it) put usage in choices[0] of the last chunk.
    server.add(Reply.sse_file(FIXTURES / "kimi-stream-k2-0905.sse"))
    with client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True) as stream:
        chunks = list(stream)
        final = stream.get_final_completion()
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 4970
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens, final.usage.total_tokens) == (4796, 174, 4970)


def test_reasoning_content_is_kept_apart_from_content(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.sse_file(FIXTURES / "glm-stream-reasoning-glm45.sse"))
    final = client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True).get_final_completion()
    message = final.choices[0].message
    # what the recording streamed, read independently of chatplug's decoder
    wire = [json.loads(line[len("data:"):]) for line in
            (FIXTURES / "glm-stream-reasoning-glm45.sse").read_text(encoding="utf-8").splitlines()
            if line.startswith("data:") and line.strip() != "data: [DONE]"]
    deltas = [c["choices"][0]["delta"] for c in wire if c.get("choices")]
    assert message.reasoning_content == "".join(d.get("reasoning_content") or "" for d in deltas)
    assert message.content == "".join(d.get("content") or "" for d in deltas)
    assert message.reasoning_content.startswith("The user")
    assert final.usage is not None and final.usage.prompt_tokens_details is not None
    assert final.usage.prompt_tokens_details.cached_tokens == 43
    assert (final.usage.prompt_tokens, final.usage.completion_tokens, final.usage.total_tokens) == (6042, 39, 6081)


def test_recorded_glm_tool_call_stream_assembles_everything(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.sse_file(FIXTURES / "glm-stream-tool-call.sse"))
    final = client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True).get_final_completion()
    assert calls_of(final) == [("call_3532c842716b4c72a7dd7498", "weather", '{"location":"Florence,Italy"}')]
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.id == "20260313050307df155ecf3e9f4961"
    assert final.model == "glm-4.7-flash"
    assert final.usage is not None and final.usage.completion_tokens_details is not None
    assert final.usage.completion_tokens_details.reasoning_tokens == 65
    assert final.choices[0].message.reasoning_content


def test_several_choices_are_assembled_separately() -> None:
    first = chunk({"content": "a"})
    first["choices"].append({"index": 1, "delta": {"content": "b"}, "finish_reason": None})
    last = chunk({"content": "A"}, "stop")
    last["choices"].append({"index": 1, "delta": {"content": "B"}, "finish_reason": "length"})
    final = assemble(first, last)
    assert [(c.index, c.message.content, c.finish_reason) for c in final.choices] == [
        (0, "aA", "stop"), (1, "bB", "length")]


@pytest.mark.parametrize("name", ["glm-stream-content-glm46.sse", "kimi-stream-docs-example.sse"])
def test_recorded_content_streams_assemble_to_the_concatenated_text(
    name: str, server: FakeServer, client: chatplug.Client
) -> None:
    import json

    from chatplug._sse import SSEDecoder

    decoder = SSEDecoder()
    events = decoder.feed((FIXTURES / name).read_bytes()) + decoder.flush()
    expected = "".join(
        (choice["delta"].get("content") or "")
        for _, data in events if data != b"[DONE]"
        for choice in json.loads(data)["choices"]
    )
    server.add(Reply.sse_file(FIXTURES / name))
    final = client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True).get_final_completion()
    assert final.choices[0].message.content == expected
    assert final.choices[0].finish_reason == "stop"
