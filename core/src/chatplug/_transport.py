"""What the sync and async clients share around HTTP: the prepared call, error
mapping, retry decisions and observer notification. No I/O happens here."""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from chatplug._convert import structure_completion
from chatplug._defaults import request_id_from
from chatplug.errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
)
from chatplug.normalize import ResponseNormalizer
from chatplug.provider import Provider
from chatplug.types import ChatCompletion

if TYPE_CHECKING:
    from chatplug.events import RequestEvent

logger = logging.getLogger("chatplug")

REDACTED = "***"
_E = TypeVar("_E", bound=APIError)
#: Longest wait chatplug accepts from a Retry-After style hint, in seconds.
MAX_RETRY_AFTER = 60.0
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0


class CallPlan:
    """Everything about one call that was decided before any I/O.

    ``observed``: whether any observer hook that takes a request event has an
    implementation (decided when the plan is made); when none has, a call without
    a fallback chain or limiter builds no :class:`~chatplug.RequestEvent`.

    A plain class, not an attrs one: a plan is internal, compared by identity and
    never shown, and creating an attrs class (attrs compiles its ``__init__``)
    cost every fresh process about 0.45 ms.
    """

    __slots__ = (
        "body",
        "call_id",
        "headers",
        "hook",
        "model",
        "normalizer",
        "observed",
        "params",
        "payload",
        "provider",
        "redacted_headers",
        "secrets",
        "stream",
        "timeout",
        "url",
    )

    def __init__(
        self,
        *,
        call_id: int,
        provider: Provider,
        model: str,
        url: str,
        headers: dict[str, str],
        redacted_headers: dict[str, str],
        params: dict[str, Any] | None,
        payload: dict[str, Any],
        body: bytes,
        stream: bool,
        timeout: Any,
        normalizer: ResponseNormalizer,
        secrets: tuple[str, ...],
        hook: Any,
        observed: bool,
    ) -> None:
        self.call_id = call_id
        self.provider = provider
        self.model = model
        self.url = url
        self.headers = headers
        self.redacted_headers = redacted_headers
        self.params = params
        self.payload = payload
        self.body = body
        self.stream = stream
        self.timeout = timeout
        self.normalizer = normalizer
        self.secrets = secrets
        self.hook = hook
        self.observed = observed

    def event(self, attempt: int) -> RequestEvent:
        """The observer view of one attempt."""
        from chatplug.events import RequestEvent  # here: a call nobody observes never creates the class

        return RequestEvent(
            call_id=self.call_id,
            attempt=attempt,
            provider=self.provider,
            model=self.model,
            method="POST",
            url=self.url,
            headers=self.redacted_headers,
            payload=self.payload,
            stream=self.stream,
        )

    def scrub(self, text: str) -> str:
        """``text`` with every secret of this call replaced by ``***``."""
        for secret in self.secrets:
            if secret and secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def scrub_error(self, error: _E) -> _E:
        """Remove this call's secrets from an error's message and body (a server may echo a key back)."""
        if not self.secrets:
            return error
        scrubbed = self.scrub(error.message)
        if scrubbed != error.message:
            error.message = scrubbed
            error.args = (scrubbed,)
        error.body = self.scrub_value(error.body)
        return error

    def scrub_value(self, value: Any) -> Any:
        """``value`` (parsed JSON or text) with every secret in its strings replaced by ``***``."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {key: self.scrub_value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.scrub_value(item) for item in value]
        return value


def notify(caller: Any, **kwargs: Any) -> None:
    """Call every implementation of an observer hook, each isolated from the others.

    An observer that raises is logged (with its plugin name) and skipped; the
    call and the other observers go on. ``request=None`` means the call started
    with no observer, so no event was built: an observer registered since then
    is told about the calls that start after it, not about this one.
    """
    if "request" in kwargs and kwargs["request"] is None:
        return
    for impl in reversed(caller.get_hookimpls()):
        try:
            impl.function(*[kwargs[name] for name in impl.argnames])
        except Exception:
            logger.exception("chatplug observer %s.%s raised; ignored", impl.plugin_name, caller.name)


def has_observers(caller: Any) -> bool:
    """Whether any plugin implements this observer hook."""
    return bool(caller.get_hookimpls())


#: The observer hooks that receive a call's request event after it started.
EVENT_HOOKS = ("chatplug_on_request", "chatplug_on_response", "chatplug_on_chunk", "chatplug_on_error",
               "chatplug_on_finish")


def observes_requests(hook: Any) -> bool:
    """Whether any plugin implements one of :data:`EVENT_HOOKS`."""
    return any(getattr(hook, name).get_hookimpls() for name in EVENT_HOOKS)


# ---------------------------------------------------------------- error mapping


def decode_body(content: bytes) -> Any:
    """The parsed JSON of an error body, or its text when it is not JSON."""
    try:
        return json.loads(content)
    except ValueError:
        return content.decode("utf-8", "replace")


def status_error(plan: CallPlan, status_code: int | None, body: Any, headers: Mapping[str, str]) -> APIStatusError:
    """Map an error response (or an error event inside a stream) to an exception."""
    error: APIStatusError = plan.hook.chatplug_map_error(
        provider=plan.provider, status_code=status_code, body=body, headers=headers
    )
    if error.provider is None:
        error.provider = plan.provider.id
    if error.status_code is None:
        error.status_code = status_code
    if error.request_id is None:
        error.request_id = request_id_from(headers, body)
    if not error.headers:
        error.headers = dict(headers)
    return error  # secrets are scrubbed where every error leaves a call: the client loop and the stream


def redirect_error(plan: CallPlan, response: httpx.Response) -> APIStatusError:
    """A 3xx answer: chatplug never follows redirects, so a key never travels to another host."""
    location = response.headers.get("location", "?")
    return APIStatusError(
        f"the server redirected to {location}; chatplug does not follow redirects "
        "(the API key must not travel to another address). Set base_url to the final address.",
        status_code=response.status_code,
        provider=plan.provider.id,
        headers=dict(response.headers),
        retryable=False,
    )


def transport_error(plan: CallPlan, exc: httpx.HTTPError) -> APIError:
    """Map an httpx exception to chatplug's connection errors."""
    message = plan.scrub(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"{plan.provider.id}: request timed out ({message})", provider=plan.provider.id)
    return APIConnectionError(f"{plan.provider.id}: connection failed ({message})", provider=plan.provider.id)


def parse_completion_body(plan: CallPlan, content: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    """The JSON object of a 2xx non-stream response; errors sent with 200 are raised."""
    try:
        body = json.loads(content)
    except ValueError as exc:
        snippet = content[:200].decode("utf-8", "replace")
        raise APIResponseValidationError(
            f"{plan.provider.id}: the response is not JSON ({exc}); it began {snippet!r}",
            provider=plan.provider.id,
            body=content.decode("utf-8", "replace"),
        ) from exc
    if type(body) is not dict:
        raise APIResponseValidationError(
            f"{plan.provider.id}: expected a JSON object, got {type(body).__name__}",
            provider=plan.provider.id,
            body=body,
        )
    if body.get("error"):  # an error object, even next to choices; "error": null is no error
        raise status_error(plan, None, body, headers)
    return body


def completion_from_body(plan: CallPlan, content: bytes, headers: Mapping[str, str]) -> ChatCompletion:
    """The :class:`~chatplug.ChatCompletion` of a 2xx non-stream body, normalized by the provider.

    A body that is not a chat completion (no ``choices`` list once normalized)
    raises :class:`~chatplug.APIResponseValidationError` rather than passing
    for an empty reply.
    """
    body = plan.normalizer.normalize_completion(parse_completion_body(plan, content, headers))
    if type(body.get("choices")) is not list:
        keys = ", ".join(sorted(str(key) for key in body)[:12]) or "none"
        raise APIResponseValidationError(
            f"{plan.provider.id}: the response is not a chat completion: it has no 'choices' list "
            f"(its fields: {keys})",
            provider=plan.provider.id,
            body=body,
        )
    return structure_completion(body)


# ---------------------------------------------------------------------- retries


def retry_after_header(headers: Mapping[str, str], now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return float(value) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        import email.utils  # only an HTTP-date Retry-After needs it

        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now())


def retry_delay(attempt: int, error: APIError, rng: Callable[[], float] = random.random) -> float:
    """How long to wait before retry number ``attempt + 1``.

    A server's Retry-After header (or ``retry-after-ms``) wins when it is
    between 0 and 60 seconds; then a hint the provider gave in its error body;
    otherwise exponential backoff from 0.5 s up to 8 s, with up to 25 % jitter.
    """
    if isinstance(error, APIStatusError):
        hinted = retry_after_header(error.headers)
        if hinted is None:
            hinted = error.retry_after
        if hinted is not None and 0 <= hinted <= MAX_RETRY_AFTER:
            return hinted
    backoff = min(INITIAL_RETRY_DELAY * (2.0**attempt), MAX_RETRY_DELAY)
    return backoff * (1.0 - 0.25 * rng())


_checked_urls: set[str] = set()
_warned_hosts: set[str] = set()


def warn_insecure(url: str) -> None:
    """Warn once per host when a key would travel over plain http to a non-loopback host.

    Called for every request, so a URL already checked costs one set lookup.
    """
    if url in _checked_urls:
        return
    _checked_urls.add(url)
    parsed = httpx.URL(url)
    host = parsed.host
    if parsed.scheme != "http" or host in _warned_hosts:
        return
    if host == "localhost" or _is_loopback_address(host):
        return
    _warned_hosts.add(host)
    import warnings

    message = f"chatplug: sending an API key over plain http to {host}; use https"
    logger.warning(message)
    warnings.warn(message, stacklevel=_caller_stacklevel())


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning from this module's caller name the first line outside
    chatplug: the user's call, however deep inside chatplug the warning was raised."""
    import sys

    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    level = 2  # level 1 is the function that warns, 2 its caller
    frame: FrameType | None = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def _is_loopback_address(host: str) -> bool:
    """Whether ``host`` is a loopback IP address (a name such as ``127.example.com`` is not)."""
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
