"""The error class, not the HTTP status, decides whether a classified failure is retried.

A provider may send an empty balance with any status (GLM's 1113 arrives as 429,
a gateway may wrap it in a 503). ``QuotaExceededError`` is never retried and
``RateLimitError`` always is, whatever status they carry; only the generic
``APIStatusError`` and ``InternalServerError`` follow the status.
"""

from __future__ import annotations

from typing import Any

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from core_support import MESSAGES, AsyncSleepRecorder, SleepRecorder, completion_body

QUOTA_BODY = {"error": {"code": "out_of_quota", "message": "top up your account"}}


class QuotaMapper:
    """Maps the test provider's ``out_of_quota`` body to QuotaExceededError, whatever the status."""

    @chatplug.hookimpl
    def chatplug_map_error(
        self, provider: chatplug.Provider, status_code: int | None, body: Any
    ) -> chatplug.APIStatusError | None:
        if provider.id != "testprov" or not isinstance(body, dict):
            return None
        if body.get("error", {}).get("code") == "out_of_quota":
            return chatplug.QuotaExceededError("out of quota", status_code=status_code, code="out_of_quota", body=body)
        return None


@pytest.fixture
def quota_registry(registry: chatplug.PluginRegistry) -> chatplug.PluginRegistry:
    registry.register(QuotaMapper(), "quota-mapper")
    return registry


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429, 402])
def test_quota_error_is_never_retried_whatever_its_status(
    status: int, server: FakeServer, quota_registry: chatplug.PluginRegistry
) -> None:
    server.add(Reply.error(status, QUOTA_BODY), Reply.json(completion_body()))
    with chatplug.Client(provider="testprov", api_key="sk-quota-test-key-0001", base_url=server.base_url,
                         registry=quota_registry, max_retries=2) as client:
        client._sleep = sleeps = SleepRecorder()
        with pytest.raises(chatplug.QuotaExceededError) as info:
            client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert info.value.status_code == status
    assert info.value.retryable is False
    assert len(server.requests) == 1
    assert sleeps.delays == []


@pytest.mark.anyio
async def test_quota_error_with_503_is_not_retried_async(
    server: FakeServer, quota_registry: chatplug.PluginRegistry
) -> None:
    server.add(Reply.error(503, QUOTA_BODY), Reply.json(completion_body()))
    async with chatplug.AsyncClient(provider="testprov", api_key="sk-quota-test-key-0001",
                                    base_url=server.base_url, registry=quota_registry, max_retries=2) as client:
        client._sleep = sleeps = AsyncSleepRecorder()
        with pytest.raises(chatplug.QuotaExceededError):
            await client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert len(server.requests) == 1
    assert sleeps.delays == []


@pytest.mark.parametrize(
    ("cls", "status", "retryable"),
    [
        # a class that names its kind of failure keeps its decision, whatever the status
        (chatplug.QuotaExceededError, 500, False),
        (chatplug.QuotaExceededError, 503, False),
        (chatplug.QuotaExceededError, 429, False),
        (chatplug.QuotaExceededError, None, False),
        (chatplug.RateLimitError, 503, True),
        (chatplug.RateLimitError, 501, True),
        (chatplug.RateLimitError, None, True),
        (chatplug.BadRequestError, 500, False),
        (chatplug.ContentFilterError, 503, False),
        (chatplug.AuthenticationError, 502, False),
        # the generic class and InternalServerError follow the status
        (chatplug.APIStatusError, 408, True),
        (chatplug.APIStatusError, 429, True),
        (chatplug.APIStatusError, 503, True),
        (chatplug.APIStatusError, 501, False),
        (chatplug.APIStatusError, 418, False),
        (chatplug.APIStatusError, None, False),
        (chatplug.InternalServerError, 500, True),
        (chatplug.InternalServerError, 504, True),
        (chatplug.InternalServerError, 501, False),
        (chatplug.InternalServerError, 505, False),
        (chatplug.InternalServerError, None, True),
    ],
)
def test_retryable_by_class_and_status(cls: type[chatplug.APIStatusError], status: int | None, retryable: bool) -> None:
    assert cls("x", status_code=status).retryable is retryable


def test_an_explicit_retryable_wins_over_class_and_status() -> None:
    assert chatplug.QuotaExceededError("x", status_code=503, retryable=True).retryable is True
    assert chatplug.InternalServerError("x", status_code=503, retryable=False).retryable is False


def test_a_third_party_subclass_of_quota_inherits_never_retried() -> None:
    class Overdrawn(chatplug.QuotaExceededError):
        pass

    assert Overdrawn("x", status_code=503).retryable is False
