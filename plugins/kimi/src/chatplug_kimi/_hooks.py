"""The chatplug hook implementations of the Kimi plugin.

Each one acts only for the ``kimi`` provider and returns ``None`` for any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chatplug import APIStatusError, Provider, ResponseNormalizer, hookimpl

from chatplug_kimi._errors import map_error
from chatplug_kimi._normalize import KimiNormalizer
from chatplug_kimi._payload import check_payload
from chatplug_kimi._provider import PROVIDER, PROVIDER_ID

__all__ = [
    "chatplug_providers",
    "chatplug_prepare_payload",
    "chatplug_response_normalizer",
    "chatplug_map_error",
]


@hookimpl
def chatplug_providers() -> list[Provider]:
    """Declare the Moonshot Kimi provider."""
    return [PROVIDER]


@hookimpl
def chatplug_prepare_payload(provider: Provider, payload: dict[str, Any]) -> None:
    """Check the Moonshot-only request rules (n with temperature, partial mode)."""
    if provider.id != PROVIDER_ID:
        return
    check_payload(payload)


@hookimpl
def chatplug_response_normalizer(provider: Provider) -> ResponseNormalizer | None:
    """Normalize Moonshot usage placement and cached tokens."""
    if provider.id != PROVIDER_ID:
        return None
    return KimiNormalizer()


@hookimpl
def chatplug_map_error(
    provider: Provider, status_code: int | None, body: Any, headers: Mapping[str, str]
) -> APIStatusError | None:
    """Map Moonshot errors by ``error.type``, with the retry hint they carry."""
    if provider.id != PROVIDER_ID:
        return None
    return map_error(status_code, body, headers)
