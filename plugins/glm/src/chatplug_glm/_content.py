"""Flattening the content parts of assistant and tool messages before they go to GLM.

Z.ai's chat-completion reference documents ``content`` as a list of parts for
``user`` messages only (text, and images for the vision models); for
``assistant`` and ``tool`` messages it is a string. A list there is refused
("messages.content.type 参数非法", AstrBotDevs/AstrBot#9293; "message[3].content[2]
has invalid field(s): text" for glm-5.1, BigPizzaV3/CodexPlusPlus#329) or its
parts are not read. OpenAI, and histories built for it, allow text parts
in both, and a history that went through a GLM 5.x reply may carry
``thinking`` parts. So, in a GLM request:

- the text parts of an assistant or tool message are joined into one string,
  in order;
- the ``thinking`` parts of an assistant message move to its
  ``reasoning_content`` (after any already there), which GLM reads when the
  request keeps past thinking (``clear_thinking: false``) and which chatplug
  otherwise strips like any past reasoning;
- any other part (an image, an unknown type) cannot travel in a string:
  :class:`chatplug.InvalidRequestError` names the message and the part, before
  anything is sent. Nothing is dropped silently.
"""

from __future__ import annotations

from typing import Any

from chatplug import InvalidRequestError
from chatplug.normalize import THINKING_PART_TYPES, thinking_text

from chatplug_glm._provider import PROVIDER_ID

__all__ = ["FLATTENED_ROLES", "flatten_history_content"]

#: The roles whose list content GLM needs as a string.
FLATTENED_ROLES = frozenset({"assistant", "tool"})


def _refuse(index: int, role: str, part_index: int, part: Any) -> InvalidRequestError:
    kind = part.get("type") if isinstance(part, dict) else type(part).__name__
    return InvalidRequestError(
        f"{PROVIDER_ID}: messages[{index}] ({role}) content[{part_index}] is a {kind!r} part; GLM takes only text "
        f"in {role} messages. Send the text as a string (or {{'type': 'text', 'text': ...}} parts), "
        "and images in a user message.",
        param=f"messages[{index}].content",
        provider=PROVIDER_ID,
    )


def _flatten(index: int, message: dict[str, Any]) -> None:
    role = message["role"]
    texts: list[str] = []
    thinking: list[str] = []
    for part_index, part in enumerate(message["content"]):
        if isinstance(part, str):
            texts.append(part)
            continue
        if not isinstance(part, dict):
            raise _refuse(index, role, part_index, part)
        kind = part.get("type", "text")
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif role == "assistant" and kind in THINKING_PART_TYPES:
            value = thinking_text(part)
            if value is None:
                raise _refuse(index, role, part_index, part)
            thinking.append(value)
        else:
            raise _refuse(index, role, part_index, part)
    message["content"] = "".join(texts)
    if thinking:
        earlier = message.get("reasoning_content")
        message["reasoning_content"] = (earlier if isinstance(earlier, str) else "") + "".join(thinking)


def flatten_history_content(payload: dict[str, Any]) -> None:
    """Turn the list content of assistant and tool messages into strings, in place (see the module doc)."""
    messages = payload.get("messages")
    if not isinstance(messages, list):
        return
    for index, message in enumerate(messages):
        if (
            isinstance(message, dict)
            and message.get("role") in FLATTENED_ROLES
            and isinstance(message.get("content"), list)
        ):
            _flatten(index, message)
