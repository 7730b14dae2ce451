"""The GLM model catalog and the rules it drives, asserted on the bytes the
loopback server received (sync and async), and on nothing sent when refused."""

from __future__ import annotations

import asyncio
from typing import Any

import chatplug
import chatplug_glm
import pytest
from chatplug.testing import FakeServer, Reply
from glm_support import CHAT_PATH, MESSAGES, fixture_json

MODES = pytest.mark.parametrize("mode", ["sync", "async"])
IMAGE = [{"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                      {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]


def send(mode: str, registry: chatplug.PluginRegistry, server: FakeServer, *,
         client_options: dict[str, Any] | None = None, **kwargs: Any) -> chatplug.ChatCompletion:
    """One call through ``Client()`` / ``AsyncClient()`` (routed by model name, as a user's would be)."""
    kwargs.setdefault("messages", MESSAGES)
    server.default = Reply.json(fixture_json("glm-nonstream-reasoning.json"))
    options: dict[str, Any] = {"registry": registry, "max_retries": 0, **(client_options or {})}
    if mode == "sync":
        with chatplug.Client(**options) as client:
            reply: chatplug.ChatCompletion = client.chat.completions.create(**kwargs)
            return reply

    async def run() -> chatplug.ChatCompletion:
        async with chatplug.AsyncClient(**options) as aclient:
            areply: chatplug.ChatCompletion = await aclient.chat.completions.create(**kwargs)
            return areply

    return asyncio.run(run())


def refused(mode: str, registry: chatplug.PluginRegistry, server: FakeServer,
            **kwargs: Any) -> chatplug.InvalidRequestError:
    before = len(server.requests)
    with pytest.raises(chatplug.InvalidRequestError) as info:
        send(mode, registry, server, **kwargs)
    assert len(server.requests) == before, "a refused request must not reach Z.ai"
    assert info.value.provider == "glm"
    return info.value


def sent(server: FakeServer) -> dict[str, Any]:
    request = server.last_request
    assert request.path == CHAT_PATH
    body: dict[str, Any] = request.json()
    return body


# ------------------------------------------------------------------ the catalog as data


@pytest.mark.parametrize("model", ["glm-4.5", "glm-4.5-air", "glm-4.6", "glm-4.7", "glm-5", "glm-5.1"])
def test_glm_45_and_later_think_by_default_and_can_switch_it_off(model: str) -> None:
    info = chatplug_glm.GLM_PROVIDER.model_info(model)
    assert (info.thinking, info.thinking_default, info.thinks_by_default) == ("optional", True, True)
    assert info.reasoning_effort == (), "reasoning_effort is documented for GLM-5.2 and later only"


def test_catalog_facts_per_model() -> None:
    provider = chatplug_glm.GLM_PROVIDER
    assert (provider.model_info("glm-4.5").context_window, provider.model_info("glm-4.5").max_output) == (
        128_000, 96_000)
    assert provider.model_info("glm-4.6").max_output == 128_000
    assert provider.model_info("glm-4.5v").images is True and provider.model_info("glm-4.6").images is False
    assert provider.model_info("glm-4-32b-0414-128k").thinking == "none"
    assert provider.model_info("glm-5.2").reasoning_effort == chatplug_glm.REASONING_EFFORTS
    assert provider.model_info("glm-4.6").renames == {"max_completion_tokens": "max_tokens", "user": "user_id"}
    assert set(provider.model_info("glm-4.6").unsupported) == set(chatplug_glm.IGNORED_PARAMETERS)


@pytest.mark.parametrize(
    ("model", "source", "reasoning_effort"),
    [("glm-5.5-preview", "glm-5.[3-9]*", chatplug_glm.REASONING_EFFORTS), ("glm-5-air", "glm-5*", ()),
     ("glm-4.6-long", "glm-4.6*", ()), ("glm-4.6v-plus", "glm-4.6v*", ())],
)
def test_a_new_model_of_a_known_family_gets_its_family_rules(
    model: str, source: str, reasoning_effort: tuple[str, ...]
) -> None:
    info = chatplug_glm.GLM_PROVIDER.model_info(model)
    assert (info.source, info.reasoning_effort) == (source, reasoning_effort)
    assert info.thinking == "optional"


def test_an_unknown_glm_model_is_not_a_crash() -> None:
    info = chatplug_glm.GLM_PROVIDER.model_info("glm-z")
    assert info.source == "default" and info.thinking is None and info.tools is None


# ------------------------------------------------------------------ refused before any I/O


@MODES
@pytest.mark.parametrize(
    ("param", "value"),
    [("seed", 7), ("frequency_penalty", 0.5), ("presence_penalty", 0.5), ("logprobs", True), ("top_logprobs", 2),
     ("logit_bias", {"50256": -100}), ("parallel_tool_calls", False)],
)
def test_parameters_zai_ignores_are_refused(mode: str, param: str, value: Any, registry: chatplug.PluginRegistry,
                                            server: FakeServer) -> None:
    error = refused(mode, registry, server, model="glm-4.6", **{param: value})
    assert error.param == param and f"glm-4.6 does not take {param}" in str(error)


@MODES
def test_seed_error_points_at_do_sample(mode: str, registry: chatplug.PluginRegistry, server: FakeServer) -> None:
    assert '"do_sample": False' in str(refused(mode, registry, server, model="glm-4.6", seed=1))


@MODES
def test_n_is_one_only(mode: str, registry: chatplug.PluginRegistry, server: FakeServer) -> None:
    error = refused(mode, registry, server, model="glm-4.7", n=2, temperature=0.9)
    assert error.param == "n" and "glm-4.7 fixes n at 1" in str(error)
    send(mode, registry, server, model="glm-4.7", n=1)
    assert sent(server)["n"] == 1


@MODES
def test_a_model_without_thinking_is_never_sent_thinking(mode: str, registry: chatplug.PluginRegistry,
                                                         server: FakeServer) -> None:
    switch = {"thinking": {"type": "enabled"}}
    error = refused(mode, registry, server, model="glm-4-32b-0414-128k", extra_body=switch)
    assert error.param == "thinking" and "glm-4.6" in str(error), "the error names models that do think"
    send(mode, registry, server, model="glm-4-32b-0414-128k", extra_body=switch,
         client_options={"drop_unsupported_params": True})
    assert "thinking" not in sent(server)


@MODES
def test_thinking_switch_reaches_a_thinking_model(mode: str, registry: chatplug.PluginRegistry,
                                                  server: FakeServer) -> None:
    send(mode, registry, server, model="glm-4.7", extra_body={"thinking": {"type": "disabled"}})
    assert sent(server)["thinking"] == {"type": "disabled"}


@MODES
def test_reasoning_effort_only_where_documented(mode: str, registry: chatplug.PluginRegistry,
                                                server: FakeServer) -> None:
    error = refused(mode, registry, server, model="glm-4.6", reasoning_effort="high")
    assert error.param == "reasoning_effort" and "glm-5.2" in str(error)
    error = refused(mode, registry, server, model="glm-5.2", reasoning_effort="extreme")
    assert "'minimal'" in str(error)
    send(mode, registry, server, model="glm-5.2", reasoning_effort="max")
    assert sent(server)["reasoning_effort"] == "max"


@MODES
def test_json_schema_is_refused_json_object_is_sent(mode: str, registry: chatplug.PluginRegistry,
                                                    server: FakeServer) -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}}}
    error = refused(mode, registry, server, model="glm-4.6", response_format=schema)
    assert error.param == "response_format" and "json_object" in str(error)
    send(mode, registry, server, model="glm-4.6", response_format={"type": "json_object"})
    assert sent(server)["response_format"] == {"type": "json_object"}


@MODES
def test_images_only_to_vision_models(mode: str, registry: chatplug.PluginRegistry, server: FakeServer) -> None:
    error = refused(mode, registry, server, model="glm-4.6", messages=IMAGE)
    assert error.param == "messages" and "glm-4.6v" in str(error)
    send(mode, registry, server, model="glm-4.6v", messages=IMAGE)
    assert sent(server)["messages"] == IMAGE


@MODES
def test_max_tokens_above_the_model_maximum(mode: str, registry: chatplug.PluginRegistry, server: FakeServer) -> None:
    error = refused(mode, registry, server, model="glm-4.5", max_tokens=100_000)
    assert error.param == "max_tokens" and "96000" in str(error)
    send(mode, registry, server, model="glm-4.5", max_tokens=96_000)
    assert sent(server)["max_tokens"] == 96_000


# ------------------------------------------------------------------ translated


@MODES
def test_openai_names_are_sent_as_zai_names(mode: str, registry: chatplug.PluginRegistry, server: FakeServer) -> None:
    send(mode, registry, server, model="glm-4.6", max_completion_tokens=300, user="user-42")
    body = sent(server)
    assert (body["max_tokens"], body["user_id"]) == (300, "user-42")
    assert "max_completion_tokens" not in body and "user" not in body


@MODES
def test_renamed_user_is_checked_like_user_id(mode: str, registry: chatplug.PluginRegistry,
                                              server: FakeServer) -> None:
    error = refused(mode, registry, server, model="glm-4.6", user="ab")
    assert error.param == "user_id" and "6 to 128" in str(error)


@MODES
def test_one_parameter_set_for_several_models_with_dropping(
    mode: str, registry: chatplug.PluginRegistry, server: FakeServer
) -> None:
    params: dict[str, Any] = dict(seed=11, presence_penalty=0.2, temperature=0.7, max_completion_tokens=64)
    send(mode, registry, server, model="glm-4.6", client_options={"drop_unsupported_params": True}, **params)
    assert sent(server) == {"model": "glm-4.6", "messages": MESSAGES, "temperature": 0.7, "max_tokens": 64}
