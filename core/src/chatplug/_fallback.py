"""Fallbacks across models and providers, and the per-attempt gate that key
pools and shared limits hook into.

A call runs its model, then (if it fails in a way another model could fix)
each fallback in order. Every model gets the client's usual retries first.
Observers see every attempt (``RequestEvent.fallback_index`` tells which
model of the chain) and one ``chatplug_on_finish`` for the whole call.

What falls over (:func:`falls_over`): connection errors and timeouts, 5xx
after the retries, rate limits, quota/balance errors, a shared limit that
stayed full past ``max_wait``, a key pool with no key left, and (only with
``fallback_on_context_length=True``) context length. What never does: a
request error, authentication, permission, content filter, or anything
raised before I/O, unless the error is marked ``model_specific``
(:class:`~chatplug.ModelRuleError`). A stream falls over only before its
first chunk reaches the caller.
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attr

from chatplug._keypool import KeyPool, describe, removes_key, rests_key
from chatplug._request import check_credentials, credential_secrets
from chatplug._transport import CallPlan, notify, retry_delay
from chatplug.errors import (
    AllModelsFailedError,
    APIConnectionError,
    APIError,
    APIStatusError,
    AuthenticationError,
    ChatplugError,
    ContentFilterError,
    ContextLengthError,
    InternalServerError,
    InvalidRequestError,
    KeyPoolExhaustedError,
    LimitWaitTimeoutError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
)
from chatplug.events import RequestEvent
from chatplug.types import ChatCompletion, ChatCompletionChunk

if TYPE_CHECKING:
    from chatplug._client import AsyncClient, Client
    from chatplug._limits import Limiter, Permit
    from chatplug._streaming import AsyncStream, Stream

__all__ = ["falls_over", "check_fallbacks", "Gate", "run_chain", "arun_chain"]

logger = logging.getLogger("chatplug")


def check_fallbacks(value: Any, source: str = "fallbacks") -> tuple[str, ...]:
    """``fallbacks=`` as a tuple of model names, or an error naming what is wrong."""
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidRequestError(
            f"{source}={value!r}: expected a list of model names, e.g. ['glm-4.5-air', 'kimi/kimi-k2-0905-preview']",
            param="fallbacks",
        )
    names = tuple(value)
    for name in names:
        if not isinstance(name, str) or not name:
            raise InvalidRequestError(f"{source} holds {name!r}; every entry must be a model name", param="fallbacks")
    return names


def falls_over(error: BaseException, *, context_length: bool = False) -> bool:
    """Whether a model's final error lets the call go on to its next model."""
    if isinstance(error, ContextLengthError):
        return context_length
    if isinstance(error, (ContentFilterError, AuthenticationError, PermissionDeniedError)):
        return False
    if isinstance(error, InvalidRequestError):
        return getattr(error, "model_specific", False) is True
    if isinstance(error, (QuotaExceededError, RateLimitError, APIConnectionError, InternalServerError)):
        return True
    if isinstance(error, (LimitWaitTimeoutError, KeyPoolExhaustedError)):
        return True
    if isinstance(error, APIStatusError) and error.status_code is not None:
        return error.status_code >= 500 or error.status_code == 408
    return False


# ------------------------------------------------------------------- the gate


@attr.define(slots=True)
class Ticket:
    """What one attempt holds: the key it used and its limiter permit."""

    fingerprint: str | None
    permit: Permit | None


class Gate:
    """Per model of a call: picks each attempt's key, waits for its limits,
    reports key errors, and says whether a failure falls over."""

    __slots__ = ("announce", "client_limiter", "context_length", "defer_finish", "index", "last", "last_event", "plan",
                 "pool", "provider_id", "single_key", "tokens")

    def __init__(
        self,
        plan: CallPlan,
        *,
        index: int,
        last: bool,
        defer_finish: bool,
        pool: KeyPool | None,
        limiter: Limiter | None,
        context_length: bool,
        single_key: str | None = None,
    ) -> None:
        self.plan = plan
        #: The fingerprint of the client's one key (no pool): what per-key limits count it under.
        self.single_key = single_key
        self.index = index
        self.last = last
        self.defer_finish = defer_finish
        self.announce = index == 0  # whether this model's send opens the call (on_start); a chain sets it
        self.pool = pool
        self.client_limiter = limiter
        self.context_length = context_length
        self.last_event: RequestEvent | None = None
        self.provider_id = plan.provider.id
        self.tokens = limiter.tokens_for(plan.payload, len(plan.body)) if limiter is not None else 0
        if pool is not None:
            extra = tuple(secret for secret in pool.secrets() if secret not in plan.secrets)
            plan.secrets = plan.secrets + extra

    # ------------------------------------------------------------ attempts

    def _use_key(self) -> str | None:
        pool = self.pool
        if pool is None:
            return None
        key, fingerprint = pool.take(self.provider_id)
        plan = self.plan
        credentials = plan.hook.chatplug_credentials(provider=plan.provider, api_key=key, environ=os.environ)
        check_credentials(plan.provider, credentials)
        plan.headers = {**plan.headers, **(credentials or {})}
        new = tuple(secret for secret in credential_secrets(credentials) if secret not in plan.secrets)
        if new:  # a provider may send something made from the key (a signed token): scrub that too
            plan.secrets = plan.secrets + new
        return fingerprint

    def begin(self, attempt: int) -> Ticket:
        """Before an attempt's I/O: choose its key and wait for its limits
        (the client tells observers the call ended when this raises)."""
        fingerprint = self._use_key()
        permit = None
        if self.client_limiter is not None:
            counted_as = fingerprint if fingerprint is not None else self.single_key
            permit = self.client_limiter.acquire(self.provider_id, self.plan.model, counted_as, self.tokens)
        return Ticket(fingerprint, permit)

    async def abegin(self, attempt: int) -> Ticket:
        """The async twin of :meth:`begin` (the wait can be cancelled)."""
        fingerprint = self._use_key()
        permit = None
        if self.client_limiter is not None:
            counted_as = fingerprint if fingerprint is not None else self.single_key
            permit = await self.client_limiter.aacquire(self.provider_id, self.plan.model, counted_as, self.tokens)
        return Ticket(fingerprint, permit)

    def event(self, event: RequestEvent, ticket: Ticket) -> RequestEvent:
        """The observer view of an attempt, with the chain index and key fingerprint."""
        if self.index or ticket.fingerprint is not None:
            event = attr.evolve(event, fallback_index=self.index, key_fingerprint=ticket.fingerprint)
        self.last_event = event
        return event

    def will_fall_over(self, error: BaseException) -> bool:
        """Whether this model's final ``error`` hands the call to the next model."""
        return not self.last and falls_over(error, context_length=self.context_length)

    def _report_key(self, ticket: Ticket, error: APIError) -> bool:
        """Rest or remove the attempt's key; True when the call should retry on another key."""
        pool = self.pool
        fingerprint = ticket.fingerprint
        if pool is None or fingerprint is None:
            return False
        if rests_key(error):
            pool.rest(fingerprint, retry_delay(0, error))
            return False
        if removes_key(error):
            if pool.remove(fingerprint, describe(error)):
                logger.warning(
                    "chatplug: %s key %s taken out of the key pool (%s); %d of %d keys left",
                    self.provider_id, fingerprint, describe(error), pool.usable(), len(pool),
                )
                notify(
                    self.plan.hook.chatplug_on_key_removed,
                    provider=self.plan.provider,
                    key_fingerprint=fingerprint,
                    error=error,
                )
            return pool.usable() > 0
        return False

    def failed(self, ticket: Ticket, error: APIError) -> bool:
        """After a failed attempt: free its limits, report its key. True: retry on another key."""
        if ticket.permit is not None:
            ticket.permit.settle(0 if isinstance(error, APIStatusError) else None)
            ticket.permit.release()
        return self._report_key(ticket, error)

    async def afailed(self, ticket: Ticket, error: APIError) -> bool:
        """The async twin of :meth:`failed`."""
        if ticket.permit is not None:
            await ticket.permit.asettle(0 if isinstance(error, APIStatusError) else None)
            await ticket.permit.arelease()
        return self._report_key(ticket, error)

    @staticmethod
    def interrupted(ticket: Ticket) -> None:
        """After an attempt ended by something other than an APIError (cancelled, a hook raised)."""
        if ticket.permit is not None:
            ticket.permit.release()

    @staticmethod
    async def ainterrupted(ticket: Ticket) -> None:
        """The async twin of :meth:`interrupted`; a cancelled task still frees its slots."""
        if ticket.permit is not None:
            await ticket.permit.arelease()

    @staticmethod
    def succeeded(ticket: Ticket, completion: ChatCompletion) -> None:
        if ticket.permit is not None:
            ticket.permit.settle(completion.usage.total_tokens if completion.usage is not None else None)
            ticket.permit.release()

    @staticmethod
    async def asucceeded(ticket: Ticket, completion: ChatCompletion) -> None:
        if ticket.permit is not None:
            await ticket.permit.asettle(completion.usage.total_tokens if completion.usage is not None else None)
            await ticket.permit.arelease()

    def retry_delay(self, delay: float, switched_key: bool, error: APIError) -> float:
        """A retry on another key of the pool need not wait for the hint given to the
        last key; any other failure (a 5xx, a dropped connection) keeps its backoff."""
        if self.pool is None:
            return delay
        if switched_key or (rests_key(error) and self.pool.ready_in() == 0.0):
            return 0.0  # the key was taken out or rests, and another key is ready now
        return delay

    # -------------------------------------------------------------- streams

    def guard_stream(self, stream: Stream, ticket: Ticket) -> Stream:
        """Hold the attempt's limits until the stream ends (read, failed, closed or dropped),
        and report its key if an error event ends it."""
        self._watch(stream._state, ticket)
        if ticket.permit is not None:
            _guard(stream, ticket.permit)
        return stream

    def aguard_stream(self, stream: AsyncStream, ticket: Ticket) -> AsyncStream:
        """The async twin of :meth:`guard_stream`."""
        self._watch(stream._state, ticket)
        if ticket.permit is not None:
            _aguard(stream, ticket.permit)
        return stream

    def _watch(self, state: Any, ticket: Ticket) -> None:
        if self.pool is not None and ticket.fingerprint is not None:
            state.on_error = lambda error: self._report_key(ticket, error)  # rests or removes the key


class _GuardedChunks:
    """Wraps a stream's chunk iterator: replays a chunk read ahead, notes usage,
    and settles/releases the permit (if any) once when the stream ends."""

    __slots__ = ("__weakref__", "_ahead", "_inner", "_permit", "_usage")

    def __init__(self, inner: Iterator[ChatCompletionChunk], permit: Permit | None) -> None:
        self._inner = inner
        self._permit = permit
        self._ahead: list[ChatCompletionChunk] = []
        self._usage: int | None = None

    def push_back(self, chunk: ChatCompletionChunk) -> None:
        self._ahead.append(chunk)

    def __iter__(self) -> _GuardedChunks:
        return self

    def __next__(self) -> ChatCompletionChunk:
        if self._ahead:
            return self._ahead.pop()
        try:
            chunk = next(self._inner)
        except BaseException:
            self._end()
            raise
        if chunk.usage is not None:
            self._usage = chunk.usage.total_tokens
        return chunk

    def close(self) -> None:
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
        finally:
            self._end()

    def _end(self) -> None:
        permit, self._permit = self._permit, None
        if permit is not None:
            permit.settle(self._usage)
            permit.release()


class _AsyncGuardedChunks:
    """The async twin of :class:`_GuardedChunks`."""

    __slots__ = ("__weakref__", "_ahead", "_inner", "_permit", "_usage")

    def __init__(self, inner: AsyncIterator[ChatCompletionChunk], permit: Permit | None) -> None:
        self._inner = inner
        self._permit = permit
        self._ahead: list[ChatCompletionChunk] = []
        self._usage: int | None = None

    def push_back(self, chunk: ChatCompletionChunk) -> None:
        self._ahead.append(chunk)

    def __aiter__(self) -> _AsyncGuardedChunks:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        if self._ahead:
            return self._ahead.pop()
        try:
            chunk = await self._inner.__anext__()
        except BaseException:
            await self._end()
            raise
        if chunk.usage is not None:
            self._usage = chunk.usage.total_tokens
        return chunk

    async def aclose(self) -> None:
        try:
            aclose = getattr(self._inner, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            await self._end()

    async def _end(self) -> None:
        permit, self._permit = self._permit, None
        if permit is not None:
            await permit.asettle(self._usage)
            await permit.arelease()

    def drop(self) -> None:
        permit, self._permit = self._permit, None
        if permit is not None:
            permit.abandon()


def _guard(stream: Stream, permit: Permit | None) -> _GuardedChunks:
    current = stream._iterator
    if isinstance(current, _GuardedChunks):
        return current
    guarded = _GuardedChunks(current, permit)
    stream._iterator = guarded  # type: ignore[assignment]
    if permit is not None:
        weakref.finalize(stream, guarded._end)  # a stream dropped unread still frees its slot
    return guarded


def _aguard(stream: AsyncStream, permit: Permit | None) -> _AsyncGuardedChunks:
    current = stream._iterator
    if isinstance(current, _AsyncGuardedChunks):
        return current
    guarded = _AsyncGuardedChunks(current, permit)
    stream._iterator = guarded  # type: ignore[assignment]
    if permit is not None:
        weakref.finalize(stream, guarded.drop)
    return guarded


# ----------------------------------------------------------------- the chain


@attr.define
class _ChainState:
    errors: list[BaseException] = attr.field(factory=list)
    models: list[str] = attr.field(factory=list)
    call_id: int | None = None
    plan: CallPlan | None = None
    event: RequestEvent | None = None
    start_plan: CallPlan | None = None  # the plan whose send opened the call (on_start): one on_finish is owed

    def fail(self, model: str, error: BaseException) -> None:
        self.errors.append(error)
        self.models.append(model)

    def final_error(self) -> BaseException:
        if len(self.errors) == 1:
            return self.errors[0]
        return AllModelsFailedError(tuple(self.errors), tuple(self.models))


def _name(plan: CallPlan | None, model: str) -> str:
    return f"{plan.provider.id}/{plan.model}" if plan is not None else model


def _stops_before_io(error: ChatplugError) -> bool:
    """A failure before this model's I/O stops the chain unless it is specific to the model."""
    return not falls_over(error) or not isinstance(
        error, (InvalidRequestError, LimitWaitTimeoutError, KeyPoolExhaustedError)
    )


def _failed(
    client: Client | AsyncClient, state: _ChainState, chain: Sequence[str], index: int, plan: CallPlan | None,
    gate: Gate | None, error: ChatplugError, reading_ahead: bool,
) -> BaseException | None:
    """After a model failed: ``None`` to go on to the next model, else the error
    that ends the call (observers were told it finished)."""
    model = chain[index]
    last = index == len(chain) - 1
    state.fail(_name(plan, model), error)
    io_done = gate is not None and gate.last_event is not None
    goes_on = not last and (
        (io_done and falls_over(error, context_length=client._fallback_on_context_length))
        or (not io_done and not _stops_before_io(error))
    )
    if reading_ahead and gate is not None and gate.last_event is not None and isinstance(error, APIError):
        notify(client.registry.hook.chatplug_on_error, request=gate.last_event, error=error, will_retry=goes_on)
    if io_done and gate is not None:
        state.plan, state.event = plan, gate.last_event
    if goes_on:
        logger.info("chatplug: %s failed (%s); falling over to %s", _name(plan, model),
                    type(error).__name__, chain[index + 1])
        return None
    final = state.final_error()
    _finish(client, state, final)
    return final


def _finish(client: Client | AsyncClient, state: _ChainState, error: BaseException) -> None:
    """Tell the observers the call ended, if it started (once: the chain finishes only what it started)."""
    if state.event is not None and state.plan is not None:
        client._finish(state.plan, state.event, None, error)
    elif state.start_plan is not None:  # started, but no model got as far as a request
        client._finish(state.start_plan, state.start_plan.event(0), None, error)


def _begin(client: Client | AsyncClient, state: _ChainState, plan: CallPlan, index: int, last: bool) -> Gate:
    """The gate of one model of the chain, which opens the call (on_start) if it is the first to get here."""
    if state.call_id is None:
        state.call_id = plan.call_id
    else:
        plan.call_id = state.call_id
    gate = client._gate(plan, index=index, last=last, defer_finish=True)
    assert gate is not None  # a chain always has a gate
    gate.announce = state.start_plan is None
    if gate.announce:
        state.start_plan = plan
    return gate


def run_chain(
    client: Client, chain: Sequence[str], messages: Any, stream: bool, kwargs: dict[str, Any]
) -> ChatCompletion | Stream:
    """Run a call over its model and fallbacks (sync)."""
    for model in chain[1:]:
        client._route(model)  # an unknown fallback is an error before any I/O
    state = _ChainState()
    for index, model in enumerate(chain):
        last = index == len(chain) - 1
        plan: CallPlan | None = None
        gate: Gate | None = None
        reading_ahead = sending = False
        try:
            plan = client._prepare(model, messages, stream, kwargs)
            gate = _begin(client, state, plan, index, last)
            sending = True  # from here on, _send (or the stream) reports anything but a ChatplugError
            result = client._send(plan, gate)
            if stream:  # a failure before the first chunk falls over, or ends the call with every error
                reading_ahead = True  # (and is the chain's to report)
                result = _read_ahead(result)  # type: ignore[arg-type]
            return result
        except ChatplugError as error:
            final = _failed(client, state, chain, index, plan, gate, error, reading_ahead)
            if final is None:
                continue
            if final is error:
                raise
            raise final from error
        except BaseException as exc:  # a plugin bug or an interrupt while preparing a fallback
            if not sending:
                _finish(client, state, exc)
            raise
    raise AssertionError("unreachable")  # pragma: no cover


async def arun_chain(
    client: AsyncClient, chain: Sequence[str], messages: Any, stream: bool, kwargs: dict[str, Any]
) -> ChatCompletion | AsyncStream:
    """The async twin of :func:`run_chain`."""
    for model in chain[1:]:
        client._route(model)
    state = _ChainState()
    for index, model in enumerate(chain):
        last = index == len(chain) - 1
        plan: CallPlan | None = None
        gate: Gate | None = None
        reading_ahead = sending = False
        try:
            plan = client._prepare(model, messages, stream, kwargs)
            gate = _begin(client, state, plan, index, last)
            sending = True
            result = await client._send(plan, gate)
            if stream:
                reading_ahead = True
                result = await _aread_ahead(result)  # type: ignore[arg-type]
            return result
        except ChatplugError as error:
            final = _failed(client, state, chain, index, plan, gate, error, reading_ahead)
            if final is None:
                continue
            if final is error:
                raise
            raise final from error
        except BaseException as exc:
            if not sending:
                _finish(client, state, exc)
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def _read_ahead(stream: Stream) -> Stream:
    """Read a stream's first chunk before handing the stream over, so that a
    failure before it can still fall over. The chunk is replayed first.

    Meanwhile the stream does not report its own end: a chatplug error before
    the first chunk is reported by the chain (which may go on to the next
    model), so observers see one ``chatplug_on_finish`` per call."""
    state = stream._state
    state.finished = True
    guarded = _guard(stream, None)
    try:
        first = next(guarded)
    except ChatplugError:
        raise
    except BaseException:  # StopIteration, cancelled, a hook raised: the stream reports its end itself
        state.finished = False
        state.finish()
        if state.error is None:
            return stream
        raise
    state.finished = False
    guarded.push_back(first)
    return stream


async def _aread_ahead(stream: AsyncStream) -> AsyncStream:
    """The async twin of :func:`_read_ahead`."""
    state = stream._state
    state.finished = True
    guarded = _aguard(stream, None)
    try:
        first = await guarded.__anext__()
    except ChatplugError:
        raise
    except BaseException:
        state.finished = False
        state.finish()
        if state.error is None:
            return stream
        raise
    state.finished = False
    guarded.push_back(first)
    return stream
