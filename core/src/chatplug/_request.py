"""Building the request body from ``create(...)`` arguments, and checking it.

Everything here runs before any network I/O, so a bad request fails fast with
an :class:`~chatplug.InvalidRequestError` that names the parameter, the value
and what would be right.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from chatplug._convert import to_dict
from chatplug._policy import apply_policy
from chatplug.errors import InvalidRequestError
from chatplug.provider import Limits, Provider
from chatplug.types import WireObject

if TYPE_CHECKING:
    from chatplug.events import Adjustment

__all__ = [
    "build_payload", "check_credentials", "check_extra_headers", "check_limits", "checked_query", "credential_secrets",
    "encode_payload",
]

_ROLES = ("system", "developer", "user", "assistant", "tool", "function")


def _fail(provider: Provider, param: str, message: str) -> InvalidRequestError:
    return InvalidRequestError(f"{provider.id}: {message}", param=param, provider=provider.id)


def _wire(value: Any) -> Any:
    if isinstance(value, WireObject):
        return to_dict(value)
    return value


def _copy_message(provider: Provider, index: int, message: Any) -> dict[str, Any]:
    where = f"messages[{index}]"
    if isinstance(message, WireObject):
        message = to_dict(message)
    elif isinstance(message, Mapping):
        message = {key: _wire(value) for key, value in message.items()}
    else:
        raise _fail(
            provider,
            "messages",
            f"{where} is of type {type(message).__name__}; expected a dict like "
            '{"role": "user", "content": "Hi"} or a chatplug message object',
        )
    role = message.get("role")
    if role not in _ROLES:
        raise _fail(provider, "messages", f"{where}.role is {role!r}; expected one of {', '.join(_ROLES)}")
    content = message.get("content")
    if content is None:
        if role != "assistant":  # an assistant turn may carry only tool_calls (content: null)
            raise _fail(provider, "messages", f"{where} ({role}) has no content; expected a string or a list of parts")
    elif isinstance(content, list):
        message["content"] = [_check_part(provider, where, i, part) for i, part in enumerate(content)]
    elif not isinstance(content, str):
        raise _fail(
            provider,
            "messages",
            f"{where}.content is of type {type(content).__name__}; expected a string or a list of content parts",
        )
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise _fail(provider, "messages", f"{where} (tool) needs tool_call_id: the id of the call it answers")
    tool_calls = message.get("tool_calls")
    if tool_calls is not None:
        if not isinstance(tool_calls, list):
            raise _fail(provider, "messages", f"{where}.tool_calls must be a list")
        message["tool_calls"] = [_wire(call) for call in tool_calls]
    return message  # type: ignore[no-any-return]


def _check_part(provider: Provider, where: str, index: int, part: Any) -> Any:
    part = _wire(part)
    if not isinstance(part, Mapping) or not isinstance(part.get("type"), str):
        raise _fail(
            provider,
            "messages",
            f"{where}.content[{index}] must be a part like "
            '{"type": "text", "text": "..."} or {"type": "image_url", "image_url": {"url": "..."}}',
        )
    return part


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_types(provider: Provider, params: dict[str, Any]) -> None:
    for name in ("temperature", "top_p", "frequency_penalty", "presence_penalty"):
        value = params.get(name)
        if value is not None and not _is_number(value):
            raise _fail(provider, name, f"{name}={value!r} must be a number")
    for name in ("max_tokens", "max_completion_tokens", "n", "top_logprobs"):
        value = params.get(name)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < (0 if name == "top_logprobs" else 1)
        ):
            least = "an integer of 0 or more" if name == "top_logprobs" else "a positive integer"
            raise _fail(provider, name, f"{name}={value!r} must be {least}")
    seed = params.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise _fail(provider, "seed", f"seed={seed!r} must be an integer")
    stop = params.get("stop")
    if stop is not None and not (
        isinstance(stop, str) or (isinstance(stop, list) and all(isinstance(s, str) for s in stop))
    ):
        raise _fail(provider, "stop", f"stop={stop!r} must be a string or a list of strings")
    reasoning_effort = params.get("reasoning_effort")
    if reasoning_effort is not None and not isinstance(reasoning_effort, str):
        raise _fail(
            provider, "reasoning_effort", f"reasoning_effort={reasoning_effort!r} must be a string such as 'high'"
        )
    tool_choice = params.get("tool_choice")
    if tool_choice is not None and not isinstance(tool_choice, (str, Mapping)):
        raise _fail(provider, "tool_choice", f"tool_choice={tool_choice!r} must be a string or an object")
    tools = params.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _fail(provider, "tools", "tools must be a list of tool objects")
        for index, tool in enumerate(tools):
            if not isinstance(tool, Mapping) or not isinstance(tool.get("type"), str):
                raise _fail(provider, "tools", f'tools[{index}] must be an object with a "type"')
            if tool["type"] == "function":
                function = tool.get("function")
                if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
                    raise _fail(provider, "tools", f'tools[{index}] (function) needs "function": {{"name": ...}}')
    response_format = params.get("response_format")
    if response_format is not None and (
        not isinstance(response_format, Mapping) or not isinstance(response_format.get("type"), str)
    ):
        raise _fail(provider, "response_format", 'response_format must be an object like {"type": "json_object"}')


def check_limits(provider: Provider, params: Mapping[str, Any], model: str) -> None:
    """Reject a request that breaks the provider's declared :class:`~chatplug.Limits`.

    A range the model's catalog record declares (``ModelInfo.ranges``) replaces
    the provider's for that parameter.
    """
    limits: Limits = provider.limits
    own_ranges = provider.model_info(model).ranges
    for name in ("temperature", "top_p"):
        if name in own_ranges:
            continue
        allowed = getattr(limits, name)
        value = params.get(name)
        if allowed is not None and value is not None and value not in allowed:
            raise _fail(
                provider,
                name,
                f"{name}={value!r} is out of range; {provider.id} accepts {allowed.describe(name)}",
            )
    stop = params.get("stop")
    if limits.max_stop is not None and stop is not None:
        count = 1 if isinstance(stop, str) else len(stop)
        if count > limits.max_stop:
            raise _fail(
                provider,
                "stop",
                f"stop has {count} entries; {provider.id} accepts at most {limits.max_stop}",
            )
    n = params.get("n")
    if limits.max_n is not None and n is not None and n > limits.max_n:
        raise _fail(provider, "n", f"n={n!r} is out of range; {provider.id} accepts 1 <= n <= {limits.max_n}")
    tool_choice = params.get("tool_choice")
    if limits.tool_choice is not None and tool_choice is not None:
        form = "function" if isinstance(tool_choice, Mapping) else tool_choice
        if form not in limits.tool_choice:
            allowed = ", ".join(
                "an object naming a function" if choice == "function" else repr(choice) for choice in limits.tool_choice
            )
            raise _fail(
                provider,
                "tool_choice",
                f"tool_choice={tool_choice!r} is not supported; {provider.id} accepts {allowed}",
            )


def build_payload(
    provider: Provider,
    model: str,
    messages: Iterable[Any],
    params: dict[str, Any],
    extra_body: Mapping[str, Any] | None,
    *,
    drop_unsupported: bool,
    reasoning_placeholder: str | None,
    adjustments: list[Adjustment],
) -> dict[str, Any]:
    """The JSON body for one request, checked against types, the model's catalog
    record (see :mod:`chatplug._policy`) and the provider's limits.

    ``params`` holds the named ``create()`` parameters that were given (not
    ``None``); typed objects in it are turned into wire JSON. The policy's
    renames, drops and fills are appended to ``adjustments``.
    """
    if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Iterable):
        raise _fail(provider, "messages", "messages must be a list of message dicts or objects")
    copied = [_copy_message(provider, index, message) for index, message in enumerate(messages)]
    if not copied:
        raise _fail(provider, "messages", "messages is empty; send at least one message")
    payload: dict[str, Any] = {"model": model, "messages": copied}
    for name, value in params.items():
        if isinstance(value, (list, tuple)):
            value = [_wire(item) for item in value]
        payload[name] = _wire(value)
    if extra_body:
        if not isinstance(extra_body, Mapping):
            raise _fail(provider, "extra_body", "extra_body must be a dict of extra JSON fields")
        payload.update(extra_body)
    _check_types(provider, payload)  # after the merge: extra_body values are checked like named ones
    made = apply_policy(
        provider, model, payload, drop_unsupported=drop_unsupported, reasoning_placeholder=reasoning_placeholder
    )
    adjustments.extend(made)
    check_limits(provider, payload, model)
    return payload


def encode_payload(provider: Provider, payload: dict[str, Any]) -> bytes:
    """The JSON request body; a value JSON cannot carry (bytes, a set, NaN, ...) is an InvalidRequestError."""
    try:
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        param = next((key for key, value in payload.items() if not _json_ok(value)), "extra_body")
        raise InvalidRequestError(
            f"{provider.id}: {param} cannot be sent as JSON ({exc})", param=param, provider=provider.id
        ) from exc


def _json_ok(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError):
        return False
    return True


def check_extra_headers(provider: Provider, extra_headers: Any, param: str = "extra_headers") -> None:
    """Reject extra_headers that are not a dict of header names to strings HTTP can carry."""
    if not isinstance(extra_headers, Mapping) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in extra_headers.items()
    ):
        raise InvalidRequestError(
            f"{provider.id}: {param} must be a dict of header names to string values",
            param=param,
            provider=provider.id,
        )
    for name, value in extra_headers.items():
        for where, text in (("name", name), ("value", value)):
            bad = _unsendable(text)
            if bad:
                raise InvalidRequestError(  # the value is not shown: it may be a credential
                    f"{provider.id}: the {where} of {param}[{name!a}] "
                    f"{bad}",
                    param=param,
                    provider=provider.id,
                )


def _unsendable(text: str) -> str:
    """What keeps ``text`` out of an HTTP header ("" when nothing does), without quoting it."""
    if text.isascii() and text.isprintable():
        return ""
    bad = next(i for i, char in enumerate(text) if not (char.isascii() and char.isprintable()))
    return f"has a character HTTP headers cannot carry (U+{ord(text[bad]):04X} at position {bad})"


def credential_secrets(credentials: Mapping[str, str] | None) -> tuple[str, ...]:
    """What to scrub from errors for these credential headers: each value, and
    each long word of it (the key in ``"Bearer <key>"``)."""
    values = tuple(value for value in (credentials or {}).values() if value)
    return values + tuple(part for value in values for part in value.split() if len(part) >= 8)


def check_credentials(provider: Provider, credentials: Mapping[str, str] | None) -> None:
    """Refuse a credential header that HTTP cannot carry (a key with a stray newline,
    a non-ASCII character), before any I/O and without showing the key: httpx and
    h11 would fail later with errors that quote the whole header value."""
    for name, value in (credentials or {}).items():
        what = _unsendable(value) if isinstance(value, str) else f"is of type {type(value).__name__}, not a string"
        if not what:
            continue
        raise InvalidRequestError(
            f"{provider.id}: the {name} header made from the API key {what}; "
            "check the key for a stray newline, space or quote copied along with it",
            param="api_key",
            provider=provider.id,
        )


_QUERY_SCALARS = (str, int, float, bool, type(None))


def checked_query(provider: Provider, extra_query: Any) -> dict[str, Any]:
    """extra_query as a dict of names to strings, numbers or lists of them, or an InvalidRequestError."""
    if isinstance(extra_query, Mapping) and all(
        isinstance(key, str)
        and (
            isinstance(value, _QUERY_SCALARS)
            or (isinstance(value, (list, tuple)) and all(isinstance(item, _QUERY_SCALARS) for item in value))
        )
        for key, value in extra_query.items()
    ):
        return dict(extra_query)
    raise InvalidRequestError(
        f"{provider.id}: extra_query must be a dict of names to strings, numbers or lists of them",
        param="extra_query",
        provider=provider.id,
    )
