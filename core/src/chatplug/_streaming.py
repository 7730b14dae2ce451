"""Streams: bytes in, canonical chunks out, nothing the server sent lost.

:class:`StreamProcessor` holds all the logic and does no I/O; :class:`Stream`
and :class:`AsyncStream` only pull bytes from the connection and hand them
over, so both clients decode and assemble identically. How the edges of a
stream are settled (``[DONE]`` with whitespace, unfamiliar ``event:`` names,
``finish_reason: ""``, a stream of only ``[DONE]``, a body cut inside an
event, ``error`` next to ``choices``, a JSON body answering a stream request)
is written down in ``docs/stream-edges.md``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from chatplug._accumulate import ChunkAccumulator
from chatplug._convert import STRUCTURE_ERRORS, chunk_structurer, from_dict
from chatplug._sse import SSEDecoder
from chatplug._transport import (
    CallPlan,
    completion_from_body,
    decode_body,
    has_observers,
    notify,
    status_error,
    transport_error,
)
from chatplug.errors import APIError, APIResponseValidationError, StreamInterruptedError
from chatplug.normalize import ResponseNormalizer
from chatplug.types import (
    ChatCompletion,
    ChatCompletionChunk,
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
    ChunkChoice,
    Usage,
)

if TYPE_CHECKING:
    from chatplug.events import RequestEvent

__all__ = ["Stream", "AsyncStream", "StreamProcessor"]

logger = logging.getLogger("chatplug")

_DONE = b"[DONE]"
#: json.loads minus its per-call type sniffing and whitespace regexes: the fast
#: path for a well-formed event; anything else goes the careful way.
_raw_decode_json = json.JSONDecoder().raw_decode
_NO_CHUNKS: list[ChatCompletionChunk] = []
#: What the careful decoder returns for a ``[DONE]`` wrapped in whitespace.
_DONE_MARK = object()
#: Event names servers use for keep-alives: skipped with a debug log line only.
KEEPALIVE_EVENTS = frozenset({"ping", "keep-alive", "keepalive", "heartbeat"})
#: How the first bytes of an event stream look (to spot one sent as application/json).
_SSE_STARTS = (b"data:", b"event:", b":", b"id:", b"retry:")


class _WholeBody(SSEDecoder):
    """Stands in for the SSE decoder when a stream request is answered with a
    JSON body: it keeps the bytes, and :meth:`StreamProcessor.finish` reads them."""

    __slots__ = ("parts",)

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[bytes] = []

    def feed(self, chunk: bytes) -> list[tuple[str | None, bytes]]:
        self.parts.append(chunk)
        return []

    def flush(self) -> list[tuple[str | None, bytes]]:
        return []


def _media_type(headers: Any) -> str:
    value = headers.get("content-type") if headers is not None else None
    return value.split(";", 1)[0].strip().lower() if isinstance(value, str) else ""


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


class StreamProcessor:
    """Turns the bytes of one SSE response into canonical chunks and assembles them."""

    __slots__ = ("_headers", "_normalize", "_normalizer", "_structure", "_warned", "accumulator", "decoder", "done",
                 "error", "plan", "skipped_events")

    def __init__(self, plan: CallPlan, headers: Any) -> None:
        self.plan = plan
        #: A JSON body answering the stream request is kept whole and read at the end.
        self.decoder = _WholeBody() if _is_json(_media_type(headers)) else SSEDecoder()
        self.accumulator = ChunkAccumulator()
        self.done = False
        #: An error a normalizer deferred: raised once the chunks before it were delivered.
        self.error: APIError | None = None
        #: ``(event name, data)`` of each event with an unfamiliar ``event:`` name that carried no chunk.
        self.skipped_events: list[tuple[str, bytes]] = []
        self._warned: set[str] | None = None
        self._normalizer = plan.normalizer
        self._normalize = plan.normalizer.normalize_chunk
        self._structure = chunk_structurer()
        self._headers = headers

    def feed(self, data: bytes) -> list[ChatCompletionChunk]:
        """Decode ``data``; return the chunks it completes. Raises the mapped
        error for an error event (with ``partial`` set by the caller)."""
        events = self.decoder.feed(data)
        if not events:
            return _NO_CHUNKS
        return self._events(events)

    def _events(self, events: list[tuple[str | None, bytes]]) -> list[ChatCompletionChunk]:
        if self.done:
            return _NO_CHUNKS
        chunks: list[ChatCompletionChunk] = []
        add = self.accumulator.add
        normalize = self._normalize
        structure = self._structure
        can_defer = type(self._normalizer) is not ResponseNormalizer  # the pass-through never defers
        for event, data in events:
            if data == _DONE:
                self._end()
                break
            if event is not None and event != "message":
                if event == "error":
                    raise status_error(self.plan, None, decode_body(data), self._headers)
                if not self._takes_unfamiliar(event, data):
                    continue
            try:
                text = data.decode("utf-8")
                obj, end = _raw_decode_json(text)
                if end != len(text):
                    raise ValueError("trailing data")
            except ValueError:  # includes UnicodeDecodeError; the slow path says what is wrong
                obj = self._decode_carefully(data)
                if obj is None:
                    continue
                if obj is _DONE_MARK:
                    self._end()
                    break
            if type(obj) is not dict:
                raise APIResponseValidationError(
                    f"{self.plan.provider.id}: stream event is not a JSON object: {data[:200]!r}",
                    provider=self.plan.provider.id,
                    body=obj,
                )
            failure = None
            # "error": null next to a chunk is no error (`in` first: cheaper than .get() on the usual chunk)
            if "error" in obj and obj["error"]:  # noqa: RUF019
                failure = status_error(self.plan, None, obj, self._headers)
                if not obj.get("choices"):
                    raise failure
            for canonical in normalize(obj):
                try:
                    chunk = structure(canonical, None)
                except STRUCTURE_ERRORS as exc:
                    raise APIResponseValidationError(
                        f"{self.plan.provider.id}: malformed stream chunk: {exc}",
                        provider=self.plan.provider.id,
                        body=canonical,
                    ) from exc
                if chunk.usage is None and chunk.choices and chunk.choices[0].finish_reason is not None:
                    _lift_choice_usage(chunk)  # usage rides on a finishing chunk
                add(chunk)
                chunks.append(chunk)
            if failure is not None:  # an error object next to choices: deliver them, then raise it
                self.error = failure
                self.done = True
                break
            if can_defer and self._normalizer.deferred_error is not None:
                self.error = self._normalizer.deferred_error  # delivered after these chunks
                self.done = True
                break
        return chunks

    def _end(self) -> None:
        """``[DONE]`` arrived: the stream ended, which is an error when no chunk came before it."""
        self.done = True
        if not self.accumulator.chunks:
            raise APIResponseValidationError(
                f"{self.plan.provider.id}: the stream sent [DONE] without any chunk before it; "
                "there is no completion to return",
                provider=self.plan.provider.id,
            )

    def _takes_unfamiliar(self, event: str, data: bytes) -> bool:
        """Whether an event with an unfamiliar ``event:`` name is read like an unnamed one.

        It is when its data is a chat chunk, an error object or ``[DONE]``
        (a server naming its events ``delta``, ``completion``, ...). Otherwise
        it is skipped, but never silently: it is logged on the ``chatplug``
        logger (a warning the first time a name is seen in the stream, debug
        after that and for keep-alives) and kept in :attr:`skipped_events`.
        """
        if data.strip() == _DONE:
            return True
        try:
            obj = json.loads(data)
        except ValueError:
            obj = None
        if type(obj) is dict and ("choices" in obj or obj.get("error")):
            return True
        keepalive = event.lower() in KEEPALIVE_EVENTS
        if not keepalive:
            if any(secret.encode() in data for secret in self.plan.secrets if secret):
                data = self.plan.scrub(data.decode("utf-8", "replace")).encode()  # a server echoing the key
            self.skipped_events.append((event, data))
        if self._warned is None:
            self._warned = set()
        first = event not in self._warned
        self._warned.add(event)
        logger.log(
            logging.WARNING if first and not keepalive else logging.DEBUG,
            "%s: skipped a stream event named %r that carries no chat chunk: %s",
            self.plan.provider.id,
            event,
            self.plan.scrub(data[:200].decode("utf-8", "replace")),
        )
        return False

    def _decode_carefully(self, data: bytes) -> Any:
        """Decode an event the fast path refused: ``None`` for a blank one,
        ``_DONE_MARK`` for ``[DONE]`` wrapped in whitespace, else the JSON
        value, or an APIResponseValidationError saying what is wrong."""
        stripped = data.strip()
        if not stripped:
            return None
        if stripped == _DONE:
            return _DONE_MARK
        try:
            return json.loads(data.decode("utf-8"))
        except ValueError as exc:
            raise APIResponseValidationError(
                f"{self.plan.provider.id}: malformed JSON in stream event ({exc}): {data[:200]!r}",
                provider=self.plan.provider.id,
                body=data.decode("utf-8", "replace"),
            ) from exc

    def finish(self) -> list[ChatCompletionChunk]:
        """At end of body: flush, then accept the stream if it ended properly."""
        if self.done:
            return []
        if isinstance(self.decoder, _WholeBody):
            return self._finish_whole_body()
        events = self.decoder.flush()
        if events and not _is_whole_event(events[-1][1]):
            cut = events[-1][1]
            raise StreamInterruptedError(
                f"{self.plan.provider.id}: the body closed in the middle of an event after "
                f"{self.accumulator.chunks} chunks (it ended with {cut[-80:]!r})",
                provider=self.plan.provider.id,
                body=cut.decode("utf-8", "replace"),
            )
        chunks = self._events(events)
        if not self.done and not self.accumulator.finished:
            raise StreamInterruptedError(
                f"{self.plan.provider.id}: the stream ended after {self.accumulator.chunks} chunks "
                "with neither [DONE] nor a finish_reason",
                provider=self.plan.provider.id,
            )
        return chunks

    def _finish_whole_body(self) -> list[ChatCompletionChunk]:
        """A stream request answered with a JSON body: an event stream mislabelled
        as JSON is decoded as one; a chat completion is delivered as one chunk;
        anything else is an error naming the content type."""
        assert isinstance(self.decoder, _WholeBody)
        content = b"".join(self.decoder.parts)
        if content.lstrip().startswith(_SSE_STARTS):
            self.decoder = SSEDecoder()
            return self._events(self.decoder.feed(content)) + self.finish()
        media_type = _media_type(self._headers)
        try:
            completion = completion_from_body(self.plan, content, self._headers)
        except APIResponseValidationError as exc:
            raise APIResponseValidationError(
                f"{self.plan.provider.id}: the stream request was answered with Content-Type {media_type!r}, "
                f"not text/event-stream, and the body is not a chat completion ({exc.message})",
                provider=self.plan.provider.id,
                body=exc.body,
            ) from exc
        logger.info(
            "%s: the stream request was answered with a whole %s completion; delivered as one chunk",
            self.plan.provider.id,
            media_type,
        )
        chunk = _completion_as_chunk(completion)
        self.accumulator.add(chunk)
        self.done = True
        return [chunk]

    def interrupted(self, exc: httpx.HTTPError) -> StreamInterruptedError:
        """The error for a connection that broke mid-stream."""
        provider = self.plan.provider.id
        cause = transport_error(self.plan, exc).message.removeprefix(f"{provider}: ")  # named once, in front
        return StreamInterruptedError(
            f"{provider}: the stream was cut after {self.accumulator.chunks} chunks ({cause})", provider=provider
        )

    def partial(self) -> ChatCompletion:
        """The completion assembled from every chunk so far."""
        return self.accumulator.completion()


def _is_whole_event(data: bytes) -> bool:
    """Whether the data of an event that the body's end cut off is nevertheless
    whole (blank, ``[DONE]`` or complete JSON): a server may omit the last blank line."""
    stripped = data.strip()
    if not stripped or stripped == _DONE:
        return True
    try:
        json.loads(stripped)
    except ValueError:
        return False
    return True


def _completion_as_chunk(completion: ChatCompletion) -> ChatCompletionChunk:
    """The one chunk that carries a whole completion (a JSON body answering a stream request)."""
    choices = []
    for choice in completion.choices:
        message = choice.message
        calls = None
        if message.tool_calls:
            calls = [
                ChoiceDeltaToolCall(
                    index=position,
                    id=call.id,
                    type=call.type,
                    function=ChoiceDeltaToolCallFunction(name=call.function.name, arguments=call.function.arguments),
                )
                for position, call in enumerate(message.tool_calls)
            ]
        delta = ChoiceDelta(
            role=message.role,
            content=message.content,
            reasoning_content=message.reasoning_content,
            tool_calls=calls,
            refusal=message.refusal,
        )
        choices.append(
            ChunkChoice(
                index=choice.index,
                delta=delta,
                finish_reason=choice.finish_reason,
                native_finish_reason=choice.native_finish_reason,
                logprobs=choice.logprobs,
            )
        )
    return ChatCompletionChunk(
        id=completion.id,
        created=completion.created,
        model=completion.model,
        choices=choices,
        usage=completion.usage,
        system_fingerprint=completion.system_fingerprint,
        service_tier=completion.service_tier,
    )


def _lift_choice_usage(chunk: ChatCompletionChunk) -> None:
    """Move a usage report found inside a choice (Kimi's place for it) to ``chunk.usage``."""
    for choice in chunk.choices:
        raw = choice._raw
        if raw is not None and type(raw.get("usage")) is dict:
            chunk.usage = from_dict(raw["usage"], Usage)
            return


class _StreamState:
    """What a stream's generator and its Stream object share.

    The generator holds this, not the Stream, so dropping a Stream (say,
    after ``break`` in a bare ``for`` loop) frees its generator at once, whose
    ``finally`` releases the connection without waiting for the garbage collector.
    """

    __slots__ = ("completed", "error", "event", "finished", "first", "observe", "on_error", "processor", "response")

    def __init__(
        self, processor: StreamProcessor, response: httpx.Response, first: bytes, event: RequestEvent | None
    ) -> None:
        self.processor = processor
        self.response = response
        self.first = first
        self.event = event
        self.observe = has_observers(processor.plan.hook.chatplug_on_chunk)
        self.error: BaseException | None = None
        self.finished = False
        #: The body was read to its end (as opposed to closed early).
        self.completed = False
        #: Told of an APIError that ends the stream (a key pool takes a key out after a quota error event).
        self.on_error: Callable[[APIError], object] | None = None

    def fail(self, exc: BaseException) -> BaseException:
        """Turn a mid-stream failure into the error the user gets, with ``.partial``."""
        if isinstance(exc, httpx.HTTPError):
            exc = self.processor.interrupted(exc)
        if isinstance(exc, APIError):
            self.processor.plan.scrub_error(exc)
            if exc.partial is None:
                exc.partial = self.processor.partial()
            if self.on_error is not None:
                try:
                    self.on_error(exc)
                except Exception:  # reporting must not hide the stream's own error
                    logger.exception("chatplug: reporting a stream error to the key pool failed")
        self.error = exc
        return exc

    def finish(self) -> None:
        """Tell the observers the call ended (once)."""
        if self.finished:
            return
        self.finished = True
        plan = self.processor.plan
        error = self.error
        if isinstance(error, APIError):
            notify(plan.hook.chatplug_on_error, request=self.event, error=error, will_retry=False)
        notify(plan.hook.chatplug_on_finish, request=self.event, completion=self.processor.partial(), error=error)

    def closed_early(self) -> None:
        """Remember that the caller closed the stream before it ended, for get_final_completion()."""
        processor = self.processor
        if self.error is None and not self.completed and not processor.accumulator.finished:
            self.error = StreamInterruptedError(
                f"{processor.plan.provider.id}: the stream was closed after {processor.accumulator.chunks} chunks, "
                "before it finished",
                provider=processor.plan.provider.id,
                partial=processor.partial(),
            )

    def final_completion(self) -> ChatCompletion:
        if self.error is not None:
            raise self.error
        return self.processor.partial()


def _sync_chunks(state: _StreamState, source: Iterator[bytes]) -> Generator[ChatCompletionChunk, None, None]:
    processor = state.processor
    plan = processor.plan
    observe = state.observe
    try:
        data = state.first
        while data:
            for chunk in processor.feed(data):
                if observe:
                    notify(plan.hook.chatplug_on_chunk, request=state.event, chunk=chunk)
                yield chunk
            if processor.done:
                break
            data = next(source, b"")
            if not data:  # the body ended: flush, and judge whether it ended properly
                for chunk in processor.finish():
                    if observe:
                        notify(plan.hook.chatplug_on_chunk, request=state.event, chunk=chunk)
                    yield chunk
        if processor.error is not None:
            raise processor.error
        state.completed = True
        try:
            for _ in source:  # read to the body's end so the connection returns to the pool
                pass
        except httpx.HTTPError:
            pass  # the stream itself was complete; only the connection is lost
    except (APIError, httpx.HTTPError) as exc:
        raise state.fail(exc) from (exc if isinstance(exc, httpx.HTTPError) else exc.__cause__)
    except GeneratorExit:
        state.closed_early()
        raise
    except BaseException as exc:  # cancellation, KeyboardInterrupt: remembered, then re-raised
        state.error = exc
        raise
    finally:
        state.response.close()
        state.finish()


async def _async_chunks(
    state: _StreamState, source: AsyncIterator[bytes]
) -> AsyncGenerator[ChatCompletionChunk, None]:
    processor = state.processor
    plan = processor.plan
    observe = state.observe
    try:
        data = state.first
        while data:
            for chunk in processor.feed(data):
                if observe:
                    notify(plan.hook.chatplug_on_chunk, request=state.event, chunk=chunk)
                yield chunk
            if processor.done:
                break
            data = await anext(source, b"")
            if not data:  # the body ended: flush, and judge whether it ended properly
                for chunk in processor.finish():
                    if observe:
                        notify(plan.hook.chatplug_on_chunk, request=state.event, chunk=chunk)
                    yield chunk
        if processor.error is not None:
            raise processor.error
        state.completed = True
        try:
            async for _ in source:  # read to the body's end so the connection returns to the pool
                pass
        except httpx.HTTPError:
            pass  # the stream itself was complete; only the connection is lost
    except (APIError, httpx.HTTPError) as exc:
        raise state.fail(exc) from (exc if isinstance(exc, httpx.HTTPError) else exc.__cause__)
    except GeneratorExit:
        state.closed_early()
        raise
    except BaseException as exc:  # cancellation, KeyboardInterrupt: remembered, then re-raised
        state.error = exc
        raise
    finally:
        await state.response.aclose()
        state.finish()


class Stream:
    """A streamed completion: iterate it for :class:`~chatplug.ChatCompletionChunk` objects.

    Use it as a context manager (or call :meth:`close`) so the connection is
    released even if you stop early. :meth:`get_final_completion` reads the
    rest and returns the assembled :class:`~chatplug.ChatCompletion`; after an
    early :meth:`close` it raises :class:`~chatplug.StreamInterruptedError`
    whose ``.partial`` holds what arrived.
    """

    def __init__(
        self,
        processor: StreamProcessor,
        response: httpx.Response,
        first: bytes,
        source: Iterator[bytes],
        event: RequestEvent | None,
    ) -> None:
        self._state = _StreamState(processor, response, first, event)
        self._iterator = _sync_chunks(self._state, source)

    @property
    def response(self) -> httpx.Response:
        """The underlying httpx response (status, headers)."""
        return self._state.response

    @property
    def skipped_events(self) -> list[tuple[str, bytes]]:
        """``(event name, data)`` of the events with an unfamiliar ``event:`` name
        that carried no chat chunk (keep-alives aside); each was also logged."""
        return self._state.processor.skipped_events

    def __iter__(self) -> Iterator[ChatCompletionChunk]:
        return self._iterator

    def __next__(self) -> ChatCompletionChunk:
        return next(self._iterator)

    def __enter__(self) -> Stream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading and release the connection. Safe to call twice."""
        self._iterator.close()
        self._state.response.close()
        self._state.closed_early()
        self._state.finish()

    def get_final_completion(self) -> ChatCompletion:
        """Read what is left and return the completion assembled from every chunk."""
        for _ in self._iterator:
            pass
        return self._state.final_completion()

    def __repr__(self) -> str:
        plan = self._state.processor.plan
        return f"<chatplug.Stream provider={plan.provider.id!r} model={plan.model!r}>"


class AsyncStream:
    """The async twin of :class:`Stream`: ``async for chunk in stream``."""

    def __init__(
        self,
        processor: StreamProcessor,
        response: httpx.Response,
        first: bytes,
        source: AsyncIterator[bytes],
        event: RequestEvent | None,
    ) -> None:
        self._state = _StreamState(processor, response, first, event)
        self._iterator = _async_chunks(self._state, source)

    @property
    def response(self) -> httpx.Response:
        """The underlying httpx response (status, headers)."""
        return self._state.response

    @property
    def skipped_events(self) -> list[tuple[str, bytes]]:
        """See :attr:`Stream.skipped_events`."""
        return self._state.processor.skipped_events

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        return self._iterator

    async def __anext__(self) -> ChatCompletionChunk:
        return await anext(self._iterator)

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop reading and release the connection. Safe to call twice."""
        await self._iterator.aclose()
        await self._state.response.aclose()
        self._state.closed_early()
        self._state.finish()

    async def get_final_completion(self) -> ChatCompletion:
        """Read what is left and return the completion assembled from every chunk."""
        async for _ in self._iterator:
            pass
        return self._state.final_completion()

    def __repr__(self) -> str:
        plan = self._state.processor.plan
        return f"<chatplug.AsyncStream provider={plan.provider.id!r} model={plan.model!r}>"
