"""Synthetic Kimi tool-call transcripts: fragmented arguments without ``index``,
parallel calls, and ids such as ``functions.get_weather:0`` going back byte for byte."""

from __future__ import annotations

import json
from typing import Any

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply

from .kimi_support import chunk, completion

TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}]
MESSAGES: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Beijing and the time in Tokyo?"}]
USAGE = {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}


def _fragments(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


def _call_start(call_id: str, name: str, index: int | None) -> dict[str, Any]:
    call: dict[str, Any] = {"id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
    if index is not None:
        call["index"] = index
    return call


def _argument(piece: str, index: int | None) -> dict[str, Any]:
    call: dict[str, Any] = {"function": {"arguments": piece}}
    if index is not None:
        call["index"] = index
    return call


def _tool_call_stream(calls: list[tuple[str, str, str]], *, with_index: bool) -> list[dict[str, Any]]:
    """Kimi's shape: id+name with empty arguments first, then argument fragments."""
    events = [chunk({"role": "assistant", "content": ""})]
    for position, (call_id, name, arguments) in enumerate(calls):
        index = position if with_index else None
        events.append(chunk({"tool_calls": [_call_start(call_id, name, index)]}))
        events += [chunk({"tool_calls": [_argument(piece, index)]}) for piece in _fragments(arguments, 3)]
    events.append(chunk({}, "tool_calls", choice_usage=USAGE))
    return events


WEATHER = ("functions.get_weather:0", "get_weather", json.dumps({"city": "Beijing"}))
TIME = ("functions.get_time:1", "get_time", json.dumps({"city": "Tokyo", "format": "24h"}))


def _assert_calls(final: chatplug.ChatCompletion, expected: list[tuple[str, str, str]]) -> None:
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == expected
    assert all(c.type == "function" for c in calls)
    for call in calls:
        json.loads(call.function.arguments)  # whole, parseable arguments
    assert final.usage is not None and final.usage.total_tokens == 150


@pytest.mark.parametrize("with_index", [False, True], ids=["no-index", "index"])
def test_single_call_fragmented(with_index: bool, server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.sse(_tool_call_stream([WEATHER], with_index=with_index)))
    with client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES, tools=TOOLS,
                                        stream=True) as stream:
        chunks = list(stream)
        final = stream.get_final_completion()
    assert len(chunks) > 5
    _assert_calls(final, [WEATHER])
    assert final.choices[0].message.content is None  # only the empty "" the first chunk sent


@pytest.mark.parametrize("with_index", [False, True], ids=["no-index", "index"])
def test_two_parallel_calls(with_index: bool, server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.sse(_tool_call_stream([WEATHER, TIME], with_index=with_index)))
    with client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES, tools=TOOLS,
                                        stream=True) as stream:
        final = stream.get_final_completion()
    _assert_calls(final, [WEATHER, TIME])


@pytest.mark.anyio
async def test_two_parallel_calls_async(server: FakeServer, aclient: chatplug.AsyncClient) -> None:
    server.add(Reply.sse(_tool_call_stream([WEATHER, TIME], with_index=False)))
    async with aclient:
        stream = await aclient.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES,
                                                       tools=TOOLS, stream=True)
        async with stream:
            final = await stream.get_final_completion()
    _assert_calls(final, [WEATHER, TIME])


def test_ids_round_trip_byte_for_byte(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.sse(_tool_call_stream([WEATHER, TIME], with_index=False)),
               Reply.json(completion({"role": "assistant", "content": "Sunny in Beijing; 09:00 in Tokyo."})))
    with client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES, tools=TOOLS,
                                        stream=True) as stream:
        message = stream.get_final_completion().choices[0].message
    history: list[Any] = [*MESSAGES, message]
    for call in message.tool_calls or []:
        history.append({"role": "tool", "tool_call_id": call.id, "name": call.function.name, "content": "{}"})
    reply = client.chat.completions.create(model="kimi-k2-0905-preview", messages=history, tools=TOOLS)
    assert reply.choices[0].message.content == "Sunny in Beijing; 09:00 in Tokyo."

    sent = server.requests[1]
    assert b'"id":"functions.get_weather:0"' in sent.body
    assert b'"tool_call_id":"functions.get_time:1"' in sent.body
    body = sent.json()
    assert body["messages"][1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": WEATHER[0], "type": "function", "function": {"name": WEATHER[1], "arguments": WEATHER[2]}},
            {"id": TIME[0], "type": "function", "function": {"name": TIME[1], "arguments": TIME[2]}},
        ],
    }
    assert [m["tool_call_id"] for m in body["messages"][2:]] == [WEATHER[0], TIME[0]]
    assert body["tools"] == TOOLS


def test_non_stream_tool_call_round_trip(server: FakeServer, client: chatplug.Client) -> None:
    call = {"index": 0, "id": WEATHER[0], "type": "function",
            "function": {"name": WEATHER[1], "arguments": WEATHER[2]}}
    server.add(Reply.json(completion({"role": "assistant", "content": "", "tool_calls": [call]}, "tool_calls")),
               Reply.json(completion({"role": "assistant", "content": "Sunny."})))
    first = client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES, tools=TOOLS,
                                           tool_choice="auto")
    message = first.choices[0].message
    assert message.tool_calls is not None and message.tool_calls[0].id == "functions.get_weather:0"
    client.chat.completions.create(
        model="kimi-k2-0905-preview",
        messages=[*MESSAGES, message, {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "sunny"}],
        tools=TOOLS,
    )
    sent = server.requests[1].json()["messages"]
    assert sent[1]["tool_calls"][0]["id"] == "functions.get_weather:0"
    assert sent[2]["tool_call_id"] == "functions.get_weather:0"


def test_tool_choice_naming_a_function_is_accepted(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.json(completion({"role": "assistant", "content": "ok"})))
    choice = {"type": "function", "function": {"name": "get_weather"}}
    client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES, tools=TOOLS, tool_choice=choice)
    assert server.requests[0].json()["tool_choice"] == choice
