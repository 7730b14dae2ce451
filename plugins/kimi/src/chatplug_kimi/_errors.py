"""Moonshot error bodies to chatplug errors, by ``error.type`` rather than HTTP status.

Moonshot answers ``{"error": {"type": "...", "message": "..."}}``. The type is
what matters: an ``exceeded_current_quota_error`` arrives as HTTP 429 (or 403)
but is an empty balance, which no retry fixes. :data:`ERROR_TYPES` lists every
type of Moonshot's error table (platform.moonshot.ai/docs/api/chat "Error
Explanation", platform.kimi.ai/docs/api/errors); two types are refined by
their message:

- ``invalid_request_error`` saying the prompt is too long ("Input token length
  too long", "exceeded model token limit") is a
  :class:`~chatplug.ContextLengthError`;
- ``rate_limit_reached_error`` for the tokens-per-day limit ("TPD rate limit")
  stays a :class:`~chatplug.RateLimitError` but is not retried: it resets at
  the end of the day, not in seconds.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

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

__all__ = ["ERROR_RULES", "ERROR_TYPES", "ErrorRule", "map_error", "retry_hint", "rule_for"]


class ErrorRule(NamedTuple):
    """How one Moonshot error type is raised."""

    #: The chatplug error class.
    cls: type[APIStatusError]
    #: Whether the client retries the request.
    retried: bool
    #: The HTTP status Moonshot documents for it.
    status: int


#: Every documented Moonshot ``error.type`` -> how chatplug raises it.
ERROR_RULES: Mapping[str, ErrorRule] = {
    "content_filter": ErrorRule(ContentFilterError, False, 400),
    "invalid_request_error": ErrorRule(BadRequestError, False, 400),
    "invalid_authentication_error": ErrorRule(AuthenticationError, False, 401),
    "incorrect_api_key_error": ErrorRule(AuthenticationError, False, 401),
    "permission_denied_error": ErrorRule(PermissionDeniedError, False, 403),
    "resource_not_found_error": ErrorRule(NotFoundError, False, 404),
    "exceeded_current_quota_error": ErrorRule(QuotaExceededError, False, 429),
    "rate_limit_reached_error": ErrorRule(RateLimitError, True, 429),
    "engine_overloaded_error": ErrorRule(RateLimitError, True, 429),
    "server_error": ErrorRule(InternalServerError, True, 500),
    "unexpected_output": ErrorRule(InternalServerError, True, 500),
}

#: Moonshot ``error.type`` -> the chatplug error class it becomes (before message refinements).
ERROR_TYPES: Mapping[str, type[APIStatusError]] = {kind: rule.cls for kind, rule in ERROR_RULES.items()}

_CONTEXT_LENGTH_RULE = ErrorRule(ContextLengthError, False, 400)
_DAILY_LIMIT_RULE = ErrorRule(RateLimitError, False, 429)
# "request reached TPD rate limit, current:..., limit:..." (tokens per day)
_DAILY_LIMIT = re.compile(r"\bTPD\b", re.IGNORECASE)
# "Invalid request: Your request exceeded model token limit: 8192", "Input token length too long",
# "model max length exceeded, max length:8192", OpenAI's "maximum context length".
_CONTEXT_LENGTH = re.compile(
    r"exceeded model token limit|input token length too long|max(?:imum)? (?:context )?length exceeded"
    r"|maximum context length|context[ _](?:length|window)",
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


def rule_for(kind: str, message: str) -> ErrorRule | None:
    """The rule for a Moonshot error type and message, or ``None`` for an undocumented type."""
    rule = ERROR_RULES.get(kind)
    if rule is None:
        return None
    if kind == "invalid_request_error" and _CONTEXT_LENGTH.search(message):
        return _CONTEXT_LENGTH_RULE
    if kind == "rate_limit_reached_error" and _DAILY_LIMIT.search(message):
        return _DAILY_LIMIT_RULE
    return rule


def map_error(status_code: int | None, body: Any, headers: Mapping[str, str]) -> APIStatusError | None:
    """The chatplug error for a Moonshot error body, or ``None`` when the body
    carries no ``error.type`` Moonshot documents (the core's status mapping applies)."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if not isinstance(error, dict):
        return None
    kind = error.get("type")
    if not isinstance(kind, str):
        return None
    message = error.get("message")
    text = str(message) if message is not None else f"{kind} (HTTP {status_code})"
    rule = rule_for(kind, text)
    if rule is None:
        return None
    return rule.cls(
        text,
        status_code=status_code,
        code=kind,
        body=body,
        headers=dict(headers),
        retryable=rule.retried,
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
