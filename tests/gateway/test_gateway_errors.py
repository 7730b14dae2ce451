"""Errors as OpenAI error JSON with the right status; errors inside a stream as an SSE error event."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from chatplug.testing import FakeServer, Reply
from gateway_support import MESSAGES, ThreadedGateway, chunk, completion, fixture_json, simple_stream, threaded_gateway


def client(gateway: ThreadedGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0, timeout=30)


def test_an_invalid_request_is_400_naming_the_parameter_and_costs_no_upstream_call(
    fake: FakeServer, gateway: ThreadedGateway
) -> None:
    with client(gateway) as c, pytest.raises(openai.BadRequestError) as caught:
        c.chat.completions.create(model="glm-4.6", messages=MESSAGES, temperature=1.5)
    error = caught.value
    assert error.status_code == 400
    assert error.code == "invalid_request" and error.param == "temperature"
    assert "1.5" in error.message and "glm" in error.message
    assert isinstance(error.body, dict) and error.body["type"] == "invalid_request_error"
    assert fake.requests == []


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        (b"{not json", None, "invalid_json"),
        (b"[]", None, "invalid_json"),
        (json.dumps({"messages": MESSAGES}).encode(), "model", "invalid_request"),
        (json.dumps({"model": "glm-4.6"}).encode(), "messages", "invalid_request"),
        (json.dumps({"model": "glm-4.6", "messages": "hi"}).encode(), "messages", "invalid_request"),
        (json.dumps({"model": "glm-4.6", "messages": MESSAGES, "stream_options": {"include_usage": True}}).encode(),
         "stream_options", "invalid_request"),
    ],
)
def test_malformed_bodies_are_400_before_any_upstream_call(
    fake: FakeServer, gateway: ThreadedGateway, body: bytes, param: str | None, code: str
) -> None:
    response = httpx.post(f"{gateway.base_url}/chat/completions", content=body,
                          headers={"content-type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error")
    assert fake.requests == []


def test_an_unknown_model_is_404_model_not_found(fake: FakeServer, gateway: ThreadedGateway) -> None:
    with client(gateway) as c, pytest.raises(openai.NotFoundError) as caught:
        c.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert caught.value.code == "model_not_found" and "glm" in caught.value.message
    assert fake.requests == []


@pytest.mark.parametrize(
    ("fixture", "model", "code", "provider_code"),
    [
        ("glm-error-1302-rate-limit-zh.json", "glm-4.6", "rate_limit_exceeded", "1302"),
        ("glm-error-1113-insufficient-balance-en.json", "glm-4.6", "insufficient_quota", "1113"),
        ("kimi-error-rate-limit-rpm.json", "kimi-k2-0905-preview", "rate_limit_exceeded", "rate_limit_reached_error"),
        ("kimi-error-exceeded-quota-suspended.json", "kimi-k2-0905-preview", "insufficient_quota",
         "exceeded_current_quota_error"),
    ],
)
def test_upstream_429_rate_limit_and_quota_stay_distinct(
    fake: FakeServer, gateway: ThreadedGateway, fixture: str, model: str, code: str, provider_code: str
) -> None:
    recorded = fixture_json(fixture)
    fake.add(Reply.error(429, recorded, headers={"x-request-id": "upstream-req-77", "retry-after": "3"}))
    response = httpx.post(f"{gateway.base_url}/chat/completions", json={"model": model, "messages": MESSAGES})
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == code
    assert error["type"] == ("insufficient_quota" if code == "insufficient_quota" else "rate_limit_error")
    assert error["provider_code"] == provider_code
    assert error["request_id"] == "upstream-req-77" and response.headers["x-request-id"] == "upstream-req-77"
    assert error["message"] == recorded["error"]["message"]
    assert error["provider_status"] == 429
    # openai-python retries a 429 unless told not to: a quota error says so; a rate limit passes Retry-After on
    if code == "insufficient_quota":
        assert response.headers["x-should-retry"] == "false"
    else:
        assert response.headers["retry-after"] == "3" and "x-should-retry" not in response.headers


def test_openai_client_sees_quota_and_rate_limit_apart(fake: FakeServer, gateway: ThreadedGateway) -> None:
    fake.add(Reply.error(429, fixture_json("glm-error-1113-insufficient-balance-en.json")),
             Reply.error(429, fixture_json("glm-error-1302-rate-limit-zh.json")))
    codes = []
    with client(gateway) as c:
        for _ in range(2):
            with pytest.raises(openai.RateLimitError) as caught:
                c.chat.completions.create(model="glm-4.6", messages=MESSAGES)
            codes.append((caught.value.code, caught.value.type))
    assert codes == [("insufficient_quota", "insufficient_quota"), ("rate_limit_exceeded", "rate_limit_error")]


def test_an_upstream_5xx_keeps_its_status(fake: FakeServer, gateway: ThreadedGateway) -> None:
    fake.add(Reply.error(503, {"error": {"message": "overloaded", "type": "server_error"}}))
    with client(gateway) as c, pytest.raises(openai.InternalServerError) as caught:
        c.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES)
    assert caught.value.status_code == 503 and caught.value.code == "upstream_error"


def test_an_error_before_the_first_chunk_of_a_stream_is_a_plain_error_response(
    fake: FakeServer, gateway: ThreadedGateway
) -> None:
    fake.add(Reply.error(429, fixture_json("glm-error-1113-insufficient-balance-en.json")))
    with client(gateway) as c, pytest.raises(openai.RateLimitError) as caught:
        c.chat.completions.create(model="glm-4.6", messages=MESSAGES, stream=True)
    assert caught.value.code == "insufficient_quota"


def test_a_mid_stream_upstream_cut_is_an_sse_error_event_then_the_end(
    fake: FakeServer, gateway: ThreadedGateway
) -> None:
    fake.add(Reply.sse(simple_stream("a b c d e"), close_after_chunks=3))
    with httpx.stream("POST", f"{gateway.base_url}/chat/completions",
                      json={"model": "glm-4.6", "messages": MESSAGES, "stream": True}, timeout=30) as response:
        assert response.status_code == 200
        raw = response.read().decode()
    events = [e for e in raw.split("\n\n") if e]
    assert len(events) == 4  # three chunks, then one error event; no [DONE]
    assert [json.loads(e.removeprefix("data: "))["choices"][0]["delta"]["content"] for e in events[:3]] == [
        "a", " b", " c"]
    head, data = events[3].split("\n", 1)
    assert head == "event: error"
    error = json.loads(data.removeprefix("data: "))["error"]
    assert error["code"] == "upstream_stream_interrupted" and error["type"] == "api_error"
    assert "after 3 chunks" in error["message"]


def test_openai_client_raises_on_the_mid_stream_error_after_the_chunks(
    fake: FakeServer, gateway: ThreadedGateway
) -> None:
    events = [*simple_stream("a b")[:2], {"error": {"code": "1234", "message": "network error"}}]
    fake.add(Reply.sse(events, done=False))
    received = []
    with client(gateway) as c, pytest.raises(openai.APIError) as caught:
        for piece in c.chat.completions.create(model="glm-4.6", messages=MESSAGES, stream=True):
            received.append(piece.choices[0].delta.content)
    assert received == ["a", " b"]
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["provider_code"] == "1234" and caught.value.body["provider"] == "glm"


def test_non_stream_reply_without_object_or_id_gets_them(fake: FakeServer, gateway: ThreadedGateway) -> None:
    body = completion()
    del body["id"]
    fake.add(Reply.json(body), Reply.sse([chunk("x", finish="stop")]))
    with client(gateway) as c:
        reply = c.chat.completions.create(model="glm-4.6", messages=MESSAGES)
        pieces = list(c.chat.completions.create(model="glm-4.6", messages=MESSAGES, stream=True))
    assert reply.id.startswith("chatcmpl-") and reply.object == "chat.completion"
    assert pieces[0].object == "chat.completion.chunk" and pieces[0].id == "glm-stream-1"


def test_a_wait_the_provider_gave_only_in_its_message_becomes_retry_after(
    fake: FakeServer, gateway: ThreadedGateway
) -> None:
    """Kimi says "please try again after 1 seconds" in the body and sends no header."""
    fake.add(Reply.error(429, fixture_json("kimi-error-rate-limit-rpm.json"), headers={"x-request-id": "kimi-r-1"}))
    response = httpx.post(f"{gateway.base_url}/chat/completions",
                          json={"model": "kimi-k2-0905-preview", "messages": MESSAGES})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1" and response.headers["x-request-id"] == "kimi-r-1"


def test_a_body_over_the_configured_size_is_413_before_it_is_read(fake: FakeServer) -> None:
    with threaded_gateway("[server]\nmax_body_bytes = 2048\n") as served:
        big = {"model": "glm-4.6", "messages": [{"role": "user", "content": "x" * 4096}]}
        response = httpx.post(f"{served.base_url}/chat/completions", json=big)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "request_too_large"
        chunked = httpx.post(f"{served.base_url}/chat/completions", content=iter([json.dumps(big).encode()]))
        assert chunked.status_code == 413  # no content-length: refused while reading
    assert fake.requests == []
