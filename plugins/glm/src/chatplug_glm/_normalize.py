"""Turning GLM responses and stream chunks into the canonical (OpenAI) shape.

What GLM does differently, and what is done about it:

- chunks may lack ``object``: it is added (``chat.completion.chunk`` /
  ``chat.completion``);
- middle chunks have no ``finish_reason`` key: it is added as ``null``;
- every delta repeats ``"role": "assistant"``: the role is kept on the first
  delta of each choice only, as OpenAI sends it;
- ``finish_reason`` values OpenAI does not have are mapped (``sensitive`` ->
  ``content_filter``, ``model_context_window_exceeded`` -> ``length``); the raw
  value stays in the choice's ``native_finish_reason``;
- GLM 5.x may answer with ``content`` (and stream ``delta.content``) as a
  list of typed parts (``thinking``, ``text``) and with a non-stream
  ``reasoning`` field: text parts are joined into ``content``, thinking parts
  and ``reasoning`` go to ``reasoning_content``
  (:func:`chatplug.normalize.canonical_message_parts`);
- ``finish_reason: "network_error"`` (a failure inside Z.ai) raises
  :class:`chatplug.InternalServerError`, which is retryable. In a stream the
  chunk that says so is delivered first (its finish_reason cleared, the raw
  value in ``native_finish_reason``), so whatever content and usage it carried
  are in the error's ``.partial``.

Everything else GLM sends (``request_id``, ``content_filter`` lists, usage on
the finishing chunk, a whole tool call in one chunk) passes through unchanged
and stays readable as unknown fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chatplug import InternalServerError, ResponseNormalizer
from chatplug.normalize import canonical_message_parts, needs_part_normalizing

from chatplug_glm._provider import PROVIDER_ID

__all__ = ["FINISH_REASON_MAP", "NETWORK_ERROR", "GLMResponseNormalizer"]

#: GLM finish reasons that OpenAI spells differently.
FINISH_REASON_MAP = {
    "sensitive": "content_filter",
    "model_context_window_exceeded": "length",
}
#: The finish reason GLM uses when generation failed inside its service.
NETWORK_ERROR = "network_error"


def _network_error(data: dict[str, Any]) -> InternalServerError:
    request_id = data.get("request_id") or data.get("id")
    return InternalServerError(
        f"{PROVIDER_ID}: generation failed inside Z.ai (finish_reason {NETWORK_ERROR!r}); the request can be retried",
        code=NETWORK_ERROR,
        request_id=request_id if isinstance(request_id, str) else None,
        provider=PROVIDER_ID,
        body=data,
    )


def _map_finish_reason(choice: dict[str, Any]) -> bool:
    """Map the choice's finish reason in place; True when it is ``network_error``."""
    raw = choice.get("finish_reason")
    if raw == NETWORK_ERROR:
        choice["finish_reason"] = None  # the choice did not finish: it failed
        choice["native_finish_reason"] = raw
        return True
    mapped = FINISH_REASON_MAP.get(raw) if isinstance(raw, str) else None
    if mapped is not None:
        choice["finish_reason"] = mapped
        choice["native_finish_reason"] = raw
    return False


def _choices(data: dict[str, Any]) -> list[Any]:
    choices = data.get("choices")
    return choices if isinstance(choices, list) else []


class GLMResponseNormalizer(ResponseNormalizer):
    """Normalizes one GLM request's completion or stream (one instance per request)."""


    def __init__(self) -> None:
        self._roles_seen: set[int] = set()

    def normalize_completion(self, body: dict[str, Any]) -> dict[str, Any]:
        """Add ``object`` and map finish reasons; raise on ``network_error``."""
        body.setdefault("object", "chat.completion")
        for choice in _choices(body):
            if not isinstance(choice, dict):
                continue
            message = choice.get("message")
            if type(message) is dict and needs_part_normalizing(message):
                canonical_message_parts(message)
            if _map_finish_reason(choice):
                raise _network_error(body)
        return body

    def normalize_chunk(self, data: dict[str, Any]) -> Sequence[dict[str, Any]]:
        """Canonicalize one chunk; on ``network_error`` deliver it, then end the
        stream with :class:`chatplug.InternalServerError`."""
        data.setdefault("object", "chat.completion.chunk")
        for choice in _choices(data):
            if not isinstance(choice, dict):
                continue
            if _map_finish_reason(choice):
                self.deferred_error = _network_error(data)
            choice.setdefault("finish_reason", None)
            delta = choice.get("delta")
            if type(delta) is not dict:
                continue
            if "reasoning" in delta or type(delta.get("content")) is list:
                canonical_message_parts(delta)
            if "role" in delta:
                index = choice.get("index", 0)
                if not isinstance(index, int):
                    continue
                if index in self._roles_seen:
                    del delta["role"]
                else:
                    self._roles_seen.add(index)
        return (data,)
