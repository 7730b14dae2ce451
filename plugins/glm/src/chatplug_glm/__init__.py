"""chatplug-glm: the Z.ai GLM provider for chatplug.

Installed next to ``chatplug``, it is found through the ``chatplug``
entry-point group; nothing needs importing::

    import chatplug

    client = chatplug.Client()  # reads ZAI_API_KEY
    reply = client.chat.completions.create(
        model="glm-4.6",
        messages=[{"role": "user", "content": "Hi"}],
        extra_body={"thinking": {"type": "enabled"}},
    )

This module is the plugin object itself: its hook implementations are the
``chatplug_*`` functions re-exported below. Choose an endpoint with
``Client(provider="glm", endpoint="china")`` (``"international"``,
``"china"``, ``"coding"``) or ``ZAI_BASE_URL`` (an endpoint name or a URL).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chatplug_glm._catalog import CATALOG, IGNORED_PARAMETERS, REASONING_EFFORTS
from chatplug_glm._hooks import (
    chatplug_map_error,
    chatplug_prepare_payload,
    chatplug_providers,
    chatplug_response_normalizer,
)
from chatplug_glm._normalize import FINISH_REASON_MAP, GLMResponseNormalizer
from chatplug_glm._payload import THINKING_TYPES, check_glm_parameters
from chatplug_glm._provider import (
    API_KEY_ENV,
    BASE_URL_ENV,
    CHINA_BASE_URL,
    CODING_BASE_URL,
    ENDPOINTS,
    GLM_PROVIDER,
    INTERNATIONAL_BASE_URL,
    MODELS,
    PROVIDER_ID,
)

if TYPE_CHECKING:
    from chatplug_glm._errors import ERROR_CLASSES, map_glm_error

__version__ = "0.2.0"

__all__ = [
    "__version__",
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "CATALOG",
    "CHINA_BASE_URL",
    "CODING_BASE_URL",
    "ENDPOINTS",
    "ERROR_CLASSES",
    "FINISH_REASON_MAP",
    "GLMResponseNormalizer",
    "GLM_PROVIDER",
    "IGNORED_PARAMETERS",
    "INTERNATIONAL_BASE_URL",
    "MODELS",
    "PROVIDER_ID",
    "REASONING_EFFORTS",
    "THINKING_TYPES",
    "chatplug_map_error",
    "chatplug_prepare_payload",
    "chatplug_providers",
    "chatplug_response_normalizer",
    "check_glm_parameters",
    "map_glm_error",
]


#: Names of the error table, imported on first access (PEP 562): a process whose
#: calls succeed never loads it.
_LAZY_ERRORS = ("ERROR_CLASSES", "map_glm_error")


def __getattr__(name: str) -> Any:
    """Import the error table on first access to one of its names."""
    if name in _LAZY_ERRORS:
        from chatplug_glm import _errors

        value = getattr(_errors, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
