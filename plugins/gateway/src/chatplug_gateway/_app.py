"""The Starlette app: ``/v1/chat/completions``, ``/v1/models``, ``/health``, ``/metrics``.

One :class:`chatplug.AsyncClient` per process, opened and closed by the app's
lifespan, does every upstream call: routing, validation, retries, fallbacks,
key pools and shared limits are chatplug's, configured from the gateway's file.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import chatplug
from chatplug.plugins import PluginRegistry, default_registry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chatplug_gateway._config import (
    ENV_CONFIG,
    GatewayConfig,
    GatewayKey,
    fail_unknown_models,
    hash_key,
    is_loopback,
    load_config,
)
from chatplug_gateway._errors import GatewayError, error_class_name, error_reply
from chatplug_gateway._metrics import CONTENT_TYPE_LATEST, Metrics
from chatplug_gateway._sse import EventStreamResponse
from chatplug_gateway._wire import DONE, CallRequest, ChunkWire, completion_wire, parse_request, sse

if TYPE_CHECKING:
    from chatplug._limits import Permit

__all__ = ["Gateway", "app_from_env", "create_app"]

logger = logging.getLogger("chatplug.gateway")

#: The tenant of a gateway with no keys configured (loopback only).
ANONYMOUS = GatewayKey(name="anonymous", sha256="")


class _Call:
    """What one request resolved to, for metrics and logs (no key, no prompt)."""

    __slots__ = ("model", "provider", "started", "stream", "tenant")

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.provider = ""
        self.model = ""
        self.tenant = ""
        self.stream = False


class Gateway:
    """The state of one gateway app: its config, its client, its limits and metrics."""

    def __init__(self, config: GatewayConfig, *, registry: PluginRegistry | None = None) -> None:
        self.config = config
        self.registry = registry if registry is not None else default_registry()
        self.metrics = Metrics()
        self._by_hash = {key.sha256: key for key in config.keys}
        self._client: chatplug.AsyncClient | None = None
        self._upstream_limiter: chatplug.Limiter | None = None
        self._tenant_limiters: dict[float, chatplug.Limiter] = {}

    # ------------------------------------------------------------ lifecycle

    @property
    def client(self) -> chatplug.AsyncClient:
        """The process's upstream client (open between startup and shutdown)."""
        if self._client is None:
            raise RuntimeError("the gateway is not started (its lifespan opens the client)")
        return self._client

    async def start(self) -> None:
        """Open the upstream client and the limiters."""
        config = self.config
        fail_unknown_models(config, self.registry.resolve_model)  # an alias to nowhere stops the start
        api_key: dict[str, Any] = {}
        for source in config.provider_keys:
            keys = [os.environ[name] for name in source.api_key_env if os.environ.get(name)]
            if not keys:
                raise chatplug.MissingAPIKeyError(
                    f"providers.{source.provider}: none of {', '.join(source.api_key_env)} is set",
                    provider=source.provider, env_vars=source.api_key_env)
            api_key[source.provider] = keys
        if config.upstream_limits:
            self._upstream_limiter = chatplug.Limiter(
                [chatplug.RateLimit(provider=rule.provider, model=rule.model, per_key=rule.per_key,
                                    max_in_flight=rule.max_in_flight, rpm=rule.rpm, tpm=rule.tpm, window=rule.window)
                 for rule in config.upstream_limits],
                storage=config.storage, max_wait=config.max_wait,
                on_storage_error="closed" if config.on_storage_error == "closed" else "open",
            )
        waits = {key.limits.max_wait for key in config.keys if key.limits.any}
        for wait in waits:
            rules = [
                chatplug.RateLimit(provider=_tenant_scope(key), max_in_flight=key.limits.max_in_flight,
                                   rpm=key.limits.rpm, tpm=key.limits.tpm)
                for key in config.keys if key.limits.any and key.limits.max_wait == wait
            ]
            self._tenant_limiters[wait] = chatplug.Limiter(
                rules, storage=config.storage, max_wait=wait, namespace="chatplug-gateway",
                on_storage_error="closed" if config.on_storage_error == "closed" else "open",
            )
        self._client = chatplug.AsyncClient(
            api_key=api_key or None,
            max_retries=config.max_retries,
            timeout=config.timeout,
            fallback_on_context_length=config.fallback_on_context_length,
            limiter=self._upstream_limiter,
            registry=self.registry,
        )

    async def stop(self) -> None:
        """Close the upstream client's connections and the limiters' Redis connections."""
        if self._client is not None:
            await self._client.close()
        for limiter in (self._upstream_limiter, *self._tenant_limiters.values()):
            if limiter is not None:
                await limiter.aclose()

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """Starlette's lifespan: start, serve, stop."""
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    # ---------------------------------------------------------------- auth

    def authenticate(self, request: Request) -> GatewayKey:
        """The gateway key of the request (``Authorization: Bearer ...``); 401 if it is missing or unknown."""
        if not self._by_hash:
            server = request.scope.get("server") or ("127.0.0.1", 0)
            if server[0] and not is_loopback(str(server[0])):
                # `chatplug serve` refuses to start like this; an app served some other way is refused here
                raise GatewayError(403, "this gateway has no gateway keys configured, so it answers only on a "
                                   "loopback address; configure [[keys]] or CHATPLUG_GATEWAY_KEYS",
                                   type="permission_error", code="gateway_without_keys",
                                   metric="GatewayWithoutKeys")
            return ANONYMOUS
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise GatewayError(401, "missing gateway key: send 'Authorization: Bearer <key>' (the gateway's key, "
                               "not a provider's)", type="invalid_request_error", code="invalid_api_key",
                               metric="InvalidGatewayKey")
        digest = hash_key(token)
        for known, key in self._by_hash.items():
            if hmac.compare_digest(known, digest):
                return key
        raise GatewayError(401, "incorrect gateway key provided", type="invalid_request_error",
                           code="invalid_api_key", metric="InvalidGatewayKey")

    def route(self, name: str) -> tuple[str, str, str]:
        """(model to call, provider id, model name) for a requested name or alias."""
        target = self.config.aliases.get(name, name)
        provider, model = self.registry.resolve_model(target)
        return target, provider.id, model

    def fallbacks_for(self, requested: str, target: str, key: GatewayKey) -> list[str] | None:
        """The configured fallbacks of a model, keeping only those the key may use (``None``: none configured)."""
        chain = self.config.fallbacks.get(requested)
        if chain is None:
            chain = self.config.fallbacks.get(target)
        if chain is None:
            return None
        allowed = []
        for name in chain:
            provider, model = self.registry.resolve_model(name)
            if key.allows(name, f"{provider.id}/{model}"):
                allowed.append(name)
        return allowed

    # --------------------------------------------------------------- limits

    async def acquire(self, key: GatewayKey, body: Mapping[str, Any], size: int) -> Permit | None:
        """Take room in the key's own limits; 429 when it has none (after its ``max_wait``)."""
        if not key.limits.any:
            return None
        limiter = self._tenant_limiters[key.limits.max_wait]
        tokens = limiter.tokens_for(body, size)
        if key.limits.tpm is not None and tokens > key.limits.tpm:  # could never pass: not a rate limit
            raise GatewayError(
                400, f"the request reserves {tokens} tokens (max_tokens plus about one token per 4 bytes of the "
                f"prompt), more than gateway key {key.name!r} may use in a minute (tpm={key.limits.tpm}); "
                "lower max_tokens", type="invalid_request_error", code="tokens_over_key_limit", param="max_tokens",
                metric="GatewayTokensOverLimit")
        try:
            return await limiter.aacquire(_tenant_scope(key), "*", None, tokens)
        except chatplug.LimitWaitTimeoutError:
            raise GatewayError(
                429, f"gateway key {key.name!r} is over its limit ({_describe(key)}); retry later",
                type="rate_limit_error", code="rate_limit_exceeded", headers={"retry-after": "1"},
                metric="GatewayRateLimit") from None


def _tenant_scope(key: GatewayKey) -> str:
    return f"tenant:{key.name}"


def _describe(key: GatewayKey) -> str:
    limits = key.limits
    parts = [f"{name}={getattr(limits, name)}" for name in ("rpm", "tpm", "max_in_flight") if getattr(limits, name)]
    return ", ".join(parts)


async def _release(permit: Permit | None, usage: Any) -> None:
    """Free the key's in-flight slot and settle its token reservation: with the usage reported, with 0
    tokens (``usage=0``) for a request that consumed none, or kept as reserved (``None``: unknown)."""
    if permit is None:
        return
    if isinstance(usage, int):
        total: Any = usage
    else:
        total = usage.get("total_tokens") if isinstance(usage, dict) else getattr(usage, "total_tokens", None)
    with anyio.CancelScope(shield=True):
        await permit.asettle(total if isinstance(total, int) else None)
        await permit.arelease()


# ------------------------------------------------------------------- endpoints


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def _finish(gateway: Gateway, call: _Call, status: str, error: BaseException | None = None) -> None:
    labels = (call.provider, call.model, call.tenant)
    metrics = gateway.metrics
    metrics.requests.labels(*labels, str(call.stream).lower(), status).inc()
    if error is not None:
        metrics.errors.labels(*labels, error_class_name(error)).inc()
    elapsed = time.perf_counter() - call.started
    metrics.latency.labels(*labels, str(call.stream).lower()).observe(elapsed)
    metrics.in_flight.dec()
    logger.info("%s %s/%s tenant=%s stream=%s %.3fs", status, call.provider or "-", call.model or "-",
                call.tenant or "-", call.stream, elapsed)


async def chat_completions(request: Request) -> Response:
    """``POST /v1/chat/completions``."""
    gateway: Gateway = request.app.state.gateway
    gateway.metrics.in_flight.inc()
    call = _Call()
    permit: Permit | None = None
    try:
        key = gateway.authenticate(request)
        call.tenant = key.name
        raw = await _read_body(request, gateway.config.max_body_bytes)
        parsed, body = parse_request(raw)
        call.stream = parsed.stream
        target, call.provider, call.model = gateway.route(parsed.model)
        if not key.allows(parsed.model, f"{call.provider}/{call.model}"):
            allowed = ", ".join(key.models)
            raise GatewayError(403, f"gateway key {key.name!r} may not use model {parsed.model!r}; allowed: {allowed}",
                               type="permission_error", code="model_not_allowed", param="model",
                               metric="ModelNotAllowed")
        fallbacks = gateway.fallbacks_for(parsed.model, target, key)
        permit = await gateway.acquire(key, body, len(raw))
        result = await _create_unless_gone(request, gateway, parsed, target, fallbacks)
    except Exception as exc:  # every failure becomes OpenAI error JSON
        await _release(permit, 0)  # nothing was generated: the reservation goes back
        reply = error_reply(exc)
        if reply.status >= 500 and reply.body["error"]["code"] == "internal_error":
            logger.exception("internal error (reference %s)", reply.body["error"].get("reference"))
        _finish(gateway, call, str(reply.status), exc)
        return _json(reply.status, reply.body, reply.headers)
    except BaseException:  # cancelled (the server is stopping): count it, free the key's slot
        with anyio.CancelScope(shield=True):
            await _release(permit, 0)
        _finish(gateway, call, "499")
        raise
    if result is None:  # the client left before the reply: the upstream call was cancelled
        await _release(permit, 0)
        _finish(gateway, call, "499")
        return Response(status_code=499)
    if isinstance(result, chatplug.ChatCompletion):
        usage = result.usage
        await _release(permit, usage)
        gateway.metrics.observe_usage(call.provider, call.model, call.tenant, usage)
        _finish(gateway, call, "200")
        return _json(200, completion_wire(result, parsed.model))
    streamed = _StreamReply(gateway, call, result, ChunkWire(parsed.model, parsed.include_usage), permit)
    return EventStreamResponse(streamed.events(), on_close=streamed.close)


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to be larger than ``limit``."""
    too_large = GatewayError(413, f"the request body is larger than the gateway accepts ({limit} bytes)",
                             type="invalid_request_error", code="request_too_large", metric="RequestTooLarge")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for piece in request.stream():
        body.extend(piece)
        if len(body) > limit:
            raise too_large
    return bytes(body)


async def _create_unless_gone(request: Request, gateway: Gateway, parsed: CallRequest, target: str,
                              fallbacks: list[str] | None) -> chatplug.ChatCompletion | chatplug.AsyncStream | None:
    """The upstream call, cancelled as soon as the client disconnects (``None`` then).

    A non-stream reply can take minutes (a reasoning model): a client that
    gives up must not leave the provider working for nobody.
    """
    result: chatplug.ChatCompletion | chatplug.AsyncStream | None = None
    failure: Exception | None = None
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass
            group.cancel_scope.cancel()

        group.start_soon(watch)
        try:
            result = await _create(gateway, parsed, target, fallbacks)
        except Exception as exc:  # noqa: BLE001 - re-raised outside the group, not wrapped in an ExceptionGroup
            failure = exc
        group.cancel_scope.cancel()  # the reply is here; a stream's response watches on its own
    if failure is not None:
        raise failure
    return result


async def _create(gateway: Gateway, parsed: CallRequest, target: str,
                  fallbacks: list[str] | None) -> chatplug.ChatCompletion | chatplug.AsyncStream:
    params = dict(parsed.params)
    if parsed.extra_body:
        params["extra_body"] = parsed.extra_body
    create: Any = gateway.client.chat.completions.create
    result: chatplug.ChatCompletion | chatplug.AsyncStream = await create(
        model=target, messages=parsed.messages, stream=parsed.stream, fallbacks=fallbacks, **params)
    return result


class _StreamReply:
    """One streamed reply: its SSE events, pulled from the upstream one chunk at a time, and its cleanup.

    :meth:`close` runs once, whether the events ran to their end, failed, or
    never started (a client that left before the first event).
    """

    def __init__(self, gateway: Gateway, call: _Call, stream: chatplug.AsyncStream, wire: ChunkWire,
                 permit: Permit | None) -> None:
        self.gateway = gateway
        self.call = call
        self.stream = stream
        self.wire = wire
        self.permit = permit
        self.status = "499"  # the client went away, unless the stream ends otherwise
        self.error: BaseException | None = None
        self.closed = False

    async def events(self) -> AsyncGenerator[bytes, None]:
        """The encoded SSE events; an error after the start is one ``error`` event, then the end."""
        call, wire = self.call, self.wire
        try:
            async for chunk in self.stream:
                if not wire.chunks:
                    self.gateway.metrics.first_chunk.labels(call.provider, call.model, call.tenant).observe(
                        time.perf_counter() - call.started)
                data = wire.convert(chunk)
                if data is not None:
                    yield sse(data)
            final = wire.final()
            if final is not None:
                yield sse(final)
            self.status = "200"
            yield DONE
        except Exception as exc:  # an error after the stream started: one error event, then the end
            self.error = exc
            reply = error_reply(exc)
            self.status = str(reply.status)
            if reply.body["error"]["code"] == "internal_error":
                logger.exception("internal error in a stream (reference %s)", reply.body["error"].get("reference"))
            yield sse(reply.body, event="error")
        finally:
            await self.close()

    async def close(self) -> None:
        """Close the upstream stream, give back the key's limits, count the request (once)."""
        if self.closed:
            return
        self.closed = True
        call, usage = self.call, self.wire.usage
        with anyio.CancelScope(shield=True):
            await self.stream.close()
        await _release(self.permit, usage if usage is not None else (0 if self.status != "200" else None))
        self.gateway.metrics.observe_usage(call.provider, call.model, call.tenant, usage)
        _finish(self.gateway, call, self.status, self.error)


def _models_for(gateway: Gateway, key: GatewayKey) -> list[dict[str, Any]]:
    """The model objects a key may use: declared models as ``provider/model``, then the aliases."""
    data: list[dict[str, Any]] = []
    for provider_id, provider in sorted(gateway.registry.providers().items()):
        for model in provider.models:
            name = f"{provider_id}/{model}"
            if key.allows(name):
                data.append({"id": name, "object": "model", "created": 0, "owned_by": provider_id})
    for alias, target in sorted(gateway.config.aliases.items()):
        try:
            _, provider_id, model = gateway.route(alias)
        except chatplug.ChatplugError:
            continue
        if key.allows(alias, f"{provider_id}/{model}"):
            data.append({"id": alias, "object": "model", "created": 0, "owned_by": provider_id, "alias_of": target})
    return data


async def list_models(request: Request) -> Response:
    """``GET /v1/models``: every installed provider's declared models as ``provider/model``, and the aliases."""
    gateway: Gateway = request.app.state.gateway
    try:
        key = gateway.authenticate(request)
    except GatewayError as exc:
        reply = error_reply(exc)
        return _json(reply.status, reply.body, reply.headers)
    return _json(200, {"object": "list", "data": _models_for(gateway, key)})


async def get_model(request: Request) -> Response:
    """``GET /v1/models/{model}`` (the name may hold a ``/``): one entry of the list, or 404."""
    gateway: Gateway = request.app.state.gateway
    name = request.path_params["model"]
    try:
        key = gateway.authenticate(request)
        found = next((entry for entry in _models_for(gateway, key) if entry["id"] == name), None)
        if found is None:
            raise GatewayError(404, f"the model {name!r} does not exist or this key may not use it "
                               "(GET /v1/models lists them)", type="invalid_request_error", code="model_not_found",
                               param="model", metric="ModelNotFoundError")
    except GatewayError as exc:
        reply = error_reply(exc)
        return _json(reply.status, reply.body, reply.headers)
    return _json(200, found)


async def health(request: Request) -> Response:
    """``GET /health``: 200 while the process serves (no upstream call, no auth)."""
    return _json(200, {"status": "ok", "version": chatplug.__version__})


async def metrics(request: Request) -> Response:
    """``GET /metrics``: Prometheus exposition text."""
    gateway: Gateway = request.app.state.gateway
    return Response(gateway.metrics.render(), media_type=CONTENT_TYPE_LATEST)


def create_app(config: GatewayConfig | None = None, *, registry: PluginRegistry | None = None) -> Starlette:
    """The gateway as an ASGI app (serve it with uvicorn, or mount it in another Starlette app)."""
    gateway = Gateway(config or GatewayConfig(), registry=registry)
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/v1/models/{model:path}", get_model, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        lifespan=gateway.lifespan,
    )
    app.state.gateway = gateway
    return app


def app_from_env() -> Starlette:
    """The app factory uvicorn's workers call (``--workers N``): the config file named by
    ``CHATPLUG_GATEWAY_CONFIG``, plus the keys of ``CHATPLUG_GATEWAY_KEYS``."""
    path = os.environ.get(ENV_CONFIG) or None
    config = load_config(path).with_env_keys(os.environ)
    return create_app(config)
