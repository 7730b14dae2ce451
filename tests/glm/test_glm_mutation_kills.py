"""Exact tests written to kill mutants that survived ``tox -e mutation`` in the GLM plugin
(see docs/mutation.md): the exact text and fields of its request checks at their length
boundaries, and what its error mapping reads from a body or header the core would not."""

from __future__ import annotations

from typing import Any

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from glm_support import MESSAGES


def refused(client: chatplug.Client, **kwargs: Any) -> chatplug.InvalidRequestError:
    with pytest.raises(chatplug.InvalidRequestError) as caught:
        client.chat.completions.create(model="glm-4.6", messages=MESSAGES, **kwargs)
    return caught.value


@pytest.mark.parametrize(("name", "low", "high"), [("request_id", 6, 64), ("user_id", 6, 128)])
def test_id_lengths_are_checked_at_both_bounds(
    client: chatplug.Client, server: FakeServer, name: str, low: int, high: int
) -> None:
    for bad in ("r" * (low - 1), "r" * (high + 1)):
        error = refused(client, extra_body={name: bad})
        reason = f"{name} must be a string of {low} to {high} characters"
        assert str(error) == f"glm: {name}={bad!r} is not accepted; {reason}"
        assert (error.param, error.provider) == (name, "glm")
    assert server.requests == []
    for good in ("r" * low, "r" * high):
        server.add(Reply.json({"id": "c", "object": "chat.completion", "created": 1, "model": "glm-4.6",
                               "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                                            "finish_reason": "stop"}]}))
        client.chat.completions.create(model="glm-4.6", messages=MESSAGES, extra_body={name: good})
        assert server.last_request.json()[name] == good


@pytest.mark.parametrize(
    ("thinking", "reason"),
    [
        ("on", 'thinking must be an object like {"type": "enabled"} or {"type": "disabled"}'),
        ({"type": "maybe"}, "thinking.type must be \"enabled\" or \"disabled\", got 'maybe'"),
        ({"type": "enabled", "clear_thinking": "yes"}, "thinking.clear_thinking must be true or false, got 'yes'"),
    ],
)
def test_thinking_of_the_wrong_shape_is_refused_with_the_reason(
    client: chatplug.Client, server: FakeServer, thinking: Any, reason: str
) -> None:
    error = refused(client, extra_body={"thinking": thinking})
    assert str(error) == f"glm: thinking={thinking!r} is not accepted; {reason}"
    assert (error.param, error.provider) == ("thinking", "glm")
    assert server.requests == []


def test_tool_stream_without_stream_is_refused_with_the_reason(client: chatplug.Client, server: FakeServer) -> None:
    error = refused(client, extra_body={"tool_stream": True})
    assert str(error) == (
        "glm: tool_stream=True is not accepted; tool_stream=true streams tool-call arguments and needs stream=True"
    )
    assert (error.param, error.provider) == ("tool_stream", "glm")


def test_a_web_search_tool_with_options_that_are_not_an_object_is_refused(
    client: chatplug.Client, server: FakeServer
) -> None:
    tool = {"type": "web_search", "web_search": "yes"}
    error = refused(client, tools=[tool])
    assert str(error) == (
        f"glm: tools={tool!r} is not accepted; tools[0] (web_search) needs \"web_search\" to be an object, "
        'e.g. {"type": "web_search", "web_search": {"enable": true}}'
    )
    assert error.param == "tools"


def test_a_glm_error_without_a_message_names_its_code(client: chatplug.Client, server: FakeServer) -> None:
    server.add(Reply.error(429, {"error": {"code": "1113"}}))
    with pytest.raises(chatplug.QuotaExceededError) as caught:
        client.chat.completions.create(model="glm-4.6", messages=MESSAGES)
    assert caught.value.message == "GLM error 1113"


def test_the_request_id_comes_from_glms_x_log_id_header(client: chatplug.Client, server: FakeServer) -> None:
    server.add(Reply.error(429, {"error": {"code": "1113", "message": "top up"}}, headers={"X-Log-Id": "log-77"}))
    with pytest.raises(chatplug.QuotaExceededError) as caught:
        client.chat.completions.create(model="glm-4.6", messages=MESSAGES)
    assert caught.value.request_id == "log-77"


def test_a_request_id_that_is_not_a_string_is_not_taken(client: chatplug.Client, server: FakeServer) -> None:
    server.add(Reply.error(429, {"error": {"code": "1113", "message": "top up"}, "request_id": 12345}))
    with pytest.raises(chatplug.QuotaExceededError) as caught:
        client.chat.completions.create(model="glm-4.6", messages=MESSAGES)
    assert caught.value.request_id is None


def test_x_request_id_wins_over_x_log_id(client: chatplug.Client, server: FakeServer) -> None:
    server.add(Reply.error(429, {"error": {"code": "1113", "message": "m"}},
                           headers={"X-Log-Id": "log-1", "X-Request-Id": "req-1"}))
    with pytest.raises(chatplug.QuotaExceededError) as caught:
        client.chat.completions.create(model="glm-4.6", messages=MESSAGES)
    assert caught.value.request_id == "req-1"


def test_the_request_id_inside_the_error_object_wins_over_a_body_id(
    client: chatplug.Client, server: FakeServer
) -> None:
    body = {"id": "not-a-request-id", "error": {"code": "1113", "message": "m", "request_id": "err-rid"}}
    server.add(Reply.error(429, body))
    with pytest.raises(chatplug.QuotaExceededError) as caught:
        client.chat.completions.create(model="glm-4.6", messages=MESSAGES)
    assert caught.value.request_id == "err-rid"


def test_history_without_reasoning_is_sent_unchanged(client: chatplug.Client, server: FakeServer) -> None:
    history: list[dict[str, Any]] = [
        {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"},
    ]
    server.add(Reply.json({"id": "c", "object": "chat.completion", "created": 1, "model": "glm-4.6", "choices": []}))
    client.chat.completions.create(model="glm-4.6", messages=history)
    assert server.last_request.json()["messages"] == history


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"error": {"code": "1113", "message": "arrears"}}, ("1113", "arrears")),
        ({"error": {"code": 1113, "message": "arrears"}}, ("1113", "arrears")),
        ({"error": {"code": " 1113 ", "message": 7}}, ("1113", "7")),
        ({"error": {"message": "no code"}}, (None, "no code")),
        ({"error": {"code": True, "message": "a flag"}}, (None, "a flag")),
        ({"error": {"code": 11.5, "message": "a float"}}, (None, "a float")),
        ({"error": {"code": ["1113"], "message": "a list"}}, (None, "a list")),
        ({"error": {"code": "  "}}, (None, None)),
        ({"error": "not an object"}, (None, None)),
        (["not", "an", "object"], (None, None)),
    ],
)
def test_the_code_and_message_read_from_an_error_body(body: Any, fields: tuple[str | None, str | None]) -> None:
    from chatplug_glm._errors import glm_error_fields

    assert glm_error_fields(body) == fields


def test_every_rows_retry_column_is_what_its_class_decides() -> None:
    """The table's ``retried`` column and the error classes agree at every status, so an error
    mapped from any row is retried exactly when the README says, whoever decides it."""
    from chatplug_glm._errors import _RANGES, ERROR_CODES

    rules = [*ERROR_CODES.values(), *(rule for _, _, rule in _RANGES)]
    for rule in rules:
        for status in (None, 400, 401, 403, 404, 408, 429, 500, 502, 503, 504):
            decided = rule.cls(rule.meaning, status_code=status).retryable
            assert decided is rule.retried, (rule, status)
