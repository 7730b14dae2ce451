"""The observer that turns chatplug's hooks into GenAI spans and metrics."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from contextvars import Token
from typing import TYPE_CHECKING, Any

import chatplug
from chatplug import APIError, APIStatusError, ChatCompletion, RequestEvent
from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

from chatplug_otel import _attributes, _content
from chatplug_otel import _semconv as sc
from chatplug_otel._settings import Settings
from chatplug_otel._version import __version__

if TYPE_CHECKING:  # named only in annotations: importing it would create the stream classes when the plugin loads
    from chatplug import ChatCompletionChunk

__all__ = ["OpenTelemetryPlugin", "MAX_OPEN_CALLS"]

logger = logging.getLogger("chatplug_otel")

#: Calls whose span is open at once before the oldest is dropped. A stream that
#: is never read nor closed never finishes; this bounds what such leaks keep.
MAX_OPEN_CALLS = 10_000
_INSTRUMENTATION = "chatplug_otel"


_Target = tuple[str, str, str]


def _target(request: RequestEvent) -> _Target:
    return request.provider.id, request.model, request.url


class _Call:
    """One call in flight: its span and what its metrics need."""

    __slots__ = ("chunk_attributes", "error_seen", "last_chunk", "metric_attributes", "span", "started", "target",
                 "token")

    def __init__(self, span: trace.Span, metric_attributes: dict[str, Any], started: float, target: _Target) -> None:
        self.span = span
        #: Where attempts go: changes when the call falls over to another model.
        self.target = target
        self.metric_attributes = metric_attributes
        self.started = started
        #: The context token while this call's span is current (during each send).
        self.token: Token[Context] | None = None
        self.last_chunk: float | None = None
        self.chunk_attributes: dict[str, Any] | None = None
        self.error_seen: BaseException | None = None


class OpenTelemetryPlugin:
    """chatplug observer hooks emitting OpenTelemetry GenAI spans and metrics.

    One CLIENT span per call (``chat {model}``), covering every retry, with a
    span event for each failed attempt; the ``gen_ai.client.*`` metrics.
    Installed, ``chatplug-otel`` registers one instance by itself (``plugin``),
    which uses the global tracer and meter providers; configure it with
    :meth:`configure`. Build your own for a registry of your own.

    - ``tracer_provider`` / ``meter_provider``: default the global ones (the
      API's no-op providers until the app installs the SDK).
    - ``capture_content``: record the messages (``gen_ai.input.messages`` /
      ``gen_ai.output.messages``) on the span. ``None`` reads
      ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``; off by default.
    - ``provider_names``: chatplug provider id -> ``gen_ai.provider.name``,
      on top of the built-in table.
    - ``environ``: the environment to read (default ``os.environ``).
    """

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        capture_content: bool | None = None,
        provider_names: Mapping[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._calls: dict[int, _Call] = {}
        self.configure(
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            capture_content=capture_content,
            provider_names=provider_names,
            environ=environ,
        )

    def configure(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        capture_content: bool | None = None,
        provider_names: Mapping[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """Set the providers and options (the same arguments as the constructor); applies to calls started after."""
        self.settings = Settings.from_env(os.environ if environ is None else environ, capture_content=capture_content)
        self._names = {**sc.PROVIDER_NAMES, **(provider_names or {})}
        self._tracer = trace.get_tracer(_INSTRUMENTATION, __version__, tracer_provider, schema_url=sc.SCHEMA_URL)
        meter = metrics.get_meter(_INSTRUMENTATION, __version__, meter_provider, schema_url=sc.SCHEMA_URL)
        self._duration = meter.create_histogram(
            sc.OPERATION_DURATION, unit="s", description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS,
        )
        self._tokens = meter.create_histogram(
            sc.TOKEN_USAGE, unit="{token}", description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=sc.TOKEN_BUCKETS,
        )
        self._first_chunk = meter.create_histogram(
            sc.TIME_TO_FIRST_CHUNK, unit="s",
            description="Time to receive the first chunk, from when the client issues the request.",
            explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS,
        )
        self._per_chunk = meter.create_histogram(
            sc.TIME_PER_OUTPUT_CHUNK, unit="s",
            description="Time per output chunk, from the end of the previous chunk to the end of this one.",
            explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS,
        )

    # ------------------------------------------------------------- the call

    @chatplug.hookimpl
    def chatplug_on_start(self, request: RequestEvent) -> None:
        """Open the call's span (once per call id: a fallback model's start is part of the same call)."""
        if request.call_id in self._calls:
            return
        base = _attributes.base_attributes(request, self._names, self.settings.latest_only)
        attributes: dict[str, Any] = dict(base)
        attributes.update(_attributes.request_attributes(request.payload))
        attributes[sc.REQUEST_STREAM] = request.stream
        span = self._tracer.start_span(f"{sc.OPERATION_CHAT} {request.model}", kind=SpanKind.CLIENT,
                                       attributes=attributes)
        if self.settings.capture_content and span.is_recording():
            span.set_attribute(sc.INPUT_MESSAGES, _content.input_messages(request.payload.get("messages")))
        call = _Call(span, base, time.perf_counter(), _target(request))
        with self._lock:
            self._calls[request.call_id] = call
            if len(self._calls) > MAX_OPEN_CALLS:
                dropped = next(iter(self._calls))
                del self._calls[dropped]
                logger.warning("chatplug-otel: more than %d calls open; dropped the span of call %d (a stream "
                               "never read nor closed?)", MAX_OPEN_CALLS, dropped)

    def _call(self, request: RequestEvent) -> _Call | None:
        return self._calls.get(request.call_id)

    @staticmethod
    def _release(call: _Call) -> None:
        """Stop being the current span (the attempt's send is over)."""
        token = call.token
        if token is not None:
            call.token = None
            otel_context.detach(token)

    # ---------------------------------------------------------- each attempt

    @chatplug.hookimpl
    def chatplug_on_request(self, request: RequestEvent) -> None:
        """Make the call's span current while the attempt is sent, so HTTP spans nest under it.

        An attempt to another model or provider than the last (a fallback) is
        marked with a ``chatplug.fallback`` span event naming it.
        """
        call = self._call(request)
        if call is None:
            return
        self._release(call)
        target = _target(request)
        if target != call.target:
            call.target = target
            if call.span.is_recording():
                call.span.add_event("chatplug.fallback", self._fallback_attributes(request))
        call.token = otel_context.attach(trace.set_span_in_context(call.span))

    def _fallback_attributes(self, request: RequestEvent) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            sc.ATTEMPT: request.attempt,
            sc.REQUEST_MODEL: request.model,
            sc.PROVIDER_NAME: _attributes.provider_name(request.provider.id, self._names),
            **_attributes.server_attributes(request.url),
        }
        index = getattr(request, "fallback_index", None)  # present once the core has fallbacks
        if isinstance(index, int):
            attributes[sc.FALLBACK_INDEX] = index
        return attributes

    @chatplug.hookimpl
    def chatplug_on_response(self, request: RequestEvent) -> None:
        """The attempt's headers are in: the send is over."""
        call = self._call(request)
        if call is not None:
            self._release(call)

    @chatplug.hookimpl
    def chatplug_on_error(self, request: RequestEvent, error: APIError, will_retry: bool) -> None:
        """One span event per failed attempt: which one, why, and whether another follows."""
        call = self._call(request)
        if call is None:
            return
        self._release(call)
        call.error_seen = error
        span = call.span
        if not span.is_recording():
            return
        attributes: dict[str, Any] = {
            sc.ATTEMPT: request.attempt,
            sc.WILL_RETRY: will_retry,
            sc.ERROR_TYPE: _attributes.error_type(error),
        }
        if isinstance(error, APIStatusError) and error.status_code is not None:
            attributes[sc.HTTP_STATUS_CODE] = error.status_code
        span.record_exception(error, attributes=attributes)

    @chatplug.hookimpl
    def chatplug_on_chunk(self, request: RequestEvent, chunk: ChatCompletionChunk) -> None:
        """Time to the first chunk, then the time between chunks, as the caller receives them."""
        call = self._call(request)
        if call is None:
            return
        now = time.perf_counter()
        attributes = call.chunk_attributes
        if attributes is None:
            attributes = dict(call.metric_attributes)
            if chunk.model:
                attributes[sc.RESPONSE_MODEL] = chunk.model
            call.chunk_attributes = attributes
            first = now - call.started
            self._first_chunk.record(first, attributes)
            call.span.set_attribute(sc.RESPONSE_TIME_TO_FIRST_CHUNK, first)
        else:
            assert call.last_chunk is not None
            self._per_chunk.record(now - call.last_chunk, attributes)
        call.last_chunk = now

    @chatplug.hookimpl
    def chatplug_on_finish(
        self, request: RequestEvent, completion: ChatCompletion | None, error: BaseException | None
    ) -> None:
        """Close the span with the response's attributes (or the error), and record the metrics."""
        with self._lock:
            call = self._calls.pop(request.call_id, None)
        if call is None:
            return
        self._release(call)
        elapsed = time.perf_counter() - call.started
        span = call.span
        metric_attributes = dict(call.metric_attributes)
        response: dict[str, Any] = _attributes.response_attributes(completion) if completion is not None else {}
        if sc.RESPONSE_MODEL in response:
            metric_attributes[sc.RESPONSE_MODEL] = response[sc.RESPONSE_MODEL]
        if span.is_recording():
            span.set_attributes(response)
            if self.settings.capture_content and completion is not None and completion.choices:
                span.set_attribute(sc.OUTPUT_MESSAGES, _content.output_messages(completion))
        if error is not None:
            kind = _attributes.error_type(error)
            metric_attributes[sc.ERROR_TYPE] = kind
            span.set_attribute(sc.ERROR_TYPE, kind)
            if call.error_seen is not error:  # not an attempt's error: a cancellation, say
                span.record_exception(error, attributes={sc.ATTEMPT: request.attempt, sc.WILL_RETRY: False,
                                                         sc.ERROR_TYPE: kind})
            span.set_status(Status(StatusCode.ERROR, f"{kind}: {error}"))
        span.end()
        self._duration.record(elapsed, metric_attributes)
        usage = completion.usage if completion is not None else None
        if usage is not None:
            self._tokens.record(usage.prompt_tokens, {**metric_attributes, sc.TOKEN_TYPE: sc.TOKEN_TYPE_INPUT})
            self._tokens.record(usage.completion_tokens, {**metric_attributes, sc.TOKEN_TYPE: sc.TOKEN_TYPE_OUTPUT})
