"""Mapping GLM error bodies to chatplug errors by GLM's business code.

GLM answers errors with ``{"error": {"code": "1113", "message": "..."}}``
(the code is a string; messages are Chinese or English and are kept as sent).
The HTTP status alone misleads: an empty balance (1113) arrives as 429 like
a rate limit, yet must never be retried. So the code decides:

========================  =====================================  =========
code                      error                                  retried
========================  =====================================  =========
1000-1004                 AuthenticationError                    no
1113                      QuotaExceededError                     no
1210, 1214                BadRequestError                        no
1261                      ContextLengthError (a BadRequestError)  no
1211                      NotFoundError                          no
1301                      ContentFilterError                     no
1302, 1303, 1305          RateLimitError                         yes
1234                      InternalServerError                    yes
========================  =====================================  =========

Any other code is left to the core, which maps by HTTP status. For 1301 the
sibling ``contentFilter`` list stays in ``error.body["contentFilter"]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chatplug import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ContentFilterError,
    ContextLengthError,
    InternalServerError,
    NotFoundError,
    QuotaExceededError,
    RateLimitError,
)

from chatplug_glm._provider import PROVIDER_ID

__all__ = ["ERROR_CLASSES", "glm_error_fields", "map_glm_error"]

#: GLM business code -> chatplug error class.
ERROR_CLASSES: dict[str, type[APIStatusError]] = {
    "1000": AuthenticationError,
    "1001": AuthenticationError,
    "1002": AuthenticationError,
    "1003": AuthenticationError,
    "1004": AuthenticationError,
    "1113": QuotaExceededError,
    "1210": BadRequestError,
    "1211": NotFoundError,
    "1214": BadRequestError,
    "1261": ContextLengthError,
    "1301": ContentFilterError,
    "1302": RateLimitError,
    "1303": RateLimitError,
    "1305": RateLimitError,
    "1234": InternalServerError,
}


def glm_error_fields(body: Any) -> tuple[str | None, str | None]:
    """``(code, message)`` from a GLM error body, or ``(None, None)`` if it is not one."""
    if not isinstance(body, Mapping):
        return None, None
    error = body.get("error")
    if not isinstance(error, Mapping):
        return None, None
    code = error.get("code")
    message = error.get("message")
    if isinstance(code, bool) or not isinstance(code, (str, int)):
        code = None
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
    cls = ERROR_CLASSES.get(code)
    if cls is None:
        return None
    assert isinstance(body, Mapping)
    return cls(
        message or f"GLM error {code}",
        status_code=status_code,
        code=code,
        request_id=_request_id(body, headers),
        provider=PROVIDER_ID,
        body=body,
        headers=dict(headers),
    )
