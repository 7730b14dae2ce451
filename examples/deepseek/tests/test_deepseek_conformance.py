"""chatplug-deepseek passes chatplug's provider conformance kit."""

from __future__ import annotations

import chatplug
from chatplug.testing import ErrorSample, ProviderConformance, Transcript

# The recorded replies are Chinese; their full-width commas are real data.
STREAM_REPLY = "我是一个人工智能助手，没有具体的名称，你可以随意称呼我。"  # noqa: RUF001
STREAM_REPLY += "如果你有任何问题或需要帮助，我会尽力为你提供支持。"  # noqa: RUF001
WHOLE_REPLY = STREAM_REPLY.replace("名称", "姓名")


class TestDeepSeekConformance(ProviderConformance):
    """The installed entry point ``deepseek`` against the recorded DeepSeek samples."""

    provider_id = "deepseek"
    transcripts = (
        Transcript(
            "deepseek-stream-chat.sse",
            model="deepseek-chat",
            expected={
                "id": "24cf6cd3-b4b3-46cc-9347-0928013daea0",
                "model": "deepseek-chat",
                "system_fingerprint": "fp_1c141eb703",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": STREAM_REPLY}}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 28, "total_tokens": 40,
                          "prompt_tokens_details": {"cached_tokens": 0}},
            },
        ),
        Transcript(
            "deepseek-nonstream-chat.json",
            model="deepseek-chat",
            expected={
                "choices": [{"finish_reason": "stop", "message": {"role": "assistant", "content": WHOLE_REPLY}}],
                "usage": {"total_tokens": 40, "prompt_tokens_details": {"cached_tokens": 0},
                          "prompt_cache_miss_tokens": 12},
            },
        ),
        Transcript(
            "deepseek-nonstream-reasoner.json",
            model="deepseek-reasoner",
            expected={
                "model": "deepseek-reasoner",
                "choices": [{"message": {"content": "Hello! How can I assist you today?"}}],
                "usage": {"prompt_tokens": 6, "completion_tokens_details": {"reasoning_tokens": 81},
                          "prompt_tokens_details": {"cached_tokens": 0}},
            },
        ),
    )
    error_samples = (
        ErrorSample("deepseek-error-402-insufficient-balance.json", status=402,
                    error=chatplug.QuotaExceededError, retryable=False, code="insufficient_balance"),
        ErrorSample({"error": {"message": "Rate Limit Reached", "type": "rate_limit_error"}}, status=429,
                    error=chatplug.RateLimitError, retryable=True, name="429-rate-limit"),
        ErrorSample({"error": {"message": "Server Overloaded", "type": "server_error"}}, status=503,
                    error=chatplug.InternalServerError, retryable=True, name="503-overloaded"),
        ErrorSample({"error": {"message": "Authentication Fails (no such user)", "type": "authentication_error"}},
                    status=401, error=chatplug.AuthenticationError, retryable=False, name="401-auth"),
    )
