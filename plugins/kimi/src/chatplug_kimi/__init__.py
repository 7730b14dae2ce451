"""chatplug-kimi: Moonshot Kimi as a chatplug provider.

Installed, it registers through the ``chatplug`` entry-point group; then::

    import chatplug

    client = chatplug.Client()          # reads MOONSHOT_API_KEY
    reply = client.chat.completions.create(
        model="kimi-k2-0905-preview", messages=[{"role": "user", "content": "Hi"}]
    )

This module is the plugin itself (its hook implementations are imported
here) and exports a few Kimi helpers: :func:`web_search_tool` and
:func:`web_search_reply` for the builtin ``$web_search`` round trip, and
:func:`partial_message` for partial mode.
"""

from chatplug_kimi._catalog import CATALOG, IGNORED_PARAMETERS
from chatplug_kimi._errors import ERROR_TYPES, retry_hint
from chatplug_kimi._hooks import (
    chatplug_map_error,
    chatplug_prepare_payload,
    chatplug_providers,
    chatplug_response_normalizer,
)
from chatplug_kimi._normalize import KimiNormalizer
from chatplug_kimi._partial import partial_message
from chatplug_kimi._provider import CHINA_BASE_URL, INTERNATIONAL_BASE_URL, MODELS, PROVIDER, PROVIDER_ID
from chatplug_kimi._web_search import WEB_SEARCH, is_web_search_call, web_search_reply, web_search_tool

__version__ = "0.2.0"

__all__ = [
    "__version__",
    "PROVIDER",
    "PROVIDER_ID",
    "INTERNATIONAL_BASE_URL",
    "CHINA_BASE_URL",
    "MODELS",
    "CATALOG",
    "IGNORED_PARAMETERS",
    "ERROR_TYPES",
    "KimiNormalizer",
    "retry_hint",
    "WEB_SEARCH",
    "web_search_tool",
    "web_search_reply",
    "is_web_search_call",
    "partial_message",
    # hook implementations (the module is the plugin)
    "chatplug_providers",
    "chatplug_prepare_payload",
    "chatplug_response_normalizer",
    "chatplug_map_error",
]
