"""``Client(base_url=...)`` alone: any OpenAI-compatible server, with or without a key.

A local vLLM, llama.cpp or Ollama needs no key. With no ``api_key=`` the
request goes out with no auth header at all (as ``chatplug chat --base-url``
does); with one, it is sent as a bearer token. Asserted on the headers the
loopback server received.
"""

from __future__ import annotations

from collections.abc import Mapping

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from core_support import API_KEY, MESSAGES, completion_body

#: Every provider key variable a user might have set; none may leak to a plain endpoint.
KEY_VARIABLES = ("OPENAI_API_KEY", "ZAI_API_KEY", "MOONSHOT_API_KEY", "CHATPLUG_TEST_KEY")


@pytest.fixture(autouse=True)
def keys_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys set in the environment must not be sent to a server that was not given one."""
    for name in KEY_VARIABLES:
        monkeypatch.setenv(name, f"sk-env-{name.lower()}-0123456789")


def _auth_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name.lower() in ("authorization", "api-key", "x-api-key")}


def test_no_key_sends_no_auth_header(server: FakeServer, registry: chatplug.PluginRegistry) -> None:
    server.add(Reply.json(completion_body("local reply")))
    with chatplug.Client(base_url=server.base_url, registry=registry) as client:
        reply = client.chat.completions.create(model="qwen2.5:7b", messages=MESSAGES)
    assert reply.choices[0].message.content == "local reply"
    request = server.last_request
    assert request.path == "/v1/chat/completions"
    assert _auth_headers(request.headers) == {}
    assert request.json()["model"] == "qwen2.5:7b"


@pytest.mark.anyio
async def test_no_key_sends_no_auth_header_async(server: FakeServer, registry: chatplug.PluginRegistry) -> None:
    server.add(Reply.sse([{"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                           "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]}]))
    async with chatplug.AsyncClient(base_url=server.base_url, registry=registry) as client:
        stream = await client.chat.completions.create(model="local-model", messages=MESSAGES, stream=True)
        async with stream:
            final = await stream.get_final_completion()
    assert final.choices[0].message.content == "hi"
    assert _auth_headers(server.last_request.headers) == {}


def test_a_given_key_is_sent_as_a_bearer_token(server: FakeServer, registry: chatplug.PluginRegistry) -> None:
    server.add(Reply.json(completion_body()))
    with chatplug.Client(base_url=server.base_url, api_key=API_KEY, registry=registry) as client:
        client.chat.completions.create(model="local-model", messages=MESSAGES)
    assert _auth_headers(server.last_request.headers) == {"authorization": f"Bearer {API_KEY}"}


def test_a_credentials_plugin_still_answers_first(server: FakeServer) -> None:
    class Vault:
        @chatplug.hookimpl(tryfirst=True)
        def chatplug_credentials(self, provider: chatplug.Provider) -> Mapping[str, str] | None:
            return {"X-Api-Key": "from-the-vault-0123"} if provider.id == "custom" else None

    registry = chatplug.PluginRegistry(load_entrypoints=False)
    registry.register(Vault(), "vault")
    server.add(Reply.json(completion_body()))
    with chatplug.Client(base_url=server.base_url, registry=registry) as client:
        client.chat.completions.create(model="local-model", messages=MESSAGES)
    assert _auth_headers(server.last_request.headers) == {"x-api-key": "from-the-vault-0123"}


def test_the_plain_endpoint_record(registry: chatplug.PluginRegistry) -> None:
    with chatplug.Client(base_url="http://127.0.0.1:8000/v1/", registry=registry) as client:
        provider = client.provider
        assert provider is not None
        assert (provider.id, provider.base_url, provider.api_key_env) == ("custom", "http://127.0.0.1:8000/v1/", ())
        assert repr(client) == "<chatplug.Client provider='custom' base_url='http://127.0.0.1:8000/v1'>"


def test_a_pinned_provider_without_a_key_still_raises(server: FakeServer, registry: chatplug.PluginRegistry,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the plain endpoint goes keyless: a provider that names its key variable still needs it."""
    monkeypatch.delenv("CHATPLUG_TEST_KEY")
    with (chatplug.Client(provider="testprov", base_url=server.base_url, registry=registry) as client,
          pytest.raises(chatplug.MissingAPIKeyError, match="CHATPLUG_TEST_KEY")):
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert server.requests == []
