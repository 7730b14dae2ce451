"""A call that falls over to another model is still one span: each failed
attempt and the switch to the next model are events on it."""

from __future__ import annotations

import inspect
from typing import Any

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from otel_support import MESSAGES, completion_body, histogram_points, only_span

pytestmark = pytest.mark.skipif(
    "fallbacks" not in inspect.signature(chatplug.Client.__init__).parameters,
    reason="fallbacks are not in this core yet (issue 13, item 2)",
)


#: Passed as keyword arguments, so the file type-checks with and without fallbacks in the core.
FALLBACKS: dict[str, Any] = {"fallbacks": ["t-2"]}


def _server_error() -> Reply:
    return Reply.error(500, {"error": {"message": "down", "type": "server_error"}})


def test_a_fallen_over_call_is_one_span_with_the_switch_as_an_event(
    exporter: InMemorySpanExporter, reader: InMemoryMetricReader, server: FakeServer, client: chatplug.Client
) -> None:
    server.add(_server_error(), _server_error(), _server_error(), Reply.json(completion_body("from t-2")))
    reply = client.chat.completions.create(model="t-1", messages=MESSAGES, **FALLBACKS)
    assert reply.choices[0].message.content == "from t-2"
    assert [request.json()["model"] for request in server.requests] == ["t-1", "t-1", "t-1", "t-2"]
    span = only_span(exporter.get_finished_spans())
    assert span.name == "chat t-1"
    assert span.status.status_code is StatusCode.UNSET
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.request.model"] == "t-1"
    assert attributes["gen_ai.response.model"] == "t-1-0613"
    assert "error.type" not in attributes
    events = [(event.name, dict(event.attributes or {})) for event in span.events]
    assert [name for name, _ in events] == ["exception", "exception", "exception", "chatplug.fallback"]
    assert [e["chatplug.will_retry"] for _, e in events[:3]] == [True, True, True]  # the last falls over
    fallback = events[3][1]
    assert fallback["gen_ai.request.model"] == "t-2"
    assert fallback["gen_ai.provider.name"] == "testprov"
    assert fallback["chatplug.fallback_index"] == 1
    assert fallback["chatplug.attempt"] == 0
    (duration,) = histogram_points(reader, "gen_ai.client.operation.duration")
    assert duration.count == 1


def test_a_call_whose_every_model_fails_ends_the_span_in_error(
    exporter: InMemorySpanExporter, server: FakeServer, client: chatplug.Client
) -> None:
    for _ in range(6):
        server.add(_server_error())
    with pytest.raises(chatplug.ChatplugError) as caught:
        client.chat.completions.create(model="t-1", messages=MESSAGES, **FALLBACKS)
    span = only_span(exporter.get_finished_spans())
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})["error.type"] == type(caught.value).__qualname__
    names = [event.name for event in span.events]
    assert names.count("chatplug.fallback") == 1
    assert names.count("exception") == 7  # six failed attempts, then the error that ended the call
