"""Installed, chatplug-otel registers itself; without an SDK it runs on the
API's no-op tracer and does no content work; a raising exporter breaks no call."""

from __future__ import annotations

from collections.abc import Sequence

import chatplug
import chatplug_otel
import pytest
from chatplug.testing import FakeServer, Reply
from chatplug_otel import OpenTelemetryPlugin, _content
from chatplug_otel import _plugin as plugin_module
from opentelemetry import trace
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otel_support import API_KEY, MESSAGES, completion_body, only_span, stream_chunks


def test_the_entry_point_registers_the_shared_instance() -> None:
    registry = chatplug.PluginRegistry(environ={})
    registry.load()
    assert registry.pm.get_plugin("otel") is chatplug_otel.plugin
    assert registry.failures() == []


def test_it_can_be_blocked_like_any_plugin() -> None:
    registry = chatplug.PluginRegistry(environ={"CHATPLUG_DISABLE_PLUGINS": "otel"})
    registry.load()
    assert registry.pm.get_plugin("otel") is None


def test_the_shared_instance_runs_on_the_global_no_op_providers(server: FakeServer) -> None:
    """No SDK set up (this suite never sets the global providers): calls work, nothing is kept."""
    registry = chatplug.PluginRegistry(environ={})
    server.add(Reply.json(completion_body("hi")), Reply.sse(stream_chunks()))
    with chatplug.Client(provider=chatplug.Provider(id="testprov", base_url=server.base_url), api_key=API_KEY,
                         registry=registry) as client:
        assert client.chat.completions.create(model="t-1", messages=MESSAGES).choices[0].message.content == "hi"
        with client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True) as stream:
            assert len(list(stream)) == 4
    assert registry.pm.get_plugin("otel") is chatplug_otel.plugin
    assert not trace.get_tracer_provider().get_tracer("probe").start_span("probe").is_recording()
    assert chatplug_otel.plugin._calls == {}


def _registry(plugin: OpenTelemetryPlugin) -> chatplug.PluginRegistry:
    registry = chatplug.PluginRegistry(load_entrypoints=False)
    registry.register(plugin, "otel")
    return registry


def test_with_no_sdk_calls_work_and_no_content_is_built(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> str:
        raise AssertionError("content serialized for a span nobody records")

    monkeypatch.setattr(_content, "input_messages", refuse)
    monkeypatch.setattr(_content, "output_messages", refuse)
    plugin = OpenTelemetryPlugin(tracer_provider=trace.NoOpTracerProvider(), meter_provider=NoOpMeterProvider(),
                                 capture_content=True, environ={})
    server.add(Reply.json(completion_body("hi")), Reply.sse(stream_chunks()))
    with chatplug.Client(provider=chatplug.Provider(id="testprov", base_url=server.base_url), api_key=API_KEY,
                         registry=_registry(plugin)) as client:
        assert client.chat.completions.create(model="t-1", messages=MESSAGES).choices[0].message.content == "hi"
        with client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True) as stream:
            assert len(list(stream)) == 4
    assert plugin._calls == {}  # nothing kept once the calls ended


class ExplodingExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        raise RuntimeError("exporter down")


def test_a_failing_exporter_never_breaks_a_call(server: FakeServer) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ExplodingExporter()))
    plugin = OpenTelemetryPlugin(tracer_provider=provider, environ={})
    server.add(Reply.json(completion_body("still fine")))
    with chatplug.Client(provider=chatplug.Provider(id="testprov", base_url=server.base_url), api_key=API_KEY,
                         registry=_registry(plugin)) as client:
        assert client.chat.completions.create(model="t-1", messages=MESSAGES).choices[0].message.content == \
            "still fine"


def test_configure_switches_content_on_for_later_calls(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter, server: FakeServer
) -> None:
    plugin = OpenTelemetryPlugin(tracer_provider=tracer_provider, environ={})
    plugin.configure(tracer_provider=tracer_provider, capture_content=True, environ={})
    server.add(Reply.json(completion_body("hi")))
    with chatplug.Client(provider=chatplug.Provider(id="testprov", base_url=server.base_url), api_key=API_KEY,
                         registry=_registry(plugin)) as client:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert "gen_ai.input.messages" in (only_span(exporter.get_finished_spans()).attributes or {})


def test_streams_never_finished_do_not_pile_up(
    tracer_provider: TracerProvider, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plugin_module, "MAX_OPEN_CALLS", 2)
    plugin = OpenTelemetryPlugin(tracer_provider=tracer_provider, environ={})
    streams = []
    with chatplug.Client(provider=chatplug.Provider(id="testprov", base_url=server.base_url), api_key=API_KEY,
                         registry=_registry(plugin)) as client:
        for _ in range(4):
            server.add(Reply.sse(stream_chunks()))
            streams.append(client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True))
        assert len(plugin._calls) == 2  # the two oldest were let go
        for stream in streams:
            stream.close()
    assert plugin._calls == {}


def _event(
    call_id: int, model: str, attempt: int, provider_id: str = "testprov", fallback_index: int = 0
) -> chatplug.RequestEvent:
    return chatplug.RequestEvent(
        fallback_index=fallback_index,
        call_id=call_id, attempt=attempt, provider=chatplug.Provider(id=provider_id, base_url="https://a.example/v1"),
        model=model, method="POST", url=f"https://{provider_id}.example:8443/v1/chat/completions",
        headers={"Authorization": "***"}, payload={"model": model, "messages": MESSAGES}, stream=False,
    )


def test_an_attempt_to_another_model_is_marked_on_the_same_span(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """The hooks as a core with fallbacks calls them: a second start of the call
    (the fallback model's) changes nothing; its first request is a fallback event."""
    plugin = OpenTelemetryPlugin(tracer_provider=tracer_provider, environ={})
    error = chatplug.InternalServerError("down", status_code=500)
    plugin.chatplug_on_start(_event(99, "t-1", 0))
    plugin.chatplug_on_request(_event(99, "t-1", 0))
    plugin.chatplug_on_error(_event(99, "t-1", 0), error, True)
    plugin.chatplug_on_start(_event(99, "kimi-k2", 0, "kimi", fallback_index=1))
    plugin.chatplug_on_request(_event(99, "kimi-k2", 0, "kimi", fallback_index=1))
    plugin.chatplug_on_finish(_event(99, "kimi-k2", 0, "kimi", fallback_index=1), None, None)
    span = only_span(exporter.get_finished_spans())
    assert span.name == "chat t-1"
    assert [event.name for event in span.events] == ["exception", "chatplug.fallback"]
    assert dict(span.events[1].attributes or {}) == {
        "chatplug.attempt": 0, "chatplug.fallback_index": 1,
        "gen_ai.request.model": "kimi-k2", "gen_ai.provider.name": "moonshot_ai",
        "server.address": "kimi.example", "server.port": 8443,
    }
    assert trace.get_current_span() is trace.INVALID_SPAN  # nothing left attached
