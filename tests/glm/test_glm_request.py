"""What the GLM plugin does to a request before it leaves: limits, GLM
parameters, the reasoning round trip, endpoints and keys."""

from __future__ import annotations

from importlib import metadata
from typing import Any

import chatplug
import chatplug_glm
import pytest
from chatplug.testing import FakeServer, Reply
from glm_support import API_KEY, CHAT_PATH, MESSAGES, fixture_json

OK = "glm-nonstream-reasoning.json"


# ---------------------------------------------------------------- limits


@pytest.mark.parametrize(
    ("params", "param", "words"),
    [
        ({"temperature": 1.5}, "temperature", ["1.5", "0 <= temperature <= 1"]),
        ({"temperature": -0.1}, "temperature", ["-0.1", "0 <= temperature <= 1"]),
        ({"top_p": 0.001}, "top_p", ["0.001", "0.01 <= top_p <= 1"]),
        ({"tool_choice": "required"}, "tool_choice", ["'required'", "'auto'"]),
        ({"tool_choice": {"type": "function", "function": {"name": "f"}}}, "tool_choice", ["'auto'"]),
        ({"stop": ["a", "b"]}, "stop", ["2 entries", "at most 1"]),
    ],
)
def test_limits_rejected_before_io(
    client: chatplug.Client, server: FakeServer, params: dict[str, Any], param: str, words: list[str]
) -> None:
    with pytest.raises(chatplug.InvalidRequestError) as caught:
        client.chat.completions.create(model="glm-4.6", messages=MESSAGES, **params)
    assert caught.value.param == param
    assert caught.value.provider == "glm"
    for word in words:
        assert word in str(caught.value)
    assert server.requests == []


def test_limits_edges_accepted(client: chatplug.Client, server: FakeServer) -> None:
    server.add(Reply.json(fixture_json(OK)))
    client.chat.completions.create(model="glm-4.6", messages=MESSAGES, temperature=0, top_p=0.01, stop="END",
                                   tool_choice="auto", tools=[{"type": "web_search", "web_search": {"enable": True}}])
    sent = server.requests[0].json()
    assert (sent["temperature"], sent["top_p"], sent["stop"], sent["tool_choice"]) == (0, 0.01, "END", "auto")


# ---------------------------------------------------------------- GLM parameters


@pytest.mark.parametrize(
    ("extra", "param", "words"),
    [
        ({"thinking": {"type": "on"}}, "thinking", ["'on'", '"enabled" or "disabled"']),
        ({"thinking": "enabled"}, "thinking", ["'enabled'", '{"type": "enabled"}']),
        ({"thinking": {}}, "thinking", ['"enabled" or "disabled"']),
        ({"thinking": {"type": "enabled", "clear_thinking": "no"}}, "thinking", ["clear_thinking", "'no'"]),
        ({"do_sample": "yes"}, "do_sample", ["'yes'", "true or false"]),
        ({"tool_stream": 1}, "tool_stream", ["1", "true or false"]),
        ({"request_id": "abc"}, "request_id", ["'abc'", "6 to 64 characters"]),
        ({"request_id": 123456}, "request_id", ["123456", "6 to 64"]),
        ({"user_id": "u" * 129}, "user_id", ["6 to 128 characters"]),
        ({"tool_stream": True}, "tool_stream", ["stream=True"]),
        ({"tools": [{"type": "web_search", "web_search": "yes"}]}, "tools", ["web_search", "object"]),
    ],
)
def test_bad_glm_parameters(
    client: chatplug.Client, server: FakeServer, extra: dict[str, Any], param: str, words: list[str]
) -> None:
    with pytest.raises(chatplug.InvalidRequestError) as caught:
        client.chat.completions.create(model="glm-4.6", messages=MESSAGES, extra_body=extra)
    assert caught.value.param == param
    assert "glm" in str(caught.value)
    for word in words:
        assert word in str(caught.value)
    assert server.requests == []


def test_glm_parameters_pass_through(client: chatplug.Client, server: FakeServer) -> None:
    server.add(Reply.sse([{"id": "x", "created": 1, "model": "glm-4.6",
                           "choices": [{"index": 0, "delta": {"content": "k"}, "finish_reason": "stop"}]}]))
    extras = {
        "thinking": {"type": "enabled", "clear_thinking": True},
        "do_sample": False,
        "request_id": "my-request-0001",
        "user_id": "end-user-0001",
        "tool_stream": True,
        "tools": [{"type": "web_search", "web_search": {"enable": True, "search_engine": "search_std"}}],
    }
    with client.chat.completions.create(model="glm-4.6", messages=MESSAGES, stream=True, extra_body=extras) as s:
        assert s.get_final_completion().choices[0].message.content == "k"
    assert server.requests[0].json() == {"model": "glm-4.6", "messages": MESSAGES, "stream": True, **extras}


def test_glm_checks_do_not_touch_other_providers(
    client: chatplug.Client, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTHER_TEST_KEY", "other-key-0123456789")
    server.add(Reply.json(fixture_json(OK)))
    history = [*MESSAGES, {"role": "assistant", "content": "a", "reasoning_content": "r"}, *MESSAGES]
    with chatplug.Client(provider="other", base_url=server.base_url, registry=client.registry) as other:
        other.chat.completions.create(model="other-1", messages=history, extra_body={"thinking": "whatever"})
    sent = server.requests[0].json()
    assert sent["thinking"] == "whatever"
    assert sent["messages"][1]["reasoning_content"] == "r"


# ---------------------------------------------------------------- reasoning round trip


HISTORY: list[dict[str, Any]] = [
    {"role": "user", "content": "Weather in Florence?"},
    {
        "role": "assistant",
        "content": "I'll check.",
        "reasoning_content": "The user wants the weather; call the tool.",
        "tool_calls": [{"id": "call_-7807249954186984837", "type": "function",
                        "function": {"name": "weather", "arguments": '{"location":"Florence,Italy"}'}}],
    },
    {"role": "tool", "tool_call_id": "call_-7807249954186984837", "content": "sunny"},
]


@pytest.mark.parametrize(
    ("thinking", "kept"),
    [
        ({"type": "enabled", "clear_thinking": False}, True),
        ({"type": "enabled", "clear_thinking": True}, False),
        ({"type": "enabled"}, False),
        (None, False),
    ],
)
def test_reasoning_round_trip(
    client: chatplug.Client, server: FakeServer, thinking: dict[str, Any] | None, kept: bool
) -> None:
    server.add(Reply.json(fixture_json(OK)))
    extra = {"thinking": thinking} if thinking is not None else None
    client.chat.completions.create(model="glm-4.7", messages=HISTORY, extra_body=extra)
    sent = server.requests[0].json()["messages"]
    if kept:
        assert sent == HISTORY  # sent back unchanged
    else:
        assert "reasoning_content" not in sent[1]
        assert {k: v for k, v in HISTORY[1].items() if k != "reasoning_content"} == sent[1]
    assert HISTORY[1]["reasoning_content"] == "The user wants the weather; call the tool."  # caller's list untouched


@pytest.mark.anyio
async def test_reasoning_round_trip_typed_message_async(aclient: chatplug.AsyncClient, server: FakeServer) -> None:
    """A typed reply put back in the history keeps its reasoning when asked to."""
    server.add(Reply.json(fixture_json("glm-nonstream-tool-call.json")), Reply.json(fixture_json(OK)))
    thinking = {"type": "enabled", "clear_thinking": False}
    first = await aclient.chat.completions.create(model="glm-4.7", messages=MESSAGES, extra_body={"thinking": thinking})
    message = first.choices[0].message
    history: list[chatplug.types.Message] = [
        *MESSAGES, message, {"role": "tool", "tool_call_id": "call_-7807249954186984837", "content": "sunny"}
    ]
    await aclient.chat.completions.create(model="glm-4.7", messages=history, extra_body={"thinking": thinking})
    sent = server.requests[1].json()["messages"][1]
    assert sent["reasoning_content"] == message.reasoning_content
    assert sent["tool_calls"][0]["id"] == "call_-7807249954186984837"


# ---------------------------------------------------------------- provider, endpoints, keys


def test_provider_record() -> None:
    provider = chatplug_glm.GLM_PROVIDER
    assert provider.id == "glm"
    assert provider.base_url == "https://api.z.ai/api/paas/v4"
    assert provider.endpoints == {
        "international": "https://api.z.ai/api/paas/v4",
        "china": "https://open.bigmodel.cn/api/paas/v4",
        "coding": "https://api.z.ai/api/coding/paas/v4",
    }
    assert provider.api_key_env == ("ZAI_API_KEY",)
    assert provider.base_url_env == "ZAI_BASE_URL"
    assert {"glm-4.5", "glm-4.6", "glm-4.7", "glm-5"} <= set(provider.models)
    assert provider.claims("glm-9-future") and not provider.claims("kimi-k2")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "https://api.z.ai/api/paas/v4"),
        ({"ZAI_BASE_URL": "china"}, "https://open.bigmodel.cn/api/paas/v4"),
        ({"ZAI_BASE_URL": "coding"}, "https://api.z.ai/api/coding/paas/v4"),
        ({"ZAI_BASE_URL": "https://proxy.example/glm"}, "https://proxy.example/glm"),
    ],
)
def test_base_url_from_env(env: dict[str, str], expected: str) -> None:
    assert chatplug_glm.GLM_PROVIDER.resolve_base_url(None, env) == expected


@pytest.mark.parametrize("endpoint", ["international", "china", "coding"])
def test_endpoint_option(registry: chatplug.PluginRegistry, endpoint: str) -> None:
    with chatplug.Client(provider="glm", endpoint=endpoint, api_key=API_KEY, registry=registry) as client:
        assert f"base_url={chatplug_glm.ENDPOINTS[endpoint]!r}" in repr(client)
        assert API_KEY not in repr(client)


def test_unknown_endpoint(registry: chatplug.PluginRegistry) -> None:
    with pytest.raises(chatplug.InvalidRequestError, match="china, coding, international"):
        chatplug.Client(provider="glm", endpoint="europe", registry=registry)


def test_endpoint_option_reaches_the_endpoint(server: FakeServer, registry: chatplug.PluginRegistry) -> None:
    """``endpoint=`` chooses the URL actually called (here a test endpoint on the FakeServer)."""
    import attrs

    provider = attrs.evolve(chatplug_glm.GLM_PROVIDER,
                            endpoints={**chatplug_glm.ENDPOINTS, "coding": server.url + "/api/coding/paas/v4"})
    server.add(Reply.json(fixture_json(OK)))
    with chatplug.Client(provider=provider, endpoint="coding", registry=registry) as client:
        client.chat.completions.create(model="glm-4.7-flash", messages=MESSAGES)
    assert server.requests[0].path == "/api/coding/paas/v4/chat/completions"
    assert server.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


def test_missing_key_names_the_variable(registry: chatplug.PluginRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZAI_API_KEY", raising=False)
    with chatplug.Client(registry=registry) as client, pytest.raises(chatplug.MissingAPIKeyError, match="ZAI_API_KEY"):
        client.chat.completions.create(model="glm-4.6", messages=MESSAGES)


def test_key_argument_wins_and_is_sent(server: FakeServer, registry: chatplug.PluginRegistry) -> None:
    server.add(Reply.json(fixture_json(OK)))
    with chatplug.Client(provider="glm", api_key="zai-explicit-key-987654321", registry=registry) as client:
        client.chat.completions.create(model="glm-4.6", messages=MESSAGES)
    assert server.requests[0].path == CHAT_PATH
    assert server.requests[0].headers["authorization"] == "Bearer zai-explicit-key-987654321"


def test_entry_point_registers_glm() -> None:
    """Installed (as tox installs it), the distribution is found through its entry point."""
    try:
        dist = metadata.distribution("chatplug-glm")
    except metadata.PackageNotFoundError:
        pytest.skip("chatplug-glm is not installed; tox env 'glm' installs it")
    assert any(ep.group == "chatplug" and ep.name == "glm" and ep.value == "chatplug_glm" for ep in dist.entry_points)
    registry = chatplug.PluginRegistry(environ={})
    providers = registry.providers()
    assert "glm" in providers
    assert providers["glm"].distribution == "chatplug-glm"
    assert [f for f in registry.failures() if f.name == "glm"] == []
    provider, model = registry.resolve_model("glm-4.6")
    assert (provider.id, model) == ("glm", "glm-4.6")
