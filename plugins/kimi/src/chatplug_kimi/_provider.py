"""The Moonshot Kimi provider record: where it lives, its keys, models and limits."""

from __future__ import annotations

from chatplug import Limits, Provider

from chatplug_kimi._catalog import CATALOG

__all__ = ["PROVIDER_ID", "INTERNATIONAL_BASE_URL", "CHINA_BASE_URL", "MODELS", "PROVIDER"]

#: The id used in ``kimi/<model>`` and ``Client(provider="kimi")``.
PROVIDER_ID = "kimi"
#: The international platform (platform.moonshot.ai); the default.
INTERNATIONAL_BASE_URL = "https://api.moonshot.ai/v1"
#: The mainland-China platform (platform.moonshot.cn). Keys do not work across regions.
CHINA_BASE_URL = "https://api.moonshot.cn/v1"

#: Model names claimed exactly (the catalog's entries); any other ``kimi-*`` or
#: ``moonshot-*`` name is claimed by prefix.
MODELS = tuple(CATALOG.models)

#: The Moonshot Kimi provider. ``Client(provider="kimi", endpoint="china")`` or
#: ``MOONSHOT_BASE_URL=china`` (or a full URL) selects the China platform.
PROVIDER = Provider(
    id=PROVIDER_ID,
    name="Moonshot Kimi",
    base_url=INTERNATIONAL_BASE_URL,
    endpoints={"international": INTERNATIONAL_BASE_URL, "china": CHINA_BASE_URL},
    api_key_env=("MOONSHOT_API_KEY",),
    base_url_env="MOONSHOT_BASE_URL",
    models=MODELS,
    model_prefixes=("kimi-", "moonshot-"),
    limits=Limits(
        temperature=(0, 1),
        max_n=5,
        max_stop=5,
        # "required" is not accepted by Moonshot; the core rejects it before any I/O.
        tool_choice=("none", "auto", "function"),
    ),
    capabilities=frozenset(
        {"streaming", "tools", "reasoning", "vision", "partial_mode", "web_search", "json_object"}
    ),
    docs_url="https://platform.moonshot.ai/docs/api/chat",
    catalog=CATALOG,
)
