"""The official openai package against the gateway, which talks to the fake provider over real sockets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest
from chatplug.testing import FakeServer, Reply
from gateway_support import (
    FIXTURES,
    MESSAGES,
    USAGE,
    WEATHER_TOOL,
    ZAI_KEY,
    ThreadedGateway,
    chunk,
    completion,
    fixture_bytes,
    fixture_json,
    simple_stream,
)


def sync_client(gateway: ThreadedGateway, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0, timeout=30)


def async_client(gateway: ThreadedGateway, key: str = "unused") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gateway.base_url, api_key=key, max_retries=0, timeout=30)


def test_non_stream_reply_is_openai_json_and_the_provider_gets_its_own_key(
    fake: FakeServer, gateway: ThreadedGateway
) -> None:
    fake.add(Reply.json(completion("Sunny, 24 C")))
    with sync_client(gateway) as client:
        reply = client.chat.completions.create(model="glm/glm-4.6", messages=MESSAGES, temperature=0.5)
    assert reply.object == "chat.completion"
    assert reply.choices[0].message.content == "Sunny, 24 C"
    assert reply.usage is not None and reply.usage.total_tokens == 18
    sent = fake.last_request
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {ZAI_KEY}"
    assert sent.json() == {"model": "glm-4.6", "messages": MESSAGES, "temperature": 0.5}


def test_reasoning_and_tool_calls_of_a_recorded_glm_reply_reach_the_client(
    fake: FakeServer, gateway: ThreadedGateway
) -> None:
    recorded = fixture_json("glm-nonstream-tool-call.json")
    fake.add(Reply.json(recorded))
    with sync_client(gateway) as client:
        reply = client.chat.completions.create(model="glm-4.5", messages=MESSAGES, tools=[WEATHER_TOOL])
    message = reply.choices[0].message
    expected = recorded["choices"][0]["message"]
    assert message.model_extra is not None and message.model_extra["reasoning_content"] == expected["reasoning_content"]
    assert message.tool_calls is not None
    got = [call.model_dump() for call in message.tool_calls]
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in got] == [
        (c["id"], c["function"]["name"], c["function"]["arguments"]) for c in expected["tool_calls"]
    ]
    assert reply.choices[0].finish_reason == "tool_calls"


def test_stream_of_a_recorded_glm_tool_call_with_usage_in_a_final_chunk(
    fake: FakeServer, gateway: ThreadedGateway
) -> None:
    fake.add(Reply.sse_file(fixture_path("glm-stream-tool-call.sse")))
    with sync_client(gateway) as client:
        stream = client.chat.completions.create(
            model="glm/glm-4.7-flash", messages=MESSAGES, tools=[WEATHER_TOOL], stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or "" for c in chunks if c.choices
    )
    upstream = _recorded_events("glm-stream-tool-call.sse")
    assert reasoning == "".join(
        e["choices"][0]["delta"].get("reasoning_content", "") for e in upstream if e.get("choices")
    )
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    recorded_call = next(e for e in upstream if e["choices"][0]["delta"].get("tool_calls"))
    recorded_call = recorded_call["choices"][0]["delta"]["tool_calls"][0]
    assert [(tc.index, tc.id, tc.function and tc.function.name, tc.function and tc.function.arguments)
            for tc in calls] == [
        (0, recorded_call["id"], recorded_call["function"]["name"], recorded_call["function"]["arguments"])
    ]
    # usage rode on GLM's finishing chunk: the gateway sends it the OpenAI way, last, with no choices
    assert chunks[-1].choices == []
    last_upstream = upstream[-1]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == last_upstream["usage"]["total_tokens"]
    assert all(c.usage is None for c in chunks[:-1])
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


def test_stream_without_include_usage_sends_no_usage(fake: FakeServer, gateway: ThreadedGateway) -> None:
    fake.add(Reply.sse(simple_stream("one two three")))
    with sync_client(gateway) as client:
        chunks = list(client.chat.completions.create(model="glm-4.6", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "one two three"
    assert all(c.usage is None and "usage" not in c.model_dump(exclude_unset=True) for c in chunks)
    assert "stream_options" not in fake.last_request.json()


def test_fragmented_tool_calls_without_indexes_get_indexes(fake: FakeServer, gateway: ThreadedGateway) -> None:
    """Two calls whose fragments carry no index (as some providers send them) arrive indexed 0 and 1."""
    fake.add(Reply.sse([
        chunk(tool_calls=[{"id": "call_a", "type": "function", "function": {"name": "weather", "arguments": ""}}]),
        chunk(tool_calls=[{"function": {"arguments": '{"location":'}}]),
        chunk(tool_calls=[{"function": {"arguments": '"Rome"}'}}]),
        chunk(tool_calls=[{"id": "call_b", "type": "function", "function": {"name": "weather", "arguments": "{}"}}]),
        chunk(finish="tool_calls", usage=USAGE),
    ]))
    with sync_client(gateway) as client:
        chunks = list(client.chat.completions.create(model="glm-4.6", messages=MESSAGES, stream=True))
    fragments = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert [(f.index, f.id, f.function and f.function.arguments) for f in fragments] == [
        (0, "call_a", ""), (0, None, '{"location":'), (0, None, '"Rome"}'), (1, "call_b", "{}")
    ]


@pytest.mark.anyio
async def test_async_client_stream_of_recorded_kimi_reply(fake: FakeServer, gateway: ThreadedGateway) -> None:
    fake.add(Reply.sse_file(fixture_path("kimi-stream-k2-0905.sse")))
    async with async_client(gateway) as client:
        stream = await client.chat.completions.create(
            model="kimi/kimi-k2-0905-preview", messages=MESSAGES, stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [c async for c in stream]
    upstream = _recorded_events("kimi-stream-k2-0905.sse")
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in upstream if e.get("choices"))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    kimi_usage = next(e["choices"][0]["usage"] for e in upstream if e.get("choices") and e["choices"][0].get("usage"))
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == kimi_usage["total_tokens"]
    assert fake.last_request.json()["stream_options"] == {"include_usage": True}


@pytest.mark.anyio
async def test_async_client_non_stream_with_reasoning(fake: FakeServer, gateway: ThreadedGateway) -> None:
    recorded = fixture_json("glm-nonstream-reasoning.json")
    fake.add(Reply.json(recorded))
    async with async_client(gateway) as client:
        reply = await client.chat.completions.create(
            model="glm-4.5", messages=MESSAGES, extra_body={"thinking": {"type": "enabled"}},
        )
    expected = recorded["choices"][0]["message"]
    assert reply.choices[0].message.content == expected["content"]
    assert (reply.choices[0].message.model_extra or {})["reasoning_content"] == expected["reasoning_content"]
    assert fake.last_request.json()["thinking"] == {"type": "enabled"}  # a provider parameter passed through


@pytest.mark.anyio
async def test_async_stream_with_reasoning_deltas(fake: FakeServer, gateway: ThreadedGateway) -> None:
    fake.add(Reply.sse_file(fixture_path("glm-stream-reasoning-glm45.sse")))
    async with async_client(gateway) as client:
        stream = await client.chat.completions.create(model="glm-4.5", messages=MESSAGES, stream=True)
        chunks = [c async for c in stream]
    upstream = _recorded_events("glm-stream-reasoning-glm45.sse")
    want = "".join(e["choices"][0]["delta"].get("reasoning_content") or "" for e in upstream if e.get("choices"))
    got = "".join((c.choices[0].delta.model_extra or {}).get("reasoning_content") or "" for c in chunks if c.choices)
    assert got == want and want


def test_models_lists_installed_providers_as_provider_slash_model(gateway: ThreadedGateway) -> None:
    with sync_client(gateway) as client:
        ids = [model.id for model in client.models.list()]
    assert "glm/glm-4.6" in ids and "kimi/kimi-k2-0905-preview" in ids
    assert all("/" in name for name in ids)


def fixture_path(name: str) -> Path:
    return FIXTURES / name


def _recorded_events(name: str) -> list[dict[str, Any]]:
    events = []
    for line in fixture_bytes(name).decode().splitlines():
        if line.startswith("data:") and line[5:].strip() != "[DONE]":
            events.append(json.loads(line[5:]))
    return events


@pytest.mark.anyio
async def test_async_stream_of_kimi_style_tool_call_fragments(fake: FakeServer, gateway: ThreadedGateway) -> None:
    """Kimi sends id and name first, then argument fragments; its ids must come back byte for byte."""
    def kimi(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": "chatcmpl-k", "object": "chat.completion.chunk", "created": 1, "model": "kimi-k2-0905-preview",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    fake.add(Reply.sse([
        kimi({"role": "assistant", "content": ""}),
        kimi({"tool_calls": [{"index": 0, "id": "functions.weather:0", "type": "function",
                              "function": {"name": "weather", "arguments": ""}}]}),
        kimi({"tool_calls": [{"index": 0, "function": {"arguments": '{"location": '}}]}),
        kimi({"tool_calls": [{"index": 0, "function": {"arguments": '"Kyoto"}'}}]}),
        kimi({}, finish="tool_calls"),
    ]))
    async with async_client(gateway) as client:
        stream = await client.chat.completions.create(
            model="kimi-k2-0905-preview", messages=MESSAGES, tools=[WEATHER_TOOL], stream=True)
        calls: dict[int, dict[str, str]] = {}
        async for piece in stream:
            for fragment in (piece.choices[0].delta.tool_calls or []) if piece.choices else []:
                call = calls.setdefault(fragment.index, {"id": "", "name": "", "arguments": ""})
                call["id"] += fragment.id or ""
                if fragment.function is not None:
                    call["name"] += fragment.function.name or ""
                    call["arguments"] += fragment.function.arguments or ""
    assert calls == {0: {"id": "functions.weather:0", "name": "weather", "arguments": '{"location": "Kyoto"}'}}
    assert fake.last_request.json()["tools"] == [WEATHER_TOOL]
