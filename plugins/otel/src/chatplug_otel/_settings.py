"""What the environment and the constructor ask of chatplug-otel."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import attrs

__all__ = ["Settings", "CAPTURE_ENV", "STABILITY_ENV", "LATEST_EXPERIMENTAL"]

logger = logging.getLogger("chatplug_otel")

#: The conventions' switch between the pinned and the latest experimental names.
STABILITY_ENV = "OTEL_SEMCONV_STABILITY_OPT_IN"
LATEST_EXPERIMENTAL = "gen_ai_latest_experimental"
#: The GenAI instrumentations' switch for message content (off unless set).
CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

_CAPTURE_ON = frozenset({"true", "1", "yes", "span_only", "span_and_event"})
_CAPTURE_OFF = frozenset({"", "false", "0", "no", "no_content"})


@attrs.frozen
class Settings:
    """``capture_content``: record messages on spans. ``latest_only``: emit only
    the latest convention names (no ``gen_ai.system`` next to ``gen_ai.provider.name``)."""

    capture_content: bool = False
    latest_only: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, capture_content: bool | None = None) -> Settings:
        """Read the two environment variables; ``capture_content`` (if given) wins over the environment."""
        opt_in = {part.strip().lower() for part in environ.get(STABILITY_ENV, "").split(",")}
        capture = _capture_from_env(environ.get(CAPTURE_ENV)) if capture_content is None else capture_content
        if not isinstance(capture, bool):
            raise TypeError(f"capture_content={capture_content!r} must be True, False or None (read {CAPTURE_ENV})")
        return cls(capture_content=capture, latest_only=LATEST_EXPERIMENTAL in opt_in)


def _capture_from_env(value: str | None) -> bool:
    if value is None:
        return False
    normalized = value.strip().lower()
    if normalized in _CAPTURE_ON:
        return True
    if normalized not in _CAPTURE_OFF:
        # EVENT_ONLY, or a typo: chatplug-otel records content on spans only, so it
        # captures nothing rather than guess. Content stays off unless asked for plainly.
        logger.warning(
            "%s=%r is not supported by chatplug-otel; message content is NOT captured. "
            "Use true or SPAN_ONLY to record it on spans, or false / NO_CONTENT.",
            CAPTURE_ENV,
            value,
        )
    return False
