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

from chatplug_glm._catalog import CATALOG, IGNORED_PARAMETERS, REASONING_EFFORTS
from chatplug_glm._errors import ERROR_CLASSES, map_glm_error
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
