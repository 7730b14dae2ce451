"""Key pools: several API keys for one provider, spread over requests.

A :class:`KeyPool` hands out keys round-robin. A key that gets a rate limit
rests for the time the server hinted; a key that gets an authentication or
quota/balance error is taken out for good (the client reports that once: a
log line and the ``chatplug_on_key_removed`` observer hook). Keys are never
shown: a pool's repr, its status and every report use
:func:`key_fingerprint`, a short SHA-256 prefix that is stable across
processes, so logs from many machines can be matched up.

State lives in this process only: each app instance keeps its own view of
which key rests or was removed (see docs/scale.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Union

from chatplug.errors import (
    APIError,
    AuthenticationError,
    InvalidRequestError,
    KeyPoolExhaustedError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
)

__all__ = ["KeyPool", "key_fingerprint", "KeySpec"]

#: What ``api_key=`` accepts: one key, several keys, a pool, or (for a client
#: over every provider) a mapping from provider id to any of those.
KeySpec = Union[str, Sequence[str], "KeyPool", Mapping[str, Union[str, Sequence[str], "KeyPool"]]]


def key_fingerprint(key: str) -> str:
    """A stable, short, non-reversible name for an API key: the first 12 hex
    digits of its SHA-256. Safe to log; the same key gives the same name on
    every machine."""
    import hashlib  # here: importing chatplug stays cheap

    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


class KeyPool:
    """Several API keys of one provider; requests are spread over them.

    ::

        client = chatplug.Client(provider="kimi", api_key=["sk-a...", "sk-b..."])
        # or, to share one pool between clients (sync and async alike):
        pool = chatplug.KeyPool(["sk-a...", "sk-b..."])
        client = chatplug.Client(provider="kimi", api_key=pool)

    Thread-safe. ``status()`` shows each key's fingerprint and state.
    """

    def __init__(self, keys: Iterable[str], *, clock: Callable[[], float] = time.monotonic) -> None:
        if isinstance(keys, str):
            raise InvalidRequestError("KeyPool() takes a list of keys, not one string", param="api_key")
        values = list(keys)
        if not values:
            raise InvalidRequestError("KeyPool() needs at least one key", param="api_key")
        for position, value in enumerate(values):
            if not isinstance(value, str) or not value.strip():
                raise InvalidRequestError(
                    f"key number {position} of the pool is {type(value).__name__}, not a non-empty string",
                    param="api_key",
                )
        prints = [key_fingerprint(value) for value in values]
        if len(set(prints)) != len(prints):
            raise InvalidRequestError("the key pool lists the same key twice", param="api_key")
        self._keys = values
        self._prints = prints
        self._clock = clock
        self._lock = threading.Lock()
        self._next = 0
        self._resting_until: dict[str, float] = {}
        self._removed: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"<chatplug.KeyPool keys={self._prints!r}>"

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def fingerprints(self) -> tuple[str, ...]:
        """The fingerprint of every key, in the order given."""
        return tuple(self._prints)

    def secrets(self) -> tuple[str, ...]:
        """Every key (for redaction only)."""
        return tuple(self._keys)

    def status(self) -> dict[str, str]:
        """Each key's fingerprint and state: ``"ready"``, ``"resting 2.5s"`` or ``"removed: <error>"``."""
        now = self._clock()
        with self._lock:
            out = {}
            for fingerprint in self._prints:
                if fingerprint in self._removed:
                    out[fingerprint] = f"removed: {self._removed[fingerprint]}"
                elif self._resting_until.get(fingerprint, 0.0) > now:
                    out[fingerprint] = f"resting {self._resting_until[fingerprint] - now:.1f}s"
                else:
                    out[fingerprint] = "ready"
            return out

    def peek(self, provider: str | None = None) -> str:
        """The key :meth:`take` would give next, without moving on (raises like it)."""
        return self._choose(provider, advance=False)[0]

    def take(self, provider: str | None = None) -> tuple[str, str]:
        """The next key to use and its fingerprint, round-robin over the keys in
        the pool. Resting keys are skipped while another is ready; when all
        rest, the one whose rest ends first is used. Raises
        :class:`~chatplug.KeyPoolExhaustedError` when every key was removed."""
        return self._choose(provider, advance=True)

    def _choose(self, provider: str | None, advance: bool) -> tuple[str, str]:
        now = self._clock()
        with self._lock:
            count = len(self._keys)
            chosen: int | None = None
            soonest: int | None = None
            for step in range(count):
                index = (self._next + step) % count
                fingerprint = self._prints[index]
                if fingerprint in self._removed:
                    continue
                if self._resting_until.get(fingerprint, 0.0) <= now:
                    chosen = index
                    break
                if soonest is None or self._resting_until[fingerprint] < self._resting_until[self._prints[soonest]]:
                    soonest = index
            if chosen is None:
                chosen = soonest
            if chosen is not None:
                if advance:
                    self._next = chosen + 1
                return self._keys[chosen], self._prints[chosen]
            removed = dict(self._removed)
        reasons = ", ".join(f"{fingerprint} ({why})" for fingerprint, why in removed.items())
        name = f"{provider}: " if provider else ""
        raise KeyPoolExhaustedError(
            f"{name}every key of the pool was taken out: {reasons}; give the client working keys",
            provider=provider,
            removed=removed,
        )

    def ready_in(self) -> float:
        """Seconds until some key that is not removed is ready (0 if one is now)."""
        now = self._clock()
        with self._lock:
            waits = [
                max(0.0, self._resting_until.get(fp, 0.0) - now) for fp in self._prints if fp not in self._removed
            ]
        return min(waits) if waits else 0.0

    def rest(self, fingerprint: str, seconds: float) -> None:
        """Let the key rest for ``seconds`` (after a rate limit)."""
        with self._lock:
            until = self._clock() + max(0.0, seconds)
            if until > self._resting_until.get(fingerprint, 0.0):
                self._resting_until[fingerprint] = until

    def remove(self, fingerprint: str, reason: str) -> bool:
        """Take the key out of the pool; ``True`` the first time only (so it is reported once)."""
        with self._lock:
            if fingerprint in self._removed or fingerprint not in self._prints:
                return False
            self._removed[fingerprint] = reason
            return True

    def usable(self) -> int:
        """How many keys are not removed."""
        with self._lock:
            return len(self._keys) - len(self._removed)


def removes_key(error: BaseException) -> bool:
    """Whether ``error`` means the key itself is unusable: authentication,
    permission or quota/balance (never a rate limit, which only rests it)."""
    return isinstance(error, (AuthenticationError, PermissionDeniedError, QuotaExceededError))


def rests_key(error: BaseException) -> bool:
    """Whether ``error`` is a rate limit that the key should sit out."""
    return isinstance(error, RateLimitError) and not isinstance(error, QuotaExceededError)


def as_pool(value: str | Sequence[str] | KeyPool) -> str | KeyPool:
    """One key stays a string; several keys (or a pool) become a :class:`KeyPool`."""
    if isinstance(value, (str, KeyPool)):
        return value
    return KeyPool(value)


def describe(error: APIError) -> str:
    """A short reason for a report, without any body text (that could echo a key)."""
    code = getattr(error, "code", None)
    status = getattr(error, "status_code", None)
    parts = [type(error).__name__]
    if status is not None:
        parts.append(f"HTTP {status}")
    if code:
        parts.append(f"code {code}")
    return ", ".join(parts)
