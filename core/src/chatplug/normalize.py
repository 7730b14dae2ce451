"""Turning a provider's response data into the canonical contract."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chatplug.errors import APIError

__all__ = [
    "THINKING_PART_TYPES",
    "ResponseNormalizer",
    "canonical_message_parts",
    "needs_part_normalizing",
    "thinking_text",
]


class ResponseNormalizer:
    """Normalizes one request's response data to the canonical (OpenAI) shape.

    A provider plugin subclasses it and returns a fresh instance from its
    ``chatplug_response_normalizer`` hook; one instance serves one request, so
    it may keep state across the chunks of a stream. Both methods work on the
    decoded JSON (plain dicts), before it is parsed into typed objects; they
    may change it in place and return it. The base class passes everything
    through unchanged.

    To end a stream with an error *after* delivering the chunk that announced
    it (so that chunk's content and usage are not lost), set
    ``self.deferred_error`` in :meth:`normalize_chunk` and return the chunk:
    the core delivers the chunks, then raises the error with ``.partial``.
    """

    #: An error to raise once the chunks returned with it are delivered (see above).
    deferred_error: APIError | None = None

    def normalize_completion(self, body: dict[str, Any]) -> dict[str, Any]:
        """Return the canonical form of a whole (non-stream) completion body."""
        return body

    def normalize_chunk(self, data: dict[str, Any]) -> Sequence[dict[str, Any]]:
        """Return the canonical chunks for one decoded stream event.

        Usually one; return ``()`` to drop an event (a keep-alive, say), or
        several to split one. Raise an :class:`~chatplug.APIError` to end the
        stream with it at once, or set ``deferred_error`` to end it after these
        chunks: either way the core attaches the partial completion.
        """
        return (data,)


#: The shared pass-through instance (stateless, so one serves every request).
IDENTITY = ResponseNormalizer()


#: Part types whose text is the model's thinking (read from ``thinking``, else ``text``).
THINKING_PART_TYPES = frozenset({"thinking", "reasoning"})


def _joined_text(value: Any) -> str | None:
    """A string, or the text of a list of text parts (strings or ``{"text": ...}``), else ``None``."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        return None
    texts = []
    for item in value:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, dict) and isinstance(item.get("text"), str):
            texts.append(item["text"])
        else:
            return None
    return "".join(texts)


def thinking_text(part: dict[str, Any]) -> str | None:
    """The text of a thinking part: its ``thinking`` (a string, or a list of text
    parts as Mistral-hosted GLM sends it), else its ``text``; ``None`` if neither."""
    value = _joined_text(part.get("thinking"))
    return value if value is not None else _joined_text(part.get("text"))


def needs_part_normalizing(message: dict[str, Any]) -> bool:
    """Whether a message or delta dict has content parts or a ``reasoning`` field
    for :func:`canonical_message_parts` to fold (a cheap check for per-chunk use)."""
    return type(message.get("content")) is list or "reasoning" in message


def canonical_message_parts(message: dict[str, Any]) -> dict[str, Any]:
    """Fold a reply message (or stream delta) into the canonical string fields, in place.

    Some servers answer with ``content`` as a list of typed parts
    (``[{"type": "thinking", "thinking": ...}, {"type": "text", "text": ...}]``)
    and put thinking in ``reasoning`` rather than ``reasoning_content``.
    The contract has one string each:

    - text parts (``type: "text"``, or no type and a ``text`` string) are
      joined, in order, into ``content`` (``None`` when there is none);
    - thinking parts (``type`` ``thinking`` or ``reasoning``) are joined into
      ``reasoning_content``, each part's text read from ``thinking`` or
      ``text``, whichever it carries (:func:`thinking_text`), after any
      ``reasoning_content`` already there;
    - a ``reasoning`` string becomes ``reasoning_content`` when that is empty,
      and is then removed (the same text is not kept twice); when both are
      set and differ, both stay;
    - parts of any other type cannot be folded into a string: the whole
      original list stays readable as ``content_parts`` (an extra field), so
      nothing the server sent is lost.

    Returns ``message``.
    """
    content = message.get("content")
    reasoning_parts: list[str] = []
    if type(content) is list:
        texts: list[str] = []
        unknown = False
        for part in content:
            if isinstance(part, str):
                texts.append(part)
                continue
            if not isinstance(part, dict):
                unknown = True
                continue
            kind = part.get("type")
            if kind in THINKING_PART_TYPES:
                value = thinking_text(part)
                if value is not None:
                    reasoning_parts.append(value)
                else:
                    unknown = True
            elif (kind == "text" or kind is None) and isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                unknown = True
        if unknown:
            message["content_parts"] = content
        message["content"] = "".join(texts) if texts else None
    reasoning = message.get("reasoning")
    existing = message.get("reasoning_content")
    folded = existing if isinstance(existing, str) else None
    if isinstance(reasoning, str):
        if not folded:
            folded = reasoning
            del message["reasoning"]
        elif folded == reasoning:
            del message["reasoning"]
    if reasoning_parts:
        folded = (folded or "") + "".join(reasoning_parts)
    if folded is not None:
        message["reasoning_content"] = folded
    return message
