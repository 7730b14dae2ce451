"""Helpers for the chatplug-otel tests: a test provider, sample bodies, and
readers over the SDK's in-memory exporter and metric reader."""

from __future__ import annotations

from typing import Any

import chatplug
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan

API_KEY = "sk-otel-secret-9f8e7d6c5b4a3210"
MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
]

TEST_PROVIDER = chatplug.Provider(
    id="testprov",
    base_url="http://127.0.0.1:9/v1",
    name="Test provider",
    api_key_env=("CHATPLUG_OTEL_TEST_KEY",),
    model_prefixes=("t-",),
)


class ProviderPlugin:
    """Declares the test provider."""

    @chatplug.hookimpl
    def chatplug_providers(self) -> chatplug.Provider:
        return TEST_PROVIDER


def completion_body(content: str = "hello", **extra: Any) -> dict[str, Any]:
    """A plain OpenAI completion body with usage."""
    body: dict[str, Any] = {
        "id": "cmpl-42",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "t-1-0613",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }
    body.update(extra)
    return body


def chunk(delta: dict[str, Any] | None = None, finish_reason: str | None = None, **extra: Any) -> dict[str, Any]:
    """One stream chunk with one choice."""
    body: dict[str, Any] = {
        "id": "chunk-7",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "t-1-0613",
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish_reason}],
    }
    body.update(extra)
    return body


def stream_chunks() -> list[dict[str, Any]]:
    """Four chunks: role, two pieces of text, then the finish with usage."""
    return [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo"}),
        chunk({}, finish_reason="stop", usage={"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}),
    ]


def only_span(spans: tuple[ReadableSpan, ...] | list[ReadableSpan]) -> ReadableSpan:
    """The single span a test expects."""
    assert len(spans) == 1, [span.name for span in spans]
    return spans[0]


def histogram_points(reader: InMemoryMetricReader, name: str) -> list[HistogramDataPoint]:
    """Every data point of the histogram ``name`` (empty when it recorded nothing)."""
    data = reader.get_metrics_data()
    points: list[HistogramDataPoint] = []
    if data is None:
        return points
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name == name:
                    points.extend(p for p in metric.data.data_points if isinstance(p, HistogramDataPoint))
    return points


def metric_units(reader: InMemoryMetricReader) -> dict[str, str]:
    """Unit of each metric recorded so far."""
    data = reader.get_metrics_data()
    units: dict[str, str] = {}
    if data is None:
        return units
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                units[metric.name] = metric.unit or ""
    return units
