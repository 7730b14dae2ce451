"""The chatplug hook implementations of the GLM plugin.

``@owned(GLM_PROVIDER)`` makes each hook act only for provider id ``glm``
and return ``None`` for every other provider. What GLM accepts per model is
data (:mod:`chatplug_glm._catalog`), checked by the core; the hooks hold only
what the data cannot say.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chatplug import APIStatusError, Provider, ResponseNormalizer, hookimpl, owned

from chatplug_glm._normalize import GLMResponseNormalizer
from chatplug_glm._payload import prepare_payload
from chatplug_glm._provider import GLM_PROVIDER

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


@owned(GLM_PROVIDER)
def chatplug_prepare_payload(provider: Provider, payload: dict[str, Any]) -> None:
    """Check GLM parameters and keep or strip past reasoning."""
    prepare_payload(payload)


@owned(GLM_PROVIDER)
def chatplug_response_normalizer(provider: Provider) -> ResponseNormalizer | None:
    """A fresh :class:`~chatplug_glm.GLMResponseNormalizer` for each GLM request."""
    return GLMResponseNormalizer()


@owned(GLM_PROVIDER)
def chatplug_map_error(
    provider: Provider, status_code: int | None, body: Any, headers: Mapping[str, str]
) -> APIStatusError | None:
    """Map a GLM error body by its business code; ``None`` for unknown codes."""
    from chatplug_glm._errors import map_glm_error  # the error table loads with the first error

    return map_glm_error(status_code, body, headers)
