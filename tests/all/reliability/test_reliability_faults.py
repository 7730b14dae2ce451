"""The fault matrix: every way a server or the network can fail, over real
loopback sockets, through both the sync and the async client.

Each case pins three things a user relies on: the exact exception class, how
many attempts were made (what the server received, and the retry sleeps the
client asked for), and what the user gets back (``.partial`` for a cut stream).
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable

import chatplug
import httpx
import pytest
from chatplug.testing import FakeServer, Reply
from reliability_support import (
    MESSAGES,
    BlackHole,
    Harness,
    chunk,
    completion,
    refused_base_url,
)

HarnessFactory = Callable[..., Harness]

#: Fast timeouts for the timeout cases: reads give up after 0.3 s.
SHORT_READ = httpx.Timeout(5.0, read=0.3)

STREAM = [chunk("Hel"), chunk("lo, "), chunk("world"), chunk(None, "stop")]


def backoff_bounds(attempt: int) -> tuple[float, float]:
    """The documented backoff window for retry number ``attempt + 1`` (0.5 s doubling, up to 25 % jitter)."""
    full = min(0.5 * 2**attempt, 8.0)
    return full * 0.75, full


# ------------------------------------------------------------------ connecting


def test_connection_refused_is_retried_then_raised(harness: HarnessFactory) -> None:
    run = harness(refused_base_url())
    with pytest.raises(chatplug.APIConnectionError) as caught:
        run.complete()
    assert type(caught.value) is chatplug.APIConnectionError
    assert run.recorder.attempts == 3  # the first try and max_retries=2 retries
    assert len(run.sleeps) == 2
    for attempt, delay in enumerate(run.sleeps):
        low, high = backoff_bounds(attempt)
        assert low <= delay <= high
    assert "connection failed" in str(caught.value)
    assert caught.value.provider == "rel"


def test_connect_timeout_is_retried_then_raises_timeout(harness: HarnessFactory, black_hole: BlackHole) -> None:
    run = harness(black_hole.base_url, timeout=httpx.Timeout(5.0, connect=0.2), max_retries=1)
    with pytest.raises(chatplug.APITimeoutError) as caught:
        run.complete()
    assert type(caught.value) is chatplug.APITimeoutError
    assert run.recorder.attempts == 2
    assert len(run.sleeps) == 1
    assert "timed out" in str(caught.value)


# --------------------------------------------------------------- read timeouts


def test_read_timeout_before_headers_is_retried(harness: HarnessFactory, server: FakeServer) -> None:
    server.add(Reply.json(completion(), delay_before_headers=3.0), Reply.json(completion("second try")))
    run = harness(timeout=SHORT_READ)
    reply = run.complete()
    assert reply.choices[0].message.content == "second try"
    assert len(server.requests) == 2
    assert len(run.sleeps) == 1
    assert run.recorder.errors == [(chatplug.APITimeoutError, True)]


def test_read_timeout_before_headers_gives_up_after_max_retries(harness: HarnessFactory, server: FakeServer) -> None:
    server.default = Reply.sse(STREAM, delay_before_headers=3.0)
    run = harness(timeout=SHORT_READ, max_retries=1)
    with pytest.raises(chatplug.APITimeoutError) as caught:
        run.stream()
    assert type(caught.value) is chatplug.APITimeoutError
    assert len(server.requests) == 2  # a stream is retried while no byte has arrived
    assert len(run.sleeps) == 1


def test_read_timeout_between_stream_chunks_interrupts_with_partial(
    harness: HarnessFactory, server: FakeServer
) -> None:
    server.add(Reply.sse(STREAM, delay_between_chunks=3.0))
    run = harness(timeout=SHORT_READ)
    with pytest.raises(chatplug.StreamInterruptedError) as caught:
        run.stream()
    error = caught.value
    assert type(error) is chatplug.StreamInterruptedError
    assert len(server.requests) == 1  # never retried once bytes have arrived
    assert run.sleeps == []
    assert error.partial is not None
    assert error.partial.choices[0].message.content == "Hel"
    assert "timed out" in str(error)


# ------------------------------------------------------------- cut connections


def test_server_closing_mid_body_is_retried(harness: HarnessFactory, server: FakeServer) -> None:
    server.add(Reply.json(completion("x" * 2000), close_after_bytes=100), Reply.json(completion("whole")))
    run = harness()
    reply = run.complete()
    assert reply.choices[0].message.content == "whole"
    assert len(server.requests) == 2
    assert run.recorder.errors == [(chatplug.APIConnectionError, True)]


def test_server_closing_mid_body_every_time_raises_connection_error(
    harness: HarnessFactory, server: FakeServer
) -> None:
    server.default = Reply.json(completion("x" * 2000), close_after_bytes=100)
    run = harness()
    with pytest.raises(chatplug.APIConnectionError) as caught:
        run.complete()
    assert type(caught.value) is chatplug.APIConnectionError
    assert len(server.requests) == 3
    assert len(run.sleeps) == 2


def test_server_closing_mid_stream_raises_interrupted_with_partial(
    harness: HarnessFactory, server: FakeServer
) -> None:
    server.add(Reply.sse(STREAM, close_after_chunks=2))
    run = harness()
    with pytest.raises(chatplug.StreamInterruptedError) as caught:
        run.stream()
    error = caught.value
    assert type(error) is chatplug.StreamInterruptedError
    assert len(server.requests) == 1
    assert run.sleeps == []
    assert error.partial is not None
    assert error.partial.choices[0].message.content == "Hello, "
    assert error.partial.choices[0].finish_reason is None
    assert error.partial.id == "chatcmpl-rel"


def test_server_closing_mid_event_keeps_every_whole_event(harness: HarnessFactory, server: FakeServer) -> None:
    first_event = len(b"data: ") + len(json.dumps(STREAM[0]).encode()) + 2
    server.add(Reply.sse(STREAM, close_after_bytes=first_event + 25))
    run = harness()
    with pytest.raises(chatplug.StreamInterruptedError) as caught:
        run.stream()
    assert caught.value.partial is not None
    assert caught.value.partial.choices[0].message.content == "Hel"
    assert len(server.requests) == 1


def test_stream_with_finish_reason_but_no_done_is_accepted(harness: HarnessFactory, server: FakeServer) -> None:
    server.add(Reply.sse(STREAM, done=False))
    run = harness()
    chunks, final = run.stream()
    assert len(chunks) == 4
    assert final.choices[0].message.content == "Hello, world"
    assert final.choices[0].finish_reason == "stop"
    assert len(server.requests) == 1


def test_stream_with_neither_done_nor_finish_reason_is_interrupted(
    harness: HarnessFactory, server: FakeServer
) -> None:
    server.add(Reply.sse(STREAM[:3], done=False))
    run = harness()
    with pytest.raises(chatplug.StreamInterruptedError) as caught:
        run.stream()
    assert type(caught.value) is chatplug.StreamInterruptedError
    assert "neither [DONE] nor a finish_reason" in str(caught.value)
    assert caught.value.partial is not None
    assert caught.value.partial.choices[0].message.content == "Hello, world"
    assert len(server.requests) == 1
    assert run.sleeps == []


def test_recorded_stream_cut_keeps_reasoning_and_content(harness: HarnessFactory, server: FakeServer) -> None:
    from reliability_support import FIXTURES

    server.add(Reply.sse_file(FIXTURES / "glm-stream-tool-call.sse", close_after_chunks=20))
    run = harness()
    with pytest.raises(chatplug.StreamInterruptedError) as caught:
        run.stream()
    partial = caught.value.partial
    assert partial is not None
    # the thinking of the 20 events that arrived, read from the recording independently of chatplug
    sent = [json.loads(line[len("data:"):]) for line in
            (FIXTURES / "glm-stream-tool-call.sse").read_text(encoding="utf-8").splitlines()
            if line.startswith("data:") and "[DONE]" not in line][:20]
    arrived = "".join(c["choices"][0]["delta"].get("reasoning_content") or "" for c in sent if c.get("choices"))
    assert arrived  # the cut falls inside the thinking: the check below has something to lose
    assert partial.choices[0].message.reasoning_content == arrived
    assert partial.model == sent[0]["model"] == "glm-4.7-flash"


# ----------------------------------------------------------------- 429 hints


def test_429_retry_after_seconds_is_honoured(harness: HarnessFactory, server: FakeServer) -> None:
    server.add(Reply.error(429, {"error": {"message": "slow down", "type": "rate_limit_error"}},
                           headers={"Retry-After": "7"}),
               Reply.json(completion()))
    run = harness()
    assert run.complete().choices[0].message.content == "Hello!"
    assert run.sleeps == [7.0]
    assert len(server.requests) == 2
    assert run.recorder.errors == [(chatplug.RateLimitError, True)]


def test_429_retry_after_http_date_is_honoured(harness: HarnessFactory, server: FakeServer) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    server.add(Reply.error(429, {"error": {"message": "slow down"}}, headers={"Retry-After": when}),
               Reply.json(completion()))
    run = harness()
    run.complete()
    assert len(run.sleeps) == 1
    assert 20.0 < run.sleeps[0] <= 31.0  # the date is whole seconds, read a moment later
    assert len(server.requests) == 2


def test_429_retry_after_ms_is_honoured(harness: HarnessFactory, server: FakeServer) -> None:
    server.add(Reply.error(429, {"error": {"message": "slow down"}},
                           headers={"retry-after-ms": "1500", "Retry-After": "9"}),
               Reply.json(completion()))
    run = harness()
    run.complete()
    assert run.sleeps == [1.5]  # the finer header wins
    assert len(server.requests) == 2


def test_429_every_time_raises_rate_limit_error(harness: HarnessFactory, server: FakeServer) -> None:
    server.default = Reply.error(429, {"error": {"message": "slow down", "code": "rate_limited"}},
                                 headers={"Retry-After": "1", "x-request-id": "req-429"})
    run = harness()
    with pytest.raises(chatplug.RateLimitError) as caught:
        run.complete()
    error = caught.value
    assert type(error) is chatplug.RateLimitError
    assert (error.status_code, error.code, error.request_id) == (429, "rate_limited", "req-429")
    assert len(server.requests) == 3
    assert run.sleeps == [1.0, 1.0]


# ------------------------------------------------------------------ 5xx, 401


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_then_success(harness: HarnessFactory, server: FakeServer, status: int) -> None:
    server.add(Reply.error(status, {"error": {"message": "try later"}}), Reply.json(completion("recovered")))
    run = harness()
    assert run.complete().choices[0].message.content == "recovered"
    assert len(server.requests) == 2
    assert len(run.sleeps) == 1
    low, high = backoff_bounds(0)
    assert low <= run.sleeps[0] <= high
    assert run.recorder.errors == [(chatplug.InternalServerError, True)]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_before_a_stream_then_success(harness: HarnessFactory, server: FakeServer, status: int) -> None:
    server.add(Reply.error(status, {"error": {"message": "try later"}}), Reply.sse(STREAM))
    run = harness()
    _, final = run.stream()
    assert final.choices[0].message.content == "Hello, world"
    assert len(server.requests) == 2


def test_401_is_not_retried(harness: HarnessFactory, server: FakeServer) -> None:
    from reliability_support import fixture_json

    server.default = Reply.error(401, fixture_json("kimi-error-invalid-authentication.json"))
    run = harness()
    with pytest.raises(chatplug.AuthenticationError) as caught:
        run.complete()
    assert type(caught.value) is chatplug.AuthenticationError
    assert caught.value.status_code == 401
    assert "Invalid Authentication" in str(caught.value)
    assert len(server.requests) == 1
    assert run.sleeps == []


def test_max_retries_zero_makes_one_attempt(harness: HarnessFactory, server: FakeServer) -> None:
    server.default = Reply.error(503, {"error": {"message": "overloaded"}})
    run = harness(max_retries=0)
    with pytest.raises(chatplug.InternalServerError) as caught:
        run.complete()
    assert type(caught.value) is chatplug.InternalServerError
    assert len(server.requests) == 1
    assert run.sleeps == []
    assert run.recorder.errors == [(chatplug.InternalServerError, False)]


def test_max_retries_zero_on_a_refused_connection(harness: HarnessFactory) -> None:
    run = harness(refused_base_url(), max_retries=0)
    with pytest.raises(chatplug.APIConnectionError) as caught:
        run.complete()
    assert type(caught.value) is chatplug.APIConnectionError  # refused: not a timeout, not a cut stream
    assert run.recorder.attempts == 1
    assert run.sleeps == []


# ----------------------------------------------------------------- bad bodies


def test_malformed_json_chunk_raises_validation_error_with_partial(
    harness: HarnessFactory, server: FakeServer
) -> None:
    server.add(Reply.sse([chunk("Hel"), b"data: {\"id\": \"c\", \"choices\": [{\n\n", chunk("lo")]))
    run = harness()
    with pytest.raises(chatplug.APIResponseValidationError) as caught:
        run.stream()
    error = caught.value
    assert type(error) is chatplug.APIResponseValidationError
    assert "malformed JSON" in str(error)
    assert error.partial is not None
    assert error.partial.choices[0].message.content == "Hel"
    assert len(server.requests) == 1


def test_malformed_json_body_is_not_retried(harness: HarnessFactory, server: FakeServer) -> None:
    server.default = Reply.json(b'{"id": "x", "choices": [')
    run = harness()
    with pytest.raises(chatplug.APIResponseValidationError) as caught:
        run.complete()
    assert "not JSON" in str(caught.value)
    assert len(server.requests) == 1


GATEWAY_PAGE = """<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx/1.25.3</center>
</body>
</html>
"""


def test_html_502_page_gives_a_readable_internal_server_error(harness: HarnessFactory, server: FakeServer) -> None:
    server.default = Reply.error(502, GATEWAY_PAGE)
    run = harness()
    with pytest.raises(chatplug.InternalServerError) as caught:
        run.complete()
    error = caught.value
    assert type(error) is chatplug.InternalServerError
    assert str(error) == "rel, HTTP 502: 502 Bad Gateway"
    assert error.body == GATEWAY_PAGE  # the raw page stays available
    assert len(server.requests) == 3
    assert len(run.sleeps) == 2


def test_empty_200_body_raises_validation_error(harness: HarnessFactory, server: FakeServer) -> None:
    server.default = Reply.json(b"")
    run = harness()
    with pytest.raises(chatplug.APIResponseValidationError) as caught:
        run.complete()
    assert type(caught.value) is chatplug.APIResponseValidationError
    assert len(server.requests) == 1
    assert run.sleeps == []


def test_empty_200_stream_is_retried_as_a_connection_error(harness: HarnessFactory, server: FakeServer) -> None:
    server.add(Reply.sse([], done=False), Reply.sse(STREAM))
    run = harness()
    _, final = run.stream()
    assert final.choices[0].message.content == "Hello, world"
    assert len(server.requests) == 2
    assert run.recorder.errors == [(chatplug.APIConnectionError, True)]


def test_invalid_utf8_in_a_stream_event(harness: HarnessFactory, server: FakeServer) -> None:
    bad = b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"\xff\xfe"},"finish_reason":null}]}\n\n'
    server.add(Reply.sse([chunk("ok "), bad]))
    run = harness()
    with pytest.raises(chatplug.APIResponseValidationError) as caught:
        run.stream()
    assert caught.value.partial is not None
    assert caught.value.partial.choices[0].message.content == "ok "
    assert len(server.requests) == 1


def test_invalid_utf8_in_a_completion_body(harness: HarnessFactory, server: FakeServer) -> None:
    server.default = Reply.json(b'{"id":"c","object":"chat.completion","choices":[{"message":{"content":"\xff"}}]}')
    run = harness()
    with pytest.raises(chatplug.APIResponseValidationError) as caught:
        run.complete()
    assert type(caught.value) is chatplug.APIResponseValidationError
    assert caught.value.body == '{"id":"c","object":"chat.completion","choices":[{"message":{"content":"\ufffd"}}]}'
    assert len(server.requests) == 1


def test_invalid_utf8_in_an_error_body_still_maps_the_status(harness: HarnessFactory, server: FakeServer) -> None:
    server.default = Reply.error(400, b"bad request \xff\xfe from the gateway")
    run = harness()
    with pytest.raises(chatplug.BadRequestError) as caught:
        run.complete()
    assert type(caught.value) is chatplug.BadRequestError
    assert caught.value.status_code == 400
    assert caught.value.body == "bad request \ufffd\ufffd from the gateway"  # the text kept, bad bytes replaced
    assert len(server.requests) == 1


def test_20_mb_completion_arrives_whole(harness: HarnessFactory, server: FakeServer) -> None:
    content = "0123456789abcdef" * (20 * 1024 * 1024 // 16)
    server.add(Reply.json(completion(content)))
    run = harness()
    reply = run.complete()
    assert reply.choices[0].message.content == content
    assert len(server.requests) == 1


def test_20_mb_stream_arrives_whole(harness: HarnessFactory, server: FakeServer) -> None:
    piece = "x" * (256 * 1024)
    events = [chunk(piece) for _ in range(80)] + [chunk(None, "stop")]
    server.add(Reply.sse(events))
    run = harness()
    chunks, final = run.stream()
    assert len(chunks) == 81
    assert final.choices[0].message.content == piece * 80
    assert len(final.choices[0].message.content or "") == 20 * 1024 * 1024


def test_stream_error_event_mid_stream_raises_mapped_error(harness: HarnessFactory, server: FakeServer) -> None:
    error_event = b'event: error\ndata: {"error": {"message": "overloaded", "code": "503"}}\n\n'
    server.add(Reply.sse([chunk("par"), error_event]))
    run = harness()
    with pytest.raises(chatplug.APIStatusError) as caught:
        run.stream()
    assert type(caught.value) is chatplug.APIStatusError  # no status inside a stream: the generic class
    assert (caught.value.status_code, caught.value.code, caught.value.message) == (None, "503", "overloaded")
    assert caught.value.partial is not None
    assert caught.value.partial.choices[0].message.content == "par"
    assert len(server.requests) == 1


def test_a_redirect_is_not_followed_nor_retried(harness: HarnessFactory, server: FakeServer) -> None:
    server.default = Reply.error(307, "", headers={"Location": "http://127.0.0.1:9/v1/chat/completions"})
    run = harness()
    with pytest.raises(chatplug.APIStatusError) as caught:
        run.complete(messages=MESSAGES)
    assert type(caught.value) is chatplug.APIStatusError
    assert caught.value.retryable is False
    assert caught.value.status_code == 307
    assert "does not follow redirects" in str(caught.value)
    assert len(server.requests) == 1


@pytest.mark.parametrize("sample", ["glm-stream-tool-call.sse", "kimi-stream-k2-0905.sse"])
def test_recorded_stream_trickled_a_few_bytes_at_a_time_gives_the_same_completion(
    harness: HarnessFactory, server: FakeServer, sample: str
) -> None:
    from reliability_support import FIXTURES

    server.add(Reply.sse_file(FIXTURES / sample), Reply.sse_file(FIXTURES / sample, trickle=7))
    run = harness()
    whole_chunks, whole = run.stream()
    trickled_chunks, trickled = run.stream()
    assert [item.to_dict() for item in trickled_chunks] == [item.to_dict() for item in whole_chunks]
    assert trickled.to_dict() == whole.to_dict()
    assert whole.choices[0].finish_reason is not None
    assert len(server.requests) == 2
