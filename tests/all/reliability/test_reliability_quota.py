"""Out of balance is not a rate limit: GLM's 1113 and Kimi's
``exceeded_current_quota_error`` both arrive as HTTP 429, and retrying them
would only burn time. Run through the real provider plugins, on recorded
error bodies, next to the real rate limits that must still be retried.
"""

from __future__ import annotations

from collections.abc import Callable

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from reliability_support import Harness, completion, fixture_json

chatplug_glm = pytest.importorskip("chatplug_glm", reason="the GLM plugin (plugins/glm) is not installed")
chatplug_kimi = pytest.importorskip("chatplug_kimi", reason="the Kimi plugin (plugins/kimi) is not installed")


@pytest.fixture
def glm(mode: str, server: FakeServer) -> Callable[[], Harness]:
    return lambda: Harness(mode, server.base_url, provider="glm", model="glm-4.6", plugins=(chatplug_glm,))


@pytest.fixture
def kimi(mode: str, server: FakeServer) -> Callable[[], Harness]:
    return lambda: Harness(mode, server.base_url, provider="kimi", model="kimi-k2-0905-preview",
                           plugins=(chatplug_kimi,))


@pytest.mark.parametrize("sample", ["glm-error-1113-arrears-zh.json", "glm-error-1113-insufficient-balance-en.json"])
def test_glm_1113_out_of_balance_is_not_retried(glm: Callable[[], Harness], server: FakeServer, sample: str) -> None:
    server.default = Reply.error(429, fixture_json(sample))
    run = glm()
    with pytest.raises(chatplug.QuotaExceededError) as caught:
        run.complete()
    error = caught.value
    assert type(error) is chatplug.QuotaExceededError
    assert (error.status_code, error.code, error.provider) == (429, "1113", "glm")
    assert len(server.requests) == 1
    assert run.sleeps == []


def test_glm_1113_before_a_stream_is_not_retried(glm: Callable[[], Harness], server: FakeServer) -> None:
    server.default = Reply.error(429, fixture_json("glm-error-1113-arrears-zh.json"))
    run = glm()
    with pytest.raises(chatplug.QuotaExceededError):
        run.stream()
    assert len(server.requests) == 1
    assert run.sleeps == []


def test_glm_1302_rate_limit_is_retried(glm: Callable[[], Harness], server: FakeServer) -> None:
    server.add(Reply.error(429, fixture_json("glm-error-1302-rate-limit-zh.json")), Reply.json(completion("ok")))
    run = glm()
    assert run.complete().choices[0].message.content == "ok"
    assert len(server.requests) == 2
    assert len(run.sleeps) == 1


@pytest.mark.parametrize("status", [429, 403])
def test_kimi_exceeded_current_quota_is_not_retried(kimi: Callable[[], Harness], server: FakeServer,
                                                    status: int) -> None:
    server.default = Reply.error(status, fixture_json("kimi-error-exceeded-quota-suspended.json"))
    run = kimi()
    with pytest.raises(chatplug.QuotaExceededError) as caught:
        run.complete()
    error = caught.value
    assert type(error) is chatplug.QuotaExceededError
    assert (error.status_code, error.code, error.provider) == (status, "exceeded_current_quota_error", "kimi")
    assert "insufficient balance" in str(error)
    assert len(server.requests) == 1
    assert run.sleeps == []


def test_kimi_rate_limit_reached_is_retried(kimi: Callable[[], Harness], server: FakeServer) -> None:
    server.add(Reply.error(429, fixture_json("kimi-error-rate-limit-rpm.json")), Reply.json(completion("ok")))
    run = kimi()
    assert run.complete().choices[0].message.content == "ok"
    assert len(server.requests) == 2
    assert len(run.sleeps) == 1
