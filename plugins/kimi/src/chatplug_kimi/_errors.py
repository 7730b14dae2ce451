"""Moonshot error bodies to chatplug errors, by ``error.type`` rather than HTTP status.

Moonshot answers ``{"error": {"type": "...", "message": "..."}}``. The type is
what matters: an ``exceeded_current_quota_error`` arrives as HTTP 429 (or 403)
but is an empty balance, which no retry fixes.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from chatplug import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ContentFilterError,
    ContextLengthError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
)

__all__ = ["ERROR_TYPES", "map_error", "retry_hint"]

#: Moonshot ``error.type`` -> the chatplug error class it becomes.
ERROR_TYPES: Mapping[str, type[APIStatusError]] = {
    "invalid_authentication_error": AuthenticationError,
    "incorrect_api_key_error": AuthenticationError,
    "permission_denied_error": PermissionDeniedError,
    "resource_not_found_error": NotFoundError,
    "invalid_request_error": BadRequestError,
    "content_filter": ContentFilterError,
    "rate_limit_reached_error": RateLimitError,
    "engine_overloaded_error": RateLimitError,
    "exceeded_current_quota_error": QuotaExceededError,
    "server_error": InternalServerError,
}

# "Invalid request: Your request exceeded model token limit: 8192",
# "model max length exceeded, max length:8192", OpenAI's "maximum context length".
_CONTEXT_LENGTH = re.compile(
    r"exceeded model token limit|max(?:imum)? (?:context )?length exceeded|maximum context length"
    r"|context[ _](?:length|window)",
    re.IGNORECASE,
)
# "please try again after 1 seconds"
_TRY_AGAIN = re.compile(r"try again (?:after|in) (\d+(?:\.\d+)?)\s*([a-z]+)?", re.IGNORECASE)
#: Seconds per unit word of a "try again after N <unit>" hint.
_UNIT_SECONDS = {
    "ms": 0.001, "millisecond": 0.001, "milliseconds": 0.001,
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hour": 3600.0, "hours": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
# A reset value larger than this is a Unix timestamp, not a number of seconds.
_EPOCH_THRESHOLD = 1_000_000_000


def map_error(status_code: int | None, body: Any, headers: Mapping[str, str]) -> APIStatusError | None:
    """The chatplug error for a Moonshot error body, or ``None`` when the body
    carries no ``error.type`` Moonshot documents (the core's status mapping applies)."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if not isinstance(error, dict):
        return None
    kind = error.get("type")
    cls = ERROR_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return None
    message = error.get("message")
    text = str(message) if message is not None else f"{kind} (HTTP {status_code})"
    if cls is BadRequestError and _CONTEXT_LENGTH.search(text):
        cls = ContextLengthError
    return cls(
        text,
        status_code=status_code,
        code=str(kind),
        body=body,
        headers=dict(headers),
        retry_after=retry_hint(text, headers),
    )


def retry_hint(message: str, headers: Mapping[str, str], now: Callable[[], float] = time.time) -> float | None:
    """Seconds Moonshot asked to wait: a message's "try again after N seconds",
    else the ``X-RateLimit-Reset`` header (seconds, a duration such as ``1.5s``,
    a Unix timestamp or an HTTP date). The core prefers a ``Retry-After`` header
    over this hint."""
    match = _TRY_AGAIN.search(message)
    scale = _UNIT_SECONDS.get((match.group(2) or "s").lower()) if match else None
    if match and scale is not None:
        return float(match.group(1)) * scale
    reset = _header(headers, "x-ratelimit-reset")
    return _parse_reset(reset, now) if reset else None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    return next((v for k, v in headers.items() if k.lower() == name), None)


def _parse_reset(value: str, now: Callable[[], float]) -> float | None:
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        if number > _EPOCH_THRESHOLD * 1000:  # a timestamp in milliseconds
            return max(0.0, number / 1000.0 - now())
        if number > _EPOCH_THRESHOLD:
            return max(0.0, number - now())
        return max(0.0, number)
    parts = _DURATION_PART.findall(value)
    if parts and "".join(a + b for a, b in parts) == value.replace(" ", ""):
        scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
        return sum(float(amount) * scale[unit] for amount, unit in parts)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now())
