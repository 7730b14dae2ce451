"""FakeServer itself, observed from a plain httpx client: each reply kind and each fault does what it says."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from chatplug.testing import MALFORMED_LINE, FakeServer, Reply, sse_events

FIXTURES = Path(__file__).parent / "fixtures"
COMPLETION = {
    "id": "c1", "object": "chat.completion", "created": 1, "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
}
CHUNKS = [
    {"id": "s1", "object": "chat.completion.chunk", "created": 1, "model": "m",
     "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
    for word in ("one", "two", "three", "four")
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def encoded(chunk: dict[str, object]) -> bytes:
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def test_json_reply_and_the_request_are_recorded(fake_server: FakeServer) -> None:
    fake_server.add(Reply.json(COMPLETION, headers={"x-request-id": "req-7"}))
    response = httpx.post(f"{fake_server.base_url}/chat/completions?trace=1", json={"model": "m", "n": 1},
                          headers={"Authorization": "Bearer k", "X-Custom": "yes"})
    assert response.status_code == 200
    assert response.json() == COMPLETION
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"] == "req-7"
    request = fake_server.last_request
    assert (request.method, request.path, request.query) == ("POST", "/v1/chat/completions", "trace=1")
    assert request.headers["authorization"] == "Bearer k" and request.headers["x-custom"] == "yes"
    assert request.json() == {"model": "m", "n": 1}


def test_replies_are_served_in_order_then_a_500_saying_none_is_queued(fake_server: FakeServer) -> None:
    fake_server.add(Reply.json({"n": 1}), Reply.json({"n": 2}))
    assert fake_server.pending() == 2
    with httpx.Client() as client:
        assert [client.post(fake_server.url + "/x").json()["n"] for _ in range(2)] == [1, 2]
        empty = client.post(fake_server.url + "/x")
    assert empty.status_code == 500 and "no reply queued" in empty.text
    assert len(fake_server.requests) == 3


def test_default_reply_serves_every_request() -> None:
    with FakeServer(default=Reply.json({"always": True})) as server:
        assert httpx.get(server.url).json() == {"always": True}
        assert httpx.get(server.url).json() == {"always": True}


def test_reset_forgets_requests_and_queued_replies(fake_server: FakeServer) -> None:
    fake_server.add(Reply.json({}), Reply.json({}))
    httpx.post(fake_server.url)
    fake_server.reset()
    assert fake_server.requests == [] and fake_server.pending() == 0
    with pytest.raises(AssertionError, match="no request"):
        _ = fake_server.last_request


def test_error_reply_carries_status_body_and_headers(fake_server: FakeServer) -> None:
    body = {"error": {"code": "1113", "message": "余额不足"}}
    fake_server.add(Reply.error(429, body, headers={"X-RateLimit-Remaining": "0"}),
                    Reply.error(502, "<html><title>Bad gateway</title></html>"))
    first = httpx.post(fake_server.url)
    assert first.status_code == 429 and first.json() == body and first.headers["x-ratelimit-remaining"] == "0"
    second = httpx.post(fake_server.url)
    assert second.status_code == 502 and second.headers["content-type"].startswith("text/html")
    assert "Bad gateway" in second.text


def test_retry_later_sends_429_or_503_with_retry_after(fake_server: FakeServer) -> None:
    fake_server.add(Reply.retry_later(429, 3), Reply.retry_later(503, "Wed, 21 Oct 2026 07:28:00 GMT"))
    limited = httpx.post(fake_server.url)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "3"
    assert "error" in limited.json()
    unavailable = httpx.post(fake_server.url)
    assert unavailable.status_code == 503
    assert unavailable.headers["retry-after"] == "Wed, 21 Oct 2026 07:28:00 GMT"


def test_sse_from_chunk_objects_ends_with_done(fake_server: FakeServer) -> None:
    fake_server.add(Reply.sse(CHUNKS[:2]))
    response = httpx.post(fake_server.url)
    assert response.headers["content-type"] == "text/event-stream"
    assert response.content == encoded(CHUNKS[0]) + encoded(CHUNKS[1]) + b"data: [DONE]\n\n"


def test_sse_file_is_replayed_byte_for_byte(fake_server: FakeServer) -> None:
    recorded = (FIXTURES / "glm-stream-tool-call.sse").read_bytes()
    fake_server.add(Reply.sse_file(FIXTURES / "glm-stream-tool-call.sse"))
    received = httpx.post(fake_server.url).content
    assert received == b"".join(sse_events(recorded))
    assert received.replace(b"\n", b"") == recorded.replace(b"\r\n", b"\n").replace(b"\n", b"")


def test_close_after_chunks_cuts_the_stream_there(fake_server: FakeServer) -> None:
    fake_server.add(Reply.sse(CHUNKS, close_after_chunks=2))
    received = b""
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream("POST", fake_server.url) as response:
        for piece in response.iter_bytes():
            received += piece
    assert received == encoded(CHUNKS[0]) + encoded(CHUNKS[1])


def test_close_after_bytes_cuts_a_stream_mid_event(fake_server: FakeServer) -> None:
    whole = b"".join(encoded(chunk) for chunk in CHUNKS)
    cut = len(encoded(CHUNKS[0])) + 10
    fake_server.add(Reply.sse(CHUNKS, done=False, close_after_bytes=cut))
    received = b""
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream("POST", fake_server.url) as response:
        for piece in response.iter_bytes():
            received += piece
    assert received == whole[:cut]


def test_close_after_bytes_cuts_a_json_body(fake_server: FakeServer) -> None:
    fake_server.add(Reply.json(COMPLETION, close_after_bytes=20))
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(fake_server.url)


def test_malformed_line_is_sent_before_the_given_event(fake_server: FakeServer) -> None:
    fake_server.add(Reply.sse(CHUNKS[:2], malformed_line_at=1))
    events = [event.removeprefix(b"data: ").strip() for event in sse_events(httpx.post(fake_server.url).content)]
    assert events[0] == json.dumps(CHUNKS[0]).encode()
    assert (b"data: " + events[1] + b"\n\n") == MALFORMED_LINE
    with pytest.raises(json.JSONDecodeError):
        json.loads(events[1])
    assert json.loads(events[2]) == CHUNKS[1] and events[3] == b"[DONE]"


def test_trickle_writes_the_body_in_small_pieces(fake_server: FakeServer) -> None:
    fake_server.add(Reply.sse(CHUNKS[:1], trickle=5))
    pieces: list[bytes] = []
    with httpx.stream("POST", fake_server.url) as response:
        pieces.extend(response.iter_raw())
    assert b"".join(pieces) == encoded(CHUNKS[0]) + b"data: [DONE]\n\n"
    assert len(pieces) > 5 and max(len(piece) for piece in pieces) <= 5


def test_delay_before_headers_holds_the_status_line(fake_server: FakeServer) -> None:
    fake_server.add(Reply.json(COMPLETION, delay_before_headers=30))
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(fake_server.url, timeout=httpx.Timeout(5, read=0.2))
    assert fake_server.client_disconnected.wait(10)
    assert fake_server.last_request.disconnected


def test_delay_between_chunks_holds_the_next_event(fake_server: FakeServer) -> None:
    fake_server.add(Reply.sse(CHUNKS, delay_between_chunks=30))
    received = b""
    with pytest.raises(httpx.ReadTimeout), httpx.stream(
        "POST", fake_server.url, timeout=httpx.Timeout(5, read=0.5)
    ) as response:
        for piece in response.iter_bytes():
            received += piece
    assert received == encoded(CHUNKS[0])
    assert fake_server.client_disconnected.wait(10)


@pytest.mark.anyio
async def test_async_context_manager_serves_an_async_client() -> None:
    async with FakeServer() as server:
        server.add(Reply.sse(CHUNKS[:1]))
        async with httpx.AsyncClient() as client:
            response = await client.post(server.base_url + "/chat/completions", json={"stream": True})
        assert response.content.endswith(b"data: [DONE]\n\n")
        assert server.last_request.json() == {"stream": True}


@pytest.mark.anyio
async def test_fake_server_fixture_works_from_async_tests(fake_server: FakeServer) -> None:
    fake_server.add(Reply.json(COMPLETION))
    async with httpx.AsyncClient() as client:
        assert (await client.post(fake_server.url)).json() == COMPLETION


@pytest.mark.parametrize(
    "request_line", [b"GARBAGE\r\n\r\n", b"POST /v1\r\n\r\n", b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"]
)
def test_a_malformed_request_gets_400_and_the_server_keeps_serving(
    fake_server: FakeServer, caplog: pytest.LogCaptureFixture, request_line: bytes
) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", fake_server.port), timeout=10) as raw:
        raw.sendall(request_line)
        answer = b""
        while chunk := raw.recv(4096):  # the server closes the connection after answering
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert fake_server.requests == []
    assert not [record for record in caplog.records if record.levelname == "ERROR"]  # no handler traceback
    fake_server.add(Reply.json(COMPLETION))
    assert httpx.post(fake_server.base_url + "/chat/completions", json={}).json() == COMPLETION


def test_sse_events_keep_crlf_events_verbatim() -> None:
    data = b'data: {"a":1}\r\n\r\n: comment\r\ndata: {"b":2}\r\n\r\n\r\ndata: [DONE]\r\n'
    events = sse_events(data)
    assert b"".join(events) == data  # nothing rewritten, nothing added
    assert events == [b'data: {"a":1}\r\n\r\n', b': comment\r\ndata: {"b":2}\r\n\r\n', b"\r\ndata: [DONE]\r\n"]


def test_sse_file_replays_a_crlf_transcript_byte_for_byte(fake_server: FakeServer, tmp_path: Path) -> None:
    recorded = (FIXTURES / "kimi-stream-k2-0905.sse").read_bytes().replace(b"\n", b"\r\n")
    path = tmp_path / "crlf.sse"
    path.write_bytes(recorded)
    fake_server.add(Reply.sse_file(path))
    assert httpx.post(fake_server.url).content == recorded
