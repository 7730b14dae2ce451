"""Moonshot's builtin ``$web_search`` tool: declaring it and answering its calls.

The round trip takes two requests:

1. Send the tool from :func:`web_search_tool`. The model answers with
   ``finish_reason == "tool_calls"`` and a call to ``$web_search`` whose
   arguments Moonshot filled in.
2. Send the history back with the assistant message (its ``tool_calls``
   unchanged) and, for each such call, :func:`web_search_reply`: a ``tool``
   message whose content is the call's arguments, unchanged. Moonshot runs the
   search and the model answers with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from chatplug import ChatCompletionMessageToolCall, ChoiceDeltaToolCall

__all__ = ["WEB_SEARCH", "web_search_tool", "is_web_search_call", "web_search_reply"]

#: The builtin function name Moonshot uses for its web search.
WEB_SEARCH = "$web_search"

#: A typed tool call, whole or streamed, or its plain-dict form. The classes are named, not imported:
#: importing ChoiceDeltaToolCall would create the contract's stream classes whenever this plugin loads.
ToolCallLike = Union["ChatCompletionMessageToolCall", "ChoiceDeltaToolCall", Mapping[str, Any]]


def web_search_tool() -> dict[str, Any]:
    """The ``tools`` entry that enables Moonshot's builtin web search."""
    return {"type": "builtin_function", "function": {"name": WEB_SEARCH}}


def _parts(call: ToolCallLike) -> tuple[str, str, str]:
    """(id, function name, arguments) of a typed or plain-dict tool call."""
    if isinstance(call, Mapping):
        function = call.get("function") or {}
        if not isinstance(function, Mapping):
            raise TypeError(f"tool call function must be an object, got {type(function).__name__}")
        return str(call.get("id") or ""), str(function.get("name") or ""), str(function.get("arguments") or "")
    function_obj = call.function
    name = (function_obj.name if function_obj is not None else None) or ""
    arguments = (function_obj.arguments if function_obj is not None else None) or ""
    return call.id or "", name, arguments


def is_web_search_call(call: ToolCallLike) -> bool:
    """Whether ``call`` (a typed tool call or its dict form) is a ``$web_search`` call."""
    return _parts(call)[1] == WEB_SEARCH


def web_search_reply(call: ToolCallLike) -> dict[str, Any]:
    """The ``role: "tool"`` message answering a ``$web_search`` call.

    Its content is the call's arguments exactly as Moonshot sent them, and its
    ``tool_call_id`` the call's id byte for byte. Raises :class:`ValueError`
    for a call to another function.
    """
    call_id, name, arguments = _parts(call)
    if name != WEB_SEARCH:
        raise ValueError(f"tool call {call_id!r} calls {name!r}, not {WEB_SEARCH!r}; answer it yourself")
    if not call_id:
        raise ValueError("the $web_search tool call has no id; send back the call as the model returned it")
    return {"role": "tool", "tool_call_id": call_id, "name": WEB_SEARCH, "content": arguments}
