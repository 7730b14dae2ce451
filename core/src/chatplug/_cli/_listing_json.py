"""``chatplug providers --json`` and ``chatplug models --json``: the listings as JSON.

Keys are never included, only whether one is set (and whether the key store has one).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, TextIO

from chatplug.plugins import PluginRegistry

__all__ = ["models_json", "print_json_value", "providers_json"]


def providers_json(registry: PluginRegistry, environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """``{"providers": [...], "failures": [...]}``: one object per installed provider, sorted by id."""
    from chatplug._cli._listing import stored_key_names

    stored = stored_key_names(environ)
    providers = []
    for provider in sorted(registry.providers().values(), key=lambda item: item.id):
        base_url_from_env = bool(provider.base_url_env and environ.get(provider.base_url_env))
        providers.append(
            {
                "id": provider.id,
                "name": provider.name,
                "distribution": provider.distribution,
                "version": provider.version,
                "base_url": provider.resolve_base_url(None, environ),
                "base_url_env": provider.base_url_env,
                "base_url_from_env": base_url_from_env,
                "api_key_env": list(provider.api_key_env),
                "api_key_set": any(environ.get(name) for name in provider.api_key_env),
                "api_key_stored": provider.id in stored,
                "models": list(provider.models),
                "model_prefixes": list(provider.model_prefixes),
            }
        )
    failures = [
        {"name": failure.name, "distribution": failure.distribution, "version": failure.version, "error": failure.error}
        for failure in registry.failures()
    ]
    return {"providers": providers, "failures": failures}


def models_json(registry: PluginRegistry, provider_id: str | None = None) -> list[dict[str, Any]]:
    """One object per declared model (``"id": "provider/model"``, with its catalog facts) and per claimed prefix."""
    if provider_id is not None:
        providers = [registry.provider(provider_id)]
    else:
        providers = sorted(registry.providers().values(), key=lambda item: item.id)
    rows: list[dict[str, Any]] = []
    for provider in providers:
        for model in provider.models:
            rows.append({"id": f"{provider.id}/{model}", "provider": provider.id, "model": model, "prefix": False,
                         "catalog": provider.model_info(model).summary()})
        for prefix in provider.model_prefixes:
            rows.append({"id": f"{provider.id}/{prefix}*", "provider": provider.id, "model": prefix, "prefix": True})
    return rows


def print_json_value(value: Any, out: TextIO) -> None:
    """Print ``value`` as indented JSON."""
    out.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")
    out.flush()
