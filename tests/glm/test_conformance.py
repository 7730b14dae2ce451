"""chatplug-glm passes chatplug's provider conformance kit, on the recorded Z.ai samples in fixtures/."""

from __future__ import annotations

from typing import ClassVar

import chatplug
import chatplug_glm
from chatplug.testing import ErrorSample, ProviderConformance, Transcript

FLORENCE_CALL = {"type": "function", "function": {"name": "weather", "arguments": '{"location":"Florence,Italy"}'}}


class TestGLMConformance(ProviderConformance):
    """The GLM plugin module against every recorded GLM transcript and error body."""

    provider_id = "glm"
    plugin: ClassVar[object | None] = chatplug_glm
    model = "glm-4.6"
    transcripts = (
        Transcript(
            "glm-stream-tool-call.sse",
            model="glm-4.7-flash",
            expected={
                "id": "20260313050307df155ecf3e9f4961",
                "choices": [{
                    "finish_reason": "tool_calls",
                    "message": {
                        "role": "assistant",
                        "content": "I'll get the current weather information for Florence, Italy for you.",
                        "tool_calls": [{"id": "call_3532c842716b4c72a7dd7498", **FLORENCE_CALL}],
                    },
                }],
                "usage": {"prompt_tokens": 173, "completion_tokens": 93, "total_tokens": 266,
                          "prompt_tokens_details": {"cached_tokens": 172},
                          "completion_tokens_details": {"reasoning_tokens": 65}},
            },
        ),
        Transcript(
            "glm-stream-reasoning-glm45.sse",
            model="glm-4.5",
            expected={
                "id": "20251001154016c72e2da818044216",
                "choices": [{"finish_reason": "stop", "message": {"content": "\n\nHi!"}}],
                "usage": {"prompt_tokens": 6042, "completion_tokens": 39, "total_tokens": 6081},
            },
        ),
        Transcript(
            "glm-stream-content-glm46.sse",
            expected={
                "choices": [{"finish_reason": "stop",
                             "message": {"content": "\n\nHello! What can I help you with today?"}}],
                "usage": {"total_tokens": 6089, "prompt_tokens_details": {"cached_tokens": 43}},
            },
        ),
        Transcript(
            "glm-nonstream-tool-call.json",
            model="glm-4.7-flash",
            expected={
                "choices": [{"finish_reason": "tool_calls", "message": {
                    "content": "I'll check the weather in Florence, Italy for you.",
                    "tool_calls": [{"id": "call_-7807249954186984837", **FLORENCE_CALL}],
                }}],
                "usage": {"total_tokens": 261, "completion_tokens_details": {"reasoning_tokens": 62}},
            },
        ),
        Transcript(
            "glm-nonstream-reasoning.json",
            model="glm-4.7-flash",
            expected={"choices": [{"finish_reason": "stop", "message": {"content": "Olá! (Oh-lah)"}}],
                      "usage": {"prompt_tokens": 15, "completion_tokens": 249, "total_tokens": 264}},
        ),
    )
    error_samples = (
        ErrorSample("glm-error-1113-arrears-zh.json", status=429, error=chatplug.QuotaExceededError,
                    retryable=False, code="1113"),
        ErrorSample("glm-error-1113-insufficient-balance-en.json", status=429, error=chatplug.QuotaExceededError,
                    retryable=False, code="1113"),
        ErrorSample("glm-error-1302-rate-limit-zh.json", status=429, error=chatplug.RateLimitError,
                    retryable=True, code="1302"),
        ErrorSample("glm-error-1305-overloaded-anthropic-endpoint.json", status=429, error=chatplug.RateLimitError,
                    retryable=True, code="1305"),
        ErrorSample("glm-error-1301-content-filter-docs.json", status=400, error=chatplug.ContentFilterError,
                    retryable=False, code="1301"),
    )
