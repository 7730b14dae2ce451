"""What observer hooks receive about a request (and about what the core changed in it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import attrs

from chatplug.provider import Provider

__all__ = ["RequestEvent", "Adjustment"]


@attrs.frozen
class Adjustment:
    """One change the core made to a request before sending it.

    - ``action``: ``"dropped"`` (removed under ``drop_unsupported_params``),
      ``"renamed"`` (a pure name difference, e.g. ``max_completion_tokens`` ->
      ``max_tokens``) or ``"filled"`` (a placeholder ``reasoning_content``
      added under ``reasoning_placeholder``).
    - ``param``: the parameter (or ``messages[i].reasoning_content``).
    - ``value``: the value that was dropped or renamed (``None`` for a fill).
    - ``reason``: why, in one sentence naming the model.
    - ``to``: the new name, for a rename.
    """

    action: Literal["dropped", "renamed", "filled"]
    param: str
    reason: str
    value: Any = attrs.field(default=None, repr=False)
    to: str | None = None


@attrs.frozen
class RequestEvent:
    """One attempt of one call, as observer hooks see it.

    ``call_id`` is the same for every attempt of a call; ``attempt`` counts from
    0. ``headers`` are the request headers with every credential redacted.
    ``payload`` is the JSON body as sent; treat it as read-only.
    ``fallback_index`` is 0 for the call's own model and N for its N-th
    fallback (``model`` and ``provider`` are then the fallback's).
    ``key_fingerprint`` names the API key used (a short SHA-256 prefix, see
    :func:`chatplug.key_fingerprint`) when the client was given the key, else ``None``.
    """

    call_id: int
    attempt: int
    provider: Provider
    model: str
    method: str
    url: str
    headers: Mapping[str, str]
    payload: Mapping[str, Any] = attrs.field(repr=False)
    stream: bool
    fallback_index: int = 0
    key_fingerprint: str | None = None
