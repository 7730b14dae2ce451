"""Exact tests of response handling written to kill mutants that survived ``tox -e mutation``
(see docs/mutation.md): a 200 body that is not a completion, the fields the core fills in on
an error a plugin mapped, a Retry-After date in the past, a first tool-call fragment with no
index and no id."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import chatplug
import pytest
from chatplug._accumulate import ChunkAccumulator
from chatplug.testing import FakeServer, Reply
from core_support import MESSAGES, chunk, completion_body


def test_a_200_body_that_is_not_json_says_how_it_began(server: FakeServer, client: chatplug.Client) -> None:
    text = "<html>" + "x" * 300
    server.add(Reply.json(text.encode()))
    with pytest.raises(chatplug.APIResponseValidationError) as caught:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    error = caught.value
    assert type(error) is chatplug.APIResponseValidationError
    assert str(error).startswith("testprov: the response is not JSON (")
    assert str(error).endswith(f"; it began {text[:200]!r}")
    assert (error.provider, error.body) == ("testprov", text)


def test_a_200_body_that_is_json_but_not_an_object(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.json([1, 2]))
    with pytest.raises(chatplug.APIResponseValidationError) as caught:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert str(caught.value) == "testprov: expected a JSON object, got list"
    assert (caught.value.provider, caught.value.body) == ("testprov", [1, 2])


def test_a_completion_with_a_null_error_field_is_a_completion(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.json(completion_body("fine", error=None)))
    assert client.chat.completions.create(model="t-1", messages=MESSAGES).choices[0].message.content == "fine"


def test_a_200_body_without_choices_or_error_is_no_completion(server: FakeServer, client: chatplug.Client) -> None:
    """Not an empty reply (issue 10: a caller, or the CLI, must not take it for a success)."""
    server.add(Reply.json({"id": "c-empty", "object": "chat.completion", "created": 1, "model": "t-1"}))
    with pytest.raises(chatplug.APIResponseValidationError) as caught:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert str(caught.value) == (
        "testprov: the response is not a chat completion: it has no 'choices' list "
        "(its fields: created, id, model, object)"
    )
    assert len(server.requests) == 1  # not retried


class BareMapper:
    """Maps every test-provider error to a RateLimitError with nothing filled in."""

    @chatplug.hookimpl
    def chatplug_map_error(self, provider: chatplug.Provider) -> chatplug.APIStatusError | None:
        if provider.id != "testprov":
            return None
        return chatplug.RateLimitError("mapped bare")


@pytest.mark.parametrize(
    ("headers", "body", "request_id"),
    [
        ({"x-request-id": "hdr-1"}, {"error": {"message": "m"}}, "hdr-1"),
        ({}, {"error": {"message": "m"}, "request_id": "body-2"}, "body-2"),
    ],
)
def test_the_core_fills_in_what_a_plugin_left_out(
    server: FakeServer, registry: chatplug.PluginRegistry, headers: dict[str, str], body: Any, request_id: str
) -> None:
    registry.register(BareMapper(), "bare-mapper")
    server.add(Reply.error(429, body, headers=headers))
    with chatplug.Client(provider="testprov", api_key="sk-bare-mapper-key-01", base_url=server.base_url,
                         registry=registry, max_retries=0) as client, pytest.raises(chatplug.RateLimitError) as caught:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    error = caught.value
    assert (error.provider, error.status_code, error.request_id) == ("testprov", 429, request_id)
    assert error.headers["content-type"] == "application/json"


def test_a_retry_after_date_in_the_past_means_no_wait(server: FakeServer, client: chatplug.Client) -> None:
    past = email.utils.formatdate(time.time() - 3600, usegmt=True)
    server.add(Reply.error(429, {"error": {"message": "slow"}}, headers={"Retry-After": past}),
               Reply.json(completion_body()))
    client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert client._sleep.delays == [0.0]  # type: ignore[attr-defined]


def test_a_first_tool_call_fragment_without_index_or_id_starts_a_call() -> None:
    accumulator = ChunkAccumulator()
    for delta in ({"function": {"name": "f", "arguments": '{"a":'}}, {"function": {"arguments": "1}"}}):
        accumulator.add(chatplug.from_dict(chunk({"tool_calls": [delta]}), chatplug.ChatCompletionChunk))
    calls = accumulator.completion().choices[0].message.tool_calls or []
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [("", "f", '{"a":1}')]
