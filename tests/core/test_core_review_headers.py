"""Review fixes for headers: a header value HTTP cannot carry is refused before
any I/O (no observer told the call started, no limiter slot taken), sync and async."""

from __future__ import annotations

from typing import Any

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from core_support import API_KEY, MESSAGES, completion_body
from test_core_review_keys import Started


def one_at_a_time() -> chatplug.Limiter:
    return chatplug.Limiter([chatplug.RateLimit(provider="testprov", max_in_flight=1)], max_wait=0.2)


@pytest.mark.parametrize(
    ("where", "options", "call"),
    [
        ("extra_headers", {}, {"extra_headers": {"X-Note": "caf\u00e9"}}),
        ("extra_headers", {}, {"extra_headers": {"X-Note": "two\nlines"}}),
        ("default_headers", {"default_headers": {"X-Team": "\u00e9quipe"}}, {}),
    ],
    ids=["extra-non-ascii", "extra-newline", "default-non-ascii"],
)
def test_a_header_http_cannot_carry_is_refused_before_the_call_starts(
    where: str, options: dict[str, Any], call: dict[str, Any], server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    calls = Started()
    registry.register(calls, "calls")
    server.default = Reply.json(completion_body())
    limiter = one_at_a_time()
    with chatplug.Client(provider="testprov", api_key=API_KEY, base_url=server.base_url, registry=registry,
                         limiter=limiter, **options) as client:
        with pytest.raises(chatplug.InvalidRequestError, match=f"{where}\\['X-") as caught:
            client.chat.completions.create(model="m", messages=MESSAGES, **call)
        assert caught.value.param == where
        assert "caf" not in str(caught.value) and "quipe" not in str(caught.value) and "lines" not in str(caught.value)
        assert calls.events == []
        client.default_headers = {}
        client.chat.completions.create(model="m", messages=MESSAGES)  # the limiter's one slot is free
    assert len(server.requests) == 1
    assert calls.events == ["start", "finish"]


@pytest.mark.anyio
async def test_async_a_header_http_cannot_carry_is_refused_before_the_call_starts(
    server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    calls = Started()
    registry.register(calls, "calls")
    server.default = Reply.json(completion_body())
    async with chatplug.AsyncClient(provider="testprov", api_key=API_KEY, base_url=server.base_url,
                                    registry=registry, limiter=one_at_a_time()) as client:
        with pytest.raises(chatplug.InvalidRequestError, match="extra_headers"):
            await client.chat.completions.create(model="m", messages=MESSAGES, extra_headers={"X-Note": "caf\u00e9"})
        assert calls.events == []
        await client.chat.completions.create(model="m", messages=MESSAGES)
    assert len(server.requests) == 1
    assert calls.events == ["start", "finish"]
