"""The chatplug hook implementations of the Kimi plugin.

``@owned(PROVIDER)`` makes each hook act only for the ``kimi`` provider and
return ``None`` for any other. What each model accepts is data
(:mod:`chatplug_kimi._catalog`), checked by the core; the hooks hold only what
the data cannot say.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chatplug import APIStatusError, Provider, ResponseNormalizer, hookimpl, owned

from chatplug_kimi._errors import map_error
from chatplug_kimi._normalize import KimiNormalizer
from chatplug_kimi._payload import check_payload
from chatplug_kimi._provider import PROVIDER

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


@owned(PROVIDER)
def chatplug_prepare_payload(provider: Provider, payload: dict[str, Any]) -> None:
    """Check the Moonshot-only request rules (n with temperature, partial mode)."""
    check_payload(payload)


@owned(PROVIDER)
def chatplug_response_normalizer(provider: Provider) -> ResponseNormalizer | None:
    """Normalize Moonshot usage placement and cached tokens."""
    return KimiNormalizer()


@owned(PROVIDER)
def chatplug_map_error(
    provider: Provider, status_code: int | None, body: Any, headers: Mapping[str, str]
) -> APIStatusError | None:
    """Map Moonshot errors by ``error.type``, with the retry hint they carry."""
    return map_error(status_code, body, headers)
