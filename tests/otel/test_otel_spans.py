"""One CLIENT span per call, with the GenAI attributes, for non-stream, stream,
retried and failed calls, over real HTTP to a loopback server."""

from __future__ import annotations

import chatplug
import httpx
import pytest
from chatplug.testing import FakeServer, Reply
from chatplug_otel import OpenTelemetryPlugin
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from otel_support import API_KEY, MESSAGES, completion_body, only_span, stream_chunks


def _server_attributes(server: FakeServer) -> dict[str, object]:
    url = httpx.URL(server.base_url)
    return {"server.address": "127.0.0.1", "server.port": url.port}


def _base(server: FakeServer, *, stream: bool = False) -> dict[str, object]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "testprov",
        "gen_ai.system": "testprov",
        "gen_ai.request.model": "t-1",
        "gen_ai.request.stream": stream,
        **_server_attributes(server),
    }


def test_a_call_is_one_client_span_with_request_and_response_attributes(
    exporter: InMemorySpanExporter, server: FakeServer, client: chatplug.Client
) -> None:
    server.add(Reply.json(completion_body("hi")))
    client.chat.completions.create(
        model="t-1", messages=MESSAGES, temperature=0.5, top_p=0.9, max_tokens=64, stop=["END"], seed=7, n=2,
        frequency_penalty=0.25, presence_penalty=-0.5, response_format={"type": "json_object"},
    )
    span = only_span(exporter.get_finished_spans())
    assert span.name == "chat t-1"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == "chatplug_otel"
    assert span.instrumentation_scope.schema_url == "https://opentelemetry.io/schemas/1.41.0"
    assert dict(span.attributes or {}) == {
        **_base(server),
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.stop_sequences": ("END",),
        "gen_ai.request.seed": 7,
        "gen_ai.request.choice.count": 2,
        "gen_ai.request.frequency_penalty": 0.25,
        "gen_ai.request.presence_penalty": -0.5,
        "gen_ai.output.type": "json",
        "gen_ai.response.id": "cmpl-42",
        "gen_ai.response.model": "t-1-0613",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 11,
        "gen_ai.usage.output_tokens": 7,
    }
    assert span.events == ()


def test_unset_parameters_are_left_out_and_usage_details_come_through(
    exporter: InMemorySpanExporter, server: FakeServer, client: chatplug.Client
) -> None:
    usage = {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29,
             "prompt_tokens_details": {"cached_tokens": 16}, "completion_tokens_details": {"reasoning_tokens": 4}}
    server.add(Reply.json(completion_body("ok", usage=usage)))
    client.chat.completions.create(model="t-1", messages=MESSAGES, max_completion_tokens=100, stop="\n")
    attributes = dict(only_span(exporter.get_finished_spans()).attributes or {})
    assert attributes["gen_ai.request.max_tokens"] == 100
    assert attributes["gen_ai.request.stop_sequences"] == ("\n",)
    assert attributes["gen_ai.usage.input_tokens"] == 20
    assert attributes["gen_ai.usage.output_tokens"] == 9
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 16
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 4
    for absent in ("gen_ai.request.temperature", "gen_ai.request.top_p", "gen_ai.request.seed",
                   "gen_ai.request.choice.count", "gen_ai.output.type", "error.type"):
        assert absent not in attributes


def test_a_stream_is_one_span_ending_when_the_stream_ends(
    exporter: InMemorySpanExporter, server: FakeServer, client: chatplug.Client
) -> None:
    server.add(Reply.sse(stream_chunks()))
    with client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True) as stream:
        assert exporter.get_finished_spans() == ()  # still open while the caller reads
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "Hello"
    span = only_span(exporter.get_finished_spans())
    assert span.name == "chat t-1"
    attributes = dict(span.attributes or {})
    first_chunk = attributes.pop("gen_ai.response.time_to_first_chunk")
    assert isinstance(first_chunk, float) and first_chunk >= 0
    assert attributes == {
        **_base(server, stream=True),
        "gen_ai.response.id": "chunk-7",
        "gen_ai.response.model": "t-1-0613",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 5,
        "gen_ai.usage.output_tokens": 2,
    }
    assert span.status.status_code is StatusCode.UNSET


def test_a_retried_call_is_one_span_with_an_event_per_failed_attempt(
    exporter: InMemorySpanExporter, server: FakeServer, client: chatplug.Client
) -> None:
    server.add(
        Reply.retry_later(503, retry_after=0),
        Reply.error(500, {"error": {"message": "boom", "type": "server_error"}}),
        Reply.json(completion_body("third time")),
    )
    client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert len(server.requests) == 3
    span = only_span(exporter.get_finished_spans())
    assert span.status.status_code is StatusCode.UNSET
    assert "error.type" not in (span.attributes or {})
    assert dict(span.attributes or {})["gen_ai.response.id"] == "cmpl-42"
    assert [event.name for event in span.events] == ["exception", "exception"]
    first, second = (dict(event.attributes or {}) for event in span.events)
    assert first["chatplug.attempt"] == 0
    assert first["chatplug.will_retry"] is True
    assert first["error.type"] == "InternalServerError"
    assert first["http.response.status_code"] == 503
    assert str(first["exception.type"]).endswith("InternalServerError")
    assert second["chatplug.attempt"] == 1
    assert second["http.response.status_code"] == 500
    assert second["chatplug.will_retry"] is True


def test_a_failed_call_has_error_status_error_type_and_every_attempt(
    exporter: InMemorySpanExporter, server: FakeServer, client: chatplug.Client
) -> None:
    for _ in range(3):
        server.add(Reply.retry_later(429, retry_after=0))
    with pytest.raises(chatplug.RateLimitError):
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    span = only_span(exporter.get_finished_spans())
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description is not None and span.status.description.startswith("RateLimitError: ")
    attributes = dict(span.attributes or {})
    assert attributes["error.type"] == "RateLimitError"
    assert "gen_ai.response.id" not in attributes
    events = [dict(event.attributes or {}) for event in span.events]
    assert [(e["chatplug.attempt"], e["chatplug.will_retry"], e["error.type"]) for e in events] == [
        (0, True, "RateLimitError"), (1, True, "RateLimitError"), (2, False, "RateLimitError"),
    ]


def test_a_connection_error_is_reported_by_class(
    exporter: InMemorySpanExporter, registry: chatplug.PluginRegistry
) -> None:
    with chatplug.Client(provider="testprov", api_key=API_KEY, base_url="http://127.0.0.1:9/v1",
                         registry=registry, max_retries=0) as client, pytest.raises(chatplug.APIConnectionError):
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    span = only_span(exporter.get_finished_spans())
    assert dict(span.attributes or {})["error.type"] == "APIConnectionError"
    assert dict(span.attributes or {})["server.port"] == 9
    assert span.status.status_code is StatusCode.ERROR
    assert len(span.events) == 1


def test_a_stream_cut_mid_way_ends_the_span_in_error_with_the_partial_response(
    exporter: InMemorySpanExporter, server: FakeServer, client: chatplug.Client
) -> None:
    server.add(Reply.sse(stream_chunks(), close_after_chunks=3))
    with client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True) as stream, \
            pytest.raises(chatplug.StreamInterruptedError):
        for _ in stream:
            pass
    span = only_span(exporter.get_finished_spans())
    attributes = dict(span.attributes or {})
    assert attributes["error.type"] == "StreamInterruptedError"
    assert attributes["gen_ai.response.id"] == "chunk-7"
    assert "gen_ai.response.finish_reasons" not in attributes
    assert span.status.status_code is StatusCode.ERROR
    assert [dict(e.attributes or {})["chatplug.will_retry"] for e in span.events] == [False]


def test_a_stream_closed_early_ends_the_span(
    exporter: InMemorySpanExporter, server: FakeServer, client: chatplug.Client
) -> None:
    server.add(Reply.sse(stream_chunks()))
    with client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True) as stream:
        next(iter(stream))
    span = only_span(exporter.get_finished_spans())
    assert dict(span.attributes or {})["error.type"] == "StreamInterruptedError"


def test_the_span_is_current_while_each_attempt_is_sent_and_only_then(
    exporter: InMemorySpanExporter, server: FakeServer, registry: chatplug.PluginRegistry,
    tracer_provider: TracerProvider,
) -> None:
    seen: list[trace.Span] = []

    def on_request(request: httpx.Request) -> None:
        seen.append(trace.get_current_span())

    server.add(Reply.retry_later(503, retry_after=0), Reply.json(completion_body()))
    outer_tracer = tracer_provider.get_tracer("app")
    http = httpx.Client(event_hooks={"request": [on_request]})
    with chatplug.Client(provider="testprov", api_key=API_KEY, base_url=server.base_url, registry=registry,
                         http_client=http) as client, outer_tracer.start_as_current_span("handler") as outer:
        client._sleep = lambda seconds: None
        client.chat.completions.create(model="t-1", messages=MESSAGES)
        assert trace.get_current_span() is outer  # restored after the call
    http.close()
    spans = {span.name: span for span in exporter.get_finished_spans()}
    chat = spans["chat t-1"]
    assert chat.parent is not None and chat.parent.span_id == outer.get_span_context().span_id
    assert [span.get_span_context().span_id for span in seen] == [chat.context.span_id] * 2


def test_spans_of_concurrent_calls_do_not_mix(
    exporter: InMemorySpanExporter, server: FakeServer, client: chatplug.Client
) -> None:
    server.add(Reply.sse(stream_chunks()), Reply.json(completion_body("inner")))
    with client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True) as stream:
        next(iter(stream))
        client.chat.completions.create(model="t-2", messages=MESSAGES)  # while the stream is open
        list(stream)
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {"chat t-1", "chat t-2"}
    assert spans["chat t-2"].parent is None and spans["chat t-1"].parent is None
    assert dict(spans["chat t-1"].attributes or {})["gen_ai.usage.output_tokens"] == 2
    assert dict(spans["chat t-2"].attributes or {})["gen_ai.usage.output_tokens"] == 7


def test_latest_conventions_only_drop_the_old_provider_attribute(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter, server: FakeServer
) -> None:
    plugin = OpenTelemetryPlugin(tracer_provider=tracer_provider,
                                 environ={"OTEL_SEMCONV_STABILITY_OPT_IN": "http, gen_ai_latest_experimental"})
    registry = chatplug.PluginRegistry(load_entrypoints=False)
    registry.register(plugin, "otel")
    server.add(Reply.json(completion_body()))
    with chatplug.Client(provider=chatplug.Provider(id="kimi", base_url=server.base_url), api_key=API_KEY,
                         registry=registry) as client:
        client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES)
    attributes = dict(only_span(exporter.get_finished_spans()).attributes or {})
    assert attributes["gen_ai.provider.name"] == "moonshot_ai"
    assert "gen_ai.system" not in attributes


def test_provider_names_follow_the_conventions_and_can_be_extended(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter, server: FakeServer
) -> None:
    plugin = OpenTelemetryPlugin(tracer_provider=tracer_provider, environ={}, provider_names={"acme": "acme.ai"})
    registry = chatplug.PluginRegistry(load_entrypoints=False)
    registry.register(plugin, "otel")
    for provider_id in ("glm", "deepseek", "acme", "other"):
        server.add(Reply.json(completion_body()))
        with chatplug.Client(provider=chatplug.Provider(id=provider_id, base_url=server.base_url), api_key=API_KEY,
                             registry=registry) as client:
            client.chat.completions.create(model="m", messages=MESSAGES)
    names = [dict(span.attributes or {})["gen_ai.provider.name"] for span in exporter.get_finished_spans()]
    assert names == ["z_ai", "deepseek", "acme.ai", "other"]


def _async_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    return only_span(exporter.get_finished_spans())


@pytest.mark.anyio
async def test_the_async_client_gives_the_same_span(
    exporter: InMemorySpanExporter, server: FakeServer, aclient: chatplug.AsyncClient
) -> None:
    server.add(Reply.retry_later(503, retry_after=0), Reply.json(completion_body("hi")))
    await aclient.chat.completions.create(model="t-1", messages=MESSAGES, temperature=0.5)
    span = _async_span(exporter)
    attributes = dict(span.attributes or {})
    assert span.name == "chat t-1"
    assert attributes["gen_ai.request.temperature"] == 0.5
    assert attributes["gen_ai.usage.output_tokens"] == 7
    assert [dict(e.attributes or {})["chatplug.attempt"] for e in span.events] == [0]


@pytest.mark.anyio
async def test_the_async_stream_gives_the_same_span(
    exporter: InMemorySpanExporter, server: FakeServer, aclient: chatplug.AsyncClient
) -> None:
    server.add(Reply.sse(stream_chunks()))
    stream = await aclient.chat.completions.create(model="t-1", messages=MESSAGES, stream=True)
    async with stream:
        final = await stream.get_final_completion()
    assert final.choices[0].message.content == "Hello"
    attributes = dict(_async_span(exporter).attributes or {})
    assert attributes["gen_ai.usage.input_tokens"] == 5
    assert attributes["gen_ai.request.stream"] is True
    assert "gen_ai.response.time_to_first_chunk" in attributes


def test_calls_from_many_threads_get_a_span_each(
    exporter: InMemorySpanExporter, server: FakeServer, client: chatplug.Client
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    models = [f"t-{n}" for n in range(8)]
    for _ in models:
        server.add(Reply.json(completion_body(), delay_before_headers=0.02))

    def call(model: str) -> None:
        client.chat.completions.create(model=model, messages=MESSAGES)

    with ThreadPoolExecutor(max_workers=4) as pool:  # threads run two calls each: no context may leak
        list(pool.map(call, models))
    spans = exporter.get_finished_spans()
    assert sorted(span.name for span in spans) == sorted(f"chat {model}" for model in models)
    for span in spans:
        assert span.parent is None
        assert f"chat {dict(span.attributes or {})['gen_ai.request.model']}" == span.name


@pytest.mark.anyio
async def test_concurrent_async_calls_get_a_span_each(
    exporter: InMemorySpanExporter, server: FakeServer, aclient: chatplug.AsyncClient
) -> None:
    import asyncio

    models = [f"t-{n}" for n in range(6)]
    for _ in models:
        server.add(Reply.json(completion_body(), delay_before_headers=0.02))
    await asyncio.gather(*(aclient.chat.completions.create(model=model, messages=MESSAGES) for model in models))
    spans = exporter.get_finished_spans()
    assert sorted(span.name for span in spans) == sorted(f"chat {model}" for model in models)
    assert all(span.parent is None for span in spans)
    assert trace.get_current_span() is trace.INVALID_SPAN
