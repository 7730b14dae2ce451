"""``chatplug_on_start`` opens a call once and ``chatplug_on_finish`` closes it
once, with the same call id, however the call ends."""

from __future__ import annotations

from typing import Any

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from core_support import MESSAGES, chunk, completion_body


class Bracket:
    """Writes down the call-level hooks and the attempts between them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, Any]] = []

    @chatplug.hookimpl
    def chatplug_on_start(self, request: chatplug.RequestEvent) -> None:
        self.calls.append(("start", request.call_id, request.attempt))

    @chatplug.hookimpl
    def chatplug_on_request(self, request: chatplug.RequestEvent) -> None:
        self.calls.append(("request", request.call_id, request.attempt))

    @chatplug.hookimpl
    def chatplug_on_finish(self, request: chatplug.RequestEvent, error: BaseException | None) -> None:
        self.calls.append(("finish", request.call_id, type(error).__name__ if error else None))


@pytest.fixture
def bracket(registry: chatplug.PluginRegistry) -> Bracket:
    rec = Bracket()
    registry.register(rec, "bracket")
    return rec


def test_a_retried_call_starts_once_and_finishes_once(
    bracket: Bracket, server: FakeServer, client: chatplug.Client
) -> None:
    server.add(Reply.retry_later(503, retry_after=0), Reply.json(completion_body("ok")))
    client.chat.completions.create(model="t-1", messages=MESSAGES)
    call_id = bracket.calls[0][1]
    assert bracket.calls == [
        ("start", call_id, 0),
        ("request", call_id, 0),
        ("request", call_id, 1),
        ("finish", call_id, None),
    ]


def test_a_failed_call_finishes_with_its_error(bracket: Bracket, server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.error(400, {"error": {"message": "bad", "type": "invalid_request_error"}}))
    with pytest.raises(chatplug.BadRequestError):
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    call_id = bracket.calls[0][1]
    assert bracket.calls == [("start", call_id, 0), ("request", call_id, 0), ("finish", call_id, "BadRequestError")]


def test_a_call_rejected_before_it_starts_has_neither(bracket: Bracket, client: chatplug.Client) -> None:
    with pytest.raises(chatplug.InvalidRequestError):
        client.chat.completions.create(model="t-1", messages=MESSAGES, temperature=5)
    assert bracket.calls == []


def test_a_stream_finishes_when_it_ends(bracket: Bracket, server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.sse([chunk({"content": "a"}), chunk({}, finish_reason="stop")]))
    with client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True) as stream:
        assert [kind for kind, _, _ in bracket.calls] == ["start", "request"]
        list(stream)
    assert [kind for kind, _, _ in bracket.calls] == ["start", "request", "finish"]


@pytest.mark.anyio
async def test_the_async_client_brackets_the_same_way(
    bracket: Bracket, server: FakeServer, aclient: chatplug.AsyncClient
) -> None:
    server.add(Reply.retry_later(429, retry_after=0), Reply.json(completion_body("ok")))
    await aclient.chat.completions.create(model="t-1", messages=MESSAGES)
    call_id = bracket.calls[0][1]
    assert bracket.calls == [
        ("start", call_id, 0),
        ("request", call_id, 0),
        ("request", call_id, 1),
        ("finish", call_id, None),
    ]
