"""Against the real Z.ai API. Runs only when ZAI_API_KEY is set (and
ZAI_BASE_URL, if your key belongs to the china or coding endpoint), e.g.
``ZAI_API_KEY=... ZAI_BASE_URL=coding pytest -m live tests/glm``."""

from __future__ import annotations

import json
import os

import chatplug
import pytest

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("ZAI_API_KEY"), reason="ZAI_API_KEY is not set: no live Z.ai calls"),
]

MODEL = os.environ.get("CHATPLUG_GLM_LIVE_MODEL", "glm-4.5-flash")
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_live_thinking_nonstream() -> None:
    with chatplug.Client() as client:
        reply = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "What is 17 * 3? Answer with the number only."}],
            extra_body={"thinking": {"type": "enabled"}},
            max_tokens=1024,
        )
    assert "51" in (reply.choices[0].message.content or "")
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage is not None and reply.usage.total_tokens > 0


def test_live_stream_tool_call() -> None:
    with chatplug.Client() as client, client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "What's the weather in Paris? Use the tool."}],
        tools=[WEATHER],
        tool_choice="auto",
        stream=True,
    ) as stream:
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert final.choices[0].finish_reason == "tool_calls"
    assert calls and calls[0].function.name == "get_weather"
    assert "paris" in json.loads(calls[0].function.arguments)["city"].lower()
    assert final.usage is not None


@pytest.mark.anyio
async def test_live_async_stream() -> None:
    async with chatplug.AsyncClient() as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Say hello in French, one word."}], stream=True,
            extra_body={"thinking": {"type": "disabled"}},
        )
        async with stream:
            final = await stream.get_final_completion()
    assert final.choices[0].message.content
    assert final.choices[0].finish_reason == "stop"
