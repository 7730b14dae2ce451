"""Live calls to Moonshot. Run with ``MOONSHOT_API_KEY`` set (and optionally
``MOONSHOT_BASE_URL=china`` for a China-platform key, ``MOONSHOT_MODEL``)."""

from __future__ import annotations

import os

import chatplug
import pytest

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("MOONSHOT_API_KEY"), reason="MOONSHOT_API_KEY is not set"),
]

MODEL = os.environ.get("MOONSHOT_MODEL", "kimi-k2-turbo-preview")
MESSAGES = [{"role": "user", "content": "Reply with the single word: pong"}]


def test_live_completion() -> None:
    with chatplug.Client(provider="kimi") as client:
        reply = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=16, temperature=0)
    assert reply.choices[0].message.content
    assert reply.usage is not None and reply.usage.total_tokens > 0


def test_live_stream_usage() -> None:
    with chatplug.Client(provider="kimi") as client, client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=16, temperature=0, stream=True
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].finish_reason in ("stop", "length")
    assert final.usage is not None and final.usage.total_tokens > 0


@pytest.mark.anyio
async def test_live_async_partial_mode() -> None:
    from chatplug_kimi import partial_message

    async with chatplug.AsyncClient(provider="kimi") as client:
        reply = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Give a JSON object with key a set to 1."}, partial_message("{")],
            max_tokens=32,
        )
    assert reply.choices[0].message.content


def test_live_bad_key_is_authentication_error() -> None:
    with (
        chatplug.Client(provider="kimi", api_key="sk-not-a-real-key-000000", max_retries=0) as client,
        pytest.raises(chatplug.AuthenticationError),
    ):
        client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=4)
