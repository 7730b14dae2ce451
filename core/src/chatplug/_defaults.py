"""The core's own hook implementations: plain OpenAI-compatible behaviour.

Registered in every registry as ``chatplug.defaults`` and marked
``trylast``, so any plugin answers before them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from chatplug.errors import (
    APIStatusError,
    ContentFilterError,
    ContextLengthError,
    MissingAPIKeyError,
    status_error_class,
)
from chatplug.hookspecs import hookimpl
from chatplug.normalize import IDENTITY, ResponseNormalizer
from chatplug.provider import Provider

#: The id of the provider record behind ``Client(base_url=...)`` with no ``provider=``.
PLAIN_ENDPOINT_ID = "custom"


_plain_class: type[Provider] | None = None
_plain_lock = threading.Lock()


def _plain_endpoint_class() -> type[Provider]:
    """``PlainEndpoint``: made on first use, so a process that never calls
    ``Client(base_url=...)`` does not pay for building one more attrs class."""
    global _plain_class
    with _plain_lock:  # one class per process, or a record made in a racing thread would not be recognised
        if _plain_class is not None:
            return _plain_class
        import attr

        @attr.frozen
        class PlainEndpoint(Provider):
            """The provider record of ``Client(base_url=...)``: any OpenAI-compatible server,
            such as a local vLLM, llama.cpp or Ollama.

            It reads no key from the environment, and with no ``api_key=`` it sends no
            auth header at all (local servers need none); given a key, it sends it as a
            bearer token. A plugin's own ``chatplug_credentials`` still answers first.
            """

        _plain_class = PlainEndpoint
        return _plain_class


def plain_endpoint(base_url: str) -> Provider:
    """The provider record for an OpenAI-compatible server at ``base_url`` (a ``PlainEndpoint``)."""
    return _plain_endpoint_class()(id=PLAIN_ENDPOINT_ID, base_url=base_url, name="OpenAI-compatible endpoint")


def is_plain_endpoint(provider: Provider) -> bool:
    """Whether ``provider`` is the record :func:`plain_endpoint` made."""
    return _plain_class is not None and isinstance(provider, _plain_class)


@hookimpl(trylast=True)
def chatplug_credentials(provider: Provider, api_key: str | None, environ: Mapping[str, str]) -> Mapping[str, str]:
    """Send the given key, or the first key env var that is set, as a bearer token;
    a plain endpoint (see :func:`plain_endpoint`) given no key sends no auth header."""
    key = api_key
    if not key:
        key = next((environ[name] for name in provider.api_key_env if environ.get(name)), None)
    if not key and is_plain_endpoint(provider):
        return {}
    if not key:
        if provider.api_key_env:
            names = " or ".join(provider.api_key_env)
            hint = f"set {names}, or pass api_key="
        else:
            hint = "pass api_key="
        raise MissingAPIKeyError(
            f"no API key for provider {provider.id!r}: {hint}",
            provider=provider.id,
            env_vars=provider.api_key_env,
        )
    value = f"{provider.auth_scheme} {key}" if provider.auth_scheme else key
    return {provider.auth_header: value}


@hookimpl(trylast=True)
def chatplug_response_normalizer() -> ResponseNormalizer:
    """OpenAI-shaped data needs no normalizing."""
    return IDENTITY


def _error_fields(body: Any) -> tuple[str | None, str | None, str | None]:
    """(message, code, type) from an OpenAI-style ``{"error": {...}}`` body."""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            message = error.get("message")
            code = error.get("code")
            kind = error.get("type")
            return (
                str(message) if message is not None else None,
                str(code) if code is not None else None,
                str(kind) if kind is not None else None,
            )
        if isinstance(error, str):
            return error, None, None
    if isinstance(body, str) and body.strip():
        return _summarize_text(body), None, None
    return None, None, None


def _summarize_text(text: str, limit: int = 200) -> str:
    """A readable one-line digest of a non-JSON body, e.g. a gateway's HTML page."""
    import re

    title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    text = title.group(1) if title else re.sub(r"<[^>]+>", " ", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@hookimpl(trylast=True)
def chatplug_map_error(
    provider: Provider, status_code: int | None, body: Any, headers: Mapping[str, str]
) -> APIStatusError:
    """Map by HTTP status like openai-python; recognise OpenAI's context-length
    and content-filter codes."""
    message, code, kind = _error_fields(body)
    cls = status_error_class(status_code)
    if code == "context_length_exceeded":
        cls = ContextLengthError
    elif code == "content_filter" or kind == "content_filter":
        cls = ContentFilterError
    if not message:
        message = f"HTTP {status_code}" if status_code is not None else "error in stream"
    return cls(
        message,
        status_code=status_code,
        code=code or kind,
        request_id=request_id_from(headers, body),
        provider=provider.id,
        body=body,
        headers=dict(headers),
    )


def request_id_from(headers: Mapping[str, str], body: Any) -> str | None:
    """The request id a server gave, from the usual headers or the body."""
    for name in ("x-request-id", "request-id", "x-trace-id", "x-amzn-requestid"):
        value = headers.get(name)
        if value:
            return value
    if isinstance(body, dict):
        value = body.get("request_id") or body.get("id")
        if isinstance(value, str):
            return value
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("request_id"), str):
            return error["request_id"]  # type: ignore[no-any-return]
    return None
