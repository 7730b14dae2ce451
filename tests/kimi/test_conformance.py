"""chatplug-kimi passes chatplug's provider conformance kit, on the recorded Moonshot samples in fixtures/."""

from __future__ import annotations

from typing import ClassVar

import chatplug
import chatplug_kimi
from chatplug.testing import ErrorSample, ProviderConformance, Transcript


class TestKimiConformance(ProviderConformance):
    """The Kimi plugin module against every recorded Kimi transcript and error body."""

    provider_id = "kimi"
    plugin: ClassVar[object | None] = chatplug_kimi
    transcripts = (
        Transcript(
            "kimi-stream-k2-0905.sse",
            expected={
                "id": "chatcmpl-6911668985355ab7ab43bc2b",
                "model": "kimi-k2-0905-preview",
                "system_fingerprint": "fpv0_41b1161c",
                "choices": [{"finish_reason": "stop",
                             "message": {"role": "assistant", "content": "I can:\n\nhelp you"}}],
                # Kimi sends usage inside choices[0]; the contract has it at the top.
                "usage": {"prompt_tokens": 4796, "completion_tokens": 174, "total_tokens": 4970},
            },
        ),
        Transcript(
            "kimi-stream-docs-example.sse",
            model="kimi-k2-turbo-preview",
            expected={
                "id": "cmpl-1305b94c570f447fbde3180560736287",
                "choices": [{"finish_reason": "stop", "message": {"content": "Hello."}}],
                "usage": {"prompt_tokens": 19, "completion_tokens": 13, "total_tokens": 32},
            },
        ),
    )
    error_samples = (
        ErrorSample("kimi-error-invalid-authentication.json", status=401, error=chatplug.AuthenticationError,
                    retryable=False, code="invalid_authentication_error"),
        ErrorSample("kimi-error-rate-limit-concurrency.json", status=429, error=chatplug.RateLimitError,
                    retryable=True, code="rate_limit_reached_error"),
        ErrorSample("kimi-error-rate-limit-rpm.json", status=429, error=chatplug.RateLimitError,
                    retryable=True, code="rate_limit_reached_error"),
        ErrorSample("kimi-error-exceeded-quota-suspended.json", status=429, error=chatplug.QuotaExceededError,
                    retryable=False, code="exceeded_current_quota_error"),
        ErrorSample("kimi-error-model-not-found.json", status=404, error=chatplug.NotFoundError,
                    retryable=False, code="resource_not_found_error"),
        ErrorSample("kimi-error-content-filter-docs.json", status=400, error=chatplug.ContentFilterError,
                    retryable=False, code="content_filter"),
    )
