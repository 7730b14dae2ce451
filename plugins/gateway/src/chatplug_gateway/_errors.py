"""chatplug's errors as OpenAI error JSON, with the HTTP status an OpenAI client expects.

Every error body is ``{"error": {"message", "type", "param", "code", ...}}``.
``type`` and ``code`` follow OpenAI where it has a value (a rate limit is
``rate_limit_exceeded``, an exhausted balance ``insufficient_quota``, a too-long
prompt ``context_length_exceeded``), so a client can tell them apart as it
does with OpenAI. What the provider said is kept next to them:
``provider``, ``provider_code`` (its own code, e.g. GLM's ``"1113"``) and
``request_id`` (the provider's), and the ``x-request-id`` header carries the
provider's request id when it sent one.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from typing import Any

import chatplug

__all__ = ["GatewayError", "ErrorReply", "error_reply", "error_class_name"]


class GatewayError(Exception):
    """An error the gateway itself answers with (bad key, model not allowed, bad JSON, ...)."""

    def __init__(self, status: int, message: str, *, type: str, code: str, param: str | None = None,
                 headers: Mapping[str, str] | None = None, metric: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = dict(headers or {})
        #: The error class counted in /metrics.
        self.metric = metric or code


class ErrorReply:
    """An error as the gateway sends it: status, body (OpenAI error JSON) and headers."""

    __slots__ = ("body", "headers", "metric", "status")

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str], metric: str) -> None:
        self.status = status
        self.body = body
        self.headers = headers
        self.metric = metric


def error_class_name(exc: BaseException) -> str:
    """The label /metrics counts an error under: the chatplug error class, or the gateway's code."""
    if isinstance(exc, GatewayError):
        return exc.metric
    return type(exc).__name__


def _body(message: str, type: str, code: str | None, param: str | None = None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": type, "param": param, "code": code}
    error.update({key: value for key, value in extra.items() if value is not None})
    return {"error": error}


def _upstream_status(error: chatplug.APIStatusError) -> tuple[int, str, str]:
    """(HTTP status, type, code) for an error response of the provider."""
    status = error.status_code
    if isinstance(error, chatplug.QuotaExceededError):
        return 429, "insufficient_quota", "insufficient_quota"
    if isinstance(error, chatplug.RateLimitError):
        return 429, "rate_limit_error", "rate_limit_exceeded"
    if isinstance(error, chatplug.ContextLengthError):
        return 400, "invalid_request_error", "context_length_exceeded"
    if isinstance(error, chatplug.ContentFilterError):
        return 400, "invalid_request_error", "content_filter"
    if isinstance(error, (chatplug.AuthenticationError, chatplug.PermissionDeniedError)):
        # the provider refused the *gateway's* key: the caller cannot fix that, the operator can
        return 502, "api_error", "upstream_authentication_error"
    if isinstance(error, chatplug.NotFoundError):
        return 404, "invalid_request_error", "model_not_found"
    if isinstance(error, chatplug.BadRequestError) or status in (409, 422):
        return status or 400, "invalid_request_error", "invalid_request"
    if status is not None and 500 <= status < 600:
        return status, "api_error", "upstream_error"
    if status is None:  # an error event inside a stream, without a status
        return 502, "api_error", "upstream_error"
    return 502, "api_error", "upstream_error"


def error_reply(exc: BaseException) -> ErrorReply:
    """The OpenAI error JSON, status and headers for ``exc``."""
    headers: dict[str, str] = {}
    metric = error_class_name(exc)
    if isinstance(exc, chatplug.AllModelsFailedError) and exc.errors:
        last = error_reply(exc.errors[-1])
        last.body["error"]["message"] = str(exc)
        last.body["error"]["models"] = list(exc.models)
        last.metric = metric
        return last
    if isinstance(exc, GatewayError):
        headers.update(exc.headers)
        return ErrorReply(exc.status, _body(exc.message, exc.type, exc.code, exc.param), headers, metric)
    if isinstance(exc, chatplug.ModelNotFoundError):
        return ErrorReply(404, _body(str(exc), "invalid_request_error", "model_not_found", "model"), headers, metric)
    if isinstance(exc, chatplug.InvalidRequestError):
        return ErrorReply(400, _body(str(exc), "invalid_request_error", "invalid_request", exc.param,
                                     provider=exc.provider), headers, metric)
    if isinstance(exc, chatplug.MissingAPIKeyError):
        # a provider the gateway has no key for: the operator's problem; the message names env vars, never a key
        headers["x-should-retry"] = "false"
        return ErrorReply(503, _body(f"the gateway has no key for provider {exc.provider!r}", "api_error",
                                     "provider_not_configured", provider=exc.provider), headers, metric)
    if isinstance(exc, chatplug.KeyPoolExhaustedError):
        headers["x-should-retry"] = "false"
        return ErrorReply(503, _body(f"every key of provider {exc.provider!r} was taken out of service", "api_error",
                                     "provider_keys_exhausted", provider=exc.provider), headers, metric)
    if isinstance(exc, chatplug.LimitWaitTimeoutError):
        return ErrorReply(429, _body(str(exc), "rate_limit_error", "rate_limit_exceeded", provider=exc.provider),
                          headers, metric)
    if isinstance(exc, chatplug.LimiterUnavailableError):
        return ErrorReply(503, _body(str(exc), "api_error", "limiter_unavailable"), headers, metric)
    if isinstance(exc, chatplug.APIStatusError):
        status, type_, code = _upstream_status(exc)
        if exc.request_id:
            headers["x-request-id"] = exc.request_id
        if code in ("insufficient_quota", "upstream_authentication_error"):
            headers["x-should-retry"] = "false"  # openai-python reads it: retrying cannot help
        if code == "rate_limit_exceeded":  # the provider's wait hint: its headers, else what its body said
            lowered = {key.lower(): value for key, value in exc.headers.items()}
            hinted = [name for name in ("retry-after", "retry-after-ms") if lowered.get(name)]
            for name in hinted:
                headers[name] = lowered[name]
            if not hinted and exc.retry_after is not None:
                headers["retry-after"] = str(max(1, math.ceil(exc.retry_after)))
        body = _body(exc.message, type_, code, provider=exc.provider, provider_code=exc.code,
                     provider_status=exc.status_code, request_id=exc.request_id)
        return ErrorReply(status, body, headers, metric)
    if isinstance(exc, chatplug.APITimeoutError):
        return ErrorReply(504, _body(f"{exc.provider}: the provider did not answer in time", "api_error",
                                     "upstream_timeout", provider=exc.provider), headers, metric)
    if isinstance(exc, chatplug.StreamInterruptedError):
        return ErrorReply(502, _body(str(exc), "api_error", "upstream_stream_interrupted", provider=exc.provider),
                          headers, metric)
    if isinstance(exc, chatplug.APIConnectionError):
        return ErrorReply(502, _body(f"{exc.provider}: the provider could not be reached", "api_error",
                                     "upstream_unreachable", provider=exc.provider), headers, metric)
    if isinstance(exc, chatplug.APIResponseValidationError):
        return ErrorReply(502, _body(str(exc), "api_error", "upstream_invalid_response", provider=exc.provider),
                          headers, metric)
    reference = uuid.uuid4().hex[:12]
    return ErrorReply(500, _body(f"internal error in the gateway (reference {reference})", "api_error",
                                 "internal_error", reference=reference), headers, metric)
