"""Partial mode, the builtin ``$web_search`` round trip and thinking models,
with the exact requests they put on the wire."""

from __future__ import annotations

import json
from typing import Any

import chatplug
import chatplug_kimi
import pytest
from chatplug.testing import FakeServer, Reply
from chatplug_kimi import partial_message, web_search_reply, web_search_tool

from .kimi_support import chunk, completion

# ------------------------------------------------------------------ partial mode

JSON_PROMPT: list[dict[str, Any]] = [
    {"role": "system", "content": "Extract the name and price as JSON."},
    {"role": "user", "content": "The SmartHome Mini costs 998 yuan."},
]


def test_partial_mode_request_and_continuation(server: FakeServer, client: chatplug.Client) -> None:
    continuation = '"name": "SmartHome Mini", "price": "998 yuan"}'
    server.add(Reply.json(completion({"role": "assistant", "content": continuation})))
    prefix = "{"
    reply = client.chat.completions.create(model="kimi-k2-0905-preview",
                                           messages=[*JSON_PROMPT, partial_message(prefix)])
    assert server.requests[0].json()["messages"][-1] == {"role": "assistant", "content": "{", "partial": True}
    # The reply continues the prefix without repeating it.
    content = reply.choices[0].message.content
    assert isinstance(content, str)
    assert json.loads(prefix + content) == {"name": "SmartHome Mini", "price": "998 yuan"}


def test_partial_mode_with_name_streaming(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.sse([chunk({"role": "assistant", "content": " the"}), chunk({"content": " answer."}, "stop",
                                                                                   choice_usage={"prompt_tokens": 9,
                                                                                                 "completion_tokens": 3,
                                                                                                 "total_tokens": 12})]))
    messages = [{"role": "user", "content": "Who are you?"}, partial_message("I am Kelsier,", name="Kelsier")]
    with client.chat.completions.create(model="kimi-k2-0905-preview", messages=messages, stream=True) as stream:
        final = stream.get_final_completion()
    assert server.requests[0].json()["messages"][-1] == {
        "role": "assistant", "content": "I am Kelsier,", "partial": True, "name": "Kelsier"}
    assert "I am Kelsier," + (final.choices[0].message.content or "") == "I am Kelsier, the answer."


@pytest.mark.parametrize("messages", [
    [{"role": "assistant", "content": "{", "partial": True}, {"role": "user", "content": "go on"}],
    [{"role": "user", "content": "Hi", "partial": True}],
], ids=["not-last", "not-assistant"])
def test_misplaced_partial_is_rejected_before_io(
    messages: list[dict[str, Any]], server: FakeServer, client: chatplug.Client
) -> None:
    with pytest.raises(chatplug.InvalidRequestError, match="partial") as info:
        client.chat.completions.create(model="kimi-k2-0905-preview", messages=messages)
    assert info.value.param == "messages" and info.value.provider == "kimi"
    assert server.requests == []


def test_partial_message_helper() -> None:
    assert partial_message("Dear customer,") == {"role": "assistant", "content": "Dear customer,", "partial": True}
    with pytest.raises(TypeError):
        partial_message(None)  # type: ignore[arg-type]


# -------------------------------------------------------------------- web search

SEARCH_ARGUMENTS = json.dumps(
    {"search_result": {"search_id": "e6a1b2c3-web-search"}, "usage": {"total_tokens": 2318}},
    separators=(",", ":"),
)
SEARCH_CALL = {"index": 0, "id": "$web_search:0", "type": "function",
               "function": {"name": "$web_search", "arguments": SEARCH_ARGUMENTS}}
QUESTION = [{"role": "user", "content": "What is new in Python 3.14?"}]


def _search_round_trip(client: chatplug.Client, *, stream: bool) -> chatplug.ChatCompletion:
    messages: list[Any] = list(QUESTION)
    tools = [web_search_tool()]
    reply: chatplug.ChatCompletion
    while True:
        if stream:
            with client.chat.completions.create(model="kimi-k2-0905-preview", messages=messages, tools=tools,
                                                stream=True) as s:
                reply = s.get_final_completion()
        else:
            reply = client.chat.completions.create(model="kimi-k2-0905-preview", messages=messages, tools=tools)
        choice = reply.choices[0]
        if choice.finish_reason != "tool_calls":
            return reply
        messages.append(choice.message)
        for call in choice.message.tool_calls or []:
            assert chatplug_kimi.is_web_search_call(call)
            messages.append(web_search_reply(call))


def _check_search_wire(server: FakeServer) -> None:
    first, second = (request.json() for request in server.requests)
    assert first["tools"] == [{"type": "builtin_function", "function": {"name": "$web_search"}}]
    assert second["tools"] == first["tools"]
    assert second["messages"][1]["tool_calls"][0]["id"] == "$web_search:0"
    assert second["messages"][1]["tool_calls"][0]["function"] == {"name": "$web_search",
                                                                  "arguments": SEARCH_ARGUMENTS}
    assert second["messages"][2] == {"role": "tool", "tool_call_id": "$web_search:0", "name": "$web_search",
                                     "content": SEARCH_ARGUMENTS}
    # The arguments travel back as the very same bytes.
    assert json.dumps(SEARCH_ARGUMENTS).encode()[1:-1] in server.requests[1].body


def test_web_search_round_trip(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.json(completion({"role": "assistant", "content": "", "tool_calls": [SEARCH_CALL]}, "tool_calls")),
               Reply.json(completion({"role": "assistant", "content": "Python 3.14 adds template strings."})))
    reply = _search_round_trip(client, stream=False)
    assert reply.choices[0].message.content == "Python 3.14 adds template strings."
    _check_search_wire(server)


def test_web_search_round_trip_streaming(server: FakeServer, client: chatplug.Client) -> None:
    start = {"index": 0, "id": "$web_search:0", "type": "function",
             "function": {"name": "$web_search", "arguments": ""}}
    pieces = [SEARCH_ARGUMENTS[i:i + 7] for i in range(0, len(SEARCH_ARGUMENTS), 7)]
    first = [chunk({"role": "assistant", "content": ""}), chunk({"tool_calls": [start]})]
    first += [chunk({"tool_calls": [{"function": {"arguments": piece}}]}) for piece in pieces]
    first.append(chunk({}, "tool_calls"))
    server.add(Reply.sse(first),
               Reply.sse([chunk({"role": "assistant", "content": "Template strings."}, "stop")]))
    reply = _search_round_trip(client, stream=True)
    assert reply.choices[0].message.content == "Template strings."
    _check_search_wire(server)


def test_web_search_reply_refuses_other_functions() -> None:
    call = {"id": "functions.get_weather:0", "type": "function",
            "function": {"name": "get_weather", "arguments": "{}"}}
    assert not chatplug_kimi.is_web_search_call(call)
    with pytest.raises(ValueError, match="get_weather"):
        web_search_reply(call)


def test_web_search_reply_from_dict() -> None:
    assert web_search_reply(SEARCH_CALL) == {"role": "tool", "tool_call_id": "$web_search:0",
                                             "name": "$web_search", "content": SEARCH_ARGUMENTS}


# ---------------------------------------------------------------- thinking models

THINKING_CALL = ("functions.get_weather:0", "get_weather", '{"city": "Beijing"}')


def test_thinking_stream_keeps_reasoning_and_sends_it_back(server: FakeServer, client: chatplug.Client) -> None:
    call_id, name, arguments = THINKING_CALL
    events = [
        chunk({"role": "assistant", "reasoning_content": "The user wants "}),
        chunk({"reasoning_content": "the weather; call the tool."}),
        chunk({"tool_calls": [{"index": 0, "id": call_id, "type": "function",
                               "function": {"name": name, "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[:9]}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[9:]}}]}),
        chunk({}, "tool_calls"),
    ]
    for event in events:
        event["model"] = "kimi-k2-thinking"
    server.add(Reply.sse(events), Reply.json(completion({"role": "assistant", "content": "Sunny."})))
    messages: list[Any] = [{"role": "user", "content": "Weather in Beijing?"}]
    with client.chat.completions.create(model="kimi-k2-thinking", messages=messages, stream=True) as stream:
        deltas = [c.choices[0].delta.reasoning_content for c in stream if c.choices]
        message = stream.get_final_completion().choices[0].message
    assert deltas[:2] == ["The user wants ", "the weather; call the tool."]
    assert message.reasoning_content == "The user wants the weather; call the tool."
    messages += [message, {"role": "tool", "tool_call_id": call_id, "content": "sunny"}]
    client.chat.completions.create(model="kimi-k2-thinking", messages=messages)
    sent = server.requests[1].json()["messages"][1]
    assert sent["reasoning_content"] == "The user wants the weather; call the tool."
    assert sent["tool_calls"][0]["id"] == call_id


def test_reasoning_content_in_dict_history_is_sent_unchanged(server: FakeServer, client: chatplug.Client) -> None:
    assistant = {"role": "assistant", "content": "", "reasoning_content": "Need the tool.",
                 "tool_calls": [{"id": "functions.get_weather:0", "type": "function",
                                 "function": {"name": "get_weather", "arguments": "{}"}}]}
    history: list[dict[str, Any]] = [{"role": "user", "content": "Weather?"}, assistant,
               {"role": "tool", "tool_call_id": "functions.get_weather:0", "content": "sunny"}]
    server.add(Reply.json(completion({"role": "assistant", "content": "Sunny.", "reasoning_content": "Done."})))
    reply = client.chat.completions.create(model="kimi-k2-thinking-turbo", messages=history)
    assert server.requests[0].json()["messages"] == history
    assert reply.choices[0].message.reasoning_content == "Done."
