"""Kimi error bodies -> chatplug error classes and retry decisions, over loopback HTTP."""

from __future__ import annotations

import chatplug
import chatplug_kimi
import pytest
from chatplug.testing import FakeServer, Reply

from .kimi_support import API_KEY, chunk, completion, load_fixture

MESSAGES = [{"role": "user", "content": "Hi"}]

# (sample, HTTP status, error class, retried?, delay the message asked for)
SAMPLES = [
    ("kimi-error-invalid-authentication.json", 401, chatplug.AuthenticationError, False, None),
    ("kimi-error-model-not-found.json", 404, chatplug.NotFoundError, False, None),
    ("kimi-error-content-filter-docs.json", 400, chatplug.ContentFilterError, False, None),
    ("kimi-error-exceeded-quota-suspended.json", 429, chatplug.QuotaExceededError, False, None),
    ("kimi-error-exceeded-quota-suspended.json", 403, chatplug.QuotaExceededError, False, None),
    ("kimi-error-rate-limit-concurrency.json", 429, chatplug.RateLimitError, True, 1.0),
    ("kimi-error-rate-limit-rpm.json", 429, chatplug.RateLimitError, True, 1.0),
]
IDS = [f"{sample.removeprefix('kimi-error-').removesuffix('.json')}-{status}" for sample, status, *_ in SAMPLES]


def _check_error(error: chatplug.APIStatusError, sample: str, status: int, cls: type) -> None:
    body = load_fixture(sample)
    assert type(error) is cls
    assert error.status_code == status
    assert error.provider == "kimi"
    assert error.code == body["error"]["type"]
    assert error.message == body["error"]["message"]
    assert error.body == body
    assert API_KEY not in str(error) and API_KEY not in repr(error)


@pytest.mark.parametrize(("sample", "status", "cls", "retried", "delay"), SAMPLES, ids=IDS)
def test_error_sample_sync(
    sample: str, status: int, cls: type, retried: bool, delay: float | None,
    server: FakeServer, client: chatplug.Client, sleeps: list[float],
) -> None:
    server.add(*[Reply.error(status, load_fixture(sample))] * 3)
    with pytest.raises(chatplug.APIStatusError) as info:
        client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES)
    _check_error(info.value, sample, status, cls)
    assert len(server.requests) == (3 if retried else 1)  # max_retries=2 by default
    assert sleeps == ([delay, delay] if retried else [])
    assert info.value.retryable is retried


@pytest.mark.anyio
@pytest.mark.parametrize(("sample", "status", "cls", "retried", "delay"), SAMPLES, ids=IDS)
async def test_error_sample_async(
    sample: str, status: int, cls: type, retried: bool, delay: float | None,
    server: FakeServer, aclient: chatplug.AsyncClient, sleeps: list[float],
) -> None:
    server.add(*[Reply.error(status, load_fixture(sample))] * 3)
    async with aclient:
        with pytest.raises(chatplug.APIStatusError) as info:
            await aclient.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES)
    _check_error(info.value, sample, status, cls)
    assert len(server.requests) == (3 if retried else 1)
    assert sleeps == ([delay, delay] if retried else [])


def test_rate_limit_then_success(server: FakeServer, client: chatplug.Client, sleeps: list[float]) -> None:
    server.add(Reply.error(429, load_fixture("kimi-error-rate-limit-rpm.json")),
               Reply.json(completion({"role": "assistant", "content": "Hello"})))
    reply = client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES)
    assert reply.choices[0].message.content == "Hello"
    assert len(server.requests) == 2
    assert sleeps == [1.0]  # "please try again after 1 seconds"


def test_stream_is_retried_on_rate_limit_before_first_byte(
    server: FakeServer, client: chatplug.Client, sleeps: list[float]
) -> None:
    server.add(Reply.error(429, load_fixture("kimi-error-rate-limit-concurrency.json")),
               Reply.sse([chunk({"role": "assistant", "content": "ok"}, "stop")]))
    with client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES, stream=True) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "ok"
    assert len(server.requests) == 2 and sleeps == [1.0]


OVERLOADED = {"error": {"message": "The engine is currently overloaded, please try again later",
                        "type": "engine_overloaded_error"}}


def test_overload_waits_for_x_ratelimit_reset(server: FakeServer, client: chatplug.Client, sleeps: list[float]) -> None:
    server.add(Reply.error(429, OVERLOADED, headers={"X-RateLimit-Reset": "3"}),
               Reply.json(completion({"role": "assistant", "content": "Hello"})))
    client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES)
    assert sleeps == [3.0]


def test_retry_after_header_wins_over_message_hint(
    server: FakeServer, client: chatplug.Client, sleeps: list[float]
) -> None:
    server.add(Reply.error(429, load_fixture("kimi-error-rate-limit-rpm.json"), headers={"Retry-After": "2"}),
               Reply.json(completion({"role": "assistant", "content": "Hello"})))
    client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES)
    assert sleeps == [2.0]


def test_overload_without_hint_backs_off(server: FakeServer, client: chatplug.Client, sleeps: list[float]) -> None:
    server.add(*[Reply.error(429, OVERLOADED)] * 3)
    with pytest.raises(chatplug.RateLimitError) as info:
        client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES)
    assert info.value.retry_after is None
    assert len(server.requests) == 3
    assert len(sleeps) == 2 and all(0 < s <= 8 for s in sleeps)


def test_context_length_message(server: FakeServer, client: chatplug.Client) -> None:
    # Message text as reported against api.moonshot.cn (AstrBotDevs/AstrBot#694).
    body = {"error": {"message": "Invalid request: Your request exceeded model token limit: 8192",
                      "type": "invalid_request_error"}}
    server.add(Reply.error(400, body))
    with pytest.raises(chatplug.ContextLengthError) as info:
        client.chat.completions.create(model="moonshot-v1-8k", messages=MESSAGES)
    assert isinstance(info.value, chatplug.BadRequestError)
    assert "8192" in str(info.value)
    assert len(server.requests) == 1


def test_other_invalid_request_is_bad_request(server: FakeServer, client: chatplug.Client) -> None:
    body = {"error": {"message": "Invalid request: tool_call_id functions.x:9 is not found",
                      "type": "invalid_request_error"}}
    server.add(Reply.error(400, body))
    with pytest.raises(chatplug.BadRequestError) as info:
        client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES)
    assert type(info.value) is chatplug.BadRequestError


@pytest.mark.parametrize(("kind", "status", "cls"), [
    ("incorrect_api_key_error", 401, chatplug.AuthenticationError),
    ("permission_denied_error", 403, chatplug.PermissionDeniedError),
    ("server_error", 500, chatplug.InternalServerError),
])
def test_documented_types(kind: str, status: int, cls: type, server: FakeServer, client: chatplug.Client) -> None:
    server.add(*[Reply.error(status, {"error": {"message": "x", "type": kind}})] * 3)
    with pytest.raises(cls):
        client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES)
    assert len(server.requests) == (3 if cls is chatplug.InternalServerError else 1)


def test_error_type_wins_over_status(server: FakeServer, client: chatplug.Client) -> None:
    """A gateway may relay a quota error with another status: the type decides."""
    server.add(Reply.error(400, load_fixture("kimi-error-exceeded-quota-suspended.json")))
    with pytest.raises(chatplug.QuotaExceededError):
        client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES)
    assert len(server.requests) == 1


def test_error_event_inside_stream(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.sse([chunk({"role": "assistant", "content": "Par"}),
                          load_fixture("kimi-error-rate-limit-rpm.json")], done=False))
    with (
        client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES, stream=True) as stream,
        pytest.raises(chatplug.RateLimitError) as info,
    ):
        list(stream)
    assert info.value.status_code is None
    assert info.value.partial is not None and info.value.partial.choices[0].message.content == "Par"
    assert len(server.requests) == 1  # a started stream is never retried


def test_unknown_body_falls_back_to_status(server: FakeServer, client: chatplug.Client) -> None:
    server.add(*[Reply.error(503, "<html><title>503 Service Unavailable</title></html>")] * 3)
    with pytest.raises(chatplug.InternalServerError):
        client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES)
    assert len(server.requests) == 3


def test_kimi_mapping_leaves_other_providers_alone(server: FakeServer, registry: chatplug.PluginRegistry) -> None:
    """The same Moonshot-shaped body from another provider is mapped by the core, by status."""
    class Other:
        @chatplug.hookimpl
        def chatplug_providers(self) -> list[chatplug.Provider]:
            return [chatplug.Provider(id="other", base_url="https://other.invalid/v1", model_prefixes=("o-",))]

    registry.register(Other(), "other")
    with chatplug.Client(provider="other", api_key=API_KEY, base_url=server.base_url, registry=registry,
                         max_retries=0) as other:
        server.add(Reply.error(429, load_fixture("kimi-error-exceeded-quota-suspended.json")))
        with pytest.raises(chatplug.APIStatusError) as info:
            other.chat.completions.create(model="o-1", messages=MESSAGES)
    assert type(info.value) is chatplug.RateLimitError


@pytest.mark.parametrize(("message", "headers", "expected"), [
    ("please try again after 1 seconds", {}, 1.0),
    ("Please try again in 2.5s", {}, 2.5),
    ("try again after 500 ms", {}, 0.5),
    ("please try again in 2 minutes", {}, 120.0),
    ("try again after 1 min", {}, 60.0),
    ("try again after 2 fortnights", {"x-ratelimit-reset": "7"}, 7.0),
    ("overloaded", {"X-RateLimit-Reset": "7"}, 7.0),
    ("overloaded", {"x-ratelimit-reset": "1m30s"}, 90.0),
    ("overloaded", {"x-ratelimit-reset": "250ms"}, 0.25),
    ("overloaded", {"x-ratelimit-reset": str(1_800_000_010)}, 10.0),
    ("overloaded", {"x-ratelimit-reset": "Fri, 15 Jan 2027 08:00:10 GMT"}, 10.0),
    ("overloaded", {"x-ratelimit-reset": "soon"}, None),
    ("overloaded", {}, None),
])
def test_retry_hint(message: str, headers: dict[str, str], expected: float | None) -> None:
    # "now" is 2027-01-15 08:00:00 UTC, ten seconds before the timestamp and date above.
    hint = chatplug_kimi.retry_hint(message, headers, now=lambda: 1_800_000_000.0)
    assert hint == (pytest.approx(expected) if expected is not None else None)
