"""``chatplug.Client`` and ``chatplug.AsyncClient``: one surface, sync and async.

Both prepare a call the same way (:meth:`_ClientBase._prepare`, no I/O) and
differ only in how they send it and wait.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, overload

import httpx

from chatplug import __version__
from chatplug._request import (
    build_payload,
    check_credentials,
    check_extra_headers,
    checked_query,
    encode_payload,
)
from chatplug._transport import (
    REDACTED,
    CallPlan,
    completion_from_body,
    decode_body,
    notify,
    observes_requests,
    redirect_error,
    retry_delay,
    status_error,
    transport_error,
    warn_insecure,
)
from chatplug.errors import APIConnectionError, APIError, ChatplugError, InvalidRequestError
from chatplug.plugins import PluginRegistry, default_registry
from chatplug.provider import Provider

if TYPE_CHECKING:
    from typing_extensions import Unpack

    # Imported where used, not here: a plain call needs none of streams, key
    # pools, fallbacks, limits or the request-side contract classes, and a
    # fresh process should not pay for loading them (tests/core/test_core_startup.py).
    from chatplug._fallback import Gate, Ticket
    from chatplug._keypool import KeyPool, KeySpec
    from chatplug._limits import Limiter
    from chatplug._streaming import AsyncStream, Stream
    from chatplug.params import CreateParams
    from chatplug.types import ChatCompletion, Message

__all__ = ["Client", "AsyncClient", "DEFAULT_TIMEOUT", "DEFAULT_MAX_RETRIES"]

logger = logging.getLogger("chatplug")

#: 10 minutes overall, 5 seconds to connect (as openai-python).
DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=5.0)
DEFAULT_MAX_RETRIES = 2
USER_AGENT = f"chatplug/{__version__} httpx/{httpx.__version__}"

_call_ids = itertools.count(1)
_NOT_GIVEN: Any = object()

#: Header names whose values are credentials whatever set them: never shown to observers, scrubbed from errors.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie"})


class _Secret:
    """Holds an API key; its repr and str never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


def _check_base_url(url: Any, source: str) -> None:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InvalidRequestError(
            f"{source}={url!r} is not a URL; expected one starting with https:// (or http://)", param="base_url"
        )


class _ClientBase:
    def __init__(
        self,
        *,
        provider: str | Provider | None = None,
        api_key: KeySpec | None = None,
        base_url: str | None = None,
        endpoint: str | None = None,
        timeout: float | httpx.Timeout | None = _NOT_GIVEN,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str] | None = None,
        drop_unsupported_params: bool = False,
        reasoning_placeholder: str | None = None,
        registry: PluginRegistry | None = None,
        fallbacks: Sequence[str] | None = None,
        fallback_on_context_length: bool = False,
        limiter: Limiter | None = None,
    ) -> None:
        if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
            raise InvalidRequestError(f"max_retries={max_retries!r} must be a whole number >= 0", param="max_retries")
        keys: KeySpec | None = api_key
        if isinstance(keys, Mapping):
            api_key = None
        if provider is None and base_url is None and (api_key is not None or endpoint is not None):
            raise InvalidRequestError(
                "api_key= and endpoint= apply to one provider: pass provider='glm' (or another id) too",
                param="provider",
            )
        if base_url is not None:
            _check_base_url(base_url, "base_url")
        self._registry = registry if registry is not None else default_registry()
        if provider is None and base_url is not None:
            from chatplug._defaults import plain_endpoint  # no key needed: see PlainEndpoint

            provider = plain_endpoint(base_url)
        if isinstance(provider, str):
            provider = self._registry.provider(provider)
        self._provider: Provider | None = provider
        self._pools: dict[str, KeyPool] = {}
        if keys is not None and not isinstance(keys, str):
            self._pools = self._key_pools(keys)
        self._api_key = _Secret(keys) if isinstance(keys, str) and keys else None
        self._key_print: str | None = None
        self._fallbacks = _checked_fallbacks(fallbacks)
        self._fallback_on_context_length = bool(fallback_on_context_length)
        self._limiter = limiter
        self._base_url = base_url.rstrip("/") if base_url else None
        if provider is not None and base_url is None:
            self._base_url = provider.resolve_base_url(endpoint, os.environ).rstrip("/")
        self.timeout = DEFAULT_TIMEOUT if timeout is _NOT_GIVEN else timeout
        self.max_retries = max_retries
        self.default_headers = dict(default_headers or {})
        #: Drop parameters a model refuses (logged, reported to chatplug_on_adjust) instead of raising.
        self.drop_unsupported_params = bool(drop_unsupported_params)
        #: Filled in as reasoning_content where a thinking model needs it and the history lacks it (opt-in).
        self.reasoning_placeholder = reasoning_placeholder
        self._closed = False
        self._http_lock = threading.Lock()

    def _key_pools(self, keys: KeySpec) -> dict[str, KeyPool]:
        """``api_key=`` given as several keys, a pool, or per provider: one pool per provider id."""
        from chatplug._keypool import KeyPool, as_pool

        if isinstance(keys, Mapping):
            pools = {}
            for provider_id, value in keys.items():
                known = self._provider if self._provider is not None and self._provider.id == provider_id else None
                if known is None:
                    self._registry.provider(provider_id)  # an unknown id is an error now, not at the first call
                pooled = as_pool(value)
                pools[provider_id] = pooled if isinstance(pooled, KeyPool) else KeyPool([pooled])
            return pools
        if self._provider is None:
            raise InvalidRequestError(
                "several keys apply to one provider: pass provider='glm' too, or api_key={'glm': [...]}",
                param="api_key",
            )
        pooled = as_pool(keys)
        return {self._provider.id: pooled if isinstance(pooled, KeyPool) else KeyPool([pooled])}

    def _chain(self, model: str, fallbacks: Sequence[str] | None) -> tuple[str, ...]:
        extra = self._fallbacks if fallbacks is None else _checked_fallbacks(fallbacks)
        return (model, *extra) if extra else (model,)

    def _gate(self, plan: CallPlan, *, index: int = 0, last: bool = True, defer_finish: bool = False) -> Gate | None:
        """The per-attempt gate for key pools, limits and fallbacks (None when none applies)."""
        pool = self._pools.get(plan.provider.id)
        if pool is None and self._limiter is None and not defer_finish:
            return None
        from chatplug._fallback import Gate

        return Gate(
            plan,
            index=index,
            last=last,
            defer_finish=defer_finish,
            pool=pool,
            limiter=self._limiter,
            context_length=self._fallback_on_context_length,
            single_key=self._single_key_print() if pool is None and self._limiter is not None else None,
        )

    def _single_key_print(self) -> str | None:
        """The fingerprint of the one key given as ``api_key="..."`` (per-key limits count under it)."""
        if self._api_key is None:
            return None  # a key from the environment: one per process, counted as "env"
        if self._key_print is None:
            from chatplug._keypool import key_fingerprint

            self._key_print = key_fingerprint(self._api_key.get())
        return self._key_print

    def _check_open(self) -> None:
        if self._closed:
            raise ChatplugError(f"this {type(self).__name__} was closed; create a new one")

    @property
    def provider(self) -> Provider | None:
        """The provider this client is pinned to, or ``None`` for "every installed provider"."""
        return self._provider

    @property
    def registry(self) -> PluginRegistry:
        """The plugin registry whose providers and hooks this client uses."""
        return self._registry

    def __repr__(self) -> str:
        target = f"provider={self._provider.id!r} base_url={self._base_url!r}" if self._provider else "providers=*"
        key = " api_key='***'" if self._api_key else ""
        return f"<chatplug.{type(self).__name__} {target}{key}>"

    # ---------------------------------------------------------------- prepare

    def _route(self, model: str) -> tuple[Provider, str, str]:
        if not isinstance(model, str) or not model:
            raise InvalidRequestError(
                f"model={model!r} must be a model name such as 'glm-4.6' or 'kimi/kimi-k2-0905-preview'", param="model"
            )
        pinned = self._provider
        if pinned is not None:
            prefix, sep, rest = model.partition("/")
            name = rest if sep and prefix == pinned.id and rest else model
            assert self._base_url is not None
            return pinned, name, self._base_url
        provider, name = self._registry.resolve_model(model)
        return provider, name, provider.resolve_base_url(None, os.environ).rstrip("/")

    def _prepare(self, model: str, messages: Iterable[Message], stream: bool, kwargs: dict[str, Any]) -> CallPlan:
        """Everything about a call that is decided before any I/O (and every check)."""
        params = _body_parameters(kwargs)
        extra_headers = kwargs.get("extra_headers")
        extra_query = kwargs.get("extra_query")
        extra_body = kwargs.get("extra_body")
        timeout = kwargs.get("timeout", _NOT_GIVEN)
        provider, name, base_url = self._route(model)
        given = {key: value for key, value in params.items() if value is not None}
        if stream:
            given["stream"] = True
        elif "stream_options" in given:
            raise InvalidRequestError(
                f"{provider.id}: stream_options only applies with stream=True",
                param="stream_options",
                provider=provider.id,
            )
        drop = kwargs.get("drop_unsupported_params")
        adjustments: list[Any] = []  # chatplug.Adjustment records
        payload = build_payload(
            provider, name, messages, given, extra_body,
            drop_unsupported=self.drop_unsupported_params if drop is None else bool(drop),
            reasoning_placeholder=self.reasoning_placeholder, adjustments=adjustments,
        )
        hook = self._registry.hook
        hook.chatplug_prepare_payload(provider=provider, model=name, payload=payload)
        pool = self._pools.get(provider.id) if self._pools else None
        credentials = hook.chatplug_credentials(
            provider=provider,
            api_key=pool.peek(provider.id) if pool else self._api_key.get() if self._api_key else None,
            environ=os.environ,
        )
        check_credentials(provider, credentials)
        url = f"{base_url}/chat/completions"
        warn_insecure(url)
        headers = {
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if stream else "application/json",
        }
        if self.default_headers:
            check_extra_headers(provider, self.default_headers, "default_headers")
            headers.update(self.default_headers)
        if extra_headers:
            check_extra_headers(provider, extra_headers)
            headers.update(extra_headers)
        headers.update(credentials or {})
        # A key can arrive by any route (a credentials hook, default_headers, extra_headers): redact
        # by header name as well as by source, and scrub every such value from errors.
        sensitive = {name.lower() for name in (credentials or {})} | {provider.auth_header.lower()} | CREDENTIAL_HEADERS
        secrets = tuple(value for key, value in headers.items() if value and key.lower() in sensitive)
        secret_parts = tuple(part for value in secrets for part in value.split() if len(part) >= 8)
        redacted = {key: (REDACTED if key.lower() in sensitive else value) for key, value in headers.items()}
        normalizer = hook.chatplug_response_normalizer(provider=provider, model=name, stream=stream)
        plan = CallPlan(
            call_id=next(_call_ids),
            provider=provider,
            model=name,
            url=url,
            headers=headers,
            redacted_headers=redacted,
            params=checked_query(provider, extra_query) if extra_query else None,
            payload=payload,
            body=encode_payload(provider, payload),
            stream=stream,
            timeout=self.timeout if timeout is _NOT_GIVEN else timeout,
            normalizer=normalizer,
            secrets=secrets + secret_parts,
            hook=hook,
            observed=observes_requests(hook),
        )
        if adjustments:  # reported once every check passed: the call will be made
            notify(hook.chatplug_on_adjust, provider=provider, model=name, adjustments=tuple(adjustments))
        return plan

    def _completion(self, plan: CallPlan, response: httpx.Response, content: bytes) -> ChatCompletion:
        return completion_from_body(plan, content, response.headers)

    def _error_for(self, plan: CallPlan, response: httpx.Response, content: bytes) -> APIError:
        if 300 <= response.status_code < 400:
            return redirect_error(plan, response)
        return status_error(plan, response.status_code, decode_body(content), response.headers)

    @staticmethod
    def _start(plan: CallPlan) -> None:
        """Announce the call to the observers (once; ``_finish`` closes it)."""
        caller = plan.hook.chatplug_on_start
        if caller.get_hookimpls():  # no observer, no event built
            notify(caller, request=plan.event(0))

    def _start_attempt(
        self,
        plan: CallPlan,
        attempt: int,
        http: httpx.Client | httpx.AsyncClient,
        gate: Gate | None = None,
        ticket: Ticket | None = None,
    ) -> tuple[Any, httpx.Request]:
        """Announce one attempt to the observers and build its httpx request."""
        event = None  # nobody observes this call (and no chain or limiter reads it): no event is built
        if plan.observed or gate is not None:
            event = plan.event(attempt)
            if gate is not None and ticket is not None:
                event = gate.event(event, ticket)
        notify(plan.hook.chatplug_on_request, request=event)
        request = http.build_request(
            "POST", plan.url, content=plan.body, headers=plan.headers, params=plan.params, timeout=plan.timeout
        )
        return event, request

    @staticmethod
    def _received(plan: CallPlan, event: Any, response: httpx.Response) -> None:
        notify(
            plan.hook.chatplug_on_response, request=event, status_code=response.status_code, headers=response.headers
        )

    @staticmethod
    def _empty_stream(plan: CallPlan) -> APIConnectionError:
        """A 2xx stream whose body ended before its first byte: retryable like a dropped connection."""
        return APIConnectionError(f"{plan.provider.id}: the stream closed before any data", provider=plan.provider.id)

    def _should_retry(
        self, plan: CallPlan, attempt: int, error: APIError, event: Any, gate: Gate | None = None,
        switch_key: bool = False, switches: int = 0,
    ) -> float | None:
        # A retry on another key of a pool after a key was taken out does not count against max_retries.
        will_retry = (error.retryable and attempt - switches < self.max_retries) or switch_key
        falls_over = not will_retry and gate is not None and gate.will_fall_over(error)
        notify(plan.hook.chatplug_on_error, request=event, error=error, will_retry=will_retry or falls_over)
        if not will_retry:
            return None
        delay = retry_delay(attempt, error)
        if gate is not None:
            delay = gate.retry_delay(delay, switch_key, error)
        logger.info(
            "%s: attempt %d failed (%s); retrying in %.2fs", plan.provider.id, attempt + 1, type(error).__name__, delay
        )
        return delay

    @staticmethod
    def _ends_call(gate: Gate | None, exc: BaseException) -> bool:
        """Whether ``_send`` tells the observers the call ended with ``exc``: always,
        except in a fallback chain after a ChatplugError (the chain may go on, and finishes the call)."""
        return gate is None or not (gate.defer_finish and isinstance(exc, ChatplugError))

    def _finish(
        self, plan: CallPlan, event: Any, completion: ChatCompletion | None, error: BaseException | None
    ) -> None:
        notify(plan.hook.chatplug_on_finish, request=event, completion=completion, error=error)


class Completions:
    """``client.chat.completions``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @overload
    def create(
        self,
        *,
        model: str,
        messages: Iterable[Message],
        stream: Literal[False] = False,
        fallbacks: Sequence[str] | None = None,
        **kwargs: Unpack[CreateParams],
    ) -> ChatCompletion: ...

    @overload
    def create(
        self,
        *,
        model: str,
        messages: Iterable[Message],
        stream: Literal[True],
        fallbacks: Sequence[str] | None = None,
        **kwargs: Unpack[CreateParams],
    ) -> Stream: ...

    def create(
        self,
        *,
        model: str,
        messages: Iterable[Message],
        stream: bool = False,
        fallbacks: Sequence[str] | None = None,
        **kwargs: Unpack[CreateParams],
    ) -> ChatCompletion | Stream:
        """Create a chat completion; with ``stream=True``, return a :class:`Stream`.

        Parameters are OpenAI's (see :class:`~chatplug.params.CreateParams`):
        ``temperature``, ``top_p``, ``max_tokens``, ``max_completion_tokens``,
        ``stop``, ``n``, ``seed``, ``user``, ``stream_options``, ``tools``,
        ``tool_choice``, ``parallel_tool_calls``, ``response_format``,
        ``frequency_penalty``, ``presence_penalty``, ``logprobs``,
        ``top_logprobs``, ``logit_bias``; plus ``extra_headers``,
        ``extra_query``, ``extra_body`` (provider parameters such as GLM's
        ``thinking``) and ``timeout``.

        ``fallbacks=["glm-4.5-air", "kimi/kimi-k2-0905-preview"]`` names models
        to try in order when this one fails in a way another model could fix
        (connection errors, 5xx, rate limits, quota); it overrides the
        client's ``fallbacks=`` (``[]`` turns them off for this call). See
        docs/scale.md.
        """
        return self._client._create(model, messages, stream, dict(kwargs), fallbacks)


class AsyncCompletions:
    """``aclient.chat.completions``."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    @overload
    async def create(
        self,
        *,
        model: str,
        messages: Iterable[Message],
        stream: Literal[False] = False,
        fallbacks: Sequence[str] | None = None,
        **kwargs: Unpack[CreateParams],
    ) -> ChatCompletion: ...

    @overload
    async def create(
        self,
        *,
        model: str,
        messages: Iterable[Message],
        stream: Literal[True],
        fallbacks: Sequence[str] | None = None,
        **kwargs: Unpack[CreateParams],
    ) -> AsyncStream: ...

    async def create(
        self,
        *,
        model: str,
        messages: Iterable[Message],
        stream: bool = False,
        fallbacks: Sequence[str] | None = None,
        **kwargs: Unpack[CreateParams],
    ) -> ChatCompletion | AsyncStream:
        """The async twin of :meth:`Completions.create`."""
        return await self._client._create(model, messages, stream, dict(kwargs), fallbacks)


class Chat:
    """``client.chat``."""

    def __init__(self, client: Client) -> None:
        self.completions = Completions(client)


class AsyncChat:
    """``aclient.chat``."""

    def __init__(self, client: AsyncClient) -> None:
        self.completions = AsyncCompletions(client)


def _checked_fallbacks(value: Sequence[str] | None) -> tuple[str, ...]:
    """``fallbacks=`` checked, as a tuple (``_fallback`` is loaded only when some are given)."""
    if value is None:
        return ()
    from chatplug._fallback import check_fallbacks

    return check_fallbacks(value)


def _body_parameters(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The body parameters among ``create()``'s keyword arguments; an unknown name is refused.

    A call that passes none (``model`` and ``messages`` only) does not import
    :mod:`chatplug.params`: creating its ``CreateParams`` costs about 0.15 ms.
    """
    if not kwargs:
        return {}
    from chatplug.params import CALL_OPTIONS, REQUEST_PARAMETERS

    unknown = set(kwargs) - REQUEST_PARAMETERS - CALL_OPTIONS
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidRequestError(
            f"create() got an unknown parameter {name!r}; provider parameters go in extra_body={{{name!r}: ...}}",
            param=name,
        )
    return {key: value for key, value in kwargs.items() if key in REQUEST_PARAMETERS}


class Client(_ClientBase):
    """A synchronous chat-completions client over every installed provider.

    ``Client()`` routes each model to the provider that claims it and reads
    keys from the environment; ``Client(provider="kimi", api_key=..., base_url=...)``
    pins one provider. ``endpoint=`` picks a named endpoint of the pinned
    provider (``"china"``, ``"coding"``, ...). ``http_client=`` lends an
    ``httpx.Client`` the host app owns (it is not closed by :meth:`close`).
    ``drop_unsupported_params=True`` drops a parameter the model refuses
    (per its provider's catalog) instead of raising, logging each drop and
    reporting it to ``chatplug_on_adjust`` observers; ``reasoning_placeholder=``
    opts in to filling a missing ``reasoning_content`` where a thinking model
    requires one (Kimi tool-call turns).
    """

    def __init__(
        self,
        *,
        provider: str | Provider | None = None,
        api_key: KeySpec | None = None,
        base_url: str | None = None,
        endpoint: str | None = None,
        timeout: float | httpx.Timeout | None = _NOT_GIVEN,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str] | None = None,
        drop_unsupported_params: bool = False,
        reasoning_placeholder: str | None = None,
        http_client: httpx.Client | None = None,
        registry: PluginRegistry | None = None,
        fallbacks: Sequence[str] | None = None,
        fallback_on_context_length: bool = False,
        limiter: Limiter | None = None,
    ) -> None:
        super().__init__(
            provider=provider,
            api_key=api_key,
            base_url=base_url,
            endpoint=endpoint,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            drop_unsupported_params=drop_unsupported_params,
            reasoning_placeholder=reasoning_placeholder,
            registry=registry,
            fallbacks=fallbacks,
            fallback_on_context_length=fallback_on_context_length,
            limiter=limiter,
        )
        self._http = http_client
        self._owns_http = http_client is None
        self._sleep: Callable[[float], None] = time.sleep
        self.chat = Chat(self)

    @property
    def http_client(self) -> httpx.Client:
        """The httpx client in use (created on first use unless one was lent)."""
        if self._http is None:
            with self._http_lock:
                if self._http is None:
                    self._http = httpx.Client(timeout=self.timeout, follow_redirects=False)
        return self._http

    def _create(
        self,
        model: str,
        messages: Iterable[Message],
        stream: bool,
        kwargs: dict[str, Any],
        fallbacks: Sequence[str] | None = None,
    ) -> ChatCompletion | Stream:
        self._check_open()
        chain = self._chain(model, fallbacks)
        if len(chain) > 1:
            from chatplug._fallback import run_chain

            return run_chain(self, chain, messages, stream, kwargs)
        plan = self._prepare(model, messages, stream, kwargs)
        return self._send(plan, self._gate(plan))

    def _send(self, plan: CallPlan, gate: Gate | None) -> ChatCompletion | Stream:
        """Send one prepared call, with its retries (and its gate's keys and limits)."""
        stream = plan.stream
        http = self.http_client
        if gate is None or gate.announce:  # once per call, not once per fallback model
            self._start(plan)
        attempt = switches = 0
        while True:
            try:
                ticket = gate.begin(attempt) if gate is not None else None
            except BaseException as exc:  # a limit wait ran out, no key left, or cancelled while waiting
                if gate is not None and self._ends_call(gate, exc):
                    self._finish(plan, gate.last_event or plan.event(attempt), None, exc)
                raise
            event, request = self._start_attempt(plan, attempt, http, gate, ticket)
            try:
                try:
                    response = http.send(request, stream=True, follow_redirects=False)
                except httpx.HTTPError as exc:
                    raise transport_error(plan, exc) from exc
                self._received(plan, event, response)
                try:
                    if response.status_code >= 300:
                        raise self._error_for(plan, response, response.read())
                    if stream:
                        from chatplug._streaming import Stream, StreamProcessor

                        source = response.iter_bytes()
                        first = next(source, b"")
                        if not first:
                            raise self._empty_stream(plan)
                        result = Stream(StreamProcessor(plan, response.headers), response, first, source, event)
                        return result if gate is None or ticket is None else gate.guard_stream(result, ticket)
                    content = response.read()
                except httpx.HTTPError as exc:
                    response.close()
                    raise transport_error(plan, exc) from exc
                except BaseException:
                    response.close()
                    raise
                completion = self._completion(plan, response, content)
            except APIError as error:
                plan.scrub_error(error)
                switch = gate.failed(ticket, error) if gate is not None and ticket is not None else False
                delay = self._should_retry(plan, attempt, error, event, gate, switch, switches)
                switches += switch
                if delay is None:
                    if gate is None or not gate.defer_finish:
                        self._finish(plan, event, None, error)
                    raise
            except BaseException as exc:  # interrupted, cancelled, or a plugin hook raised
                if gate is not None and ticket is not None:
                    gate.interrupted(ticket)
                if self._ends_call(gate, exc):
                    self._finish(plan, event, None, exc)
                raise
            else:
                if gate is not None and ticket is not None:
                    gate.succeeded(ticket, completion)
                self._finish(plan, event, completion, None)
                return completion
            try:
                self._sleep(delay)
            except BaseException as exc:
                self._finish(plan, event, None, exc)
                raise
            attempt += 1

    def close(self) -> None:
        """Close the HTTP connections this client owns; the client cannot be used after."""
        self._closed = True
        if self._owns_http and self._http is not None:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncClient(_ClientBase):
    """The asyncio twin of :class:`Client`: ``await client.chat.completions.create(...)``."""

    def __init__(
        self,
        *,
        provider: str | Provider | None = None,
        api_key: KeySpec | None = None,
        base_url: str | None = None,
        endpoint: str | None = None,
        timeout: float | httpx.Timeout | None = _NOT_GIVEN,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str] | None = None,
        drop_unsupported_params: bool = False,
        reasoning_placeholder: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        registry: PluginRegistry | None = None,
        fallbacks: Sequence[str] | None = None,
        fallback_on_context_length: bool = False,
        limiter: Limiter | None = None,
    ) -> None:
        super().__init__(
            provider=provider,
            api_key=api_key,
            base_url=base_url,
            endpoint=endpoint,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            drop_unsupported_params=drop_unsupported_params,
            reasoning_placeholder=reasoning_placeholder,
            registry=registry,
            fallbacks=fallbacks,
            fallback_on_context_length=fallback_on_context_length,
            limiter=limiter,
        )
        self._http = http_client
        self._owns_http = http_client is None
        import asyncio  # here, not at module level: only async users pay for importing asyncio

        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self.chat = AsyncChat(self)

    @property
    def http_client(self) -> httpx.AsyncClient:
        """The httpx client in use (created on first use unless one was lent)."""
        if self._http is None:
            with self._http_lock:
                if self._http is None:
                    self._http = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        return self._http

    async def _create(
        self,
        model: str,
        messages: Iterable[Message],
        stream: bool,
        kwargs: dict[str, Any],
        fallbacks: Sequence[str] | None = None,
    ) -> ChatCompletion | AsyncStream:
        self._check_open()
        chain = self._chain(model, fallbacks)
        if len(chain) > 1:
            from chatplug._fallback import arun_chain

            return await arun_chain(self, chain, messages, stream, kwargs)
        plan = self._prepare(model, messages, stream, kwargs)
        return await self._send(plan, self._gate(plan))

    async def _send(self, plan: CallPlan, gate: Gate | None) -> ChatCompletion | AsyncStream:
        """Send one prepared call, with its retries (and its gate's keys and limits)."""
        stream = plan.stream
        http = self.http_client
        if gate is None or gate.announce:  # once per call, not once per fallback model
            self._start(plan)
        attempt = switches = 0
        while True:
            try:
                ticket = await gate.abegin(attempt) if gate is not None else None
            except BaseException as exc:  # a limit wait ran out, no key left, or cancelled while waiting
                if gate is not None and self._ends_call(gate, exc):
                    self._finish(plan, gate.last_event or plan.event(attempt), None, exc)
                raise
            event, request = self._start_attempt(plan, attempt, http, gate, ticket)
            try:
                try:
                    response = await http.send(request, stream=True, follow_redirects=False)
                except httpx.HTTPError as exc:
                    raise transport_error(plan, exc) from exc
                self._received(plan, event, response)
                try:
                    if response.status_code >= 300:
                        raise self._error_for(plan, response, await response.aread())
                    if stream:
                        from chatplug._streaming import AsyncStream, StreamProcessor

                        asource = response.aiter_bytes()
                        first = await anext(asource, b"")
                        if not first:
                            raise self._empty_stream(plan)
                        aresult = AsyncStream(StreamProcessor(plan, response.headers), response, first, asource, event)
                        return aresult if gate is None or ticket is None else gate.aguard_stream(aresult, ticket)
                    content = await response.aread()
                except httpx.HTTPError as exc:
                    await response.aclose()
                    raise transport_error(plan, exc) from exc
                except BaseException:
                    await response.aclose()
                    raise
                completion = self._completion(plan, response, content)
            except APIError as error:
                plan.scrub_error(error)
                switch = await gate.afailed(ticket, error) if gate is not None and ticket is not None else False
                delay = self._should_retry(plan, attempt, error, event, gate, switch, switches)
                switches += switch
                if delay is None:
                    if gate is None or not gate.defer_finish:
                        self._finish(plan, event, None, error)
                    raise
            except BaseException as exc:  # interrupted, cancelled, or a plugin hook raised
                if gate is not None and ticket is not None:
                    await gate.ainterrupted(ticket)
                if self._ends_call(gate, exc):
                    self._finish(plan, event, None, exc)
                raise
            else:
                if gate is not None and ticket is not None:
                    await gate.asucceeded(ticket, completion)
                self._finish(plan, event, completion, None)
                return completion
            try:
                await self._sleep(delay)
            except BaseException as exc:
                self._finish(plan, event, None, exc)
                raise
            attempt += 1

    async def close(self) -> None:
        """Close the HTTP connections this client owns; the client cannot be used after."""
        self._closed = True
        if self._owns_http and self._http is not None:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
