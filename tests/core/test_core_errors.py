"""Error responses mapped to their classes, retries with Retry-After honoured
(asserted through the injectable sleep, never wall time), and streams cut mid-way."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from core_support import API_KEY, FIXTURES, MESSAGES, AsyncSleepRecorder, SleepRecorder, chunk, completion_body

STATUS_CLASSES = [
    (400, chatplug.BadRequestError),
    (401, chatplug.AuthenticationError),
    (403, chatplug.PermissionDeniedError),
    (404, chatplug.NotFoundError),
    (409, chatplug.ConflictError),
    (422, chatplug.UnprocessableEntityError),
    (429, chatplug.RateLimitError),
    (500, chatplug.InternalServerError),
    (502, chatplug.InternalServerError),
    (503, chatplug.InternalServerError),
    (504, chatplug.InternalServerError),
]


def error_body(message: str = "nope", code: str | None = "some_code", kind: str = "invalid_request_error") -> Any:
    return {"error": {"message": message, "type": kind, "code": code}}


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
def test_each_status_maps_to_its_class(status: int, cls: type, server: FakeServer, client: chatplug.Client) -> None:
    client.max_retries = 0
    server.add(Reply.error(status, error_body("went wrong"), headers={"x-request-id": "req-42"}))
    with pytest.raises(cls) as info:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    error = info.value
    assert type(error) is cls
    assert isinstance(error, chatplug.APIStatusError) and isinstance(error, chatplug.ChatplugError)
    assert error.status_code == status
    assert error.code == "some_code"
    assert error.request_id == "req-42"
    assert error.provider == "testprov"
    assert error.body == error_body("went wrong")
    assert error.message == "went wrong"
    assert f"HTTP {status}" in str(error) and "went wrong" in str(error)


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
async def test_each_status_maps_to_its_class_async(
    status: int, cls: type[chatplug.APIStatusError], server: FakeServer, aclient: chatplug.AsyncClient
) -> None:
    aclient.max_retries = 0
    server.add(Reply.error(status, error_body()))
    with pytest.raises(cls) as info:
        await aclient.chat.completions.create(model="t-1", messages=MESSAGES)
    assert type(info.value) is cls and info.value.status_code == status


@pytest.mark.parametrize(
    ("body", "cls"),
    [
        (error_body("too long", "context_length_exceeded"), chatplug.ContextLengthError),
        (error_body("filtered", "content_filter"), chatplug.ContentFilterError),
        (FIXTURES / "kimi-error-content-filter-docs.json", chatplug.ContentFilterError),
    ],
)
def test_context_length_and_content_filter_codes(
    body: Any, cls: type, server: FakeServer, client: chatplug.Client
) -> None:
    server.add(Reply.error(400, body.read_bytes().decode() if hasattr(body, "read_bytes") else body,
                           headers={"Content-Type": "application/json"}))
    with pytest.raises(cls) as info:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert isinstance(info.value, chatplug.BadRequestError)
    assert len(server.requests) == 1


def test_non_json_error_page_is_summarised(server: FakeServer, client: chatplug.Client) -> None:
    client.max_retries = 0
    server.add(Reply.error(502, "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"))
    with pytest.raises(chatplug.InternalServerError) as info:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert info.value.message == "502 Bad Gateway"
    assert isinstance(info.value.body, str)


def test_error_with_status_200_is_raised(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.json(error_body("hidden failure", "server_error")))
    with pytest.raises(chatplug.APIStatusError, match="hidden failure"):
        client.chat.completions.create(model="t-1", messages=MESSAGES)


def test_malformed_success_body_is_a_validation_error(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.json(b"not json at all"))
    with pytest.raises(chatplug.APIResponseValidationError):
        client.chat.completions.create(model="t-1", messages=MESSAGES)


# --------------------------------------------------------------------- retries


def sleeps(client: chatplug.Client | chatplug.AsyncClient) -> list[float]:
    recorder = client._sleep
    assert isinstance(recorder, SleepRecorder)
    return recorder.delays


def test_retry_after_seconds_is_honoured(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.error(429, error_body(), headers={"Retry-After": "3"}), Reply.json(completion_body("ok")))
    reply = client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert reply.choices[0].message.content == "ok"
    assert sleeps(client) == [3.0]
    assert len(server.requests) == 2
    assert server.requests[0].body == server.requests[1].body


def test_retry_after_ms_wins_over_retry_after(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.error(503, error_body(), headers={"retry-after-ms": "1500", "Retry-After": "9"}),
               Reply.json(completion_body()))
    client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert sleeps(client) == [1.5]


def test_retry_after_http_date_is_honoured(server: FakeServer, client: chatplug.Client) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    server.add(Reply.error(429, error_body(), headers={"Retry-After": when}), Reply.json(completion_body()))
    client.chat.completions.create(model="t-1", messages=MESSAGES)
    (delay,) = sleeps(client)
    assert 25 <= delay <= 31  # the date has one-second resolution; the test itself takes no wall time


def test_without_a_hint_backoff_grows(server: FakeServer, client: chatplug.Client) -> None:
    client.max_retries = 3
    server.add(*(Reply.error(500, error_body()) for _ in range(3)), Reply.json(completion_body()))
    client.chat.completions.create(model="t-1", messages=MESSAGES)
    delays = sleeps(client)
    assert len(delays) == 3
    assert all(0 < d <= 8 for d in delays)
    assert delays[0] < delays[2]


def test_max_retries_bounds_the_attempts(server: FakeServer, client: chatplug.Client) -> None:
    server.add(*(Reply.error(502, error_body()) for _ in range(5)))
    with pytest.raises(chatplug.InternalServerError):
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert len(server.requests) == chatplug.DEFAULT_MAX_RETRIES + 1
    assert len(sleeps(client)) == chatplug.DEFAULT_MAX_RETRIES


def test_max_retries_zero_means_one_attempt(server: FakeServer, client: chatplug.Client) -> None:
    client.max_retries = 0
    server.add(Reply.error(429, error_body(), headers={"Retry-After": "1"}))
    with pytest.raises(chatplug.RateLimitError):
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert len(server.requests) == 1 and sleeps(client) == []


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_client_errors_are_not_retried(status: int, server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.error(status, error_body()), Reply.json(completion_body()))
    with pytest.raises(chatplug.APIStatusError):
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert len(server.requests) == 1 and sleeps(client) == []


def test_408_is_retried(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.error(408, error_body()), Reply.json(completion_body()))
    client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert len(server.requests) == 2


def test_connection_failure_is_retried_then_raised(registry: chatplug.PluginRegistry) -> None:
    with FakeServer() as dead:
        url = dead.base_url
    with chatplug.Client(provider="testprov", api_key=API_KEY, base_url=url, registry=registry) as client:
        client._sleep = recorder = SleepRecorder()
        with pytest.raises(chatplug.APIConnectionError) as info:
            client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert len(recorder.delays) == chatplug.DEFAULT_MAX_RETRIES
    assert API_KEY not in str(info.value)


@pytest.mark.anyio
async def test_async_retry_after_is_honoured(server: FakeServer, aclient: chatplug.AsyncClient) -> None:
    server.add(Reply.error(429, error_body(), headers={"Retry-After": "2"}),
               Reply.error(503, error_body(), headers={"retry-after-ms": "250"}),
               Reply.json(completion_body("ok")))
    reply = await aclient.chat.completions.create(model="t-1", messages=MESSAGES)
    assert reply.choices[0].message.content == "ok"
    recorder = aclient._sleep
    assert isinstance(recorder, AsyncSleepRecorder)
    assert recorder.delays == [2.0, 0.25]


def test_stream_is_retried_before_its_first_byte(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.error(503, error_body(), headers={"Retry-After": "1"}),
               Reply.sse([chunk({"content": "ok"}, "stop")]))
    final = client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True).get_final_completion()
    assert final.choices[0].message.content == "ok"
    assert sleeps(client) == [1.0]


# --------------------------------------------------------- interrupted streams


def test_stream_cut_mid_way_raises_with_the_partial_completion(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.sse_file(FIXTURES / "glm-stream-tool-call.sse", close_after_chunks=30))
    stream = client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True)
    received = []
    with pytest.raises(chatplug.StreamInterruptedError) as info:
        for item in stream:
            received.append(item)
    assert len(received) == 30
    partial = info.value.partial
    assert partial is not None
    expected = "".join(c.choices[0].delta.reasoning_content or "" for c in received)
    assert partial.choices[0].message.reasoning_content == expected
    assert partial.choices[0].finish_reason is None
    assert info.value.provider == "testprov"
    assert len(server.requests) == 1  # a stream that started is never retried


def test_stream_cut_inside_an_event_keeps_every_whole_chunk(server: FakeServer, client: chatplug.Client) -> None:
    events = [chunk({"content": "one "}), chunk({"content": "two "}), chunk({"content": "three"}, "stop")]
    server.add(Reply.sse(events, close_after_bytes=len(Reply.sse(events).chunks[0]) * 2 - 10))  # type: ignore[index]
    with pytest.raises(chatplug.StreamInterruptedError) as info:
        client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True).get_final_completion()
    assert info.value.partial is not None
    assert info.value.partial.choices[0].message.content == "one "


def test_stream_ending_without_done_or_finish_reason_is_interrupted(
    server: FakeServer, client: chatplug.Client
) -> None:
    server.add(Reply.sse([chunk({"content": "half"})], done=False))
    with pytest.raises(chatplug.StreamInterruptedError) as info:
        client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True).get_final_completion()
    assert info.value.partial is not None
    assert info.value.partial.choices[0].message.content == "half"


def test_stream_with_finish_reason_but_no_done_is_complete(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.sse([chunk({"content": "whole"}, "stop")], done=False))
    final = client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True).get_final_completion()
    assert final.choices[0].message.content == "whole"


@pytest.mark.anyio
async def test_async_stream_cut_mid_way_raises_with_the_partial(
    server: FakeServer, aclient: chatplug.AsyncClient
) -> None:
    server.add(Reply.sse_file(FIXTURES / "kimi-stream-k2-0905.sse", close_after_chunks=3))
    stream = await aclient.chat.completions.create(model="t-1", messages=MESSAGES, stream=True)
    with pytest.raises(chatplug.StreamInterruptedError) as info:
        await stream.get_final_completion()
    assert info.value.partial is not None
    assert info.value.partial.choices[0].message.content
    await stream.close()


def test_an_error_stays_raised_by_get_final_completion(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.sse([chunk({"content": "x"})], done=False))
    stream = client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True)
    with pytest.raises(chatplug.StreamInterruptedError):
        list(stream)
    with pytest.raises(chatplug.StreamInterruptedError):
        stream.get_final_completion()


# ------------------------------------------------ recorded provider error bodies

ERROR_SAMPLES = sorted(FIXTURES.glob("*error*.json"))


@pytest.mark.parametrize("path", ERROR_SAMPLES, ids=[p.name for p in ERROR_SAMPLES])
def test_default_mapping_keeps_what_a_real_error_body_says(
    path: Any, server: FakeServer, client: chatplug.Client
) -> None:
    import json

    body = json.loads(path.read_bytes())
    client.max_retries = 0
    server.add(Reply.error(400, path.read_bytes().decode(), headers={"Content-Type": "application/json"}))
    with pytest.raises(chatplug.BadRequestError) as info:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    error = info.value
    assert error.body == body
    assert error.message == body["error"]["message"]
    assert error.code == (body["error"].get("code") or body["error"].get("type"))
    assert error.request_id == body.get("request_id")
    assert body["error"]["message"] in str(error)


def test_cut_non_stream_body_is_retried(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.json(completion_body("lost"), close_after_bytes=20), Reply.json(completion_body("whole")))
    reply = client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert reply.choices[0].message.content == "whole"
    assert len(server.requests) == 2
