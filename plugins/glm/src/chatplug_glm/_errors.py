"""Mapping GLM error bodies to chatplug errors by GLM's business code.

GLM answers errors with ``{"error": {"code": "1113", "message": "..."}}``
(the code is usually a string, sometimes an integer; messages are Chinese or
English and are kept as sent). The HTTP status alone misleads: Z.ai sends
account problems (empty balance, locked or inactive account, an expired
Coding Plan, a fair-use restriction) as HTTP 429, like a rate limit, yet no
retry can fix them. So the business code decides both the class and whether
the request is retried; :data:`ERROR_CODES` is that table, one row per
documented code (docs.z.ai/api-reference/api-code and its Chinese twin
docs.bigmodel.cn/cn/api/api-code). The plugin README prints the same table.

A code missing from the table falls back on its documented range: 1000-1099
authentication (:class:`~chatplug.AuthenticationError`), 1100-1199 account
(:class:`~chatplug.PermissionDeniedError`, never retried). Any other unknown
code is left to the core, which maps by HTTP status. For 1301 the sibling
``contentFilter`` list stays in ``error.body["contentFilter"]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from chatplug import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ContentFilterError,
    ContextLengthError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
)

from chatplug_glm._provider import PROVIDER_ID

__all__ = ["ERROR_CLASSES", "ERROR_CODES", "ErrorRule", "glm_error_fields", "map_glm_error", "rule_for_code"]


class ErrorRule(NamedTuple):
    """How one GLM business code is raised."""

    #: The chatplug error class.
    cls: type[APIStatusError]
    #: Whether the client retries the request.
    retried: bool
    #: The HTTP status Z.ai usually sends it with (documented or observed).
    status: int
    #: What the code means, in short (from Z.ai's table).
    meaning: str


#: Every documented GLM business code -> how chatplug raises it.
#:
#: Where the docs leave the decision open, the choice and its reason:
#: - 1100-1121 are account states (inactive, locked, unreachable, in arrears);
#:   Z.ai sends them as 429 "account anomaly", but only a person can fix them.
#:   1120 says "try again later" yet is an account lookup failure: not retried,
#:   so a broken account never costs three requests.
#: - 1304 (daily call quota), 1308 (N-hour usage cap, resets at a stated time),
#:   1309 (Coding Plan expired) and 1310 (weekly/monthly cap) are quotas that
#:   reset in hours or days, far beyond any retry backoff: QuotaExceededError.
#: - 1313 (fair-use restriction of a Coding Plan account) needs the user to
#:   apply for lifting it: PermissionDeniedError, never retried.
#: - 1302, 1303, 1305 and 1312 (concurrency, frequency, traffic limits and an
#:   overloaded model) pass in seconds: RateLimitError, retried.
#: - 500, 1230 and 1234 are failures inside Z.ai: InternalServerError, retried.
ERROR_CODES: Mapping[str, ErrorRule] = {
    "500": ErrorRule(InternalServerError, True, 500, "internal error"),
    "1000": ErrorRule(AuthenticationError, False, 401, "authentication failed"),
    "1001": ErrorRule(AuthenticationError, False, 401, "no Authentication header"),
    "1002": ErrorRule(AuthenticationError, False, 401, "invalid authentication token"),
    "1003": ErrorRule(AuthenticationError, False, 401, "authentication token expired"),
    "1004": ErrorRule(AuthenticationError, False, 401, "authentication token rejected"),
    "1100": ErrorRule(PermissionDeniedError, False, 429, "account read/write error"),
    "1110": ErrorRule(PermissionDeniedError, False, 429, "account inactive"),
    "1111": ErrorRule(AuthenticationError, False, 401, "account does not exist"),
    "1112": ErrorRule(PermissionDeniedError, False, 429, "account locked"),
    "1113": ErrorRule(QuotaExceededError, False, 429, "account in arrears / balance exhausted"),
    "1120": ErrorRule(PermissionDeniedError, False, 429, "account could not be accessed"),
    "1121": ErrorRule(PermissionDeniedError, False, 429, "account locked for irregular activity"),
    "1200": ErrorRule(BadRequestError, False, 400, "API call error"),
    "1210": ErrorRule(BadRequestError, False, 400, "wrong API call parameters"),
    "1211": ErrorRule(NotFoundError, False, 400, "model does not exist"),
    "1212": ErrorRule(BadRequestError, False, 400, "model does not support this call method"),
    "1213": ErrorRule(BadRequestError, False, 400, "a required parameter is missing"),
    "1214": ErrorRule(BadRequestError, False, 400, "invalid parameter"),
    "1215": ErrorRule(BadRequestError, False, 400, "two parameters cannot be set together"),
    "1220": ErrorRule(PermissionDeniedError, False, 403, "no permission for this API"),
    "1221": ErrorRule(NotFoundError, False, 404, "API taken offline"),
    "1222": ErrorRule(NotFoundError, False, 404, "API does not exist"),
    "1230": ErrorRule(InternalServerError, True, 500, "API call process error"),
    "1231": ErrorRule(ConflictError, False, 400, "a request with this request_id already exists"),
    "1234": ErrorRule(InternalServerError, True, 500, "network error inside Z.ai"),
    "1261": ErrorRule(ContextLengthError, False, 400, "prompt too long"),
    "1300": ErrorRule(PermissionDeniedError, False, 400, "API call blocked by policy"),
    "1301": ErrorRule(ContentFilterError, False, 400, "unsafe or sensitive content"),
    "1302": ErrorRule(RateLimitError, True, 429, "too many concurrent requests"),
    "1303": ErrorRule(RateLimitError, True, 429, "requests too frequent"),
    "1304": ErrorRule(QuotaExceededError, False, 429, "daily call limit reached"),
    "1305": ErrorRule(RateLimitError, True, 429, "traffic limit triggered"),
    "1308": ErrorRule(QuotaExceededError, False, 429, "usage cap of the period reached"),
    "1309": ErrorRule(QuotaExceededError, False, 429, "GLM Coding Plan expired"),
    "1310": ErrorRule(QuotaExceededError, False, 429, "weekly or monthly usage cap reached"),
    "1311": ErrorRule(PermissionDeniedError, False, 403, "plan does not include this model"),
    "1312": ErrorRule(RateLimitError, True, 429, "model overloaded, try later"),
    "1313": ErrorRule(PermissionDeniedError, False, 429, "fair-use restriction on the account"),
}

#: GLM business code -> chatplug error class (the class column of :data:`ERROR_CODES`).
ERROR_CLASSES: Mapping[str, type[APIStatusError]] = {code: rule.cls for code, rule in ERROR_CODES.items()}

#: Fallbacks for undocumented codes by their documented range.
_RANGES: tuple[tuple[int, int, ErrorRule], ...] = (
    (1000, 1099, ErrorRule(AuthenticationError, False, 401, "authentication error")),
    (1100, 1199, ErrorRule(PermissionDeniedError, False, 429, "account error")),
)


def rule_for_code(code: str) -> ErrorRule | None:
    """The rule for a GLM business code: the table's row, else its range's, else ``None``."""
    rule = ERROR_CODES.get(code)
    if rule is not None or not code.isdigit():
        return rule
    number = int(code)
    return next((r for low, high, r in _RANGES if low <= number <= high), None)


def glm_error_fields(body: Any) -> tuple[str | None, str | None]:
    """``(code, message)`` from a GLM error body, or ``(None, None)`` if it is not one.

    The code is returned as a string whether GLM sent ``"1113"`` or ``1113``.
    """
    if not isinstance(body, Mapping):
        return None, None
    error = body.get("error")
    if not isinstance(error, Mapping):
        return None, None
    code = error.get("code")
    message = error.get("message")
    if isinstance(code, bool) or not isinstance(code, (str, int)):
        code = None
    elif isinstance(code, str):
        code = code.strip() or None
    return (
        str(code) if code is not None else None,
        str(message) if message is not None else None,
    )


def _request_id(body: Mapping[str, Any], headers: Mapping[str, str]) -> str | None:
    for name in ("x-request-id", "x-log-id"):
        value = headers.get(name)
        if value:
            return value
    for source in (body, body.get("error")):
        if isinstance(source, Mapping):
            value = source.get("request_id")
            if isinstance(value, str) and value:
                return value
    return None


def map_glm_error(status_code: int | None, body: Any, headers: Mapping[str, str]) -> APIStatusError | None:
    """The chatplug error for a GLM error body, or ``None`` when its code is unknown."""
    code, message = glm_error_fields(body)
    if code is None:
        return None
    rule = rule_for_code(code)
    if rule is None:
        return None
    assert isinstance(body, Mapping)
    return rule.cls(
        message or f"GLM error {code}",
        status_code=status_code,
        code=code,
        request_id=_request_id(body, headers),
        provider=PROVIDER_ID,
        body=body,
        headers=dict(headers),
        retryable=rule.retried,
    )
