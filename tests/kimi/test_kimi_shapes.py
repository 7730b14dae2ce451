"""Response shapes of Kimi thinking models and the builtin ``$web_search``
tool, from a synthetic transcript (see its ``.source.txt``), over loopback HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import chatplug
import chatplug_kimi
import pytest
from chatplug.testing import FakeServer, Reply
from chatplug_kimi import web_search_reply, web_search_tool

from .kimi_support import completion

QUESTION = [{"role": "user", "content": "What happened in the news today?"}]
THINKING_SEARCH = "kimi-stream-thinking-web-search.sse"


def _thinking_search_events() -> list[dict[str, Any]]:
    path = Path(__file__).parent / "fixtures" / THINKING_SEARCH
    return [json.loads(line[6:]) for line in path.read_text().splitlines()
            if line.startswith("data: {")]


def test_thinking_web_search_stream_round_trip(server: FakeServer, client: chatplug.Client) -> None:
    call = _thinking_search_events()[3]["choices"][0]["delta"]["tool_calls"][0]
    server.add(Reply.sse_file(Path(__file__).parent / "fixtures" / THINKING_SEARCH),
               Reply.json(completion({"role": "assistant", "content": "Here is today's news."})))
    messages: list[Any] = list(QUESTION)
    with client.chat.completions.create(model="kimi-k2-thinking", messages=messages, tools=[web_search_tool()],
                                        stream=True) as stream:
        first = stream.get_final_completion()
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert message.reasoning_content == "The user asks about today's news; I should search the web."
    assert message.tool_calls is not None and len(message.tool_calls) == 1
    got = message.tool_calls[0]
    assert (got.id, got.type, got.function.name, got.function.arguments) == (
        call["id"], "builtin_function", "$web_search", call["function"]["arguments"])
    assert first.usage is not None and first.usage.total_tokens == 85
    messages.append(message)
    messages.append(web_search_reply(got))
    client.chat.completions.create(model="kimi-k2-thinking", messages=messages, tools=[web_search_tool()])
    sent = server.requests[1].json()["messages"]
    assert sent[1]["reasoning_content"] == message.reasoning_content  # thinking goes back with the call turn
    assert sent[1]["tool_calls"] == [{"id": call["id"], "type": "builtin_function", "function": call["function"]}]
    assert sent[2] == {"role": "tool", "tool_call_id": call["id"], "name": "$web_search",
                       "content": call["function"]["arguments"]}


@pytest.mark.anyio
async def test_thinking_web_search_stream_async(server: FakeServer, aclient: chatplug.AsyncClient) -> None:
    server.add(Reply.sse_file(Path(__file__).parent / "fixtures" / THINKING_SEARCH))
    async with aclient:
        stream = await aclient.chat.completions.create(model="kimi-k2-thinking", messages=QUESTION,
                                                       tools=[web_search_tool()], stream=True)
        async with stream:
            first = await stream.get_final_completion()
    assert first.choices[0].message.tool_calls is not None
    assert first.choices[0].message.tool_calls[0].type == "builtin_function"
    assert chatplug_kimi.is_web_search_call(first.choices[0].message.tool_calls[0])
