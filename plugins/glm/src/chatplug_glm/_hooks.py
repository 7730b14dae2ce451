"""The chatplug hook implementations of the GLM plugin.

Each hook that receives a ``provider`` acts only for provider id ``glm`` and
returns ``None`` for every other provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chatplug import APIStatusError, Provider, ResponseNormalizer, hookimpl

from chatplug_glm._errors import map_glm_error
from chatplug_glm._normalize import GLMResponseNormalizer
from chatplug_glm._payload import prepare_payload
from chatplug_glm._provider import GLM_PROVIDER, PROVIDER_ID

__all__ = [
    "chatplug_providers",
    "chatplug_prepare_payload",
    "chatplug_response_normalizer",
    "chatplug_map_error",
]


@hookimpl
def chatplug_providers() -> Provider:
    """Declare the Z.ai GLM provider."""
    return GLM_PROVIDER


@hookimpl
def chatplug_prepare_payload(provider: Provider, payload: dict[str, Any]) -> None:
    """Check GLM parameters and keep or strip past reasoning (GLM requests only)."""
    if provider.id != PROVIDER_ID:
        return
    prepare_payload(payload)


@hookimpl
def chatplug_response_normalizer(provider: Provider) -> ResponseNormalizer | None:
    """A fresh :class:`~chatplug_glm.GLMResponseNormalizer` for each GLM request."""
    if provider.id != PROVIDER_ID:
        return None
    return GLMResponseNormalizer()


@hookimpl
def chatplug_map_error(
    provider: Provider, status_code: int | None, body: Any, headers: Mapping[str, str]
) -> APIStatusError | None:
    """Map a GLM error body by its business code; ``None`` for unknown codes."""
    if provider.id != PROVIDER_ID:
        return None
    return map_glm_error(status_code, body, headers)
