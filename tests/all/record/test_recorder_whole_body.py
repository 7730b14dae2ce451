"""A recording holds the whole body even when chatplug stops reading early:
after a stream that is only [DONE] (an error), or when the app leaves a
stream before its end, the rest of what the server sent is still stored."""

from __future__ import annotations

import chatplug
import httpx
import pytest
from chatplug.testing import AsyncRecordingTransport, FakeServer, RecordingTransport, Reply, record_call
from chatplug.testing._record import Exchange
from record_support import MESSAGES, SECRET_KEY

ONLY_DONE = b": keep-alive\n\ndata: [DONE]\r\n\r\n"
CHUNK = (b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"glm-4.5","choices":[{"index":0,'
         b'"delta":{"content":"%s"}}]}\n\n')
LONG_STREAM = b"".join(CHUNK % str(n).encode() for n in range(20)) + b"data: [DONE]\n\n"


def test_a_stream_chatplug_refuses_is_still_recorded_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZAI_API_KEY", SECRET_KEY)
    with FakeServer() as server:
        server.add(Reply.sse_bytes(ONLY_DONE, chunk_size=1))
        recorded = record_call(provider="glm", model="glm-4.5", messages=MESSAGES, stream=True,
                               base_url=server.base_url)
    assert isinstance(recorded.error, chatplug.APIResponseValidationError)  # [DONE] with no chunk is an error
    assert recorded.exchange.body == ONLY_DONE
    assert recorded.exchange.complete is True


def test_a_stream_the_app_leaves_early_is_recorded_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZAI_API_KEY", SECRET_KEY)
    exchanges: list[Exchange] = []
    with FakeServer() as server:
        server.add(Reply.sse_bytes(LONG_STREAM, chunk_size=7))
        with httpx.Client(transport=RecordingTransport(exchanges.append)) as http, \
                chatplug.Client(provider="glm", base_url=server.base_url, http_client=http) as client, \
                client.chat.completions.create(model="glm-4.5", messages=MESSAGES, stream=True) as stream:
            first = next(iter(stream))
    assert first.choices[0].delta.content == "0"
    assert [exchange.body for exchange in exchanges] == [LONG_STREAM]


@pytest.mark.anyio
async def test_the_async_recorder_keeps_the_whole_body_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZAI_API_KEY", SECRET_KEY)
    exchanges: list[Exchange] = []
    with FakeServer() as server:
        server.add(Reply.sse_bytes(LONG_STREAM, chunk_size=7))
        async with httpx.AsyncClient(transport=AsyncRecordingTransport(exchanges.append)) as http, \
                chatplug.AsyncClient(provider="glm", base_url=server.base_url, http_client=http) as client:
            stream = await client.chat.completions.create(model="glm-4.5", messages=MESSAGES, stream=True)
            async with stream:
                async for chunk in stream:
                    assert chunk.choices[0].delta.content == "0"
                    break
    assert [exchange.body for exchange in exchanges] == [LONG_STREAM]
