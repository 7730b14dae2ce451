"""Message content stays off the span unless the app opts in, by the
constructor or by OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT."""

from __future__ import annotations

import json
import logging
from typing import Any

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from chatplug_otel import OpenTelemetryPlugin, Settings
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otel_support import API_KEY, MESSAGES, completion_body, only_span, stream_chunks

CONTENT_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages")

TOOL_TURN: list[dict[str, Any]] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"},
                                 {"type": "image_url", "image_url": {"url": "https://example.com/sky.png"}}]},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "functions.get_weather:0", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "functions.get_weather:0", "content": "rainy, 14 C"},
]


def _client(plugin: OpenTelemetryPlugin, server: FakeServer) -> chatplug.Client:
    registry = chatplug.PluginRegistry(load_entrypoints=False)
    registry.register(plugin, "otel")
    return chatplug.Client(provider=chatplug.Provider(id="testprov", base_url=server.base_url), api_key=API_KEY,
                           registry=registry)


def test_content_is_off_by_default(
    exporter: InMemorySpanExporter, server: FakeServer, client: chatplug.Client
) -> None:
    server.add(Reply.json(completion_body("secret answer")))
    client.chat.completions.create(model="t-1", messages=[{"role": "user", "content": "secret question"}])
    span = only_span(exporter.get_finished_spans())
    for key in CONTENT_KEYS:
        assert key not in (span.attributes or {})
    recorded = json.dumps(dict(span.attributes or {}), default=str)
    assert "secret question" not in recorded and "secret answer" not in recorded


def test_opting_in_records_input_and_output_messages_in_the_conventions_shape(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter, server: FakeServer
) -> None:
    plugin = OpenTelemetryPlugin(tracer_provider=tracer_provider, capture_content=True, environ={})
    reply = completion_body("", choices=[{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": "It is raining.", "reasoning_content": "The tool said rainy."}}])
    server.add(Reply.json(reply))
    with _client(plugin, server) as client:
        client.chat.completions.create(model="t-1", messages=TOOL_TURN)
    attributes = dict(only_span(exporter.get_finished_spans()).attributes or {})
    assert json.loads(str(attributes["gen_ai.input.messages"])) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"},
                                   {"type": "uri", "modality": "image", "uri": "https://example.com/sky.png"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "functions.get_weather:0", "name": "get_weather",
                                         "arguments": {"city": "Paris"}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "functions.get_weather:0",
                                    "response": "rainy, 14 C"}]},
    ]
    assert json.loads(str(attributes["gen_ai.output.messages"])) == [
        {"role": "assistant", "finish_reason": "stop", "parts": [
            {"type": "reasoning", "content": "The tool said rainy."},
            {"type": "text", "content": "It is raining."},
        ]},
    ]


def test_a_streamed_reply_is_recorded_as_assembled(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter, server: FakeServer
) -> None:
    plugin = OpenTelemetryPlugin(tracer_provider=tracer_provider, capture_content=True, environ={})
    server.add(Reply.sse(stream_chunks()))
    with _client(plugin, server) as client, \
            client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True) as stream:
        list(stream)
    attributes = dict(only_span(exporter.get_finished_spans()).attributes or {})
    assert json.loads(str(attributes["gen_ai.output.messages"])) == [
        {"role": "assistant", "finish_reason": "stop", "parts": [{"type": "text", "content": "Hello"}]},
    ]


@pytest.mark.parametrize(("value", "captured"), [
    ("true", True), ("TRUE", True), ("SPAN_ONLY", True), ("span_and_event", True),
    ("false", False), ("NO_CONTENT", False), ("", False),
])
def test_the_environment_variable_switches_content_on(value: str, captured: bool) -> None:
    settings = Settings.from_env({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": value})
    assert settings.capture_content is captured


def test_an_unsupported_value_captures_nothing_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="chatplug_otel"):
        settings = Settings.from_env({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "EVENT_ONLY"})
    assert settings.capture_content is False
    assert "EVENT_ONLY" in caplog.text and "NOT captured" in caplog.text


def test_the_constructor_option_wins_over_the_environment() -> None:
    environ = {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"}
    assert Settings.from_env(environ, capture_content=False).capture_content is False
    assert Settings.from_env({}, capture_content=True).capture_content is True
    with pytest.raises(TypeError, match="capture_content='yes' must be True, False or None"):
        Settings.from_env({}, capture_content="yes")  # type: ignore[arg-type]


def test_the_stability_opt_in_is_read_from_a_comma_separated_list() -> None:
    assert Settings.from_env({}).latest_only is False
    assert Settings.from_env({"OTEL_SEMCONV_STABILITY_OPT_IN": "http"}).latest_only is False
    assert Settings.from_env({"OTEL_SEMCONV_STABILITY_OPT_IN": "http,gen_ai_latest_experimental"}).latest_only
