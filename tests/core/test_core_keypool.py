"""Key pools over a real loopback server: which request went out with which
key, rests after rate limits, removal (reported once) after auth and quota
errors, and keys redacted everywhere, fingerprints included."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from core_support import MESSAGES, AsyncSleepRecorder, SleepRecorder, completion_body

KEYS = ["sk-pool-first-0000000000001", "sk-pool-second-000000000002", "sk-pool-third-0000000000003"]
QUOTA = {"error": {"message": "out of balance", "code": "quota"}}


class QuotaMapper:
    @chatplug.hookimpl
    def chatplug_map_error(self, status_code: int | None, body: Any) -> chatplug.APIStatusError | None:
        if isinstance(body, dict) and body.get("error", {}).get("code") == "quota":
            return chatplug.QuotaExceededError("out of balance", status_code=status_code, code="quota", body=body)
        return None


class Recorder:
    def __init__(self) -> None:
        self.fingerprints: list[str | None] = []
        self.removed: list[tuple[str, str, str]] = []

    @chatplug.hookimpl
    def chatplug_on_request(self, request: chatplug.RequestEvent) -> None:
        self.fingerprints.append(request.key_fingerprint)

    @chatplug.hookimpl
    def chatplug_on_key_removed(
        self, provider: chatplug.Provider, key_fingerprint: str, error: BaseException
    ) -> None:
        self.removed.append((provider.id, key_fingerprint, type(error).__name__))


@pytest.fixture
def recorder(registry: chatplug.PluginRegistry) -> Recorder:
    rec = Recorder()
    registry.register(rec, "recorder")
    registry.register(QuotaMapper(), "quota-mapper")
    return rec


def pooled(server: FakeServer, registry: chatplug.PluginRegistry, keys: Any = KEYS, **options: Any) -> chatplug.Client:
    client = chatplug.Client(provider="testprov", api_key=keys, base_url=server.base_url, registry=registry, **options)
    client._sleep = SleepRecorder()
    return client


def keys_seen(server: FakeServer) -> list[str]:
    return [r.headers["authorization"].removeprefix("Bearer ") for r in server.requests]


def fp(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def test_fingerprint_is_a_short_sha256_prefix() -> None:
    assert chatplug.key_fingerprint("sk-abc") == hashlib.sha256(b"sk-abc").hexdigest()[:12]
    assert chatplug.KeyPool(KEYS).fingerprints == tuple(fp(k) for k in KEYS)


def test_requests_spread_over_the_keys_round_robin(
    server: FakeServer, registry: chatplug.PluginRegistry, recorder: Recorder
) -> None:
    server.default = Reply.json(completion_body())
    with pooled(server, registry) as client:
        for _ in range(6):
            client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert keys_seen(server) == KEYS + KEYS
    assert recorder.fingerprints == [fp(k) for k in KEYS + KEYS]


def test_a_rate_limited_key_rests_and_the_retry_goes_to_the_next_key_at_once(
    server: FakeServer, registry: chatplug.PluginRegistry, recorder: Recorder
) -> None:
    server.add(Reply.retry_later(429, retry_after=30))
    server.default = Reply.json(completion_body())
    with pooled(server, registry) as client:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
        assert client._sleep.delays == [0.0]  # type: ignore[attr-defined]
        client.chat.completions.create(model="t-1", messages=MESSAGES)
        client.chat.completions.create(model="t-1", messages=MESSAGES)
        pool = client._pools["testprov"]
        assert pool.status()[fp(KEYS[0])].startswith("resting")
    # first key rate-limited, retried on the second; then third, then (first resting) second
    assert keys_seen(server) == [KEYS[0], KEYS[1], KEYS[2], KEYS[1]]


def test_a_single_key_that_is_rate_limited_still_waits_the_hint(
    server: FakeServer, registry: chatplug.PluginRegistry, recorder: Recorder
) -> None:
    server.add(Reply.retry_later(429, retry_after=3))
    server.default = Reply.json(completion_body())
    with pooled(server, registry, keys=[KEYS[0]]) as client:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
        assert client._sleep.delays == [3.0]  # type: ignore[attr-defined]
    assert keys_seen(server) == [KEYS[0], KEYS[0]]


@pytest.mark.parametrize(
    ("reply", "kind"),
    [(Reply.error(401, {"error": {"message": "invalid key"}}), "AuthenticationError"),
     (Reply.error(429, QUOTA), "QuotaExceededError")],
    ids=["auth", "quota"],
)
def test_a_key_with_an_auth_or_quota_error_is_taken_out_and_reported_once(
    server: FakeServer, registry: chatplug.PluginRegistry, recorder: Recorder, reply: Reply, kind: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.add(reply)
    server.default = Reply.json(completion_body())
    with caplog.at_level(logging.WARNING, logger="chatplug"), pooled(server, registry, max_retries=0) as client:
        for _ in range(4):
            client.chat.completions.create(model="t-1", messages=MESSAGES)
    # the failed request was retried on the next key, not counted against max_retries=0
    assert keys_seen(server) == [KEYS[0], KEYS[1], KEYS[2], KEYS[1], KEYS[2]]
    assert recorder.removed == [("testprov", fp(KEYS[0]), kind)]
    warnings = [r.getMessage() for r in caplog.records if "taken out" in r.getMessage()]
    assert len(warnings) == 1 and fp(KEYS[0]) in warnings[0] and "2 of 3 keys left" in warnings[0]


def test_when_every_key_is_out_the_error_comes_before_any_io(
    server: FakeServer, registry: chatplug.PluginRegistry, recorder: Recorder
) -> None:
    server.add(Reply.error(401, {"error": {"message": "bad"}}), Reply.error(401, {"error": {"message": "bad"}}))
    with pooled(server, registry, keys=KEYS[:2]) as client:
        with pytest.raises(chatplug.AuthenticationError):
            client.chat.completions.create(model="t-1", messages=MESSAGES)
        assert len(server.requests) == 2
        with pytest.raises(chatplug.KeyPoolExhaustedError) as caught:
            client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert len(server.requests) == 2
    reason = "AuthenticationError, HTTP 401"
    assert caught.value.removed == {fp(KEYS[0]): reason, fp(KEYS[1]): reason}
    assert all(key not in str(caught.value) for key in KEYS)
    assert [r[1] for r in recorder.removed] == [fp(KEYS[0]), fp(KEYS[1])]


def test_keys_never_show_in_reprs_events_errors_or_logs(
    server: FakeServer, registry: chatplug.PluginRegistry, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    server.add(Reply.error(401, {"error": {"message": f"key {KEYS[0]} is invalid"}}))
    server.default = Reply.json(completion_body())
    events: list[chatplug.RequestEvent] = []

    class Spy:
        @chatplug.hookimpl
        def chatplug_on_request(self, request: chatplug.RequestEvent) -> None:
            events.append(request)

    registry.register(Spy(), "spy")
    pool = chatplug.KeyPool(KEYS)
    with caplog.at_level(logging.DEBUG), pooled(server, registry, keys=pool) as client:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
        shown = [repr(client), repr(pool), str(pool.status()), *(repr(e) for e in events), caplog.text]
    for text in shown:
        for key in KEYS:
            assert key not in text
    assert fp(KEYS[0]) in repr(pool)


def test_a_shared_pool_is_one_pool_for_every_client(server: FakeServer, registry: chatplug.PluginRegistry) -> None:
    server.default = Reply.json(completion_body())
    pool = chatplug.KeyPool(KEYS)
    with pooled(server, registry, keys=pool) as one, pooled(server, registry, keys=pool) as two:
        one.chat.completions.create(model="t-1", messages=MESSAGES)
        two.chat.completions.create(model="t-1", messages=MESSAGES)
    assert keys_seen(server) == KEYS[:2]


def test_bad_pools_are_refused_with_a_clear_error(registry: chatplug.PluginRegistry) -> None:
    with pytest.raises(chatplug.InvalidRequestError, match="at least one key"):
        chatplug.KeyPool([])
    with pytest.raises(chatplug.InvalidRequestError, match="same key twice"):
        chatplug.KeyPool(["sk-1", "sk-1"])
    with pytest.raises(chatplug.InvalidRequestError, match="not a non-empty string"):
        chatplug.KeyPool(["sk-1", ""])
    with pytest.raises(chatplug.InvalidRequestError, match="provider"):
        chatplug.Client(api_key=KEYS, registry=registry)
    with pytest.raises(chatplug.ModelNotFoundError, match="nosuchprovider"):
        chatplug.Client(api_key={"nosuchprovider": KEYS}, registry=registry)


@pytest.mark.anyio
async def test_async_requests_spread_and_a_bad_key_is_taken_out(
    server: FakeServer, registry: chatplug.PluginRegistry, recorder: Recorder
) -> None:
    server.add(Reply.json(completion_body()), Reply.error(401, {"error": {"message": "bad"}}))
    server.default = Reply.json(completion_body())
    async with chatplug.AsyncClient(
        provider="testprov", api_key=KEYS, base_url=server.base_url, registry=registry
    ) as client:
        client._sleep = AsyncSleepRecorder()
        for _ in range(3):
            await client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert keys_seen(server) == [KEYS[0], KEYS[1], KEYS[2], KEYS[0]]
    assert recorder.removed == [("testprov", fp(KEYS[1]), "AuthenticationError")]
