"""Every recorded GLM success sample, replayed over loopback HTTP, sync and async.

Each test checks what a user reads (content, reasoning, tool calls, finish
reason, usage with its details) and what went on the wire (path, key, body).
"""

from __future__ import annotations

import json
from typing import Any

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from glm_support import API_KEY, CHAT_PATH, MESSAGES, fixture_json, fixture_path, joined, sse_chunks

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "Get weather information for a location",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
    },
}


# ------------------------------------------------------------------ expectations


def check_nonstream_reasoning(reply: chatplug.ChatCompletion) -> None:
    message = reply.choices[0].message
    assert message.content == "Olá! (Oh-lah)"
    assert message.reasoning_content is not None
    assert message.reasoning_content.startswith("1.  **Analyze the Request:** The user wants me to say \"hi\"")
    assert message.reasoning_content.endswith("*   Output: Olá!")
    assert reply.choices[0].finish_reason == "stop"
    assert reply.choices[0].native_finish_reason is None
    assert reply.model == "glm-4.7-flash"
    assert reply.request_id == "20260313050242595b2cb031a74737"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (15, 249, 264)
    assert reply.usage.prompt_tokens_details is not None and reply.usage.prompt_tokens_details.cached_tokens == 3
    assert reply.usage.completion_tokens_details is not None
    assert reply.usage.completion_tokens_details.reasoning_tokens == 239


def check_nonstream_tool_call(reply: chatplug.ChatCompletion) -> None:
    message = reply.choices[0].message
    assert reply.choices[0].finish_reason == "tool_calls"
    assert message.content == "I'll check the weather in Florence, Italy for you."
    assert message.reasoning_content is not None and message.reasoning_content.startswith("The user is asking")
    assert message.tool_calls is not None and len(message.tool_calls) == 1
    call = message.tool_calls[0]
    assert call.id == "call_-7807249954186984837"
    assert call.type == "function"
    assert call.function.name == "weather"
    assert json.loads(call.function.arguments) == {"location": "Florence,Italy"}
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (173, 88, 261)
    assert reply.usage.prompt_tokens_details is not None and reply.usage.prompt_tokens_details.cached_tokens == 43
    assert reply.usage.completion_tokens_details is not None
    assert reply.usage.completion_tokens_details.reasoning_tokens == 62


def check_nonstream_glm46(reply: chatplug.ChatCompletion) -> None:
    message = reply.choices[0].message
    assert message.content == "\n您好！我是智谱AI训练的GLM大语言模型，旨在通过自然语言处理技术为用户提供信息和帮助。"  # noqa: RUF001
    assert message.reasoning_content is not None and message.reasoning_content.startswith("\n收到用户的问候")
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == "glm-4.6"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (9, 329, 338)
    assert reply.usage.prompt_tokens_details is not None and reply.usage.prompt_tokens_details.cached_tokens == 4
    assert reply.usage.completion_tokens_details is not None
    assert reply.usage.completion_tokens_details.reasoning_tokens == 253


NONSTREAM = [
    ("glm-nonstream-reasoning.json", "glm-4.7-flash", check_nonstream_reasoning),
    ("glm-nonstream-tool-call.json", "glm-4.7-flash", check_nonstream_tool_call),
    ("glm-nonstream-glm46-reasoning.json", "glm-4.6", check_nonstream_glm46),
]


def check_stream_reasoning_glm45(final: chatplug.ChatCompletion) -> None:
    raw = sse_chunks("glm-stream-reasoning-glm45.sse")
    message = final.choices[0].message
    assert message.content == "\n\nHi!"
    assert message.reasoning_content == joined(raw, "reasoning_content")
    assert message.reasoning_content.startswith('The user just said "hi", which is a simple greeting.')
    assert message.tool_calls is None
    assert final.choices[0].finish_reason == "stop"
    assert final.id == "20251001154016c72e2da818044216"
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens, final.usage.total_tokens) == (6042, 39, 6081)
    assert final.usage.prompt_tokens_details is not None and final.usage.prompt_tokens_details.cached_tokens == 43


def check_stream_content_glm46(final: chatplug.ChatCompletion) -> None:
    message = final.choices[0].message
    assert message.content == "\n\nHello! What can I help you with today?"
    assert message.reasoning_content is None
    assert final.choices[0].finish_reason == "stop"
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens, final.usage.total_tokens) == (6074, 15, 6089)
    assert final.usage.prompt_tokens_details is not None and final.usage.prompt_tokens_details.cached_tokens == 43


def check_stream_tool_call(final: chatplug.ChatCompletion) -> None:
    raw = sse_chunks("glm-stream-tool-call.sse")
    message = final.choices[0].message
    assert message.content == "I'll get the current weather information for Florence, Italy for you."
    assert message.reasoning_content == joined(raw, "reasoning_content")
    assert message.reasoning_content.startswith("The user is asking for the weather in Florence, Italy.")
    assert message.tool_calls is not None and len(message.tool_calls) == 1
    call = message.tool_calls[0]
    assert call.id == "call_3532c842716b4c72a7dd7498"
    assert call.function.name == "weather"
    assert json.loads(call.function.arguments) == {"location": "Florence,Italy"}
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens, final.usage.total_tokens) == (173, 93, 266)
    assert final.usage.prompt_tokens_details is not None and final.usage.prompt_tokens_details.cached_tokens == 172
    assert final.usage.completion_tokens_details is not None
    assert final.usage.completion_tokens_details.reasoning_tokens == 65


STREAM = [
    ("glm-stream-reasoning-glm45.sse", "glm-4.5", check_stream_reasoning_glm45),
    ("glm-stream-content-glm46.sse", "glm-4.6", check_stream_content_glm46),
    ("glm-stream-tool-call.sse", "glm-4.7-flash", check_stream_tool_call),
]


def check_canonical_chunks(chunks: list[chatplug.ChatCompletionChunk], name: str) -> None:
    """GLM's chunk quirks are gone: object present, finish_reason key present, role once."""
    raw = sse_chunks(name)
    assert len(chunks) == len(raw)
    for chunk in chunks:
        wire = chunk.to_dict()
        assert wire["object"] == "chat.completion.chunk"
        assert "finish_reason" in wire["choices"][0]
    roles = [c.choices[0].delta.role for c in chunks]
    assert roles[0] == "assistant"
    assert all(role is None for role in roles[1:])
    assert [c.choices[0].finish_reason for c in chunks][:-1] == [None] * (len(chunks) - 1)
    assert chunks[-1].usage is not None


def check_wire(request: Any, *, stream: bool, extras: dict[str, Any]) -> None:
    assert request.method == "POST"
    assert request.path == CHAT_PATH
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    expected: dict[str, Any] = {"model": request.json()["model"], "messages": MESSAGES, **extras}
    if stream:
        expected["stream"] = True
    assert request.json() == expected


# ------------------------------------------------------------------------ tests


@pytest.mark.parametrize(("name", "model", "check"), NONSTREAM, ids=[n for n, _, _ in NONSTREAM])
def test_nonstream_sample_sync(
    client: chatplug.Client, server: FakeServer, name: str, model: str, check: Any
) -> None:
    server.add(Reply.json(fixture_json(name)))
    extras = {"thinking": {"type": "enabled"}, "do_sample": True, "request_id": "req-000123", "user_id": "user-42"}
    reply = client.chat.completions.create(model=model, messages=MESSAGES, extra_body=extras)
    check(reply)
    assert reply.object == "chat.completion"
    check_wire(server.requests[0], stream=False, extras=extras)
    assert server.requests[0].json()["model"] == model


@pytest.mark.anyio
@pytest.mark.parametrize(("name", "model", "check"), NONSTREAM, ids=[n for n, _, _ in NONSTREAM])
async def test_nonstream_sample_async(
    aclient: chatplug.AsyncClient, server: FakeServer, name: str, model: str, check: Any
) -> None:
    server.add(Reply.json(fixture_json(name)))
    extras = {"thinking": {"type": "disabled"}, "do_sample": False}
    reply = await aclient.chat.completions.create(model=model, messages=MESSAGES, extra_body=extras)
    check(reply)
    check_wire(server.requests[0], stream=False, extras=extras)


@pytest.mark.parametrize(("name", "model", "check"), STREAM, ids=[n for n, _, _ in STREAM])
def test_stream_sample_sync(client: chatplug.Client, server: FakeServer, name: str, model: str, check: Any) -> None:
    server.add(Reply.sse_file(fixture_path(name)))
    extras = {"thinking": {"type": "enabled"}, "request_id": "req-000456"}
    with client.chat.completions.create(model=model, messages=MESSAGES, stream=True, extra_body=extras) as stream:
        chunks = list(stream)
        final = stream.get_final_completion()
    check_canonical_chunks(chunks, name)
    check(final)
    check_wire(server.requests[0], stream=True, extras=extras)


@pytest.mark.anyio
@pytest.mark.parametrize(("name", "model", "check"), STREAM, ids=[n for n, _, _ in STREAM])
async def test_stream_sample_async(
    aclient: chatplug.AsyncClient, server: FakeServer, name: str, model: str, check: Any
) -> None:
    server.add(Reply.sse_file(fixture_path(name), trickle=7))
    extras = {"thinking": {"type": "enabled"}, "user_id": "user-000789"}
    stream = await aclient.chat.completions.create(model=model, messages=MESSAGES, stream=True, extra_body=extras)
    async with stream:
        chunks = [chunk async for chunk in stream]
        final = await stream.get_final_completion()
    check_canonical_chunks(chunks, name)
    check(final)
    check_wire(server.requests[0], stream=True, extras=extras)


def test_tool_call_request_on_the_wire(client: chatplug.Client, server: FakeServer) -> None:
    """A tool request keeps tools, tool_choice and GLM extras exactly as given."""
    server.add(Reply.json(fixture_json("glm-nonstream-tool-call.json")))
    web_search = {"type": "web_search", "web_search": {"enable": True, "search_result": True}}
    reply = client.chat.completions.create(
        model="glm/glm-4.7-flash",
        messages=MESSAGES,
        tools=[WEATHER_TOOL, web_search],
        tool_choice="auto",
        temperature=0.6,
        top_p=0.9,
        stop=["END"],
        max_tokens=4000,
    )
    check_nonstream_tool_call(reply)
    check_wire(
        server.requests[0],
        stream=False,
        extras={
            "tools": [WEATHER_TOOL, web_search],
            "tool_choice": "auto",
            "temperature": 0.6,
            "top_p": 0.9,
            "stop": ["END"],
            "max_tokens": 4000,
        },
    )
    assert server.requests[0].json()["model"] == "glm-4.7-flash"


def test_stream_tool_call_final_is_fed_back_unchanged(client: chatplug.Client, server: FakeServer) -> None:
    """The assembled assistant turn goes back in the history with its tool call id byte for byte."""
    server.add(Reply.sse_file(fixture_path("glm-stream-tool-call.sse")))
    server.add(Reply.json(fixture_json("glm-nonstream-reasoning.json")))
    with client.chat.completions.create(
        model="glm-4.7-flash", messages=MESSAGES, tools=[WEATHER_TOOL], stream=True
    ) as stream:
        final = stream.get_final_completion()
    assistant = final.choices[0].message
    assert assistant.tool_calls is not None
    history: list[chatplug.types.Message] = [
        *MESSAGES,
        assistant,
        {"role": "tool", "tool_call_id": assistant.tool_calls[0].id, "content": "sunny"},
    ]
    client.chat.completions.create(model="glm-4.7-flash", messages=history, tools=[WEATHER_TOOL])
    sent = server.requests[1].json()["messages"]
    assert sent[1]["tool_calls"] == [
        {
            "id": "call_3532c842716b4c72a7dd7498",
            "type": "function",
            "function": {"name": "weather", "arguments": '{"location":"Florence,Italy"}'},
        }
    ]
    assert sent[2]["tool_call_id"] == "call_3532c842716b4c72a7dd7498"
    assert "reasoning_content" not in sent[1]  # thinking.clear_thinking not false: GLM ignores it
