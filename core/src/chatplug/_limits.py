"""Limits shared across processes and machines: requests in flight, requests
per minute and tokens per minute, per provider, per model or per key.

The client waits before sending rather than collecting 429s. Storage:

- ``storage="memory://"`` (default): this process only.
- ``storage="redis://host:6379/0"``: every process and machine using that Redis.

What does the counting (see docs/scale.md for why):

- requests and tokens per window: the maintained `limits` library
  (``pip install 'chatplug[limits]'``), moving window for requests (exact),
  fixed window for tokens (one counter per window, so a reservation can be
  settled with the actual usage);
- requests in flight, on Redis: N redis-py ``Lock`` objects (``SET NX PX``
  with a lease, renewed while the request runs, released by token), one per
  slot, so a crashed process frees its slots when their lease runs out
  (``pip install 'chatplug[redis]'``); in memory, a ``threading.BoundedSemaphore``.

Neither `limits` nor `redis` is needed to import chatplug: they load when a
:class:`Limiter` that uses them is built.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attr

from chatplug.errors import InvalidRequestError, LimiterUnavailableError, LimitWaitTimeoutError

__all__ = ["RateLimit", "Limiter", "Permit"]

logger = logging.getLogger("chatplug")

_FIRST_POLL = 0.005
_MAX_POLL = 0.1


def _positive_or_none(name: str, allow_none: bool = True) -> Any:
    def check(_: Any, attribute: Any, value: Any) -> None:
        if value is None and allow_none:
            return
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            expected = "a whole number >= 1 or None" if allow_none else "a whole number >= 1"
            raise InvalidRequestError(f"RateLimit({name}={value!r}): expected {expected}", param=name)

    return check


@attr.frozen
class RateLimit:
    """One limit, declared for a provider (``provider="glm"``, or ``None`` for
    each provider), optionally one model (``model="glm-4.6"``), optionally
    counted separately for each API key (``per_key=True``).

    - ``max_in_flight``: requests sent and not yet finished (a stream counts
      until it ends);
    - ``rpm``: requests started per ``window`` seconds (default 60);
    - ``tpm``: tokens per ``window`` seconds; each request reserves its
      ``max_tokens`` (or the limiter's ``reserve_tokens``) plus an estimate of
      its prompt (one token per 4 bytes of body), settled with the usage the
      server reports.

    Every process sharing a Redis must declare the same limits.
    """

    provider: str | None = None
    model: str | None = None
    per_key: bool = False
    max_in_flight: int | None = attr.field(default=None, validator=_positive_or_none("max_in_flight"))
    rpm: int | None = attr.field(default=None, validator=_positive_or_none("rpm"))
    tpm: int | None = attr.field(default=None, validator=_positive_or_none("tpm"))
    window: int = attr.field(default=60, validator=_positive_or_none("window", allow_none=False))

    def __attrs_post_init__(self) -> None:
        if self.max_in_flight is None and self.rpm is None and self.tpm is None:
            raise InvalidRequestError(
                "RateLimit() limits nothing: give max_in_flight=, rpm= or tpm=", param="max_in_flight"
            )

    def applies(self, provider: str, model: str) -> bool:
        """Whether this limit covers a request to ``provider``/``model``."""
        return (self.provider is None or self.provider == provider) and (self.model is None or self.model == model)

    def scope(self, provider: str, model: str, fingerprint: str | None) -> str:
        """The name the limit is counted under."""
        parts = [provider]
        if self.model is not None:
            parts.append(f"model={model}")
        if self.per_key:
            parts.append(f"key={fingerprint or 'env'}")
        return "/".join(parts)

    def describe(self, provider: str, model: str) -> str:
        kinds = [f"{name}={getattr(self, name)}" for name in ("max_in_flight", "rpm", "tpm") if getattr(self, name)]
        window = f" per {self.window}s" if self.window != 60 and (self.rpm or self.tpm) else ""
        return f"{self.scope(provider, model, None if not self.per_key else 'per-key')}: {', '.join(kinds)}{window}"


# ---------------------------------------------------------------- backends


class _Windows:
    """Items and strategies of `limits` for one storage (sync or async)."""

    def __init__(self, strategies: Any, storage: Any) -> None:
        self.requests = strategies.MovingWindowRateLimiter(storage)
        self.tokens = strategies.FixedWindowRateLimiter(storage)
        self.storage = storage
        self._items: dict[tuple[str, int, int], Any] = {}

    def item(self, kind: str, amount: int, window: int) -> Any:
        key = (kind, amount, window)
        item = self._items.get(key)
        if item is None:
            from limits import RateLimitItemPerSecond

            item = RateLimitItemPerSecond(amount, window, namespace=f"chatplug-{kind}")
            self._items[key] = item
        return item


def _import_limits() -> Any:
    try:
        import limits
    except ImportError as exc:  # pragma: no cover - exercised in an env without the extra
        raise ImportError(
            "rpm= and tpm= need the 'limits' library: pip install 'chatplug[limits]'"
        ) from exc
    return limits


def _import_redis() -> Any:
    try:
        import redis
    except ImportError as exc:  # pragma: no cover
        raise ImportError("a redis:// limiter storage needs redis-py: pip install 'chatplug[redis]'") from exc
    return redis


class _MemoryBackend:
    """This process only. Used by sync and async clients alike (nothing blocks)."""

    shared = False

    def __init__(self, needs_windows: bool) -> None:
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()
        self.windows: _Windows | None = None
        if needs_windows:
            _import_limits()
            from limits import storage, strategies

            self.windows = _Windows(strategies, storage.MemoryStorage())

    def errors(self) -> tuple[type[BaseException], ...]:
        return ()

    def take_slot(self, scope: str, capacity: int) -> Any:
        name = f"{scope}#{capacity}"
        semaphore = self._slots.get(name)
        if semaphore is None:
            with self._lock:
                semaphore = self._slots.setdefault(name, threading.BoundedSemaphore(capacity))
        return semaphore if semaphore.acquire(blocking=False) else None

    def free_slot(self, handle: Any) -> None:
        handle.release()


class _RedisBackend:
    """Shared through Redis: slots are redis-py locks with a lease, windows are `limits`' RedisStorage."""

    shared = True

    def __init__(self, url: str, namespace: str, lease: float, options: Mapping[str, Any], needs_windows: bool) -> None:
        redis = _import_redis()
        self._redis_module = redis
        self.client = redis.Redis.from_url(url, **options)
        self.namespace = namespace
        self.lease = lease
        self.windows: _Windows | None = None
        if needs_windows:
            limits = _import_limits()
            from limits import strategies
            from limits.storage import RedisStorage

            storage = RedisStorage(url, wrap_exceptions=True, key_prefix=namespace, **options)
            self.windows = _Windows(strategies, storage)
            self._storage_error: type[BaseException] = limits.errors.StorageError
        else:
            self._storage_error = redis.RedisError
        self._held: dict[int, Any] = {}
        self._held_lock = threading.Lock()
        self._renewer: threading.Thread | None = None

    def errors(self) -> tuple[type[BaseException], ...]:
        return (self._redis_module.RedisError, self._storage_error, OSError)

    def take_slot(self, scope: str, capacity: int) -> Any:
        start = random.randrange(capacity)
        for step in range(capacity):
            name = f"{self.namespace}:inflight:{scope}:{(start + step) % capacity}"
            lock = self.client.lock(name, timeout=self.lease, thread_local=False)
            if lock.acquire(blocking=False):
                with self._held_lock:
                    self._held[id(lock)] = lock
                self._start_renewer()
                return lock
        return None

    def free_slot(self, handle: Any) -> None:
        with self._held_lock:
            self._held.pop(id(handle), None)
        try:
            handle.release()
        except self._redis_module.exceptions.LockError:
            pass  # the lease ran out meanwhile (a very long request, or Redis restarted): nothing to free

    def _start_renewer(self) -> None:
        if self._renewer is not None and self._renewer.is_alive():
            return  # (after a fork the parent's thread is not alive here: start one)
        with self._held_lock:
            if self._renewer is not None and self._renewer.is_alive():
                return
            ref = weakref.ref(self)
            interval = self.lease / 3.0
            thread = threading.Thread(target=_renew_forever, args=(ref, interval), name="chatplug-lease", daemon=True)
            self._renewer = thread
        thread.start()

    def renew_all(self) -> None:
        with self._held_lock:
            held = list(self._held.values())
        for lock in held:
            try:
                lock.reacquire()
            except Exception as exc:  # noqa: BLE001 - a lost lease is logged, the request goes on
                logger.warning("chatplug: could not renew an in-flight lease (%s)", type(exc).__name__)


def _renew_forever(ref: weakref.ref[_RedisBackend], interval: float) -> None:
    while True:
        time.sleep(interval)
        backend = ref()
        if backend is None:
            return
        backend.renew_all()
        del backend


class _AsyncRedisBackend:
    """The asyncio twin of :class:`_RedisBackend` (redis.asyncio and limits.aio), one per event loop."""

    shared = True

    def __init__(self, url: str, namespace: str, lease: float, options: Mapping[str, Any], needs_windows: bool) -> None:
        redis = _import_redis()
        import redis.asyncio as aredis

        self._redis_module = redis
        self.client = aredis.Redis.from_url(url, **options)
        self.namespace = namespace
        self.lease = lease
        self.windows: _Windows | None = None
        self._storage_error: type[BaseException] = redis.RedisError
        if needs_windows:
            limits = _import_limits()
            from limits.aio import strategies
            from limits.aio.storage import RedisStorage

            storage = RedisStorage(
                f"async+{url}", wrap_exceptions=True, key_prefix=namespace, implementation="redispy", **options
            )
            self.windows = _Windows(strategies, storage)
            self._storage_error = limits.errors.StorageError
        self._renewals: dict[int, asyncio.Task[None]] = {}

    def errors(self) -> tuple[type[BaseException], ...]:
        return (self._redis_module.RedisError, self._storage_error, OSError)

    async def take_slot(self, scope: str, capacity: int) -> Any:
        start = random.randrange(capacity)
        for step in range(capacity):
            name = f"{self.namespace}:inflight:{scope}:{(start + step) % capacity}"
            lock = self.client.lock(name, timeout=self.lease, thread_local=False)
            if await lock.acquire(blocking=False):
                self._renewals[id(lock)] = asyncio.ensure_future(self._renew(lock))
                return lock
        return None

    async def _renew(self, lock: Any) -> None:
        while True:
            await asyncio.sleep(self.lease / 3.0)
            try:
                await lock.reacquire()
            except Exception as exc:  # noqa: BLE001 - logged; the request goes on
                logger.warning("chatplug: could not renew an in-flight lease (%s)", type(exc).__name__)

    def stop_renewal(self, handle: Any) -> None:
        task = self._renewals.pop(id(handle), None)
        if task is not None:
            task.cancel()

    async def free_slot(self, handle: Any) -> None:
        self.stop_renewal(handle)
        try:
            await handle.release()
        except self._redis_module.exceptions.LockError:
            pass


# ------------------------------------------------------------------ permits


@attr.define
class _Reservation:
    item: Any
    scope: str
    tokens: int
    at: float


class Permit:
    """What one request holds: in-flight slots and token reservations.

    ``release()`` frees the slots; ``settle(total_tokens)`` corrects the token
    reservations with the usage the server reported. Both are idempotent.
    """

    def __init__(self, limiter: Limiter, backend: Any, slots: list[Any], reservations: list[_Reservation]) -> None:
        self._limiter = limiter
        self._backend = backend
        self._slots = slots
        self._reservations = reservations

    def settle(self, total_tokens: int | None) -> None:
        reservations, self._reservations = self._reservations, []
        if total_tokens is None or self._backend.windows is None:
            return
        storage = self._backend.windows.storage
        for reservation in reservations:
            delta = total_tokens - reservation.tokens
            if delta == 0 or not self._same_window(storage, reservation, delta):
                continue
            try:
                storage.incr(reservation.item.key_for(reservation.scope), reservation.item.get_expiry(), amount=delta)
            except self._backend.errors() as exc:
                self._limiter._storage_failed(exc, "settling tokens")

    def _same_window(self, storage: Any, reservation: _Reservation, delta: int) -> bool:
        if delta > 0:
            return True  # usage beyond the reservation counts in the current window, whichever it is
        try:
            ends = storage.get_expiry(reservation.item.key_for(reservation.scope))
        except self._backend.errors():
            return False
        return bool(ends <= reservation.at + reservation.item.get_expiry() + 1.0)

    def release(self) -> None:
        slots, self._slots = self._slots, []
        for handle in slots:
            try:
                self._backend.free_slot(handle)
            except self._backend.errors() as exc:
                self._limiter._storage_failed(exc, "freeing an in-flight slot")

    async def asettle(self, total_tokens: int | None) -> None:
        """The async twin of :meth:`settle`."""
        if not isinstance(self._backend, _AsyncRedisBackend):
            self.settle(total_tokens)
            return
        reservations, self._reservations = self._reservations, []
        if total_tokens is None or self._backend.windows is None:
            return
        storage = self._backend.windows.storage
        for reservation in reservations:
            delta = total_tokens - reservation.tokens
            if delta == 0:
                continue
            key = reservation.item.key_for(reservation.scope)
            try:
                if delta < 0:
                    ends = await storage.get_expiry(key)
                    if ends > reservation.at + reservation.item.get_expiry() + 1.0:
                        continue
                await storage.incr(key, reservation.item.get_expiry(), amount=delta)
            except self._backend.errors() as exc:
                self._limiter._storage_failed(exc, "settling tokens")

    async def arelease(self) -> None:
        """The async twin of :meth:`release`."""
        if not isinstance(self._backend, _AsyncRedisBackend):
            self.release()
            return
        slots, self._slots = self._slots, []
        for handle in slots:
            try:
                await self._backend.free_slot(handle)
            except self._backend.errors() as exc:
                self._limiter._storage_failed(exc, "freeing an in-flight slot")

    def abandon(self) -> None:
        """Forget the slots without I/O (an async stream dropped unclosed): their leases run out."""
        if isinstance(self._backend, _AsyncRedisBackend):
            for handle in self._slots:
                self._backend.stop_renewal(handle)
            self._slots = []
        else:
            self.release()


class Limiter:
    """Shared limits for the clients it is given to (``Client(limiter=...)``).

    ::

        limiter = chatplug.Limiter(
            [chatplug.RateLimit(provider="glm", max_in_flight=5, rpm=60),
             chatplug.RateLimit(provider="kimi", per_key=True, tpm=120_000)],
            storage="redis://127.0.0.1:6379/0",   # default "memory://": this process only
        )
        client = chatplug.Client(limiter=limiter)

    - ``max_wait``: the longest a request waits for its limits (seconds)
      before :class:`~chatplug.LimitWaitTimeoutError`; a wait known to be
      longer fails at once.
    - ``lease``: how long an in-flight slot on Redis is held without renewal;
      a running request renews it every ``lease / 3``, so a crashed process
      frees its slots within ``lease`` seconds.
    - ``on_storage_error``: ``"open"`` (default) sends the request unlimited
      and logs a warning when Redis cannot be reached; ``"closed"`` raises
      :class:`~chatplug.LimiterUnavailableError` instead, sending nothing.
    - ``reserve_tokens``: the reply tokens a ``tpm`` limit reserves for a
      request that sets no ``max_tokens``.
    - ``redis_options``: keyword arguments for ``redis.Redis.from_url``
      (default: 2-second connect and socket timeouts).
    - ``namespace``: the prefix of every Redis key.
    """

    def __init__(
        self,
        limits: Iterable[RateLimit],
        *,
        storage: str = "memory://",
        max_wait: float = 60.0,
        lease: float = 30.0,
        on_storage_error: Literal["open", "closed"] = "open",
        reserve_tokens: int = 1024,
        redis_options: Mapping[str, Any] | None = None,
        namespace: str = "chatplug",
    ) -> None:
        rules = tuple(limits)
        for rule in rules:
            if not isinstance(rule, RateLimit):
                raise InvalidRequestError(
                    f"Limiter() takes chatplug.RateLimit objects, not {type(rule).__name__}", param="limits"
                )
        if on_storage_error not in ("open", "closed"):
            raise InvalidRequestError(
                f"on_storage_error={on_storage_error!r}: expected 'open' or 'closed'", param="on_storage_error"
            )
        for name, value in (("max_wait", max_wait), ("lease", lease)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise InvalidRequestError(f"{name}={value!r}: expected seconds >= 0", param=name)
        if lease <= 0:
            raise InvalidRequestError(f"lease={lease!r}: expected seconds > 0", param="lease")
        if not isinstance(reserve_tokens, int) or isinstance(reserve_tokens, bool) or reserve_tokens < 0:
            raise InvalidRequestError(
                f"reserve_tokens={reserve_tokens!r}: expected a whole number of tokens >= 0", param="reserve_tokens"
            )
        self.limits = rules
        self.max_wait = float(max_wait)
        self.lease = float(lease)
        self.on_storage_error = on_storage_error
        self.reserve_tokens = reserve_tokens
        self.namespace = namespace
        self._needs_windows = any(rule.rpm or rule.tpm for rule in rules)
        self._url = storage
        self._options = dict(redis_options) if redis_options is not None else {
            "socket_timeout": 2.0,
            "socket_connect_timeout": 2.0,
        }
        self._rules_cache: dict[tuple[str, str], tuple[RateLimit, ...]] = {}
        self._last_warning = 0.0
        self._async_backends: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _AsyncRedisBackend] = (
            weakref.WeakKeyDictionary()
        )
        if storage.startswith("memory://"):
            self._sync: Any = _MemoryBackend(self._needs_windows)
        elif storage.startswith(("redis://", "rediss://", "unix://")):
            self._sync = _RedisBackend(storage, namespace, self.lease, self._options, self._needs_windows)
        else:
            raise InvalidRequestError(
                f"storage={storage!r}: expected 'memory://' or a Redis URL such as 'redis://127.0.0.1:6379/0'",
                param="storage",
            )

    def __repr__(self) -> str:
        where = "memory" if isinstance(self._sync, _MemoryBackend) else "redis"
        return f"<chatplug.Limiter {len(self.limits)} limits storage={where} on_storage_error={self.on_storage_error}>"

    def close(self) -> None:
        """Close this limiter's Redis connections (sync clients' side); safe to call twice."""
        client = getattr(self._sync, "client", None)
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the Redis connections of the current event loop's async side, and the sync side."""
        loop = asyncio.get_running_loop()
        backend = self._async_backends.pop(loop, None)
        if backend is not None:
            await backend.client.aclose()
        self.close()

    @property
    def shared(self) -> bool:
        """Whether the limits are shared through Redis (``False``: this process only)."""
        return bool(self._sync.shared)

    def rules_for(self, provider: str, model: str) -> tuple[RateLimit, ...]:
        """The limits that cover a request to ``provider``/``model``."""
        key = (provider, model)
        rules = self._rules_cache.get(key)
        if rules is None:
            rules = tuple(rule for rule in self.limits if rule.applies(provider, model))
            self._rules_cache[key] = rules
        return rules

    def tokens_for(self, payload: Mapping[str, Any], body_size: int) -> int:
        """What a request reserves against ``tpm``: its reply budget plus ~1 token per 4 body bytes."""
        budget = payload.get("max_completion_tokens") or payload.get("max_tokens") or self.reserve_tokens
        return int(budget) + body_size // 4

    def _storage_failed(self, exc: BaseException, doing: str) -> None:
        now = time.monotonic()
        if now - self._last_warning > 10.0:
            self._last_warning = now
            logger.warning("chatplug limiter: storage failed while %s (%s: %s)", doing, type(exc).__name__, exc)

    def _unavailable(self, exc: BaseException, provider: str) -> LimiterUnavailableError | None:
        """Fail closed (the error to raise) or open (``None``: send unlimited)."""
        self._storage_failed(exc, "acquiring limits")
        if self.on_storage_error == "closed":
            return LimiterUnavailableError(
                f"{provider}: the limiter's storage cannot be reached ({type(exc).__name__}); "
                "the request was not sent (on_storage_error='closed')"
            )
        return None

    # ----------------------------------------------------------- sync path

    def acquire(
        self, provider: str, model: str, fingerprint: str | None, tokens: int, sleep: Any = time.sleep
    ) -> Permit | None:
        """Wait until every limit covering the request has room, and take it."""
        rules = self.rules_for(provider, model)
        if not rules:
            return None
        backend = self._sync
        self._check_tokens(rules, provider, model, tokens)
        started = time.monotonic()
        poll = _FIRST_POLL
        while True:
            try:
                permit, wait, blocked = self._try(backend, rules, provider, model, fingerprint, tokens)
            except backend.errors() as exc:
                error = self._unavailable(exc, provider)
                if error is not None:
                    raise error from exc
                return None
            if permit is not None:
                return permit
            wait = self._next_wait(started, wait, poll, blocked, provider)
            sleep(wait)
            poll = min(poll * 2, _MAX_POLL)

    def _check_tokens(self, rules: tuple[RateLimit, ...], provider: str, model: str, tokens: int) -> None:
        for rule in rules:
            if rule.tpm is not None and tokens > rule.tpm:
                raise LimitWaitTimeoutError(
                    f"{provider}/{model}: the request reserves {tokens} tokens, more than tpm={rule.tpm} allows "
                    "in a whole window; lower max_tokens",
                    provider=provider,
                    limit=rule.describe(provider, model),
                )

    def _next_wait(self, started: float, wait: float | None, poll: float, blocked: str, provider: str) -> float:
        waited = time.monotonic() - started
        left = self.max_wait - waited
        need = poll if wait is None else max(wait, poll)
        if left <= 0 or (wait is not None and wait > left):
            raise LimitWaitTimeoutError(
                f"{provider}: waited {waited:.1f}s for {blocked}; "
                f"the limit stays full past max_wait={self.max_wait:g}s",
                provider=provider,
                limit=blocked,
                waited=waited,
            )
        return min(need * (0.75 + random.random() / 2), left)

    def _try(
        self, backend: Any, rules: tuple[RateLimit, ...], provider: str, model: str, fingerprint: str | None,
        tokens: int,
    ) -> tuple[Permit | None, float | None, str]:
        slots: list[Any] = []
        reservations: list[_Reservation] = []
        permit = Permit(self, backend, slots, reservations)
        try:
            for rule in rules:
                if rule.max_in_flight is not None:
                    handle = backend.take_slot(rule.scope(provider, model, fingerprint), rule.max_in_flight)
                    if handle is None:
                        permit.release()
                        return None, None, rule.describe(provider, model)
                    slots.append(handle)
            windows = backend.windows
            for rule in rules:
                if rule.tpm is not None:
                    item = windows.item("tokens", rule.tpm, rule.window)
                    scope = rule.scope(provider, model, fingerprint)
                    if not windows.tokens.hit(item, scope, cost=tokens):
                        windows.storage.incr(item.key_for(scope), item.get_expiry(), amount=-tokens)
                        reset = windows.tokens.get_window_stats(item, scope).reset_time
                        permit.settle(0)
                        permit.release()
                        return None, max(0.0, reset - time.time()), rule.describe(provider, model)
                    reservations.append(_Reservation(item, scope, tokens, time.time()))
            # Every rpm window is tested before any is hit: a moving-window hit cannot be
            # taken back, so a request refused by one limit must not count against another.
            for test_only in (True, False):
                for rule in rules:
                    if rule.rpm is None:
                        continue
                    item = windows.item("requests", rule.rpm, rule.window)
                    scope = rule.scope(provider, model, fingerprint)
                    if not (windows.requests.test(item, scope) if test_only else windows.requests.hit(item, scope)):
                        reset = windows.requests.get_window_stats(item, scope).reset_time
                        permit.settle(0)
                        permit.release()
                        return None, max(0.0, reset - time.time()), rule.describe(provider, model)
        except BaseException:
            permit.settle(0)
            permit.release()
            raise
        return permit, None, ""

    # ---------------------------------------------------------- async path

    def _async_backend(self) -> Any:
        if isinstance(self._sync, _MemoryBackend):
            return self._sync
        loop = asyncio.get_running_loop()
        backend = self._async_backends.get(loop)
        if backend is None:
            backend = _AsyncRedisBackend(self._url, self.namespace, self.lease, self._options, self._needs_windows)
            self._async_backends[loop] = backend
        return backend

    async def aacquire(self, provider: str, model: str, fingerprint: str | None, tokens: int) -> Permit | None:
        """The async twin of :meth:`acquire`; cancelling the task stops the wait."""
        rules = self.rules_for(provider, model)
        if not rules:
            return None
        backend = self._async_backend()
        self._check_tokens(rules, provider, model, tokens)
        started = time.monotonic()
        poll = _FIRST_POLL
        while True:
            try:
                if isinstance(backend, _MemoryBackend):
                    permit, wait, blocked = self._try(backend, rules, provider, model, fingerprint, tokens)
                else:
                    permit, wait, blocked = await self._atry(backend, rules, provider, model, fingerprint, tokens)
            except backend.errors() as exc:
                error = self._unavailable(exc, provider)
                if error is not None:
                    raise error from exc
                return None
            if permit is not None:
                return permit
            await asyncio.sleep(self._next_wait(started, wait, poll, blocked, provider))
            poll = min(poll * 2, _MAX_POLL)

    async def _atry(
        self, backend: _AsyncRedisBackend, rules: tuple[RateLimit, ...], provider: str, model: str,
        fingerprint: str | None, tokens: int,
    ) -> tuple[Permit | None, float | None, str]:
        slots: list[Any] = []
        reservations: list[_Reservation] = []
        permit = Permit(self, backend, slots, reservations)
        try:
            for rule in rules:
                if rule.max_in_flight is not None:
                    handle = await backend.take_slot(rule.scope(provider, model, fingerprint), rule.max_in_flight)
                    if handle is None:
                        await permit.arelease()
                        return None, None, rule.describe(provider, model)
                    slots.append(handle)
            windows = backend.windows
            for rule in rules:
                if rule.tpm is not None:
                    assert windows is not None
                    item = windows.item("tokens", rule.tpm, rule.window)
                    scope = rule.scope(provider, model, fingerprint)
                    if not await windows.tokens.hit(item, scope, cost=tokens):
                        await windows.storage.incr(item.key_for(scope), item.get_expiry(), amount=-tokens)
                        stats = await windows.tokens.get_window_stats(item, scope)
                        await permit.asettle(0)
                        await permit.arelease()
                        return None, max(0.0, stats.reset_time - time.time()), rule.describe(provider, model)
                    reservations.append(_Reservation(item, scope, tokens, time.time()))
            for test_only in (True, False):  # every window tested before any is hit (see _try)
                for rule in rules:
                    if rule.rpm is None:
                        continue
                    assert windows is not None
                    item = windows.item("requests", rule.rpm, rule.window)
                    scope = rule.scope(provider, model, fingerprint)
                    room = await (windows.requests.test(item, scope) if test_only
                                  else windows.requests.hit(item, scope))
                    if not room:
                        stats = await windows.requests.get_window_stats(item, scope)
                        await permit.asettle(0)
                        await permit.arelease()
                        return None, max(0.0, stats.reset_time - time.time()), rule.describe(provider, model)
        except BaseException:
            await permit.asettle(0)
            await permit.arelease()
            raise
        return permit, None, ""
