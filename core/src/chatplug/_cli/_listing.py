"""``chatplug providers`` and ``chatplug models``: what is installed and configured."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TextIO

from chatplug.catalog import ModelInfo
from chatplug.plugins import PluginRegistry
from chatplug.provider import Provider

__all__ = ["print_providers", "print_models", "format_table", "model_row", "MODEL_HEADERS", "stored_key_names"]

def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns separated by two spaces, trailing spaces removed."""
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = []
    for row in (headers, *rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return lines


def stored_key_names(environ: Mapping[str, str] = os.environ) -> frozenset[str]:
    """The providers with a key in the command's key store (``chatplug keys set``); empty when
    the store cannot be read (``chatplug keys list`` says why). Reads only the names, without
    loading the key-store module, so listing stays as quick as it was."""
    import json

    from chatplug._cli._paths import KEYS_FILENAME, config_dir

    try:
        data = json.loads((config_dir(environ) / KEYS_FILENAME).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return frozenset()
    if not isinstance(data, dict):
        return frozenset()
    return frozenset(str(name) for name, key in data.items() if isinstance(key, str) and key)


def _key_cell(provider: Provider, environ: Mapping[str, str], stored: frozenset[str] = frozenset()) -> str:
    """The key's env var(s), whether one is set, and whether the key store has one; never the key itself."""
    if not provider.api_key_env:
        return "stored key" if provider.id in stored else "-"
    names = "|".join(provider.api_key_env)
    is_set = any(environ.get(name) for name in provider.api_key_env)
    state = "set" if is_set else "not set, stored key" if provider.id in stored else "not set"
    return f"{names} ({state})"


def _models_cell(provider: Provider) -> str:
    text = str(len(provider.models))
    if provider.model_prefixes:
        text += " + " + ", ".join(f"{prefix}*" for prefix in provider.model_prefixes)
    return text


def _base_url_cell(provider: Provider, environ: Mapping[str, str]) -> str:
    url = provider.resolve_base_url(None, environ)
    if provider.base_url_env and environ.get(provider.base_url_env):
        url += f" (from {provider.base_url_env})"
    return url


def print_providers(registry: PluginRegistry, out: TextIO, environ: Mapping[str, str] = os.environ) -> None:
    """One row per installed provider, then the plugins that failed to load."""
    providers = sorted(registry.providers().values(), key=lambda provider: provider.id)
    failures = registry.failures()
    if providers:
        stored = stored_key_names(environ)
        headers = ("PROVIDER", "DISTRIBUTION", "VERSION", "BASE URL", "API KEY", "MODELS")
        rows = [
            (
                provider.id,
                provider.distribution or "-",
                provider.version or "-",
                _base_url_cell(provider, environ),
                _key_cell(provider, environ, stored),
                _models_cell(provider),
            )
            for provider in providers
        ]
        out.write("\n".join(format_table(headers, rows)) + "\n")
    else:
        out.write(registry.no_providers_message() + "\n")
    if failures:
        out.write("\nplugins that failed to load:\n")
        for failure in failures:
            out.write(f"  {failure}\n")
    if providers and registry.filter_note():
        out.write(f"\n{registry.filter_note()}\n")
    out.flush()


#: The columns of ``chatplug models``: what the provider's catalog says of each model.
MODEL_HEADERS = ("MODEL", "CONTEXT", "OUTPUT", "THINKING", "TOOLS", "IMAGES", "JSON", "NOTES")


def _tokens(count: int | None) -> str:
    if count is None:
        return "-"
    for unit in (1000, 1024):
        if count >= unit and count % unit == 0:
            return f"{count // unit}K"
    return str(count)


def _flag(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _thinking_cell(info: ModelInfo) -> str:
    if info.thinking == "optional":
        if info.thinking_default is None:
            return "optional"
        return "optional (on)" if info.thinking_default else "optional (off)"
    return {"none": "no", "always": "always"}.get(info.thinking or "", "-")


def _json_cell(info: ModelInfo) -> str:
    if info.json_schema:
        return "schema"
    if info.json_mode:
        return "object"
    return "no" if info.json_mode is False else "-"


def _notes_cell(info: ModelInfo) -> str:
    notes = []
    fixed = dict(info.fixed)
    if fixed:
        parts = []
        for name, value in fixed.items():
            other = info.fixed_without_thinking.get(name)
            parts.append(f"{name}={value}" + (f" ({other} without thinking)" if other is not None else ""))
        notes.append("fixed " + ", ".join(parts))
    if info.reasoning_effort:
        notes.append("reasoning_effort " + "|".join(info.reasoning_effort))
    if info.reasoning_in_history:
        notes.append("tool-call turns need reasoning_content")
    return "; ".join(notes) or "-"


def model_row(provider: Provider, model: str) -> tuple[str, ...]:
    """One row of ``chatplug models``: ``provider/model`` and its catalog facts ("-" where undeclared)."""
    info = provider.model_info(model)
    return (
        f"{provider.id}/{model}",
        _tokens(info.context_window),
        _tokens(info.max_output),
        _thinking_cell(info),
        _flag(info.tools),
        _flag(info.images),
        _json_cell(info),
        _notes_cell(info),
    )


def print_models(registry: PluginRegistry, out: TextIO, provider_id: str | None = None) -> None:
    """A table of each model a provider claims (``provider/model`` first, then what its
    catalog says of it); then the prefixes it claims as ``provider/prefix*``.

    Raises :class:`~chatplug.ModelNotFoundError` (listing the installed
    providers) for an unknown ``provider_id``.
    """
    if provider_id is not None:
        providers = [registry.provider(provider_id)]
    else:
        providers = sorted(registry.providers().values(), key=lambda provider: provider.id)
    if not providers:
        out.write(registry.no_providers_message() + "\n")
        return
    rows = [model_row(provider, model) for provider in providers for model in provider.models]
    if rows:
        out.write("\n".join(format_table(MODEL_HEADERS, rows)) + "\n")
    for provider in providers:
        for prefix in provider.model_prefixes:
            out.write(f"{provider.id}/{prefix}*  (any model whose name starts with {prefix!r})\n")
    out.flush()
