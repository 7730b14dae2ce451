"""The Z.ai GLM provider record: endpoints, key variable, models, limits and the model catalog."""

from __future__ import annotations

from chatplug import Limits, Provider

from chatplug_glm._catalog import CATALOG

__all__ = [
    "PROVIDER_ID",
    "INTERNATIONAL_BASE_URL",
    "CHINA_BASE_URL",
    "CODING_BASE_URL",
    "ENDPOINTS",
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "MODELS",
    "GLM_PROVIDER",
]

#: The provider id, as in ``glm/glm-4.6`` or ``Client(provider="glm")``.
PROVIDER_ID = "glm"

#: Pay-as-you-go API at api.z.ai (the default).
INTERNATIONAL_BASE_URL = "https://api.z.ai/api/paas/v4"
#: Mainland China API at open.bigmodel.cn (its keys do not work on api.z.ai).
CHINA_BASE_URL = "https://open.bigmodel.cn/api/paas/v4"
#: GLM Coding Plan API (Coding Plan keys only work here).
CODING_BASE_URL = "https://api.z.ai/api/coding/paas/v4"

#: Named endpoints: ``Client(provider="glm", endpoint="china")`` or ``ZAI_BASE_URL=china``.
ENDPOINTS = {
    "international": INTERNATIONAL_BASE_URL,
    "china": CHINA_BASE_URL,
    "coding": CODING_BASE_URL,
}

#: Environment variable holding the API key.
API_KEY_ENV = "ZAI_API_KEY"
#: Environment variable overriding the base URL: an endpoint name or a URL.
BASE_URL_ENV = "ZAI_BASE_URL"

#: Models known at release time (the catalog's exact entries); any other ``glm-`` name is claimed by prefix.
MODELS = tuple(CATALOG.models)

#: The provider record this plugin declares.
GLM_PROVIDER = Provider(
    id=PROVIDER_ID,
    name="Z.ai GLM",
    base_url=INTERNATIONAL_BASE_URL,
    endpoints=ENDPOINTS,
    api_key_env=(API_KEY_ENV,),
    base_url_env=BASE_URL_ENV,
    models=MODELS,
    model_prefixes=("glm-",),
    limits=Limits(temperature=(0, 1), top_p=(0.01, 1), tool_choice=("auto",), max_stop=1),
    capabilities=frozenset({"reasoning", "tools", "streaming", "vision", "web_search"}),
    docs_url="https://docs.z.ai/api-reference/llm/chat-completion",
    catalog=CATALOG,
)
