"""The error hierarchy. Names follow openai-python where one exists.

::

    ChatplugError
    ├── InvalidRequestError          bad input, raised before any network I/O
    │   └── ModelRuleError           the model's own rules refuse it (fallbacks go on)
    ├── MissingAPIKeyError           no key given and none in the provider's env vars
    ├── ModelNotFoundError           no installed provider (or more than one) claims the model
    ├── PluginError                  a plugin failed to load (strict mode) or clashes
    ├── KeyPoolExhaustedError        every key of a key pool was taken out
    ├── LimitWaitTimeoutError        a shared limit stayed full past max_wait
    ├── LimiterUnavailableError      the limiter's Redis is down and it fails closed
    └── APIError                     what a server sent, or failed to send
        ├── APIStatusError           an error response; status_code, code, request_id, provider, body
        │   ├── BadRequestError (400)
        │   │   ├── ContextLengthError
        │   │   └── ContentFilterError
        │   ├── AuthenticationError (401)
        │   ├── PermissionDeniedError (403)
        │   ├── NotFoundError (404)
        │   ├── ConflictError (409), UnprocessableEntityError (422)
        │   ├── RateLimitError (429, retried)
        │   ├── QuotaExceededError (out of balance or quota: never retried)
        │   └── InternalServerError (>= 500, retried)
        ├── APIConnectionError       the connection failed or broke
        │   ├── APITimeoutError
        │   └── StreamInterruptedError   a stream ended early; ``.partial`` holds what arrived
        ├── APIResponseValidationError   the response data was malformed
        └── AllModelsFailedError     every model of a fallback chain failed; ``.errors``

Every :class:`APIError` raised while a stream was being read carries
``.partial``: the :class:`~chatplug.ChatCompletion` assembled from the chunks
that arrived before it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from chatplug.types import ChatCompletion

__all__ = [
    "ChatplugError",
    "InvalidRequestError",
    "MissingAPIKeyError",
    "ModelNotFoundError",
    "PluginError",
    "APIError",
    "APIStatusError",
    "BadRequestError",
    "ContextLengthError",
    "ContentFilterError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "UnprocessableEntityError",
    "RateLimitError",
    "QuotaExceededError",
    "InternalServerError",
    "APIConnectionError",
    "APITimeoutError",
    "StreamInterruptedError",
    "APIResponseValidationError",
    "RETRYABLE_STATUS_CODES",
    "ModelRuleError",
    "AllModelsFailedError",
    "KeyPoolExhaustedError",
    "LimitWaitTimeoutError",
    "LimiterUnavailableError",
]

#: HTTP statuses retried by default (429 only when it is a rate limit).
RETRYABLE_STATUS_CODES = frozenset({408, 429, 500, 502, 503, 504})


class ChatplugError(Exception):
    """Base class of every error chatplug raises."""


class InvalidRequestError(ChatplugError, ValueError):
    """The request is invalid; raised before any network I/O.

    ``param`` names the offending parameter where there is one.
    """

    def __init__(self, message: str, *, param: str | None = None, provider: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.provider = provider


class MissingAPIKeyError(ChatplugError):
    """No API key was given and none is set in the provider's environment variables."""

    def __init__(self, message: str, *, provider: str | None = None, env_vars: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.provider = provider
        self.env_vars = env_vars


class ModelNotFoundError(ChatplugError, LookupError):
    """No installed provider claims the model, or more than one does."""

    def __init__(self, message: str, *, model: str, providers: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.model = model
        self.providers = providers


class PluginError(ChatplugError):
    """A plugin could not be loaded (strict mode), or two plugins declare the same provider."""


class APIError(ChatplugError):
    """Something a server sent, or failed to send.

    ``provider`` is the provider id; ``partial`` is the completion assembled so
    far when the error interrupted a stream, else ``None``.
    """

    #: Whether chatplug retries a request that failed with this error.
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        body: Any = None,
        partial: ChatCompletion | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.body = body
        self.partial = partial


class APIStatusError(APIError):
    """The server answered with an error.

    Attributes: ``status_code`` (HTTP status, or ``None`` for an error sent
    inside a stream), ``code`` (the provider's own error code or type),
    ``request_id``, ``provider``, ``body`` (the parsed error body, or its text),
    ``headers`` and ``retry_after`` (seconds the provider asked to wait, if it
    said so in the body rather than a header).

    ``retryable`` comes from, in order: the ``retryable=`` argument; the HTTP
    status, for a class whose :attr:`retry_by_status` is true (this generic
    class, and :class:`InternalServerError` for a 5xx); else the class's own
    ``retryable``. So a :class:`QuotaExceededError` is never retried and a
    :class:`RateLimitError` always is, whatever status they arrived with.
    """

    #: Whether the HTTP status decides ``retryable`` (for a 5xx, or any status on
    #: this generic class). A class that names one kind of failure sets it to
    #: ``False``: its kind, not its status, says whether a retry can help.
    retry_by_status: ClassVar[bool] = True

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        provider: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        partial: ChatCompletion | None = None,
    ) -> None:
        super().__init__(message, provider=provider, body=body, partial=partial)
        self.status_code = status_code
        self.code = code
        self.request_id = request_id
        self.headers = headers or {}
        self.retry_after = retry_after
        if retryable is not None:
            self.retryable = retryable
        elif self.retry_by_status and (type(self) is APIStatusError or (status_code or 0) >= 500):
            # By status: 408, 429, 500, 502, 503 and 504 are retried; 501, 505, ... are not.
            # (A 5xx-class error sent inside a stream has no status and keeps its class default.)
            self.retryable = status_code in RETRYABLE_STATUS_CODES

    def __str__(self) -> str:
        parts = []
        if self.provider:
            parts.append(self.provider)
        if self.status_code is not None:
            parts.append(f"HTTP {self.status_code}")
        if self.code:
            parts.append(f"code {self.code}")
        prefix = ", ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


class BadRequestError(APIStatusError):
    """HTTP 400: the server rejected the request."""

    retry_by_status = False


class ContextLengthError(BadRequestError):
    """The prompt (plus max_tokens) is longer than the model's context window."""


class ContentFilterError(BadRequestError):
    """The provider's content filter rejected the prompt or the reply."""


class AuthenticationError(APIStatusError):
    """HTTP 401: the API key is missing, wrong, or for another region."""

    retry_by_status = False


class PermissionDeniedError(APIStatusError):
    """HTTP 403: the key may not use this model or endpoint."""

    retry_by_status = False


class NotFoundError(APIStatusError):
    """HTTP 404: unknown model or endpoint."""

    retry_by_status = False


class ConflictError(APIStatusError):
    """HTTP 409."""

    retry_by_status = False


class UnprocessableEntityError(APIStatusError):
    """HTTP 422."""

    retry_by_status = False


class RateLimitError(APIStatusError):
    """HTTP 429 rate limit or overload: retried with backoff."""

    retryable = True
    retry_by_status = False


class QuotaExceededError(APIStatusError):
    """The account is out of balance or quota. Never retried, whatever its status."""

    retryable = False
    retry_by_status = False


class InternalServerError(APIStatusError):
    """HTTP 5xx: retried with backoff."""

    retryable = True


class APIConnectionError(APIError):
    """The connection could not be made, or broke."""

    retryable = True


class APITimeoutError(APIConnectionError):
    """The request timed out."""


class StreamInterruptedError(APIConnectionError):
    """A stream ended before it finished: the connection dropped, or the server
    closed it with neither ``[DONE]`` nor a finish_reason.

    ``partial`` is the :class:`~chatplug.ChatCompletion` assembled from every
    chunk that arrived.
    """

    retryable = False


class APIResponseValidationError(APIError):
    """The server's response could not be parsed into the contract."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status_code: int | None) -> type[APIStatusError]:
    """The error class openai-python would use for ``status_code``."""
    if status_code is None:
        return APIStatusError
    if status_code >= 500:
        return InternalServerError
    return _STATUS_CLASSES.get(status_code, APIStatusError)


# ------------------------------------------------------- fallbacks, key pools, limits


class ModelRuleError(InvalidRequestError):
    """A request the chosen *model* cannot take, though another model could.

    Raised before any network I/O by a model's own rules: its catalog entry, or
    a parameter that model does not support. Unlike a plain
    :class:`InvalidRequestError`, it lets a call with ``fallbacks=`` go on to
    the next model. Any :class:`InvalidRequestError` whose ``model_specific``
    attribute is ``True`` counts the same.
    """

    #: Marks the failure as specific to one model's rules (read by fallbacks).
    model_specific: bool = True

    def __init__(
        self, message: str, *, param: str | None = None, provider: str | None = None, model: str | None = None
    ) -> None:
        super().__init__(message, param=param, provider=provider)
        self.model = model


class AllModelsFailedError(APIError):
    """Every model of a call with ``fallbacks=`` failed.

    ``errors`` holds each model's final error, in the order the models were
    tried; ``models`` the ``provider/model`` names they belong to. The message
    lists them all. The last error is also the ``__cause__``.
    """

    def __init__(self, errors: tuple[BaseException, ...], models: tuple[str, ...]) -> None:
        pairs = zip(models, errors, strict=False)
        lines = "; ".join(f"{model}: {type(error).__name__}: {error}" for model, error in pairs)
        super().__init__(f"all {len(errors)} models failed: {lines}")
        self.errors = errors
        self.models = models


class KeyPoolExhaustedError(ChatplugError):
    """Every key of a provider's key pool was taken out (authentication or quota errors).

    Raised before any network I/O. ``provider`` is the provider id;
    ``removed`` maps each key's fingerprint to the name of the error that
    took it out.
    """

    def __init__(self, message: str, *, provider: str | None = None, removed: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.removed = removed or {}


class LimitWaitTimeoutError(ChatplugError):
    """A request would have waited longer than ``max_wait`` for a shared limit.

    Raised before any network I/O. ``limit`` describes the limit that was
    full (``"glm: max_in_flight=5"``), ``waited`` the seconds waited.
    """

    def __init__(self, message: str, *, provider: str | None = None, limit: str = "", waited: float = 0.0) -> None:
        super().__init__(message)
        self.provider = provider
        self.limit = limit
        self.waited = waited


class LimiterUnavailableError(ChatplugError):
    """The limiter's shared storage (Redis) could not be reached and the
    limiter is set to fail closed (``on_storage_error="closed"``).

    Raised before any network I/O; the request was not sent.
    """
