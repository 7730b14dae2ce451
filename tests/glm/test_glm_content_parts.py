"""GLM 5.x reply shapes (content as typed parts, a ``reasoning`` field) and the
flattening of assistant/tool content parts on the way out, over loopback HTTP.

The replies are synthetic transcripts (see each fixture's ``.source.txt``).
"""

from __future__ import annotations

from typing import Any

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from glm_support import MESSAGES, fixture_json, fixture_path

PARTS = "glm-nonstream-glm5-content-parts.json"
REASONING = "glm-nonstream-glm5-reasoning-field.json"
STREAM = "glm-stream-glm5-content-parts.sse"
STREAM_REASONING = "Count the letters: s-t-r-a-w-b-e-r-r-y has three r."
STREAM_CONTENT = "There are three r's."
REASONING_TEXT = fixture_json(REASONING)["choices"][0]["message"]["reasoning"]


def test_nonstream_parts_sync(client: chatplug.Client, server: FakeServer) -> None:
    server.add(Reply.json(fixture_json(PARTS)))
    reply = client.chat.completions.create(model="glm-5.1", messages=MESSAGES)
    message = reply.choices[0].message
    assert message.content == "Olá! Tudo bem?"
    assert message.reasoning_content == "The user greets me in Portuguese; answer briefly."
    assert reply.to_dict()["choices"][0]["message"]["content"] == "Olá! Tudo bem?"
    assert "content_parts" not in message.model_extra  # every part was understood
    assert reply.usage is not None and reply.usage.completion_tokens_details is not None
    assert reply.usage.completion_tokens_details.reasoning_tokens == 12


@pytest.mark.anyio
async def test_nonstream_parts_async(aclient: chatplug.AsyncClient, server: FakeServer) -> None:
    server.add(Reply.json(fixture_json(PARTS)))
    reply = await aclient.chat.completions.create(model="glm-5.1", messages=MESSAGES)
    assert reply.choices[0].message.content == "Olá! Tudo bem?"
    assert reply.choices[0].message.reasoning_content == "The user greets me in Portuguese; answer briefly."


def test_nonstream_reasoning_field(client: chatplug.Client, server: FakeServer) -> None:
    server.add(Reply.json(fixture_json(REASONING)))
    message = client.chat.completions.create(model="glm-5", messages=MESSAGES).choices[0].message
    assert message.content == "391"
    assert message.reasoning_content == REASONING_TEXT
    assert "reasoning" not in message.model_extra  # moved, not duplicated


@pytest.mark.anyio
async def test_nonstream_reasoning_field_async(aclient: chatplug.AsyncClient, server: FakeServer) -> None:
    server.add(Reply.json(fixture_json(REASONING)))
    reply = await aclient.chat.completions.create(model="glm-5", messages=MESSAGES)
    assert reply.choices[0].message.reasoning_content == REASONING_TEXT


def test_stream_parts_sync(client: chatplug.Client, server: FakeServer) -> None:
    server.add(Reply.sse_file(fixture_path(STREAM)))
    contents: list[str | None] = []
    reasoning: list[str | None] = []
    with client.chat.completions.create(model="glm-5.1", messages=MESSAGES, stream=True) as stream:
        for chunk in stream:
            contents.append(chunk.choices[0].delta.content)
            reasoning.append(chunk.choices[0].delta.reasoning_content)
        final = stream.get_final_completion()
    assert "".join(c or "" for c in contents) == STREAM_CONTENT
    assert "".join(r or "" for r in reasoning) == STREAM_REASONING
    assert all(c is None or isinstance(c, str) for c in contents)
    assert final.choices[0].message.content == STREAM_CONTENT
    assert final.choices[0].message.reasoning_content == STREAM_REASONING
    assert final.choices[0].finish_reason == "stop"
    assert final.usage is not None and final.usage.total_tokens == 40


@pytest.mark.anyio
async def test_stream_parts_async(aclient: chatplug.AsyncClient, server: FakeServer) -> None:
    server.add(Reply.sse_file(fixture_path(STREAM)))
    stream = await aclient.chat.completions.create(model="glm-5.1", messages=MESSAGES, stream=True)
    async with stream:
        final = await stream.get_final_completion()
    assert final.choices[0].message.content == STREAM_CONTENT
    assert final.choices[0].message.reasoning_content == STREAM_REASONING


def test_unknown_parts_are_kept(client: chatplug.Client, server: FakeServer) -> None:
    body = fixture_json(PARTS)
    parts = [{"type": "citation", "url": "https://example.org"}, {"type": "text", "text": "Hi"}]
    body["choices"][0]["message"]["content"] = parts
    server.add(Reply.json(body))
    message = client.chat.completions.create(model="glm-5.1", messages=MESSAGES).choices[0].message
    assert message.content == "Hi"
    assert message.model_extra["content_parts"] == parts  # nothing the server sent is lost


# ------------------------------------------------------------ on the way out

THINKING = {"type": "thinking", "thinking": "Greet back."}


def _history(assistant_content: Any, tool_content: Any) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        {"role": "assistant", "content": assistant_content,
         "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": tool_content},
    ]


def _sent_messages(server: FakeServer) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = server.requests[-1].json()["messages"]
    return messages


def test_history_parts_flattened(client: chatplug.Client, server: FakeServer) -> None:
    server.add(Reply.json(fixture_json(REASONING)))
    history = _history([THINKING, {"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}],
                       [{"type": "text", "text": "sunny, "}, {"type": "text", "text": "21 °C"}])
    client.chat.completions.create(model="glm-5.1", messages=history)
    user, assistant, tool = _sent_messages(server)
    assert user["content"] == [{"type": "text", "text": "Hi"}]  # user parts are GLM's documented shape
    assert assistant["content"] == "Hello"
    assert "reasoning_content" not in assistant  # past thinking is stripped unless clear_thinking is false
    assert tool["content"] == "sunny, 21 °C"
    assert b'"content":"Hello"' in server.requests[-1].body


@pytest.mark.anyio
async def test_history_thinking_kept_when_preserved(aclient: chatplug.AsyncClient, server: FakeServer) -> None:
    server.add(Reply.json(fixture_json(REASONING)))
    history = _history([THINKING, {"type": "text", "text": "Hello"}], "sunny")
    history[1]["reasoning_content"] = "Earlier. "
    await aclient.chat.completions.create(
        model="glm-5.1", messages=history,
        extra_body={"thinking": {"type": "enabled", "clear_thinking": False}},
    )
    assistant = _sent_messages(server)[1]
    assert assistant["content"] == "Hello"
    assert assistant["reasoning_content"] == "Earlier. Greet back."


@pytest.mark.parametrize(
    ("assistant_content", "tool_content", "where", "kind"),
    [
        ([{"type": "image_url", "image_url": {"url": "https://x/y.png"}}], "ok", "messages[1]", "image_url"),
        ("fine", [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "u"}}],
         "messages[2]", "image_url"),
        ("fine", [THINKING], "messages[2]", "thinking"),  # thinking belongs to assistant messages only
        ([{"type": "thinking"}], "ok", "messages[1]", "thinking"),  # a thinking part without text
    ],
)
def test_history_parts_glm_cannot_take_fail_before_io(
    client: chatplug.Client, server: FakeServer, assistant_content: Any, tool_content: Any, where: str, kind: str,
) -> None:
    # glm-4.6v takes images from the user, so this is the history rule, not the catalog's text-only refusal
    with pytest.raises(chatplug.InvalidRequestError) as caught:
        client.chat.completions.create(model="glm-4.6v", messages=_history(assistant_content, tool_content))
    assert where in str(caught.value) and repr(kind) in str(caught.value)
    assert caught.value.param == f"{where}.content"
    assert server.requests == []
