"""What chatplug-deepseek does beyond plain OpenAI behaviour, over real loopback HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import chatplug
import chatplug_deepseek
import pytest
from chatplug.testing import FakeServer, Reply

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def registry(chatplug_registry: chatplug.PluginRegistry) -> chatplug.PluginRegistry:
    chatplug_registry.register(chatplug_deepseek, "deepseek")
    return chatplug_registry


@pytest.fixture
def client(
    registry: chatplug.PluginRegistry, fake_server: FakeServer, chatplug_env: pytest.MonkeyPatch
) -> chatplug.Client:
    chatplug_env.setenv("DEEPSEEK_API_KEY", "sk-deepseek-test-key")
    return chatplug.Client(provider="deepseek", base_url=fake_server.base_url, registry=registry, max_retries=0)


def test_entry_point_installs_the_provider() -> None:
    registry = chatplug.PluginRegistry(environ={"CHATPLUG_PLUGINS": "deepseek"})
    provider = registry.provider("deepseek")
    assert provider.distribution == "chatplug-deepseek"
    assert registry.resolve_model("deepseek-reasoner")[0].id == "deepseek"


def test_reasoner_history_drops_earlier_reasoning_but_keeps_the_current_turn(
    client: chatplug.Client, fake_server: FakeServer
) -> None:
    fake_server.add(Reply.json((FIXTURES / "deepseek-nonstream-reasoner.json").read_bytes()))
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4", "reasoning_content": "earlier turn"},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "reasoning_content": "need the tool",
         "tool_calls": [{"id": "call_1", "type": "function",
                         "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    client.chat.completions.create(model="deepseek-reasoner", messages=messages)
    sent = fake_server.last_request.json()["messages"]
    assert "reasoning_content" not in sent[1]
    assert sent[3]["reasoning_content"] == "need the tool"
    assert messages[1]["reasoning_content"] == "earlier turn"  # the caller's list is untouched


def test_chat_model_history_is_sent_as_given(client: chatplug.Client, fake_server: FakeServer) -> None:
    fake_server.add(Reply.json((FIXTURES / "deepseek-nonstream-chat.json").read_bytes()))
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello", "reasoning_content": "kept for deepseek-chat"},
        {"role": "user", "content": "Bye"},
    ]
    client.chat.completions.create(model="deepseek-chat", messages=messages)
    assert fake_server.last_request.json()["messages"][1]["reasoning_content"] == "kept for deepseek-chat"


def test_reasoner_refuses_logprobs_before_sending(client: chatplug.Client, fake_server: FakeServer) -> None:
    expected = "deepseek-reasoner does not take logprobs"
    with pytest.raises(chatplug.InvalidRequestError, match=expected) as info:
        client.chat.completions.create(model="deepseek-reasoner", messages=[{"role": "user", "content": "Hi"}],
                                       logprobs=True)
    assert info.value.param == "logprobs" and "use deepseek-chat" in str(info.value)
    assert fake_server.requests == []


@pytest.mark.parametrize("param", ["temperature", "top_p", "presence_penalty", "frequency_penalty"])
def test_reasoner_refuses_sampling_it_would_ignore(param: str, client: chatplug.Client,
                                                   fake_server: FakeServer) -> None:
    sampling: dict[str, Any] = {param: 0.5}
    with pytest.raises(chatplug.InvalidRequestError, match="no effect") as info:
        client.chat.completions.create(model="deepseek-reasoner", messages=[{"role": "user", "content": "Hi"}],
                                       **sampling)
    assert info.value.param == param
    assert fake_server.requests == []


def test_one_parameter_set_for_both_models_with_dropping(
    registry: chatplug.PluginRegistry, fake_server: FakeServer, chatplug_env: pytest.MonkeyPatch
) -> None:
    chatplug_env.setenv("DEEPSEEK_API_KEY", "sk-deepseek-test-key")
    fake_server.default = Reply.json((FIXTURES / "deepseek-nonstream-chat.json").read_bytes())
    with chatplug.Client(provider="deepseek", base_url=fake_server.base_url, registry=registry,
                         drop_unsupported_params=True) as client:
        for model in ("deepseek-chat", "deepseek-reasoner"):
            client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hi"}],
                                           temperature=0.3, max_tokens=100)
    chat, reasoner = (request.json() for request in fake_server.requests)
    assert (chat["temperature"], chat["max_tokens"]) == (0.3, 100)
    assert "temperature" not in reasoner and reasoner["max_tokens"] == 100


def test_catalog_is_public_data() -> None:
    reasoner = chatplug_deepseek.PROVIDER.model_info("deepseek-reasoner")
    assert (reasoner.thinking, reasoner.max_output, reasoner.context_window) == ("always", 64_000, 128_000)
    assert chatplug_deepseek.PROVIDER.model_info("deepseek-chat").thinking == "none"


def test_cache_hits_land_in_prompt_tokens_details(client: chatplug.Client, fake_server: FakeServer) -> None:
    body = (FIXTURES / "deepseek-nonstream-chat.json").read_text(encoding="utf-8")
    fake_server.add(Reply.json(body.replace('"prompt_cache_hit_tokens": 0', '"prompt_cache_hit_tokens": 8').encode()))
    usage = client.chat.completions.create(model="deepseek-chat", messages=[{"role": "user", "content": "Hi"}]).usage
    assert usage is not None and usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 8
    assert usage.to_dict()["prompt_cache_hit_tokens"] == 8


def test_out_of_balance_is_not_retried(registry: chatplug.PluginRegistry, fake_server: FakeServer,
                                       chatplug_env: pytest.MonkeyPatch) -> None:
    chatplug_env.setenv("DEEPSEEK_API_KEY", "sk-deepseek-test-key")
    client = chatplug.Client(provider="deepseek", base_url=fake_server.base_url, registry=registry, max_retries=2)
    client._sleep = lambda seconds: None
    body = (FIXTURES / "deepseek-error-402-insufficient-balance.json").read_bytes()
    fake_server.add(Reply.json(body, status=402), Reply.json(body, status=402))
    with pytest.raises(chatplug.QuotaExceededError, match="Insufficient Balance"):
        client.chat.completions.create(model="deepseek-chat", messages=[{"role": "user", "content": "Hi"}])
    assert len(fake_server.requests) == 1
