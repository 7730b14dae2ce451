"""Stopping a stream early releases its connection.

Seen from both ends: the server notices the client hung up before the reply
was complete, and the httpx pool has no connection left checked out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from reliability_support import API_KEY, MESSAGES, checked_out, chunk, make_registry, pool_of

#: A long, slow stream: still being written when the client stops reading.
LONG_STREAM = Reply.sse([chunk(f"{number} ") for number in range(400)] + [chunk(None, "stop")],
                        delay_between_chunks=0.02)


@pytest.fixture
def slow_server() -> Iterator[FakeServer]:
    with FakeServer(default=LONG_STREAM) as server:
        yield server


def sync_client(server: FakeServer) -> chatplug.Client:
    registry, _ = make_registry()
    return chatplug.Client(provider="rel", api_key=API_KEY, base_url=server.base_url, registry=registry)


def async_client(server: FakeServer) -> chatplug.AsyncClient:
    registry, _ = make_registry()
    return chatplug.AsyncClient(provider="rel", api_key=API_KEY, base_url=server.base_url, registry=registry)


def assert_released(server: FakeServer, client: chatplug.Client | chatplug.AsyncClient) -> None:
    assert server.client_disconnected.wait(10), "the server never saw the client hang up"
    assert server.requests[0].disconnected
    assert checked_out(pool_of(client.http_client)) == 0


# ----------------------------------------------------------------------- sync


def test_breaking_out_of_a_bare_stream_loop_releases_the_connection(slow_server: FakeServer) -> None:
    client = sync_client(slow_server)
    seen = []
    for item in client.chat.completions.create(model="rel-1", messages=MESSAGES, stream=True):
        seen.append(item.choices[0].delta.content)
        if len(seen) == 3:
            break
    assert seen == ["0 ", "1 ", "2 "]
    assert_released(slow_server, client)
    client.close()


def test_close_releases_the_connection(slow_server: FakeServer) -> None:
    client = sync_client(slow_server)
    stream = client.chat.completions.create(model="rel-1", messages=MESSAGES, stream=True)
    assert next(stream).choices[0].delta.content == "0 "
    stream.close()
    stream.close()  # twice is harmless
    assert_released(slow_server, client)
    assert list(stream) == []  # a closed stream yields nothing more
    client.close()


def test_breaking_out_of_a_stream_loop_in_a_with_block_releases_the_connection(slow_server: FakeServer) -> None:
    client = sync_client(slow_server)
    with client.chat.completions.create(model="rel-1", messages=MESSAGES, stream=True) as stream:
        for item in stream:
            assert item.choices[0].delta.content == "0 "
            break
    assert_released(slow_server, client)
    client.close()


def test_an_exception_in_the_with_block_releases_the_connection(slow_server: FakeServer) -> None:
    client = sync_client(slow_server)
    with pytest.raises(RuntimeError, match="user code failed"), client.chat.completions.create(
        model="rel-1", messages=MESSAGES, stream=True
    ) as stream:
        next(stream)
        raise RuntimeError("user code failed")
    assert_released(slow_server, client)
    client.close()


def test_the_connection_is_reused_after_a_stream_read_to_the_end() -> None:
    with FakeServer(default=Reply.sse([chunk("a"), chunk(None, "stop")])) as server:
        client = sync_client(server)
        for _ in range(3):
            with client.chat.completions.create(model="rel-1", messages=MESSAGES, stream=True) as stream:
                assert stream.get_final_completion().choices[0].message.content == "a"
        pool = pool_of(client.http_client)
        assert checked_out(pool) == 0
        assert len(pool.connections) == 1  # one keep-alive connection served all three
        assert not server.client_disconnected.is_set()
        client.close()


# ---------------------------------------------------------------------- async


@pytest.mark.anyio
async def test_async_close_releases_the_connection(slow_server: FakeServer) -> None:
    client = async_client(slow_server)
    stream = await client.chat.completions.create(model="rel-1", messages=MESSAGES, stream=True)
    first = await stream.__anext__()
    assert first.choices[0].delta.content == "0 "
    await stream.close()
    assert_released(slow_server, client)
    await client.close()


@pytest.mark.anyio
async def test_async_breaking_out_of_async_with_releases_the_connection(slow_server: FakeServer) -> None:
    client = async_client(slow_server)
    async with await client.chat.completions.create(model="rel-1", messages=MESSAGES, stream=True) as stream:
        async for item in stream:
            assert item.choices[0].delta.content == "0 "
            break
    assert_released(slow_server, client)
    await client.close()


@pytest.mark.anyio
async def test_cancelling_the_task_reading_a_stream_releases_the_connection(slow_server: FakeServer) -> None:
    client = async_client(slow_server)
    received: list[str] = []
    reading = asyncio.Event()

    async def consume() -> None:
        stream = await client.chat.completions.create(model="rel-1", messages=MESSAGES, stream=True)
        async for item in stream:
            received.append(item.choices[0].delta.content or "")
            reading.set()

    task = asyncio.ensure_future(consume())
    await asyncio.wait_for(reading.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert received and received[0] == "0 "
    assert len(received) < 400  # cancelled long before the end
    assert_released(slow_server, client)
    await client.close()


@pytest.mark.anyio
async def test_cancelling_while_waiting_for_headers_releases_the_connection() -> None:
    with FakeServer(default=Reply.sse([chunk("late"), chunk(None, "stop")], delay_before_headers=30)) as server:
        client = async_client(server)
        task = asyncio.ensure_future(
            client.chat.completions.create(model="rel-1", messages=MESSAGES, stream=True)
        )
        for _ in range(500):
            if server.requests:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert_released(server, client)
        await client.close()
