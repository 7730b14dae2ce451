"""Exact tests of the request checks written to kill mutants that survived ``tox -e mutation``
(see docs/mutation.md): each refused value gets the exact message, parameter and provider,
and is refused before any I/O."""

from __future__ import annotations

from typing import Any

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from core_support import MESSAGES, completion_body


def refused(client: chatplug.Client, server: FakeServer, **kwargs: Any) -> chatplug.InvalidRequestError:
    kwargs.setdefault("messages", MESSAGES)
    with pytest.raises(chatplug.InvalidRequestError) as caught:
        client.chat.completions.create(model="t-1", **kwargs)
    assert server.requests == []
    assert caught.value.provider == "testprov"
    return caught.value


@pytest.mark.parametrize("headers", [["x-a"], {"x-a": 1}, {1: "one"}, {"x-a": b"bytes"}])
def test_extra_headers_must_map_names_to_strings(client: chatplug.Client, server: FakeServer, headers: Any) -> None:
    error = refused(client, server, extra_headers=headers)
    assert str(error) == "testprov: extra_headers must be a dict of header names to string values"
    assert error.param == "extra_headers"


@pytest.mark.parametrize("query", [["a=1"], {"a": object()}, {1: "x"}, {"a": [1, object()]}, {"a": {"b": 1}}])
def test_extra_query_must_map_names_to_scalars_or_lists(
    client: chatplug.Client, server: FakeServer, query: Any
) -> None:
    error = refused(client, server, extra_query=query)
    assert str(error) == "testprov: extra_query must be a dict of names to strings, numbers or lists of them"
    assert error.param == "extra_query"


def test_extra_query_lists_are_sent_as_repeated_names(client: chatplug.Client, server: FakeServer) -> None:
    server.add(Reply.json(completion_body()))
    client.chat.completions.create(model="t-1", messages=MESSAGES, extra_query={"a": [1, "b"], "c": 2.5})
    assert server.last_request.query == "a=1&a=b&c=2.5"


@pytest.mark.parametrize("part", ["just text", 42, {"text": "no type"}, {"type": 5, "text": "x"}])
def test_a_content_part_needs_a_string_type(client: chatplug.Client, server: FakeServer, part: Any) -> None:
    error = refused(client, server, messages=[{"role": "user", "content": [{"type": "text", "text": "ok"}, part]}])
    assert str(error) == (
        'testprov: messages[0].content[1] must be a part like {"type": "text", "text": "..."} or '
        '{"type": "image_url", "image_url": {"url": "..."}}'
    )
    assert error.param == "messages"


@pytest.mark.parametrize(
    ("bad", "why"),
    [(float("nan"), "Out of range float values are not JSON compliant"), ({1, 2}, "is not JSON serializable")],
)
def test_the_extra_body_field_that_cannot_be_json_is_named(
    client: chatplug.Client, server: FakeServer, bad: Any, why: str
) -> None:
    error = refused(client, server, extra_body={"fine": "é", "culprit": bad})
    assert error.param == "culprit"
    assert str(error).startswith("testprov: culprit cannot be sent as JSON (")
    assert why in str(error)


def test_a_lone_surrogate_is_named_as_the_field_that_cannot_be_sent(
    client: chatplug.Client, server: FakeServer
) -> None:
    """JSON text of it would exist, but not as UTF-8 bytes on the wire: the check must encode, as sending does."""
    error = refused(client, server, extra_body={"fine": "é", "note": "\ud800"})
    assert error.param == "note"
