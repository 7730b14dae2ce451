"""The API key never reaches a span attribute, a span event or a metric label,
even with content capture on and a server that echoes the key back."""

from __future__ import annotations

import json
from typing import Any

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from chatplug_otel import OpenTelemetryPlugin
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otel_support import API_KEY, MESSAGES, completion_body, stream_chunks


def _everything(exporter: InMemorySpanExporter, reader: InMemoryMetricReader) -> str:
    """Every span name, attribute, event, status and metric label, as one text."""
    seen: list[Any] = []
    for span in exporter.get_finished_spans():
        seen += [span.name, dict(span.attributes or {}), span.status.description]
        seen += [(event.name, dict(event.attributes or {})) for event in span.events]
    data = reader.get_metrics_data()
    assert data is not None
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                seen += [metric.name, [dict(p.attributes or {}) for p in metric.data.data_points]]
    return json.dumps(seen, default=str)


@pytest.mark.parametrize("capture_content", [False, True])
def test_the_key_is_in_no_span_event_or_metric(
    capture_content: bool, tracer_provider: TracerProvider, exporter: InMemorySpanExporter,
    meter_provider: MeterProvider, reader: InMemoryMetricReader, server: FakeServer,
) -> None:
    plugin = OpenTelemetryPlugin(tracer_provider=tracer_provider, meter_provider=meter_provider,
                                 capture_content=capture_content, environ={})
    registry = chatplug.PluginRegistry(load_entrypoints=False)
    registry.register(plugin, "otel")
    echo = {"error": {"message": f"Incorrect API key provided: {API_KEY}", "type": "invalid_authentication_error"}}
    server.add(
        Reply.retry_later(503, retry_after=0, body={"error": {"message": f"busy, key {API_KEY}"}}),
        Reply.json(completion_body()),
        Reply.sse(stream_chunks()),
        Reply.error(401, echo),
    )
    with chatplug.Client(provider=chatplug.Provider(id="testprov", base_url=server.base_url), api_key=API_KEY,
                         registry=registry) as client:
        client._sleep = lambda seconds: None
        client.chat.completions.create(model="t-1", messages=MESSAGES)
        with client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True) as stream:
            list(stream)
        with pytest.raises(chatplug.AuthenticationError):
            client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert all(request.headers.get("authorization") == f"Bearer {API_KEY}" for request in server.requests)
    recorded = _everything(exporter, reader)
    assert len(exporter.get_finished_spans()) == 3
    assert "Incorrect API key provided" in recorded  # the error is there...
    assert API_KEY not in recorded  # ...without the key
    assert API_KEY[8:24] not in recorded
    assert "authorization" not in recorded.lower()
