"""Moonshot partial mode: make the reply continue a prefix you write."""

from __future__ import annotations

from typing import Any

__all__ = ["partial_message"]


def partial_message(prefix: str, *, name: str | None = None) -> dict[str, Any]:
    """The last message of a partial-mode request: an assistant message with ``"partial": true``.

    The reply's ``content`` continues ``prefix`` and does not repeat it, so the
    full text is ``prefix + reply.choices[0].message.content``. ``name`` sets
    the speaker for role play. Moonshot advises against combining partial mode
    with ``response_format={"type": "json_object"}``.
    """
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a string, got {type(prefix).__name__}")
    message: dict[str, Any] = {"role": "assistant", "content": prefix, "partial": True}
    if name is not None:
        message["name"] = name
    return message
