"""DeepSeek for chatplug: a provider plugin written only against chatplug's public API.

DeepSeek speaks the OpenAI chat-completions format, so the plugin is mostly
data: the provider record and its model catalog (what each model accepts,
checked by the core before any I/O). The hooks below handle what data cannot:

- ``deepseek-reasoner`` rejects a request whose history carries the
  ``reasoning_content`` of earlier turns: :func:`chatplug_prepare_payload`
  strips it (the catalog already refuses ``logprobs`` and the sampling
  parameters the reasoner ignores).
- DeepSeek reports cached prompt tokens as ``usage.prompt_cache_hit_tokens``:
  :class:`DeepSeekNormalizer` also puts them where the contract reads them,
  ``usage.prompt_tokens_details.cached_tokens``.
- HTTP 402 means the account is out of balance (its body says
  ``"code": "invalid_request_error"``): :func:`chatplug_map_error` raises
  :class:`chatplug.QuotaExceededError`, which is never retried.

``@chatplug.owned(PROVIDER)`` makes each hook act for DeepSeek only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import chatplug

__all__ = ["CATALOG", "PROVIDER", "DeepSeekNormalizer"]

__version__ = "0.1.0"

# From DeepSeek's API docs (https://api-docs.deepseek.com/quick_start/pricing and
# /guides/reasoning_model): 128K context for both models; deepseek-chat writes at
# most 8K tokens, deepseek-reasoner 64K. The reasoner "does not support"
# temperature, top_p, presence_penalty and frequency_penalty (accepted, but with
# no effect: refused here so no one believes they took effect) nor logprobs /
# top_logprobs (HTTP 400). Both take tools and JSON mode (json_object), neither
# json_schema.
_CHAT = chatplug.ModelInfo(
    context_window=128_000,
    max_output=8_000,
    thinking="none",
    tools=True,
    images=False,
    json_mode=True,
    json_schema=False,
    notes="api-docs.deepseek.com",
)
_IGNORED_BY_REASONER = "deepseek-reasoner accepts it but it has no effect"

#: What each DeepSeek model accepts.
CATALOG = chatplug.ModelCatalog(
    models={
        "deepseek-chat": _CHAT,
        "deepseek-reasoner": _CHAT.replace(
            max_output=64_000,
            thinking="always",
            unsupported={
                "temperature": _IGNORED_BY_REASONER,
                "top_p": _IGNORED_BY_REASONER,
                "presence_penalty": _IGNORED_BY_REASONER,
                "frequency_penalty": _IGNORED_BY_REASONER,
                "logprobs": "DeepSeek answers 400; use deepseek-chat for log probabilities",
                "top_logprobs": "DeepSeek answers 400; use deepseek-chat for log probabilities",
            },
        ),
    },
)

PROVIDER = chatplug.Provider(
    id="deepseek",
    name="DeepSeek",
    base_url="https://api.deepseek.com",
    api_key_env=("DEEPSEEK_API_KEY",),
    base_url_env="DEEPSEEK_BASE_URL",
    models=("deepseek-chat", "deepseek-reasoner"),
    model_prefixes=("deepseek-",),
    limits=chatplug.Limits(temperature=(0, 2), top_p=(0, 1), max_stop=16),
    capabilities=frozenset({"tools", "reasoning", "json_mode"}),
    docs_url="https://api-docs.deepseek.com/",
    catalog=CATALOG,
)


@chatplug.hookimpl
def chatplug_providers() -> list[chatplug.Provider]:
    """Declare the DeepSeek provider."""
    return [PROVIDER]


@chatplug.owned(PROVIDER)
def chatplug_prepare_payload(provider: chatplug.Provider, model: str, payload: dict[str, Any]) -> None:
    """Keep only the current turn's reasoning in a ``deepseek-reasoner`` history."""
    if provider.model_info(model).thinking != "always":
        return
    messages = payload["messages"]
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    for index in range(last_user):
        message = messages[index]
        if message.get("role") == "assistant" and "reasoning_content" in message:
            # Earlier turns' reasoning must not be sent back (HTTP 400); the
            # current turn's (tool calls after the last user message) stays.
            messages[index] = {k: v for k, v in message.items() if k != "reasoning_content"}


def _canonical_usage(usage: Any) -> None:
    if not isinstance(usage, dict):
        return
    hits = usage.get("prompt_cache_hit_tokens")
    if not isinstance(hits, int):
        return
    details = usage.get("prompt_tokens_details")
    if not isinstance(details, dict):
        usage["prompt_tokens_details"] = {"cached_tokens": hits}
    elif details.get("cached_tokens") is None:
        details["cached_tokens"] = hits


class DeepSeekNormalizer(chatplug.ResponseNormalizer):
    """Copies DeepSeek's cache-hit count into ``usage.prompt_tokens_details.cached_tokens``.

    DeepSeek's own fields stay readable on ``usage.model_extra``.
    """

    __slots__ = ()

    def normalize_completion(self, body: dict[str, Any]) -> dict[str, Any]:
        """Canonical usage for a whole completion."""
        _canonical_usage(body.get("usage"))
        return body

    def normalize_chunk(self, data: dict[str, Any]) -> Sequence[dict[str, Any]]:
        """Canonical usage for the chunk that carries it."""
        _canonical_usage(data.get("usage"))
        return (data,)


@chatplug.owned(PROVIDER)
def chatplug_response_normalizer(provider: chatplug.Provider) -> chatplug.ResponseNormalizer:
    """DeepSeek's normalizer."""
    return DeepSeekNormalizer()


@chatplug.owned(PROVIDER)
def chatplug_map_error(
    provider: chatplug.Provider, status_code: int | None, body: Any, headers: Mapping[str, str]
) -> chatplug.APIStatusError | None:
    """HTTP 402 is an empty balance: a QuotaExceededError, never retried."""
    if status_code != 402:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return chatplug.QuotaExceededError(
        f"{message or 'Insufficient Balance'}: top up at https://platform.deepseek.com/top_up",
        status_code=status_code,
        code="insufficient_balance",
        provider=provider.id,
        body=body,
        headers=dict(headers),
    )
