"""Usage in Kimi's places: inside choices[0], top level, a trailing ``choices: []``
chunk, and the top-level ``cached_tokens`` of Moonshot's context cache."""

from __future__ import annotations

import chatplug
import chatplug_kimi
import pytest
from chatplug.testing import FakeServer, Reply

from .kimi_support import chunk, completion

MESSAGES = [{"role": "user", "content": "Hi"}]
USAGE = {"prompt_tokens": 40, "completion_tokens": 2, "total_tokens": 42}


def _stream(client: chatplug.Client) -> tuple[list[chatplug.ChatCompletionChunk], chatplug.ChatCompletion]:
    with client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES, stream=True) as stream:
        chunks = list(stream)
        return chunks, stream.get_final_completion()


def test_usage_in_choice_and_trailing_chunk_is_not_double_counted(server: FakeServer, client: chatplug.Client) -> None:
    trailing = {**chunk({}), "choices": [], "usage": USAGE}
    server.add(Reply.sse([chunk({"role": "assistant", "content": "Hi"}),
                          chunk({}, "stop", choice_usage=USAGE),
                          trailing]))
    chunks, final = _stream(client)
    assert [c.usage.total_tokens if c.usage else None for c in chunks] == [None, 42, 42]
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens, final.usage.total_tokens) == (40, 2, 42)
    assert final.choices[0].message.content == "Hi"


def test_usage_in_both_places_of_one_chunk(server: FakeServer, client: chatplug.Client) -> None:
    """A top-level usage wins; the copy inside the choice is removed."""
    top = {"prompt_tokens": 40, "completion_tokens": 2, "total_tokens": 42, "cached_tokens": 32}
    server.add(Reply.sse([chunk({"role": "assistant", "content": "Hi"}),
                          chunk({}, "stop", choice_usage=USAGE, usage=top)]))
    chunks, final = _stream(client)
    last = chunks[-1].to_dict()
    assert "usage" not in last["choices"][0]
    assert last["usage"]["cached_tokens"] == 32
    assert final.usage is not None and final.usage.total_tokens == 42


@pytest.mark.anyio
async def test_usage_in_choice_async(server: FakeServer, aclient: chatplug.AsyncClient) -> None:
    server.add(Reply.sse([chunk({"role": "assistant", "content": "Hi"}), chunk({}, "stop", choice_usage=USAGE)]))
    async with aclient:
        stream = await aclient.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES, stream=True)
        async with stream:
            final = await stream.get_final_completion()
    assert final.usage is not None and final.usage.total_tokens == 42


def test_cached_tokens_kept_and_reflected_in_details(server: FakeServer, client: chatplug.Client) -> None:
    usage = {"prompt_tokens": 1000, "completion_tokens": 10, "total_tokens": 1010, "cached_tokens": 768}
    server.add(Reply.json({**completion({"role": "assistant", "content": "ok"}), "usage": usage}))
    reply = client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES)
    assert reply.usage is not None
    assert reply.usage.prompt_tokens_details is not None
    assert reply.usage.prompt_tokens_details.cached_tokens == 768
    assert reply.usage.cached_tokens == 768  # Moonshot's own field stays readable
    assert reply.to_dict()["usage"]["cached_tokens"] == 768


def test_cached_tokens_in_stream_usage(server: FakeServer, client: chatplug.Client) -> None:
    usage = {**USAGE, "cached_tokens": 16}
    server.add(Reply.sse([chunk({"role": "assistant", "content": "Hi"}), chunk({}, "stop", choice_usage=usage)]))
    _, final = _stream(client)
    assert final.usage is not None and final.usage.prompt_tokens_details is not None
    assert final.usage.prompt_tokens_details.cached_tokens == 16


def test_existing_prompt_details_are_not_overwritten() -> None:
    body = {"choices": [], "usage": {"prompt_tokens": 5, "cached_tokens": 3,
                                      "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0}}}
    out = chatplug_kimi.KimiNormalizer().normalize_completion(body)
    assert out["usage"]["prompt_tokens_details"] == {"cached_tokens": 4, "audio_tokens": 0}
    body = {"choices": [], "usage": {"prompt_tokens": 5, "cached_tokens": 3,
                                      "prompt_tokens_details": {"audio_tokens": 0}}}
    out = chatplug_kimi.KimiNormalizer().normalize_completion(body)
    assert out["usage"]["prompt_tokens_details"] == {"audio_tokens": 0, "cached_tokens": 3}


def test_chunk_without_usage_is_untouched() -> None:
    data = chunk({"content": "x"})
    before = repr(data)
    assert chatplug_kimi.KimiNormalizer().normalize_chunk(data) == (data,)
    assert repr(data) == before
