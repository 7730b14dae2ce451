"""Exact tests written to kill mutants that survived ``tox -e mutation`` in the Kimi plugin
(see docs/mutation.md): the ``X-RateLimit-Reset`` forms at their boundaries, error bodies
with odd or missing fields, and the exact text of the plugin's request checks."""

from __future__ import annotations

from typing import Any

import chatplug
import chatplug_kimi
import pytest
from chatplug.testing import FakeServer, Reply

NOW = 1_800_000_000.0


def reset(value: str, now: float = NOW) -> float | None:
    return chatplug_kimi.retry_hint("", {"X-RateLimit-Reset": value}, now=lambda: now)


@pytest.mark.parametrize(
    ("value", "now", "expected"),
    [
        ("1800000000500", NOW, 0.5),  # a Unix timestamp in milliseconds
        ("1000500000000", 1_000_499_999.0, 1.0),  # milliseconds just above the threshold
        ("1000000000000", 999_999_995.0, 1_000_000_000_000 - 999_999_995.0),  # at the ms threshold: seconds
        ("1000000000", NOW, 1_000_000_000.0),  # at the seconds threshold: a plain number of seconds
        ("1799999990", NOW, 0.0),  # a timestamp in the past: no wait, not a negative one
        ("1799999990000", NOW, 0.0),
        ("0", NOW, 0.0),
        ("1m 30s", NOW, 90.0),  # a duration with a space
        ("2h", NOW, 7200.0),
        ("1.5sx", NOW, None),  # trailing garbage: not a duration
        ("Thu, 01 Jan 2026 00:00:00 GMT", NOW, 0.0),  # an HTTP date in the past
    ],
)
def test_rate_limit_reset_forms(value: str, now: float, expected: float | None) -> None:
    assert reset(value, now) == expected


def test_a_try_again_hint_without_a_unit_is_seconds() -> None:
    assert chatplug_kimi.retry_hint("please try again after 3", {}, now=lambda: NOW) == 3.0


def test_an_error_type_that_is_not_a_string_is_left_to_the_status(
    client: chatplug.Client, server: FakeServer
) -> None:
    server.add(*[_error(429, {"error": {"type": ["rate_limit_reached_error"], "message": "slow"}})] * 3)
    with pytest.raises(chatplug.RateLimitError) as caught:
        client.chat.completions.create(model="kimi-k2-0905-preview", messages=[{"role": "user", "content": "hi"}])
    assert type(caught.value) is chatplug.RateLimitError


def test_an_error_without_a_message_names_its_type_and_status(client: chatplug.Client, server: FakeServer) -> None:
    client.max_retries = 0
    server.add(_error(400, {"error": {"type": "invalid_request_error"}}))
    with pytest.raises(chatplug.BadRequestError) as caught:
        client.chat.completions.create(model="kimi-k2-0905-preview", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.message == "invalid_request_error (HTTP 400)"


def _error(status: int, body: Any) -> Reply:
    return Reply.error(status, body)


def test_n_above_1_at_temperature_0_is_refused_with_the_reason(client: chatplug.Client, server: FakeServer) -> None:
    with pytest.raises(chatplug.InvalidRequestError) as caught:
        client.chat.completions.create(model="kimi-k2-0905-preview", messages=[{"role": "user", "content": "hi"}],
                                       n=2, temperature=0)
    assert str(caught.value) == (
        "kimi: n=2 needs temperature > 0 (got temperature=0); "
        "Moonshot returns a single choice at temperature 0. Raise temperature or set n=1."
    )
    assert (caught.value.param, caught.value.provider) == ("n", "kimi")
    assert server.requests == []


def test_partial_on_a_middle_message_is_refused_after_a_plain_one(client: chatplug.Client, server: FakeServer) -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hel", "partial": True},
        {"role": "user", "content": "go on"},
    ]
    with pytest.raises(chatplug.InvalidRequestError) as caught:
        client.chat.completions.create(model="kimi-k2-0905-preview", messages=messages)
    assert str(caught.value) == (
        'kimi: messages[1] has "partial": true; partial mode needs it on the last message, and that message '
        "must have role 'assistant' (its content is the prefix to continue)"
    )
    assert server.requests == []
