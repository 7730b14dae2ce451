"""Streams: raw SSE bytes with curl, client disconnect reaching the provider, backpressure."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time

import chatplug
import httpx
import pytest
from chatplug.plugins import PluginRegistry
from chatplug.testing import FakeServer, Reply
from gateway_support import MESSAGES, USAGE, chunk, completion, simple_stream, threaded_gateway
from gateway_support import ThreadedGateway as Gateway


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed (apt-get install curl)")
def test_curl_sees_openai_sse_bytes(fake: FakeServer, gateway: Gateway) -> None:
    fake.add(Reply.sse(simple_stream("hi there")))
    body = json.dumps({"model": "glm-4.6", "messages": MESSAGES, "stream": True,
                       "stream_options": {"include_usage": True}})
    result = subprocess.run(
        ["curl", "-sS", "-N", "-D", "-", "-H", "Content-Type: application/json", "--data", body,
         f"{gateway.base_url}/chat/completions"],
        capture_output=True, timeout=60, check=True,
    )
    head, _, raw = result.stdout.partition(b"\r\n\r\n")
    assert b"content-type: text/event-stream; charset=utf-8" in head.lower()
    events = raw.split(b"\n\n")
    assert events[-1] == b"" and events[-2] == b"data: [DONE]"
    payloads = [json.loads(e.removeprefix(b"data: ")) for e in events[:-2]]
    assert all(e.startswith(b"data: {") for e in events[:-2])
    assert [p["choices"][0]["delta"].get("content") for p in payloads[:-1]] == ["hi", " there", ""]
    assert [p["usage"] for p in payloads[:-1]] == [None, None, None]
    assert payloads[-1]["choices"] == [] and payloads[-1]["usage"] == USAGE
    assert {p["object"] for p in payloads} == {"chat.completion.chunk"}
    assert {p["id"] for p in payloads} == {"glm-stream-1"}


def test_client_disconnect_cancels_the_upstream_request(fake: FakeServer, gateway: Gateway) -> None:
    # the provider sends one chunk, then would wait a minute before the next
    fake.add(Reply.sse(simple_stream("first second third"), delay_between_chunks=60))
    with httpx.stream("POST", f"{gateway.base_url}/chat/completions",
                      json={"model": "glm-4.6", "messages": MESSAGES, "stream": True}, timeout=30) as response:
        first = next(response.iter_lines())
        assert json.loads(first.removeprefix("data: "))["choices"][0]["delta"]["content"] == "first"
    # the client hung up mid-stream: the provider sees its connection closed long before its minute is up
    assert fake.client_disconnected.wait(20)
    assert fake.last_request.disconnected
    metrics = httpx.get(f"{gateway.url}/metrics").text
    assert 'chatplug_gateway_requests_total{model="glm-4.6",provider="glm",status="499",stream="true",' \
           'tenant="anonymous"} 1.0' in metrics


class ChunkCounter:
    """Counts the chunks the gateway pulled from the provider (a chatplug observer)."""

    def __init__(self) -> None:
        self.count = 0

    @chatplug.hookimpl
    def chatplug_on_chunk(self) -> None:
        self.count += 1


def test_a_slow_client_gets_backpressure_not_buffering(fake: FakeServer) -> None:
    """A client that stops reading stops the gateway reading from the provider; reading again resumes it."""
    total = 600
    piece = "x" * 65536  # 600 chunks of 64 KiB: far more than the sockets between them can hold
    fake.add(Reply.sse([*(chunk(piece) for _ in range(total)), chunk("", finish="stop")]))
    counter = ChunkCounter()
    registry = PluginRegistry()
    registry.register(counter, "chunk-counter")
    with threaded_gateway("", registry=registry) as served:
        sock = socket.create_connection(("127.0.0.1", served.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        body = json.dumps({"model": "glm-4.6", "messages": MESSAGES, "stream": True}).encode()
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body)
        first = sock.recv(4096)  # the status line, and maybe the start of the body
        assert first.startswith(b"HTTP/1.1 200")
        # the client reads nothing more: wait until the gateway stops pulling chunks
        stable, last = 0, -1
        while stable < 20:
            time.sleep(0.1)
            stable = stable + 1 if counter.count == last else 0
            last = counter.count
        paused_at = counter.count
        assert paused_at < total / 2, f"the gateway read {paused_at} of {total} chunks for a client that reads nothing"
        received = bytearray(first)
        done = threading.Event()

        def drain() -> None:
            while not received.endswith(b"data: [DONE]\n\n\r\n0\r\n\r\n"):
                data = sock.recv(1 << 20)
                if not data:
                    break
                received.extend(data)
            done.set()

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        assert done.wait(120)
        sock.close()
    assert counter.count == total + 1
    assert received.count(b'"content":"' + piece.encode()) == total


def test_client_disconnect_during_a_non_stream_request_cancels_it_upstream(fake: FakeServer, gateway: Gateway) -> None:
    fake.add(Reply.json(completion(), delay_before_headers=60))  # a model thinking for a minute
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{gateway.base_url}/chat/completions", json={"model": "glm-4.6", "messages": MESSAGES},
                   timeout=httpx.Timeout(30, read=1))  # the client gives up after a second and hangs up
    assert fake.client_disconnected.wait(20)
    assert fake.last_request.disconnected
    metrics = httpx.get(f"{gateway.url}/metrics").text
    assert 'chatplug_gateway_requests_total{model="glm-4.6",provider="glm",status="499",stream="false",' \
           'tenant="anonymous"} 1.0' in metrics
