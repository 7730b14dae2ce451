"""Checking GLM's own request parameters and preparing the message history.

GLM parameters the OpenAI contract does not name travel in ``extra_body``
and land at the top level of the request body:

- ``thinking``: ``{"type": "enabled" | "disabled", "clear_thinking": bool}``;
- ``do_sample``: bool;
- ``request_id``: a string of 6 to 64 characters;
- ``user_id``: a string of 6 to 128 characters;
- ``tool_stream``: bool, only with ``stream=True``;
- ``web_search`` tools: ``{"type": "web_search", "web_search": {...}}`` in ``tools``.

A value of the wrong shape raises :class:`chatplug.InvalidRequestError`
before any I/O, naming the parameter, the value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chatplug import InvalidRequestError

from chatplug_glm._content import flatten_history_content
from chatplug_glm._provider import PROVIDER_ID

__all__ = ["THINKING_TYPES", "check_glm_parameters", "keeps_reasoning", "strip_reasoning", "prepare_payload"]

#: The accepted values of ``thinking.type``.
THINKING_TYPES = ("enabled", "disabled")

_REQUEST_ID_LENGTH = (6, 64)
_USER_ID_LENGTH = (6, 128)


def _invalid(param: str, value: Any, allowed: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"{PROVIDER_ID}: {param}={value!r} is not accepted; {allowed}", param=param, provider=PROVIDER_ID
    )


def _check_bool(payload: Mapping[str, Any], name: str) -> None:
    if name in payload and not isinstance(payload[name], bool):
        raise _invalid(name, payload[name], f"{name} must be true or false")


def _check_text(payload: Mapping[str, Any], name: str, length: tuple[int, int]) -> None:
    if name not in payload:
        return
    value = payload[name]
    low, high = length
    if not isinstance(value, str) or not low <= len(value) <= high:
        raise _invalid(name, value, f"{name} must be a string of {low} to {high} characters")


def _check_thinking(thinking: Any) -> None:
    allowed = 'thinking must be an object like {"type": "enabled"} or {"type": "disabled"}'
    if not isinstance(thinking, Mapping):
        raise _invalid("thinking", thinking, allowed)
    kind = thinking.get("type")
    if kind not in THINKING_TYPES:
        raise _invalid("thinking", thinking, f'thinking.type must be "enabled" or "disabled", got {kind!r}')
    clear = thinking.get("clear_thinking")
    if "clear_thinking" in thinking and not isinstance(clear, bool):
        raise _invalid("thinking", thinking, f"thinking.clear_thinking must be true or false, got {clear!r}")


def _check_tools(tools: Any) -> None:
    if not isinstance(tools, list):
        return  # the core already rejects a non-list
    for index, tool in enumerate(tools):
        if isinstance(tool, Mapping) and tool.get("type") == "web_search":
            options = tool.get("web_search")
            if options is not None and not isinstance(options, Mapping):
                raise _invalid(
                    "tools",
                    tool,
                    f'tools[{index}] (web_search) needs "web_search" to be an object, '
                    'e.g. {"type": "web_search", "web_search": {"enable": true}}',
                )


def check_glm_parameters(payload: Mapping[str, Any]) -> None:
    """Reject GLM parameters of the wrong shape with :class:`chatplug.InvalidRequestError`."""
    if "thinking" in payload:
        _check_thinking(payload["thinking"])
    _check_bool(payload, "do_sample")
    _check_bool(payload, "tool_stream")
    _check_text(payload, "request_id", _REQUEST_ID_LENGTH)
    _check_text(payload, "user_id", _USER_ID_LENGTH)
    if payload.get("tool_stream") is True and payload.get("stream") is not True:
        raise _invalid("tool_stream", True, "tool_stream=true streams tool-call arguments and needs stream=True")
    _check_tools(payload.get("tools"))


def keeps_reasoning(payload: Mapping[str, Any]) -> bool:
    """Whether the request asks GLM to keep earlier reasoning (``thinking.clear_thinking: false``)."""
    thinking = payload.get("thinking")
    return isinstance(thinking, Mapping) and thinking.get("clear_thinking") is False


def strip_reasoning(payload: dict[str, Any]) -> None:
    """Drop ``reasoning_content`` from assistant messages of the history (GLM ignores it)."""
    messages = payload.get("messages")
    if not isinstance(messages, list):
        return
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "assistant":
            message.pop("reasoning_content", None)


def prepare_payload(payload: dict[str, Any]) -> None:
    """Check GLM's parameters, then keep or strip past reasoning as the request asks.

    Assistant messages keep ``reasoning_content`` only when
    ``thinking.clear_thinking`` is ``false`` (preserved thinking); otherwise
    it is removed, since GLM would ignore it and it only costs bandwidth.
    """
    check_glm_parameters(payload)
    flatten_history_content(payload)
    if not keeps_reasoning(payload):
        strip_reasoning(payload)
