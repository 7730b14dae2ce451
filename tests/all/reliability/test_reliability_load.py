"""Load: 500 concurrent async streams of 50 chunks each, in one test.

Every stream must end with exactly its own content (the echo server builds
each reply from the request's ``user`` field, so crossed wires would show),
and nothing may leak: no file descriptor, no checked-out connection.
"""

from __future__ import annotations

import asyncio
import gc
import os

import chatplug
import httpx
import pytest
from reliability_support import API_KEY, EchoStreamServer, checked_out, make_registry, pool_of

STREAMS = 500
CHUNKS = 50


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counting open fds needs /proc (Linux)")
def test_500_concurrent_streams_complete_without_leaks() -> None:
    gc.collect()
    fds_before = open_fds()
    server = EchoStreamServer(chunks=CHUNKS).start()
    registry, recorder = make_registry()

    async def run() -> tuple[list[chatplug.ChatCompletion], int, int]:
        http = httpx.AsyncClient(limits=httpx.Limits(max_connections=STREAMS, max_keepalive_connections=STREAMS),
                                 timeout=httpx.Timeout(120.0))
        client = chatplug.AsyncClient(provider="rel", api_key=API_KEY, base_url=server.base_url,
                                      registry=registry, http_client=http)
        started = asyncio.Event()
        in_flight = 0
        peak = 0

        async def one(number: int) -> chatplug.ChatCompletion:
            nonlocal in_flight, peak
            stream = await client.chat.completions.create(
                model="rel-1", messages=[{"role": "user", "content": "count"}], stream=True, user=f"s{number}"
            )
            in_flight += 1
            peak = max(peak, in_flight)
            if in_flight == STREAMS:
                started.set()
            async with stream:
                await asyncio.wait_for(started.wait(), 60)  # every stream is open at once
                final: chatplug.ChatCompletion = await stream.get_final_completion()
            in_flight -= 1
            return final

        finals = await asyncio.gather(*(one(number) for number in range(STREAMS)))
        busy = checked_out(pool_of(http))
        await http.aclose()
        return finals, busy, peak

    try:
        finals, busy, peak = asyncio.run(run())
    finally:
        server.stop()
    for number, final in enumerate(finals):
        expected = "".join(f"s{number}:{index};" for index in range(CHUNKS))
        assert final.choices[0].message.content == expected
        assert final.choices[0].finish_reason == "stop"
    assert peak == STREAMS
    assert server.requests == STREAMS
    assert recorder.attempts == STREAMS  # nothing was retried
    assert busy == 0
    gc.collect()
    assert open_fds() <= fds_before
