"""The Kimi provider record: discovery, routing, base URLs, keys and limits."""

from __future__ import annotations

from typing import Any

import chatplug
import chatplug_kimi
import pytest
from chatplug.testing import FakeServer, Reply

from .kimi_support import API_KEY, completion

MESSAGES = [{"role": "user", "content": "Hi"}]


def test_installed_plugin_is_found_through_its_entry_point() -> None:
    registry = chatplug.PluginRegistry(environ={})
    provider = registry.providers()["kimi"]
    assert provider == chatplug_kimi.PROVIDER
    assert provider.distribution == "chatplug-kimi"
    assert not [f for f in registry.failures() if f.name == "kimi"]


def test_provider_record() -> None:
    provider = chatplug_kimi.PROVIDER
    assert provider.id == "kimi"
    assert provider.base_url == "https://api.moonshot.ai/v1"
    assert provider.endpoints == {"international": "https://api.moonshot.ai/v1", "china": "https://api.moonshot.cn/v1"}
    assert provider.api_key_env == ("MOONSHOT_API_KEY",)
    assert provider.base_url_env == "MOONSHOT_BASE_URL"
    assert {"kimi-k2-0905-preview", "kimi-k2-thinking", "kimi-k2.5", "moonshot-v1-128k"} <= set(provider.models)


@pytest.mark.parametrize(("model", "name"), [
    ("kimi-k2-0905-preview", "kimi-k2-0905-preview"),
    ("moonshot-v1-8k-vision-preview", "moonshot-v1-8k-vision-preview"),
    ("kimi-k3-future-preview", "kimi-k3-future-preview"),  # claimed by prefix
    ("kimi/kimi-latest", "kimi-latest"),
])
def test_models_route_to_kimi(model: str, name: str, registry: chatplug.PluginRegistry) -> None:
    provider, routed = registry.resolve_model(model)
    assert (provider.id, routed) == ("kimi", name)


def test_other_models_are_not_claimed(registry: chatplug.PluginRegistry) -> None:
    with pytest.raises(chatplug.ModelNotFoundError, match="kimi"):
        registry.resolve_model("gpt-4o")


@pytest.mark.parametrize(("endpoint", "environ", "expected"), [
    (None, {}, "https://api.moonshot.ai/v1"),
    ("china", {}, "https://api.moonshot.cn/v1"),
    ("international", {"MOONSHOT_BASE_URL": "china"}, "https://api.moonshot.ai/v1"),
    (None, {"MOONSHOT_BASE_URL": "china"}, "https://api.moonshot.cn/v1"),
    (None, {"MOONSHOT_BASE_URL": "https://proxy.example/v1"}, "https://proxy.example/v1"),
])
def test_base_url_selection(endpoint: str | None, environ: dict[str, str], expected: str) -> None:
    assert chatplug_kimi.PROVIDER.resolve_base_url(endpoint, environ) == expected


def test_china_endpoint_option(registry: chatplug.PluginRegistry) -> None:
    with chatplug.Client(provider="kimi", endpoint="china", api_key=API_KEY, registry=registry) as client:
        assert "https://api.moonshot.cn/v1" in repr(client)
        assert API_KEY not in repr(client)


def test_environment_key_and_base_url(
    monkeypatch: pytest.MonkeyPatch, server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    monkeypatch.setenv("MOONSHOT_API_KEY", API_KEY)
    monkeypatch.setenv("MOONSHOT_BASE_URL", server.base_url)
    server.add(Reply.json(completion({"role": "assistant", "content": "Hello"})))
    with chatplug.Client(registry=registry) as client:
        reply = client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES, max_tokens=16)
    assert reply.choices[0].message.content == "Hello"
    request = server.requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"model": "kimi-k2-0905-preview", "messages": MESSAGES, "max_tokens": 16}


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch, registry: chatplug.PluginRegistry) -> None:
    monkeypatch.delenv("MOONSHOT_API_KEY", raising=False)
    with (
        chatplug.Client(provider="kimi", registry=registry) as client,
        pytest.raises(chatplug.MissingAPIKeyError, match="MOONSHOT_API_KEY"),
    ):
        client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES)


@pytest.mark.parametrize(("params", "param", "words"), [
    ({"temperature": 1.5}, "temperature", "0 <= temperature <= 1"),
    ({"temperature": -0.1}, "temperature", "0 <= temperature <= 1"),
    ({"n": 6, "temperature": 0.5}, "n", "1 <= n <= 5"),
    ({"n": 2, "temperature": 0}, "n", "temperature > 0"),
    ({"stop": ["a", "b", "c", "d", "e", "f"]}, "stop", "at most 5"),
    ({"tool_choice": "required"}, "tool_choice", "'required' is not supported"),
], ids=["temperature-high", "temperature-low", "n-6", "n-2-greedy", "stop-6", "tool-choice-required"])
def test_limits_are_rejected_before_io(
    params: dict[str, Any], param: str, words: str, server: FakeServer, client: chatplug.Client
) -> None:
    with pytest.raises(chatplug.InvalidRequestError) as info:
        client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES, **params)
    assert info.value.param == param
    assert info.value.provider == "kimi"
    assert words in str(info.value) and "kimi" in str(info.value)
    assert server.requests == []


@pytest.mark.parametrize("params", [
    {"temperature": 0, "n": 1},
    {"temperature": 1, "n": 5},
    {"n": 2},  # the model's default temperature is above 0
    {"stop": ["a", "b", "c", "d", "e"]},
    {"tool_choice": "none"},
], ids=["greedy-single", "n-5", "n-default-temperature", "stop-5", "tool-choice-none"])
def test_limits_accept_edges(params: dict[str, Any], server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.json(completion({"role": "assistant", "content": "ok"})))
    client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES, **params)
    sent = server.requests[0].json()
    assert {key: sent[key] for key in params} == params


@pytest.mark.anyio
async def test_async_request_on_the_wire(server: FakeServer, aclient: chatplug.AsyncClient) -> None:
    server.add(Reply.json(completion({"role": "assistant", "content": "Hello"})))
    async with aclient:
        reply = await aclient.chat.completions.create(model="kimi/kimi-k2.5", messages=MESSAGES, temperature=1)
    assert reply.choices[0].message.content == "Hello"
    request = server.requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.json() == {"model": "kimi-k2.5", "messages": MESSAGES, "temperature": 1}


def test_hooks_ignore_other_providers() -> None:
    other = chatplug.Provider(id="other", base_url="https://other.invalid/v1")
    payload = {"model": "x", "messages": [{"role": "user", "content": "Hi", "partial": True}], "n": 3,
               "temperature": 0}
    assert chatplug_kimi.chatplug_prepare_payload(provider=other, payload=payload) is None
    assert chatplug_kimi.chatplug_response_normalizer(provider=other) is None
    body = {"error": {"type": "exceeded_current_quota_error", "message": "x"}}
    assert chatplug_kimi.chatplug_map_error(provider=other, status_code=429, body=body, headers={}) is None
