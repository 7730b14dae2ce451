"""The gateway's pieces on their own: the SSE response's cleanup, tool-call indexes, key matching."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import anyio
import chatplug
import httpx
import pytest
from chatplug_gateway._config import GatewayKey, hash_key, is_loopback
from chatplug_gateway._sse import EventStreamResponse
from chatplug_gateway._wire import ChunkWire


@pytest.mark.anyio
async def test_a_client_gone_before_the_first_event_still_runs_the_cleanup() -> None:
    started: list[bool] = []
    closed: list[bool] = []

    async def events() -> AsyncGenerator[bytes, None]:
        started.append(True)
        yield b"data: {}\n\n"

    async def on_close() -> None:
        closed.append(True)

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        await anyio.Event().wait()  # a client that never takes the headers, then leaves

    response = EventStreamResponse(events(), on_close=on_close)
    with anyio.fail_after(10):
        await response({"type": "http"}, receive, send)  # type: ignore[arg-type]
    assert started == [] and closed == [True]


def _chunk(tool_calls: list[dict[str, Any]] | None = None, **extra: Any) -> chatplug.ChatCompletionChunk:
    delta: dict[str, Any] = {"role": "assistant"}
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    body = {"id": "c", "created": 1, "model": "m", "choices": [{"index": 0, "delta": delta, **extra}]}
    return chatplug.from_dict(body, chatplug.ChatCompletionChunk)


def test_a_repeated_index_with_a_new_id_is_a_new_call() -> None:
    wire = ChunkWire("m", include_usage=False)
    first = wire.convert(_chunk([{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{}"}}]))
    second = wire.convert(_chunk([{"index": 0, "id": "b", "function": {"name": "g", "arguments": "{}"}}]))
    more = wire.convert(_chunk([{"index": 0, "function": {"arguments": " "}}]))
    indexes = [c["choices"][0]["delta"]["tool_calls"][0]["index"] for c in (first, second, more) if c]
    assert indexes == [0, 1, 1]


def test_usage_inside_a_choice_is_lifted_out_and_sent_last() -> None:
    wire = ChunkWire("kimi-k2", include_usage=True)
    usage = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    data = wire.convert(_chunk(finish_reason="stop", usage=usage))
    assert data is not None and data["usage"] is None and "usage" not in data["choices"][0]
    assert data["object"] == "chat.completion.chunk"
    final = wire.final()
    assert final is not None and final["choices"] == [] and final["usage"] == usage and final["id"] == "c"


def test_keys_allow_by_pattern_on_either_name() -> None:
    key = GatewayKey(name="k", sha256=hash_key("gw-xxxxxxxxxxxxxxxx"), models=("glm/*", "fast"))
    assert key.allows("glm-4.6", "glm/glm-4.6") and key.allows("fast", "glm/glm-4.5-air")
    assert not key.allows("kimi-k2-0905-preview", "kimi/kimi-k2-0905-preview")
    assert "gw-xxxxxxxxxxxxxxxx" not in repr(key) and hash_key("gw-xxxxxxxxxxxxxxxx") not in repr(key)


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.8.9.1", True), ("::1", True),
                                                ("[::1]", True), ("localhost", True), ("0.0.0.0", False),
                                                ("::", False), ("192.168.1.4", False), ("gateway.internal", False)])
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.anyio
async def test_an_app_without_keys_served_beyond_loopback_refuses_requests() -> None:
    """`chatplug serve` refuses to start so; an app embedded and served another way answers 403."""
    from chatplug_gateway import create_app

    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://10.1.2.3") as client:
        refused = await client.get("/v1/models")
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        served = await client.get("/v1/models")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "gateway_without_keys"
    assert served.status_code == 200
