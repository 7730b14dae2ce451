"""Span and metric attributes from what the observer hooks receive.

Only names and numbers from the request body, the response and the URL's host
and port go in: never headers (where the key travels), never the URL's path or
query, never message content (that is :mod:`chatplug_otel._content`, opt-in).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from chatplug import ChatCompletion, RequestEvent

from chatplug_otel import _semconv as sc

__all__ = ["error_type", "provider_name", "request_attributes", "response_attributes", "server_attributes"]

AttributeValue = str | bool | int | float | list[str]
Attributes = dict[str, AttributeValue]

_DEFAULT_PORTS = {"https": 443, "http": 80}
#: Request body key -> (attribute, the value's type).
_NUMBERS: tuple[tuple[str, str, type], ...] = (
    ("temperature", sc.REQUEST_TEMPERATURE, float),
    ("top_p", sc.REQUEST_TOP_P, float),
    ("top_k", sc.REQUEST_TOP_K, float),
    ("frequency_penalty", sc.REQUEST_FREQUENCY_PENALTY, float),
    ("presence_penalty", sc.REQUEST_PRESENCE_PENALTY, float),
    ("seed", sc.REQUEST_SEED, int),
)
_JSON_FORMATS = frozenset({"json_object", "json_schema"})


def provider_name(provider_id: str, names: Mapping[str, str]) -> str:
    """``gen_ai.provider.name`` for a chatplug provider id."""
    return names.get(provider_id, provider_id)


def server_attributes(url: str) -> Attributes:
    """``server.address`` and ``server.port`` of a request URL (nothing else of it)."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return {}
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = _DEFAULT_PORTS.get(parts.scheme)
    attributes: Attributes = {sc.SERVER_ADDRESS: host}
    if port is not None:
        attributes[sc.SERVER_PORT] = port
    return attributes


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def request_attributes(payload: Mapping[str, Any]) -> Attributes:
    """The request parameters, as the conventions name them, from the JSON body as sent."""
    attributes: Attributes = {}
    for key, name, kind in _NUMBERS:
        value = payload.get(key)
        if _is_number(value):
            attributes[name] = kind(value)
    max_tokens = payload.get("max_completion_tokens", payload.get("max_tokens"))
    if _is_number(max_tokens):
        attributes[sc.REQUEST_MAX_TOKENS] = int(max_tokens)
    stop = payload.get("stop")
    if isinstance(stop, str):
        attributes[sc.REQUEST_STOP_SEQUENCES] = [stop]
    elif isinstance(stop, (list, tuple)) and all(isinstance(item, str) for item in stop) and stop:
        attributes[sc.REQUEST_STOP_SEQUENCES] = list(stop)
    n = payload.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n != 1:
        attributes[sc.REQUEST_CHOICE_COUNT] = n
    response_format = payload.get("response_format")
    if isinstance(response_format, Mapping):
        format_type = response_format.get("type")
        if format_type in _JSON_FORMATS:
            attributes[sc.OUTPUT_TYPE] = "json"
        elif format_type == "text":
            attributes[sc.OUTPUT_TYPE] = "text"
    return attributes


def base_attributes(request: RequestEvent, names: Mapping[str, str], latest_only: bool) -> Attributes:
    """What both the span and every metric carry: operation, provider, requested model, server."""
    provider = provider_name(request.provider.id, names)
    attributes: Attributes = {
        sc.OPERATION_NAME: sc.OPERATION_CHAT,
        sc.PROVIDER_NAME: provider,
        sc.REQUEST_MODEL: request.model,
    }
    if not latest_only:
        attributes[sc.SYSTEM] = provider
    attributes.update(server_attributes(request.url))
    return attributes


def response_attributes(completion: ChatCompletion) -> Attributes:
    """Response id, model, finish reasons and token usage of a (possibly partial) completion."""
    attributes: Attributes = {}
    if completion.id:
        attributes[sc.RESPONSE_ID] = completion.id
    if completion.model:
        attributes[sc.RESPONSE_MODEL] = completion.model
    reasons = [choice.finish_reason for choice in completion.choices if choice.finish_reason]
    if reasons:
        attributes[sc.RESPONSE_FINISH_REASONS] = reasons
    usage = completion.usage
    if usage is not None:
        attributes[sc.USAGE_INPUT_TOKENS] = usage.prompt_tokens
        attributes[sc.USAGE_OUTPUT_TOKENS] = usage.completion_tokens
        details = usage.prompt_tokens_details
        if details is not None and details.cached_tokens is not None:
            attributes[sc.USAGE_CACHE_READ_INPUT_TOKENS] = details.cached_tokens
        out_details = usage.completion_tokens_details
        if out_details is not None and out_details.reasoning_tokens is not None:
            attributes[sc.USAGE_REASONING_OUTPUT_TOKENS] = out_details.reasoning_tokens
    return attributes


def error_type(error: BaseException) -> str:
    """``error.type``: the exception's class name (``RateLimitError``, ``APITimeoutError``, ...).

    Low-cardinality by construction: chatplug's error classes are a fixed set,
    and anything else (a cancellation, a plugin's own exception) is named by its class.
    """
    return type(error).__qualname__
