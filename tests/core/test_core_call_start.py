"""``chatplug_on_start`` opens a call once and ``chatplug_on_finish`` closes it
once, with the same call id, however the call ends."""

from __future__ import annotations

from typing import Any

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from core_support import MESSAGES, ProviderPlugin, chunk, completion_body


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


def test_a_fallen_over_call_starts_once(bracket: Bracket, server: FakeServer, client: chatplug.Client) -> None:
    for _ in range(3):  # the first attempt and max_retries=2, all refused: the call falls over to t-2
        server.add(Reply.error(500, {"error": {"message": "down"}}))
    server.add(Reply.json(completion_body("ok")))
    client.chat.completions.create(model="t-1", messages=MESSAGES, fallbacks=["t-2"])
    kinds = [kind for kind, _, _ in bracket.calls]
    assert kinds == ["start", "request", "request", "request", "request", "finish"]
    assert len({call_id for _, call_id, _ in bracket.calls}) == 1


def test_a_call_whose_limit_wait_runs_out_finishes_with_that_error(
    bracket: Bracket, server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    """on_start is paired with on_finish when the limiter refuses the first attempt before any request."""
    server.add(Reply.sse([chunk({"content": "a"}), chunk({}, finish_reason="stop")]))
    limiter = chatplug.Limiter([chatplug.RateLimit(provider="testprov", max_in_flight=1)], max_wait=0)
    client = chatplug.Client(provider="testprov", api_key="sk-limited-key-0000000000001", base_url=server.base_url,
                             registry=registry, limiter=limiter)
    with client, client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True):  # holds the one slot
        bracket.calls.clear()
        with pytest.raises(chatplug.LimitWaitTimeoutError):
            client.chat.completions.create(model="t-1", messages=MESSAGES)
    call_id = bracket.calls[0][1]
    refused = [call for call in bracket.calls if call[1] == call_id]  # the held stream ends on its own call id
    assert refused == [("start", call_id, 0), ("finish", call_id, "LimitWaitTimeoutError")]
    assert len(server.requests) == 1


def test_a_chain_whose_first_model_never_sends_still_starts_and_finishes_once(
    bracket: Bracket, server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    """The first model is refused before I/O (its key pool is empty); the fallback answers: one start, one finish."""
    dead = chatplug.Provider(id="dead", base_url=server.base_url, model_prefixes=("d-",))
    other = chatplug.Provider(id="other", base_url=server.base_url, model_prefixes=("o-",))
    registry.register(ProviderPlugin(dead, other), "two-more")
    server.add(Reply.error(401, {"error": {"message": "bad"}}), Reply.json(completion_body("ok")))
    keys = {"dead": ["sk-dead-key-0000000000000001"], "other": "sk-other-key-000000000000001"}
    with chatplug.Client(api_key=keys, registry=registry) as client:
        with pytest.raises(chatplug.AuthenticationError):  # takes dead's only key out of its pool
            client.chat.completions.create(model="dead/d-1", messages=MESSAGES)
        bracket.calls.clear()
        reply = client.chat.completions.create(model="dead/d-1", messages=MESSAGES, fallbacks=["other/o-1"])
    assert reply.choices[0].message.content == "ok"
    assert [kind for kind, _, _ in bracket.calls] == ["start", "request", "finish"]
    assert bracket.calls[-1][2] is None
    assert len(server.requests) == 2
