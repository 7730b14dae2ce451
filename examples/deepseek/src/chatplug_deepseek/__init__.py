"""DeepSeek for chatplug: a provider plugin written only against chatplug's public API.

DeepSeek speaks the OpenAI chat-completions format, so the provider record
does most of the work. The hooks below handle what differs:

- ``deepseek-reasoner`` rejects a request whose history carries the
  ``reasoning_content`` of earlier turns, and refuses ``logprobs``:
  :func:`chatplug_prepare_payload` strips the first and rejects the second
  before any network I/O.
- DeepSeek reports cached prompt tokens as ``usage.prompt_cache_hit_tokens``:
  :class:`DeepSeekNormalizer` also puts them where the contract reads them,
  ``usage.prompt_tokens_details.cached_tokens``.
- HTTP 402 means the account is out of balance (its body says
  ``"code": "invalid_request_error"``): :func:`chatplug_map_error` raises
  :class:`chatplug.QuotaExceededError`, which is never retried.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import chatplug

__all__ = ["PROVIDER", "DeepSeekNormalizer"]

__version__ = "0.1.0"

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
)

#: Models that think before answering and take no sampling-diagnostic parameters.
REASONING_MODELS = frozenset({"deepseek-reasoner"})


def _owns(provider: chatplug.Provider) -> bool:
    return provider.id == PROVIDER.id


@chatplug.hookimpl
def chatplug_providers() -> list[chatplug.Provider]:
    """Declare the DeepSeek provider."""
    return [PROVIDER]


@chatplug.hookimpl
def chatplug_prepare_payload(provider: chatplug.Provider, model: str, payload: dict[str, Any]) -> None:
    """Fit a request to what ``deepseek-reasoner`` accepts."""
    if not _owns(provider) or model not in REASONING_MODELS:
        return
    for name in ("logprobs", "top_logprobs"):
        if payload.get(name) not in (None, False):
            raise chatplug.InvalidRequestError(
                f"deepseek: {name}={payload[name]!r} is not supported by {model}; use deepseek-chat",
                param=name,
                provider=provider.id,
            )
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


@chatplug.hookimpl
def chatplug_response_normalizer(provider: chatplug.Provider) -> chatplug.ResponseNormalizer | None:
    """DeepSeek's normalizer, for DeepSeek only."""
    return DeepSeekNormalizer() if _owns(provider) else None


@chatplug.hookimpl
def chatplug_map_error(
    provider: chatplug.Provider, status_code: int | None, body: Any, headers: Mapping[str, str]
) -> chatplug.APIStatusError | None:
    """HTTP 402 is an empty balance: a QuotaExceededError, never retried."""
    if not _owns(provider) or status_code != 402:
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
