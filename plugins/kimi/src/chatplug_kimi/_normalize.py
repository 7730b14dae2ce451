"""Moonshot responses to the canonical contract: where usage lives, and cached tokens."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chatplug import ResponseNormalizer

__all__ = ["KimiNormalizer"]


class KimiNormalizer(ResponseNormalizer):
    """Normalizes Moonshot completions and stream chunks.

    - Moonshot reports stream usage inside ``choices[i].usage`` of the final
      chunk; it moves to the chunk's top-level ``usage`` (a top-level usage
      already there wins) and is removed from the choice.
    - A top-level ``usage.cached_tokens`` is kept, and copied into
      ``usage.prompt_tokens_details.cached_tokens`` when that is absent.

    A trailing ``choices: []`` chunk carrying usage passes through unchanged:
    the core keeps the last usage it sees, so a report that arrives twice is
    not counted twice. Everything else (``reasoning_content``, tool-call
    fragments, ``system_fingerprint``) is already in the OpenAI shape.
    """

    __slots__ = ()

    def normalize_completion(self, body: dict[str, Any]) -> dict[str, Any]:
        """Return the canonical form of a whole Moonshot completion body."""
        _normalize_usage(body)
        return body

    def normalize_chunk(self, data: dict[str, Any]) -> Sequence[dict[str, Any]]:
        """Return the one canonical chunk for one Moonshot stream event."""
        _normalize_usage(data)
        return (data,)


def _normalize_usage(data: dict[str, Any]) -> None:
    """Lift per-choice usage to the top level and fill in cached-token details, in place."""
    choices = data.get("choices")
    if isinstance(choices, list):
        for choice in choices:
            if isinstance(choice, dict) and "usage" in choice:
                usage = choice.pop("usage")
                if isinstance(usage, dict) and not isinstance(data.get("usage"), dict):
                    data["usage"] = usage
    usage = data.get("usage")
    if isinstance(usage, dict):
        _reflect_cached_tokens(usage)


def _reflect_cached_tokens(usage: dict[str, Any]) -> None:
    cached = usage.get("cached_tokens")
    if not isinstance(cached, int) or isinstance(cached, bool):
        return
    details = usage.get("prompt_tokens_details")
    if details is None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    elif isinstance(details, dict) and details.get("cached_tokens") is None:
        usage["prompt_tokens_details"] = {**details, "cached_tokens": cached}
