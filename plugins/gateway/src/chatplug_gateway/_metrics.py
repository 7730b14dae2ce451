"""The gateway's Prometheus metrics (prometheus-client).

Labels are only ever values the operator configured or chatplug resolved: the
provider id, the ``provider/model`` name a request was routed to, the gateway
key's *name*, an error class name. Never a key, never a prompt, never a model
name a caller typed that did not resolve (it would be a label per typo).

With several workers (``--workers N``), ``chatplug serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before the workers start, and
``/metrics`` answers for all of them (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics", "CONTENT_TYPE_LATEST"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class Metrics:
    """The metrics of one gateway app, in their own registry (so two apps in one process never clash)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("provider", "model", "tenant")
        self.requests = Counter(
            "chatplug_gateway_requests", "Chat-completion requests answered, by outcome",
            (*labels, "stream", "status"), registry=self.registry)
        self.errors = Counter(
            "chatplug_gateway_errors", "Errors by class (chatplug's error class, or the gateway's own code)",
            (*labels, "error"), registry=self.registry)
        self.latency = Histogram(
            "chatplug_gateway_request_duration_seconds",
            "Time from the request to the end of the reply (a stream's last byte)",
            (*labels, "stream"), buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.first_chunk = Histogram(
            "chatplug_gateway_time_to_first_chunk_seconds", "Time from a stream request to its first chunk",
            labels, buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.tokens = Counter(
            "chatplug_gateway_tokens", "Tokens the providers reported, by kind (prompt, completion)",
            (*labels, "kind"), registry=self.registry)
        self.in_flight = Gauge(
            "chatplug_gateway_requests_in_flight", "Chat-completion requests being answered now",
            registry=self.registry, multiprocess_mode="livesum")

    def observe_usage(self, provider: str, model: str, tenant: str, usage: Any) -> None:
        """Count the tokens of a usage report (a dict or a chatplug Usage)."""
        if usage is None:
            return
        for kind, field in (("prompt", "prompt_tokens"), ("completion", "completion_tokens")):
            value = usage.get(field) if isinstance(usage, dict) else getattr(usage, field, None)
            if isinstance(value, int) and value > 0:
                self.tokens.labels(provider, model, tenant, kind).inc(value)

    def render(self) -> bytes:
        """The exposition text: this process's registry, or every worker's in multiprocess mode."""
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if directory:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
            return bytes(generate_latest(registry))
        return bytes(generate_latest(self.registry))
