"""What an observer is told about each attempt, field by field, for a plain
call and for a stream. Written to kill mutants of ``_transport.CallPlan.event``
that ``tox -e mutation`` left alive (see docs/mutation.md)."""

from __future__ import annotations

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from core_support import API_KEY, MESSAGES, chunk, completion_body


class Requests:
    def __init__(self) -> None:
        self.events: list[chatplug.RequestEvent] = []

    @chatplug.hookimpl
    def chatplug_on_request(self, request: chatplug.RequestEvent) -> None:
        self.events.append(request)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_an_observer_sees_every_field_of_the_attempt(
    server: FakeServer, registry: chatplug.PluginRegistry, stream: bool
) -> None:
    requests = Requests()
    registry.register(requests, "requests")
    server.add(Reply.sse([chunk({"content": "hi"}), chunk({}, finish_reason="stop")]) if stream
               else Reply.json(completion_body()))
    with chatplug.Client(provider="testprov", api_key=API_KEY, base_url=server.base_url, registry=registry) as client:
        if stream:
            with client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True, temperature=0.5) as parts:
                assert "".join(part.choices[0].delta.content or "" for part in parts if part.choices) == "hi"
        else:
            client.chat.completions.create(model="t-1", messages=MESSAGES, temperature=0.5)
    [event] = requests.events
    assert (event.attempt, event.model, event.method, event.stream) == (0, "t-1", "POST", stream)
    assert type(event.stream) is bool
    assert event.provider.id == "testprov"
    assert event.url == f"{server.base_url}/chat/completions"
    assert event.headers["Authorization"] == "***"
    assert event.headers["Accept"] == ("text/event-stream" if stream else "application/json")
    expected = {"model": "t-1", "messages": MESSAGES, "temperature": 0.5}
    assert dict(event.payload) == ({**expected, "stream": True} if stream else expected)
    assert (event.fallback_index, event.key_fingerprint) == (0, None)  # docs/hooks.md: None without a key pool
