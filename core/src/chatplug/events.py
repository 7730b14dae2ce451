"""What observer hooks receive about a request (and about what the core changed in it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attr

from chatplug.provider import Provider

if TYPE_CHECKING:
    from chatplug._adjustment import Adjustment

__all__ = ["RequestEvent", "Adjustment"]


@attr.frozen
class RequestEvent:
    """One attempt of one call, as observer hooks see it.

    ``call_id`` is the same for every attempt of a call; ``attempt`` counts from
    0. ``headers`` are the request headers with every credential redacted.
    ``payload`` is the JSON body as sent; treat it as read-only.
    ``fallback_index`` is 0 for the call's own model and N for its N-th
    fallback (``model`` and ``provider`` are then the fallback's).
    ``key_fingerprint`` names the key of the client's key pool this attempt
    used (a short SHA-256 prefix, see :func:`chatplug.key_fingerprint`); it is
    ``None`` when the client holds no key pool.
    """

    call_id: int
    attempt: int
    provider: Provider
    model: str
    method: str
    url: str
    headers: Mapping[str, str]
    payload: Mapping[str, Any] = attr.field(repr=False)
    stream: bool
    fallback_index: int = 0
    key_fingerprint: str | None = None


def __getattr__(name: str) -> Any:
    """``Adjustment`` is created on first use (PEP 562): a call the core changes nothing in never
    needs it, and creating an attrs class costs about 0.25 ms (see :mod:`chatplug.types`)."""
    if name == "Adjustment":
        from chatplug._adjustment import Adjustment

        globals()["Adjustment"] = Adjustment
        return Adjustment
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
