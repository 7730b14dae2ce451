"""Turning a provider's response data into the canonical contract."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chatplug.errors import APIError

__all__ = ["ResponseNormalizer"]


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
