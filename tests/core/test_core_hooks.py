"""The plugin hooks in the call path: payload preparation, response
normalizers (stream and non-stream), error mapping and retry hints, and
provider endpoints; plus redirects, which are never followed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from core_support import API_KEY, MESSAGES, SleepRecorder, chunk, completion_body


class Renaming(chatplug.ResponseNormalizer):
    """A provider that calls reasoning ``thought`` and sends a stray event type."""

    def __init__(self) -> None:
        self.seen = 0

    def normalize_completion(self, body: dict[str, Any]) -> dict[str, Any]:
        message = body["choices"][0]["message"]
        message["reasoning_content"] = message.pop("thought", None)
        return body

    def normalize_chunk(self, data: dict[str, Any]) -> Sequence[dict[str, Any]]:
        self.seen += 1
        if data.get("object") == "keepalive":
            return ()
        if data.get("fatal"):
            raise chatplug.APIStatusError("provider gave up", code="gave_up")
        delta = data["choices"][0]["delta"]
        if "thought" in delta:
            delta["reasoning_content"] = delta.pop("thought")
        return (data,)


class ProviderQuirks:
    """The hooks a provider plugin implements, for the test provider only."""

    @chatplug.hookimpl
    def chatplug_prepare_payload(self, provider: chatplug.Provider, payload: dict[str, Any]) -> None:
        if provider.id == "testprov":
            payload["vendor_flag"] = True
            payload.pop("user", None)

    @chatplug.hookimpl
    def chatplug_response_normalizer(self, provider: chatplug.Provider) -> chatplug.ResponseNormalizer | None:
        return Renaming() if provider.id == "testprov" else None

    @chatplug.hookimpl
    def chatplug_map_error(
        self, provider: chatplug.Provider, status_code: int | None, body: Any
    ) -> chatplug.APIStatusError | None:
        if provider.id != "testprov" or not isinstance(body, dict):
            return None
        code = body.get("error", {}).get("code")
        if code == "1113":
            return chatplug.QuotaExceededError("out of balance", status_code=status_code, code=code, body=body)
        if code == "1302":
            return chatplug.RateLimitError("slow down", status_code=status_code, code=code, body=body, retry_after=4)
        return None


@pytest.fixture
def quirky(registry: chatplug.PluginRegistry) -> chatplug.PluginRegistry:
    registry.register(ProviderQuirks(), "quirks")
    return registry


def test_prepare_payload_changes_what_is_sent(quirky: Any, server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.json(completion_body()))
    client.chat.completions.create(model="t-1", messages=MESSAGES, user="u-1")
    body = server.requests[0].json()
    assert body["vendor_flag"] is True and "user" not in body


def test_normalizer_runs_on_a_completion_before_parsing(
    quirky: Any, server: FakeServer, client: chatplug.Client
) -> None:
    body = completion_body("answer")
    body["choices"][0]["message"]["thought"] = "thinking..."
    server.add(Reply.json(body))
    reply = client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert reply.choices[0].message.reasoning_content == "thinking..."


def test_normalizer_runs_on_each_chunk_and_may_drop_events(
    quirky: Any, server: FakeServer, client: chatplug.Client
) -> None:
    server.add(Reply.sse([chunk({"thought": "hmm"}), {"object": "keepalive"}, chunk({"content": "ok"}, "stop")]))
    with client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True) as stream:
        chunks = list(stream)
        final = stream.get_final_completion()
    assert len(chunks) == 2
    assert final.choices[0].message.reasoning_content == "hmm"
    assert final.choices[0].message.content == "ok"


def test_normalizer_error_ends_the_stream_with_the_partial(
    quirky: Any, server: FakeServer, client: chatplug.Client
) -> None:
    server.add(Reply.sse([chunk({"content": "so far"}), {"fatal": True}]))
    with pytest.raises(chatplug.APIStatusError, match="provider gave up") as info:
        client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True).get_final_completion()
    assert info.value.partial is not None
    assert info.value.partial.choices[0].message.content == "so far"


def test_quota_error_on_429_is_never_retried(quirky: Any, server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.error(429, {"error": {"code": "1113", "message": "balance"}}, headers={"Retry-After": "1"}),
               Reply.json(completion_body()))
    with pytest.raises(chatplug.QuotaExceededError) as info:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert info.value.status_code == 429 and info.value.provider == "testprov"
    assert len(server.requests) == 1
    assert isinstance(client._sleep, SleepRecorder) and client._sleep.delays == []


def test_retry_hint_from_the_error_body_is_honoured(quirky: Any, server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.error(429, {"error": {"code": "1302", "message": "rate"}}), Reply.json(completion_body()))
    client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert isinstance(client._sleep, SleepRecorder) and client._sleep.delays == [4.0]


def test_redirects_are_not_followed(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.error(307, "", headers={"Location": "http://127.0.0.1:9/elsewhere"}),
               Reply.json(completion_body()))
    with pytest.raises(chatplug.APIStatusError, match="redirect") as info:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert info.value.status_code == 307
    assert len(server.requests) == 1


def test_stream_options_without_stream_is_rejected(server: FakeServer, client: chatplug.Client) -> None:
    with pytest.raises(chatplug.InvalidRequestError) as info:
        client.chat.completions.create(model="t-1", messages=MESSAGES, stream_options={"include_usage": True})
    assert info.value.param == "stream_options"
    assert server.requests == []


# ------------------------------------------------------------------- endpoints


def _regional(server: FakeServer) -> chatplug.PluginRegistry:
    from core_support import ProviderPlugin

    registry = chatplug.PluginRegistry(load_entrypoints=False)
    registry.register(ProviderPlugin(chatplug.Provider(
        id="regional", base_url="http://127.0.0.1:9/v1", endpoints={"china": server.base_url},
        base_url_env="REGIONAL_BASE_URL", model_prefixes=("r-",))), "regional")
    return registry


def test_named_endpoint_is_used(server: FakeServer) -> None:
    server.add(Reply.json(completion_body()))
    with chatplug.Client(provider="regional", endpoint="china", api_key=API_KEY, registry=_regional(server)) as c:
        c.chat.completions.create(model="r-1", messages=MESSAGES)
    assert len(server.requests) == 1


def test_base_url_env_may_name_an_endpoint(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGIONAL_BASE_URL", "china")
    server.add(Reply.json(completion_body()))
    with chatplug.Client(provider="regional", api_key=API_KEY, registry=_regional(server)) as c:
        c.chat.completions.create(model="r-1", messages=MESSAGES)
    assert len(server.requests) == 1


def test_base_url_env_may_hold_a_url(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGIONAL_BASE_URL", server.base_url)
    server.add(Reply.json(completion_body()))
    with chatplug.Client(provider="regional", api_key=API_KEY, registry=_regional(server)) as c:
        c.chat.completions.create(model="r-1", messages=MESSAGES)
    assert len(server.requests) == 1


def test_unknown_endpoint_names_the_known_ones(server: FakeServer) -> None:
    with pytest.raises(chatplug.InvalidRequestError, match="china"):
        chatplug.Client(provider="regional", endpoint="mars", api_key=API_KEY, registry=_regional(server))
