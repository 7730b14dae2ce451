"""Moonshot request rules the declarative :class:`~chatplug.Limits` cannot express."""

from __future__ import annotations

from typing import Any

from chatplug import InvalidRequestError

from chatplug_kimi._provider import PROVIDER_ID

__all__ = ["check_payload"]


def check_payload(payload: dict[str, Any]) -> None:
    """Reject, before any I/O, a request Moonshot would refuse.

    - ``n > 1`` needs a temperature above 0 (Moonshot returns one choice only
      for a near-greedy temperature). Without ``temperature`` the model's
      default, which is above 0, applies.
    - ``"partial": true`` (partial mode) belongs on the last message, and
      that message must be an assistant message: its content is the prefix
      the reply continues.

    Nothing is removed or rewritten: assistant ``reasoning_content``, tool-call
    ids and builtin tools are sent exactly as given.
    """
    n = payload.get("n")
    temperature = payload.get("temperature")
    if isinstance(n, int) and n > 1 and isinstance(temperature, (int, float)) and temperature <= 0:
        raise InvalidRequestError(
            f"{PROVIDER_ID}: n={n} needs temperature > 0 (got temperature={temperature!r}); "
            "Moonshot returns a single choice at temperature 0. Raise temperature or set n=1.",
            param="n",
            provider=PROVIDER_ID,
        )
    messages = payload.get("messages")
    if not isinstance(messages, list):
        return
    last = len(messages) - 1
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not message.get("partial"):
            continue
        if index != last or message.get("role") != "assistant":
            raise InvalidRequestError(
                f"{PROVIDER_ID}: messages[{index}] has \"partial\": true; partial mode needs it on the last "
                "message, and that message must have role 'assistant' (its content is the prefix to continue)",
                param="messages",
                provider=PROVIDER_ID,
            )
