"""Message content in the conventions' shape (``gen_ai.input.messages`` /
``gen_ai.output.messages``), for apps that opt in to capturing it.

The shapes follow the conventions' input- and output-message JSON schemas:
``{"role": ..., "parts": [{"type": "text", "content": ...}, ...]}``. A system
message of an OpenAI-style chat is part of the history, so it stays in the
input messages (``gen_ai.system_instructions`` is for APIs that take
instructions apart from the history). Spans in Python take no structured
attribute values yet, so each list is recorded as a JSON string, as the
conventions direct.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from chatplug import ChatCompletion

__all__ = ["input_messages", "output_messages"]

Part = dict[str, Any]


def _arguments(raw: Any) -> Any:
    """Tool-call arguments as an object when they are JSON (the conventions' preference), else as sent."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _content_parts(content: Any) -> list[Part]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}] if content else []
    parts: list[Part] = []
    if isinstance(content, Sequence):
        for item in content:
            if not isinstance(item, Mapping):
                continue
            kind = item.get("type")
            if kind == "text" and isinstance(item.get("text"), str):
                parts.append({"type": "text", "content": item["text"]})
            elif kind == "image_url" and isinstance(item.get("image_url"), Mapping):
                url = item["image_url"].get("url")
                if isinstance(url, str) and not url.startswith("data:"):
                    parts.append({"type": "uri", "modality": "image", "uri": url})
                else:  # inline data stays out: it is large, and binary
                    parts.append({"type": "blob", "modality": "image", "content": "<omitted>"})
            elif isinstance(kind, str):
                parts.append({"type": kind})
    return parts


def _tool_call_parts(tool_calls: Any) -> list[Part]:
    parts: list[Part] = []
    if not isinstance(tool_calls, Sequence):
        return parts
    for call in tool_calls:
        if not isinstance(call, Mapping):
            continue
        function = call.get("function")
        if not isinstance(function, Mapping):
            function = {}
        parts.append(
            {
                "type": "tool_call",
                "id": call.get("id"),
                "name": function.get("name", ""),
                "arguments": _arguments(function.get("arguments")),
            }
        )
    return parts


def input_messages(messages: Any) -> str:
    """The request's messages (wire dicts, as sent) as ``gen_ai.input.messages`` JSON."""
    converted: list[dict[str, Any]] = []
    for message in messages if isinstance(messages, Sequence) else ():
        if not isinstance(message, Mapping):
            continue
        role = message.get("role", "user")
        if role == "tool":
            parts: list[Part] = [
                {"type": "tool_call_response", "id": message.get("tool_call_id"), "response": message.get("content")}
            ]
        else:
            parts = []
            reasoning = message.get("reasoning_content")
            if isinstance(reasoning, str) and reasoning:
                parts.append({"type": "reasoning", "content": reasoning})
            parts.extend(_content_parts(message.get("content")))
            parts.extend(_tool_call_parts(message.get("tool_calls")))
        converted.append({"role": role, "parts": parts})
    return json.dumps(converted, ensure_ascii=False)


def output_messages(completion: ChatCompletion) -> str:
    """Each choice of ``completion`` as one ``gen_ai.output.messages`` entry, in JSON."""
    converted: list[dict[str, Any]] = []
    for choice in completion.choices:
        message = choice.message
        parts: list[Part] = []
        if message.reasoning_content:
            parts.append({"type": "reasoning", "content": message.reasoning_content})
        if message.content:
            parts.append({"type": "text", "content": message.content})
        if message.refusal:
            parts.append({"type": "refusal", "content": message.refusal})
        for call in message.tool_calls or ():
            parts.append(
                {
                    "type": "tool_call",
                    "id": call.id,
                    "name": call.function.name,
                    "arguments": _arguments(call.function.arguments),
                }
            )
        entry: dict[str, Any] = {"role": message.role or "assistant", "parts": parts}
        entry["finish_reason"] = choice.finish_reason or "error"
        converted.append(entry)
    return json.dumps(converted, ensure_ascii=False)
