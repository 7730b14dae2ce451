"""Every recorded Kimi stream sample, replayed over loopback HTTP, sync and async."""

from __future__ import annotations

import json
from typing import Any

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply

from .kimi_support import API_KEY, FIXTURES, load_fixture

MESSAGES = [{"role": "user", "content": "What can you do?"}]


def _reply(sample: str) -> Reply:
    if sample.endswith(".sse"):
        return Reply.sse_file(FIXTURES / sample)
    return Reply.sse([load_fixture(sample)])  # a single recorded chunk, then [DONE]


# sample -> what the assembled completion must be
EXPECTED: dict[str, dict[str, Any]] = {
    "kimi-stream-k2-0905.sse": {
        "id": "chatcmpl-6911668985355ab7ab43bc2b",
        "model": "kimi-k2-0905-preview",
        "content": "I can:\n\nhelp you",
        "usage": (4796, 174, 4970),
        "system_fingerprint": "fpv0_41b1161c",
        "chunks": 7,
    },
    "kimi-stream-docs-example.sse": {
        "id": "cmpl-1305b94c570f447fbde3180560736287",
        "model": "kimi-k2-turbo-preview",
        "content": "Hello.",
        "usage": (19, 13, 32),
        "system_fingerprint": None,
        "chunks": 4,
    },
    "kimi-stream-final-chunk-usage-in-choice.json": {
        "id": "chatcmpl-67500eb0c51af667d5968f74",
        "model": "moonshot-v1-8k",
        "content": None,
        "usage": (10, 79, 89),
        "system_fingerprint": "fpv0_c26222aa",
        "chunks": 1,
    },
}


def _check(sample: str, chunks: list[chatplug.ChatCompletionChunk], final: chatplug.ChatCompletion) -> None:
    expected = EXPECTED[sample]
    assert len(chunks) == expected["chunks"]
    assert final.id == expected["id"]
    assert final.model == expected["model"]
    assert final.system_fingerprint == expected["system_fingerprint"]
    message = final.choices[0].message
    assert message.role == "assistant"
    assert message.content == expected["content"]
    assert final.choices[0].finish_reason == "stop"
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens, final.usage.total_tokens) == expected["usage"]
    # Usage moved from choices[0] to the chunk: a user reading chunk.usage finds it on the last chunk only.
    assert [c.usage is not None for c in chunks] == [False] * (len(chunks) - 1) + [True]
    last = chunks[-1].to_dict()
    assert last["usage"]["total_tokens"] == expected["usage"][2]
    assert "usage" not in last["choices"][0]


def _check_wire(server: FakeServer) -> None:
    assert len(server.requests) == 1
    request = server.requests[0]
    assert request.method == "POST"
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["accept"] == "text/event-stream"
    assert request.json() == {"model": "kimi-k2-0905-preview", "messages": MESSAGES, "temperature": 0.6,
                              "stream": True}


@pytest.mark.parametrize("sample", sorted(EXPECTED))
def test_replay_sync(sample: str, server: FakeServer, client: chatplug.Client) -> None:
    server.add(_reply(sample))
    with client.chat.completions.create(
        model="kimi-k2-0905-preview", messages=MESSAGES, temperature=0.6, stream=True
    ) as stream:
        chunks = list(stream)
        final = stream.get_final_completion()
    _check(sample, chunks, final)
    _check_wire(server)


@pytest.mark.anyio
@pytest.mark.parametrize("sample", sorted(EXPECTED))
async def test_replay_async(sample: str, server: FakeServer, aclient: chatplug.AsyncClient) -> None:
    server.add(_reply(sample))
    async with aclient:
        stream = await aclient.chat.completions.create(
            model="kimi-k2-0905-preview", messages=MESSAGES, temperature=0.6, stream=True
        )
        async with stream:
            chunks = [chunk async for chunk in stream]
            final = await stream.get_final_completion()
    _check(sample, chunks, final)
    _check_wire(server)


def test_replay_byte_by_byte(server: FakeServer, client: chatplug.Client) -> None:
    """The recorded bytes cut at every byte boundary assemble to the same completion."""
    data = (FIXTURES / "kimi-stream-k2-0905.sse").read_bytes()
    server.add(Reply.sse_bytes(data, chunk_size=1))
    with client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES, stream=True) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "I can:\n\nhelp you"
    assert final.usage is not None and final.usage.total_tokens == 4970


def test_final_completion_serializes_to_openai_json(server: FakeServer, client: chatplug.Client) -> None:
    server.add(_reply("kimi-stream-k2-0905.sse"))
    with client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES, stream=True) as stream:
        final = stream.get_final_completion()
    wire = json.loads(json.dumps(final.to_dict()))
    assert wire["object"] == "chat.completion"
    assert wire["usage"] == {"prompt_tokens": 4796, "completion_tokens": 174, "total_tokens": 4970}
    assert wire["choices"][0]["message"]["content"] == "I can:\n\nhelp you"
