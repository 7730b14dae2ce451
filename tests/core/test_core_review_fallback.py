"""Review fixes for fallbacks: observers see each call end exactly once, and a
failure that falls over is reported as one that goes on (sync and async)."""

from __future__ import annotations

from typing import Any

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from core_support import MESSAGES, chunk
from test_core_fallback import Recorder as FallbackRecorder
from test_core_fallback import make_aclient, make_client, server_b, two

__all__ = ["server_b", "two"]  # fixtures shared with test_core_fallback


class Recorder(FallbackRecorder):
    """test_core_fallback's observer, which also notes each call's start."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[int] = []

    @chatplug.hookimpl
    def chatplug_on_start(self, request: chatplug.RequestEvent) -> None:
        self.started.append(request.call_id)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def stream_reply(text: str) -> Reply:
    return Reply.sse([chunk({"role": "assistant", "content": text}), chunk({}, finish_reason="stop")])


def cut_before_first_chunk() -> Reply:
    return Reply.sse([chunk({"content": "never seen"})], close_after_bytes=10)


def test_a_stream_that_falls_over_before_its_first_chunk_finishes_the_call_once(
    two: chatplug.PluginRegistry, server: FakeServer, server_b: FakeServer, recorder: Recorder
) -> None:
    server.add(cut_before_first_chunk())
    server_b.add(stream_reply("from b"))
    with make_client(two, max_retries=0) as client, client.chat.completions.create(
        model="a-1", messages=MESSAGES, stream=True, fallbacks=["b-1"]
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "from b"
    assert len(recorder.started) == 1
    assert recorder.errors == [("StreamInterruptedError", True)]
    assert len(recorder.finished) == 1
    assert recorder.finished[0][1] is None
    assert recorder.finished[0][0] is not None and recorder.finished[0][0].choices[0].message.content == "from b"


@pytest.mark.anyio
async def test_async_a_stream_that_falls_over_before_its_first_chunk_finishes_the_call_once(
    two: chatplug.PluginRegistry, server: FakeServer, server_b: FakeServer, recorder: Recorder
) -> None:
    server.add(cut_before_first_chunk())
    server_b.add(stream_reply("from b"))
    async with make_aclient(two, max_retries=0) as client:
        stream = await client.chat.completions.create(model="a-1", messages=MESSAGES, stream=True, fallbacks=["b-1"])
        async with stream:
            final = await stream.get_final_completion()
    assert final.choices[0].message.content == "from b"
    assert len(recorder.started) == 1
    assert recorder.errors == [("StreamInterruptedError", True)]
    assert len(recorder.finished) == 1
    assert recorder.finished[0][1] is None


def test_a_stream_whose_every_model_fails_before_a_chunk_raises_every_error_once(
    two: chatplug.PluginRegistry, server: FakeServer, server_b: FakeServer, recorder: Recorder
) -> None:
    server.add(Reply.error(503, "down"))
    server_b.add(cut_before_first_chunk())
    with make_client(two, max_retries=0) as client, pytest.raises(chatplug.AllModelsFailedError) as caught:
        client.chat.completions.create(model="a-1", messages=MESSAGES, stream=True, fallbacks=["b-1"])
    assert [type(error) for error in caught.value.errors] == [
        chatplug.InternalServerError, chatplug.StreamInterruptedError]
    assert len(recorder.started) == 1
    assert recorder.errors == [("InternalServerError", True), ("StreamInterruptedError", False)]
    assert [error for _, error in recorder.finished] == [caught.value]


@pytest.mark.anyio
async def test_async_a_stream_whose_every_model_fails_before_a_chunk_raises_every_error_once(
    two: chatplug.PluginRegistry, server: FakeServer, server_b: FakeServer, recorder: Recorder
) -> None:
    server.add(cut_before_first_chunk())
    server_b.add(cut_before_first_chunk())
    async with make_aclient(two, max_retries=0) as client:
        with pytest.raises(chatplug.AllModelsFailedError) as caught:
            await client.chat.completions.create(model="a-1", messages=MESSAGES, stream=True, fallbacks=["b-1"])
    assert [type(error) for error in caught.value.errors] == [chatplug.StreamInterruptedError] * 2
    assert recorder.errors == [("StreamInterruptedError", True), ("StreamInterruptedError", False)]
    assert [error for _, error in recorder.finished] == [caught.value]


class BrokenForB:
    """A plugin whose payload hook has a bug that only shows for model b-1."""

    @chatplug.hookimpl
    def chatplug_prepare_payload(self, provider: chatplug.Provider, model: str, payload: dict[str, Any]) -> None:
        if model == "b-1":
            raise RuntimeError("plugin bug")


def test_a_plugin_bug_while_preparing_a_fallback_still_finishes_the_call_once(
    two: chatplug.PluginRegistry, server: FakeServer, server_b: FakeServer, recorder: Recorder
) -> None:
    two.register(BrokenForB(), "broken")
    server.add(Reply.error(503, "down"))
    with make_client(two, max_retries=0) as client, pytest.raises(RuntimeError, match="plugin bug") as caught:
        client.chat.completions.create(model="a-1", messages=MESSAGES, fallbacks=["b-1"])
    assert len(recorder.started) == 1
    assert [error for _, error in recorder.finished] == [caught.value]
    assert server_b.requests == []


@pytest.mark.anyio
async def test_async_a_plugin_bug_while_preparing_a_fallback_still_finishes_the_call_once(
    two: chatplug.PluginRegistry, server: FakeServer, server_b: FakeServer, recorder: Recorder
) -> None:
    two.register(BrokenForB(), "broken")
    server.add(Reply.error(503, "down"))
    async with make_aclient(two, max_retries=0) as client:
        with pytest.raises(RuntimeError, match="plugin bug") as caught:
            await client.chat.completions.create(model="a-1", messages=MESSAGES, fallbacks=["b-1"])
    assert len(recorder.started) == 1
    assert [error for _, error in recorder.finished] == [caught.value]


@pytest.mark.anyio
async def test_async_a_call_cancelled_while_its_fallback_waits_for_a_limit_finishes_once(
    two: chatplug.PluginRegistry, server: FakeServer, server_b: FakeServer, recorder: Recorder
) -> None:
    import asyncio

    server.add(Reply.error(503, "down"))
    server_b.add(stream_reply("holds the only slot"))
    limiter = chatplug.Limiter([chatplug.RateLimit(provider="bprov", max_in_flight=1)], max_wait=30)
    async with make_aclient(two, max_retries=0, limiter=limiter) as client:
        holder = await client.chat.completions.create(model="b-1", messages=MESSAGES, stream=True)
        task = asyncio.ensure_future(
            client.chat.completions.create(model="a-1", messages=MESSAGES, fallbacks=["b-1"]))
        while not recorder.errors:  # a-1 failed: the call now waits for b-1's slot
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await holder.close()
    assert len(recorder.started) == 2  # the holder's call and the cancelled one
    assert len(recorder.finished) == 2
    assert sum(isinstance(error, asyncio.CancelledError) for _, error in recorder.finished) == 1
    assert len(server_b.requests) == 1


class RaisingMapper:
    """A plugin whose error mapper raises a chatplug error of its own (not an APIError)."""

    @chatplug.hookimpl(tryfirst=True)
    def chatplug_map_error(self, provider: chatplug.Provider, status_code: int | None) -> None:
        if provider.id == "aprov":
            raise chatplug.InvalidRequestError("the mapper refused", provider="aprov")


def test_a_chatplug_error_raised_inside_an_attempt_finishes_a_chain_call_once(
    two: chatplug.PluginRegistry, server: FakeServer, server_b: FakeServer, recorder: Recorder
) -> None:
    two.register(RaisingMapper(), "raising-mapper")
    server.add(Reply.error(500, "boom"))
    with make_client(two, max_retries=0) as client, pytest.raises(chatplug.InvalidRequestError) as caught:
        client.chat.completions.create(model="a-1", messages=MESSAGES, fallbacks=["b-1"])
    assert len(recorder.started) == 1
    assert [error for _, error in recorder.finished] == [caught.value]
    assert server_b.requests == []


@pytest.mark.anyio
async def test_async_a_chatplug_error_raised_inside_an_attempt_finishes_a_chain_call_once(
    two: chatplug.PluginRegistry, server: FakeServer, server_b: FakeServer, recorder: Recorder
) -> None:
    two.register(RaisingMapper(), "raising-mapper")
    server.add(Reply.error(500, "boom"))
    async with make_aclient(two, max_retries=0) as client:
        with pytest.raises(chatplug.InvalidRequestError) as caught:
            await client.chat.completions.create(model="a-1", messages=MESSAGES, fallbacks=["b-1"])
    assert [error for _, error in recorder.finished] == [caught.value]
