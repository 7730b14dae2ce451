"""The model catalog and the request policy it drives, end to end over the loopback server.

Every refusal is checked to leave the server untouched; every translation and
drop is checked on the bytes the server received, with the sync and the async
client alike.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

import attrs
import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from core_support import API_KEY, MESSAGES, ProviderPlugin, completion_body

BASE = chatplug.ModelInfo(
    context_window=32_000,
    max_output=4_000,
    thinking="none",
    tools=True,
    images=False,
    json_mode=True,
    json_schema=False,
    reasoning_effort=(),
    unsupported={"seed": "use a fixed prompt instead"},
    renames={"max_completion_tokens": "max_tokens"},
)
CATALOG = chatplug.ModelCatalog(
    models={
        "cat-plain": BASE,
        "cat-notools": BASE.replace(tools=False),
        "cat-vision": BASE.replace(images=True),
        "cat-fixed": BASE.replace(
            thinking="optional", thinking_default=True, fixed={"temperature": 1.0, "top_p": 0.95},
            fixed_without_thinking={"temperature": 0.6}, reasoning_in_history=True,
        ),
        "cat-thinker": BASE.replace(thinking="always", reasoning_in_history=True, reasoning_effort=("low", "high")),
        "cat-wide": BASE.replace(ranges={"temperature": (0, 2)}),
    },
    families=[("cat-think-*", BASE.replace(thinking="always")), ("cat-*", BASE.replace(context_window=8_000))],
)
CAT_PROVIDER = chatplug.Provider(
    id="catprov",
    base_url="http://127.0.0.1:9/v1",
    name="Catalog provider",
    api_key_env=("CATPROV_KEY",),
    model_prefixes=("cat-",),
    limits=chatplug.Limits(temperature=(0, 1)),
    catalog=CATALOG,
)
TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
TOOL_TURN: list[dict[str, Any]] = [
    {"role": "user", "content": "weather?"},
    {"role": "assistant", "content": None,
     "tool_calls": [{"id": "functions.f:0", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
    {"role": "tool", "tool_call_id": "functions.f:0", "content": "sunny"},
]


class AdjustRecorder:
    """An observer keeping every chatplug_on_adjust call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, tuple[chatplug.Adjustment, ...]]] = []

    @chatplug.hookimpl
    def chatplug_on_adjust(
        self, provider: chatplug.Provider, model: str, adjustments: Sequence[chatplug.Adjustment]
    ) -> None:
        self.calls.append((provider.id, model, tuple(adjustments)))


@pytest.fixture
def cat_registry() -> chatplug.PluginRegistry:
    reg = chatplug.PluginRegistry(load_entrypoints=False)
    reg.register(ProviderPlugin(CAT_PROVIDER), "catalog-provider")
    return reg


@pytest.fixture
def recorder(cat_registry: chatplug.PluginRegistry) -> AdjustRecorder:
    observer = AdjustRecorder()
    cat_registry.register(observer, "adjust-recorder")
    return observer


def call(mode: str, registry: chatplug.PluginRegistry, server: FakeServer, *,
         client_options: dict[str, Any] | None = None, **kwargs: Any) -> chatplug.ChatCompletion:
    """One non-stream call with the sync or the async client; the reply is queued only if the request gets through."""
    kwargs.setdefault("messages", MESSAGES)
    options: dict[str, Any] = dict(
        provider="catprov", api_key=API_KEY, base_url=server.base_url, registry=registry, max_retries=0
    )
    options.update(client_options or {})
    server.default = Reply.json(completion_body())
    if mode == "sync":
        with chatplug.Client(**options) as client:
            reply: chatplug.ChatCompletion = client.chat.completions.create(**kwargs)
            return reply

    async def run() -> chatplug.ChatCompletion:
        async with chatplug.AsyncClient(**options) as aclient:
            areply: chatplug.ChatCompletion = await aclient.chat.completions.create(**kwargs)
            return areply

    return asyncio.run(run())


MODES = pytest.mark.parametrize("mode", ["sync", "async"])


def refused(mode: str, registry: chatplug.PluginRegistry, server: FakeServer,
            **kwargs: Any) -> chatplug.InvalidRequestError:
    """The InvalidRequestError a call raises; nothing reached the server."""
    before = len(server.requests)
    with pytest.raises(chatplug.InvalidRequestError) as info:
        call(mode, registry, server, **kwargs)
    assert len(server.requests) == before, "a refused request must not reach the server"
    return info.value


# ------------------------------------------------------------------ the catalog


def test_lookup_exact_family_and_default() -> None:
    exact = CAT_PROVIDER.model_info("cat-notools")
    assert (exact.model, exact.source, exact.tools) == ("cat-notools", "cat-notools", False)
    family = CAT_PROVIDER.model_info("cat-think-9")
    assert (family.source, family.thinking, family.context_window) == ("cat-think-*", "always", 32_000)
    later = CAT_PROVIDER.model_info("cat-new")
    assert (later.source, later.context_window) == ("cat-*", 8_000)
    assert CAT_PROVIDER.model_info("catprov/cat-plain").model == "cat-plain"


def test_unknown_model_and_provider_without_catalog_get_the_undeclared_default() -> None:
    info = CAT_PROVIDER.model_info("other-model")
    assert info.source == "default" and info.model == "other-model"
    bare = chatplug.Provider(id="bare", base_url="https://bare.example/v1").model_info("x")
    assert bare.thinking is None and bare.tools is None and bare.context_window is None
    assert bare.thinks_by_default is None and not bare.unsupported
    assert not chatplug.ModelCatalog()


def test_model_info_is_typed_and_validated() -> None:
    with pytest.raises(ValueError, match="thinking"):
        chatplug.ModelInfo(thinking="sometimes")  # type: ignore[arg-type]
    wide = CAT_PROVIDER.model_info("cat-wide")
    assert isinstance(wide.ranges["temperature"], chatplug.Range)
    summary = CAT_PROVIDER.model_info("cat-fixed").summary()
    assert summary["fixed"] == {"temperature": 1.0, "top_p": 0.95}
    assert summary["thinking"] == "optional" and "notes" not in summary
    json.dumps(summary)
    assert CAT_PROVIDER.model_info("cat-thinker").thinks_by_default is True
    assert CAT_PROVIDER.model_info("cat-plain").thinks_by_default is False


# ------------------------------------------------------------------ refusals


@MODES
def test_fixed_parameter_is_refused_naming_model_parameter_and_value(
    mode: str, cat_registry: chatplug.PluginRegistry, server: FakeServer
) -> None:
    error = refused(mode, cat_registry, server, model="cat-fixed", temperature=0.3)
    assert error.param == "temperature" and error.provider == "catprov"
    text = str(error)
    assert "cat-fixed" in text and "temperature at 1.0" in text and "0.3" in text
    assert "drop_unsupported_params=True" in text


@MODES
def test_fixed_value_itself_is_sent_unchanged(mode: str, cat_registry: chatplug.PluginRegistry,
                                              server: FakeServer) -> None:
    call(mode, cat_registry, server, model="cat-fixed", temperature=1.0, top_p=0.95)
    body = server.last_request.json()
    assert (body["temperature"], body["top_p"]) == (1.0, 0.95)


@MODES
def test_fixed_value_follows_the_thinking_switch(mode: str, cat_registry: chatplug.PluginRegistry,
                                                 server: FakeServer) -> None:
    off = {"thinking": {"type": "disabled"}}
    error = refused(mode, cat_registry, server, model="cat-fixed", temperature=1.0, extra_body=off)
    assert "0.6 with thinking off" in str(error)
    call(mode, cat_registry, server, model="cat-fixed", temperature=0.6, extra_body=off)
    assert server.last_request.json()["temperature"] == 0.6


@MODES
def test_unsupported_parameter_is_refused_with_its_hint(mode: str, cat_registry: chatplug.PluginRegistry,
                                                        server: FakeServer) -> None:
    error = refused(mode, cat_registry, server, model="cat-plain", seed=7)
    assert error.param == "seed" and "cat-plain does not take seed" in str(error)
    assert "use a fixed prompt instead" in str(error)


@MODES
def test_tools_on_a_model_without_tools(mode: str, cat_registry: chatplug.PluginRegistry, server: FakeServer) -> None:
    error = refused(mode, cat_registry, server, model="cat-notools", tools=TOOLS, tool_choice="auto")
    assert error.param == "tools" and "cat-notools does not take tools" in str(error)
    assert "cat-plain" in str(error), "the error names the models that do take tools"


@MODES
def test_json_schema_where_only_json_object_works(mode: str, cat_registry: chatplug.PluginRegistry,
                                                  server: FakeServer) -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    error = refused(mode, cat_registry, server, model="cat-plain", response_format=schema)
    assert error.param == "response_format" and '{"type": "json_object"}' in str(error)
    call(mode, cat_registry, server, model="cat-plain", response_format={"type": "json_object"})
    assert server.last_request.json()["response_format"] == {"type": "json_object"}


@MODES
def test_images_on_a_text_model_are_refused_even_when_dropping(
    mode: str, cat_registry: chatplug.PluginRegistry, server: FakeServer
) -> None:
    image = [{"role": "user", "content": [{"type": "text", "text": "what is it?"},
                                          {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]}]
    error = refused(mode, cat_registry, server, model="cat-plain", messages=image,
                    client_options={"drop_unsupported_params": True})
    assert error.param == "messages" and "messages[0].content[1]" in str(error) and "cat-vision" in str(error)
    call(mode, cat_registry, server, model="cat-vision", messages=image)
    assert server.last_request.json()["messages"] == image


@MODES
def test_thinking_switch_rules(mode: str, cat_registry: chatplug.PluginRegistry, server: FakeServer) -> None:
    error = refused(mode, cat_registry, server, model="cat-plain", extra_body={"thinking": {"type": "enabled"}})
    assert error.param == "thinking" and "cat-plain does not think" in str(error)
    error = refused(mode, cat_registry, server, model="cat-thinker", extra_body={"thinking": {"type": "disabled"}})
    assert error.param == "thinking" and "always thinks" in str(error)


@MODES
def test_reasoning_effort(mode: str, cat_registry: chatplug.PluginRegistry, server: FakeServer) -> None:
    error = refused(mode, cat_registry, server, model="cat-plain", reasoning_effort="high")
    assert error.param == "reasoning_effort" and "cat-thinker" in str(error)
    error = refused(mode, cat_registry, server, model="cat-thinker", reasoning_effort="max",
                    messages=MESSAGES)
    assert "'low', 'high'" in str(error)
    call(mode, cat_registry, server, model="cat-thinker", reasoning_effort="low")
    assert server.last_request.json()["reasoning_effort"] == "low"


@MODES
def test_max_tokens_above_the_model_output(mode: str, cat_registry: chatplug.PluginRegistry,
                                           server: FakeServer) -> None:
    error = refused(mode, cat_registry, server, model="cat-plain", max_tokens=4_001)
    assert error.param == "max_tokens" and "maximum output of 4000" in str(error)


@MODES
def test_model_range_replaces_the_provider_limit(mode: str, cat_registry: chatplug.PluginRegistry,
                                                 server: FakeServer) -> None:
    call(mode, cat_registry, server, model="cat-wide", temperature=1.5)
    assert server.last_request.json()["temperature"] == 1.5
    error = refused(mode, cat_registry, server, model="cat-wide", temperature=2.5)
    assert "0 <= temperature <= 2" in str(error)
    with pytest.raises(chatplug.InvalidRequestError, match="0 <= temperature <= 1"):
        call(mode, cat_registry, server, model="cat-plain", temperature=1.5)


@MODES
def test_model_outside_the_catalog_is_sent_as_given(mode: str, cat_registry: chatplug.PluginRegistry,
                                                    server: FakeServer) -> None:
    bare = chatplug.Provider(id="bare", base_url="http://127.0.0.1:9/v1", model_prefixes=("bare-",))
    cat_registry.register(ProviderPlugin(bare), "bare")
    kwargs: dict[str, Any] = dict(seed=3, max_completion_tokens=9, extra_body={"thinking": {"type": "enabled"}})
    call(mode, cat_registry, server, model="bare-1", client_options={"provider": "bare"}, **kwargs)
    body = server.last_request.json()
    assert (body["seed"], body["max_completion_tokens"], body["thinking"]) == (3, 9, {"type": "enabled"})


# ------------------------------------------------------------------ translation and dropping


@MODES
def test_max_completion_tokens_is_renamed_and_reported(
    mode: str, cat_registry: chatplug.PluginRegistry, recorder: AdjustRecorder, server: FakeServer
) -> None:
    call(mode, cat_registry, server, model="cat-plain", max_completion_tokens=99)
    body = server.last_request.json()
    assert body["max_tokens"] == 99 and "max_completion_tokens" not in body
    [(provider, model, adjustments)] = recorder.calls
    assert (provider, model) == ("catprov", "cat-plain")
    assert [(a.action, a.param, a.to, a.value) for a in adjustments] == [
        ("renamed", "max_completion_tokens", "max_tokens", 99)
    ]


@MODES
def test_both_names_of_a_renamed_parameter_are_refused(mode: str, cat_registry: chatplug.PluginRegistry,
                                                       server: FakeServer) -> None:
    error = refused(mode, cat_registry, server, model="cat-plain", max_tokens=5, max_completion_tokens=6)
    assert error.param == "max_completion_tokens" and "not both" in str(error)


@MODES
def test_drop_option_drops_logs_and_reports_each_parameter(
    mode: str, cat_registry: chatplug.PluginRegistry, recorder: AdjustRecorder, server: FakeServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="chatplug")
    call(mode, cat_registry, server, model="cat-notools", seed=1, tools=TOOLS, tool_choice="auto", temperature=0.5,
         client_options={"drop_unsupported_params": True})
    body = server.last_request.json()
    assert body == {"model": "cat-notools", "messages": MESSAGES, "temperature": 0.5}
    [(_, _, adjustments)] = recorder.calls
    assert [(a.action, a.param) for a in adjustments] == [
        ("dropped", "seed"), ("dropped", "tools"), ("dropped", "tool_choice")
    ]
    assert adjustments[0].value == 1 and "cat-notools does not take seed" in adjustments[0].reason
    records = [r for r in caplog.records if r.name == "chatplug" and "dropped" in r.getMessage()]
    assert len(records) == 3 and {r.levelno for r in records} == {logging.WARNING}
    assert "dropped seed=1" in records[0].getMessage()


@MODES
def test_drop_option_per_call_overrides_the_client(mode: str, cat_registry: chatplug.PluginRegistry,
                                                   server: FakeServer) -> None:
    call(mode, cat_registry, server, model="cat-fixed", temperature=0.2, drop_unsupported_params=True)
    assert "temperature" not in server.last_request.json()
    server.reset()
    refused(mode, cat_registry, server, model="cat-fixed", temperature=0.2, drop_unsupported_params=False,
            client_options={"drop_unsupported_params": True})


@MODES
def test_nothing_is_reported_when_nothing_changed(
    mode: str, cat_registry: chatplug.PluginRegistry, recorder: AdjustRecorder, server: FakeServer
) -> None:
    call(mode, cat_registry, server, model="cat-plain", temperature=0.5, max_tokens=10)
    assert recorder.calls == []


def test_nothing_is_reported_for_a_call_that_fails_a_later_check(
    cat_registry: chatplug.PluginRegistry, recorder: AdjustRecorder, server: FakeServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CATPROV_KEY", raising=False)
    with chatplug.Client(provider="catprov", base_url=server.base_url, registry=cat_registry) as client, \
            pytest.raises(chatplug.MissingAPIKeyError):
        client.chat.completions.create(model="cat-plain", messages=MESSAGES, max_completion_tokens=3)
    assert recorder.calls == [] and server.requests == []


def test_a_failing_adjust_observer_does_not_break_the_call(
    cat_registry: chatplug.PluginRegistry, server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        @chatplug.hookimpl
        def chatplug_on_adjust(self) -> None:
            raise RuntimeError("observer bug")

    cat_registry.register(Broken(), "broken")
    reply = call("sync", cat_registry, server, model="cat-plain", max_completion_tokens=3)
    assert reply.choices[0].message.content == "hello"
    assert server.last_request.json()["max_tokens"] == 3
    assert any("observer" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------ thinking and the history


@MODES
def test_tool_turn_without_reasoning_is_refused_naming_the_index(
    mode: str, cat_registry: chatplug.PluginRegistry, server: FakeServer
) -> None:
    error = refused(mode, cat_registry, server, model="cat-thinker", messages=TOOL_TURN)
    text = str(error)
    assert error.param == "messages" and "messages[1]" in text and "reasoning_content" in text
    assert "reasoning_placeholder" in text
    assert "turn thinking off" not in text, "cat-thinker cannot turn thinking off, so the hint does not offer it"
    assert "turn thinking off" in str(refused(mode, cat_registry, server, model="cat-fixed", messages=TOOL_TURN))


@MODES
def test_tool_turn_with_reasoning_or_thinking_off_is_sent(mode: str, cat_registry: chatplug.PluginRegistry,
                                                         server: FakeServer) -> None:
    kept = [dict(m) for m in TOOL_TURN]
    kept[1]["reasoning_content"] = "I should call f."
    call(mode, cat_registry, server, model="cat-thinker", messages=kept)
    assert server.last_request.json()["messages"] == kept
    call(mode, cat_registry, server, model="cat-fixed", messages=TOOL_TURN,
         extra_body={"thinking": {"type": "disabled"}})
    assert "reasoning_content" not in server.last_request.json()["messages"][1]


@MODES
def test_placeholder_is_filled_only_when_asked(
    mode: str, cat_registry: chatplug.PluginRegistry, recorder: AdjustRecorder, server: FakeServer
) -> None:
    call(mode, cat_registry, server, model="cat-thinker", messages=TOOL_TURN,
         client_options={"reasoning_placeholder": "(reasoning not kept)"})
    sent = server.last_request.json()["messages"]
    assert sent[1]["reasoning_content"] == "(reasoning not kept)"
    assert "reasoning_content" not in TOOL_TURN[1], "the caller's message is not changed"
    [(_, _, adjustments)] = recorder.calls
    assert [(a.action, a.param) for a in adjustments] == [("filled", "messages[1].reasoning_content")]


def test_an_empty_placeholder_is_refused(cat_registry: chatplug.PluginRegistry, server: FakeServer) -> None:
    error = refused("sync", cat_registry, server, model="cat-thinker", messages=TOOL_TURN,
                    client_options={"reasoning_placeholder": ""})
    assert error.param == "reasoning_placeholder" and "non-empty" in str(error)


# ------------------------------------------------------------------ @chatplug.owned


OWNED = chatplug.Provider(id="owner", base_url="http://127.0.0.1:9/v1", model_prefixes=("own-",))


class OwnedHooks:
    """A plugin written with @owned: no guard in the bodies."""

    @chatplug.hookimpl
    def chatplug_providers(self) -> list[chatplug.Provider]:
        return [OWNED]

    @chatplug.owned(OWNED)
    def chatplug_prepare_payload(self, provider: chatplug.Provider, payload: dict[str, Any]) -> None:
        payload["owner_flag"] = True

    @chatplug.owned("owner", tryfirst=True)
    def chatplug_map_error(self, provider: chatplug.Provider, status_code: int | None) -> chatplug.APIStatusError:
        return chatplug.QuotaExceededError("owner out of balance", status_code=status_code, code="owner-quota")


@chatplug.owned(OWNED)
def chatplug_response_normalizer(provider: chatplug.Provider, stream: bool) -> chatplug.ResponseNormalizer:
    return chatplug.ResponseNormalizer()


def test_owned_acts_only_for_its_provider(cat_registry: chatplug.PluginRegistry, server: FakeServer) -> None:
    cat_registry.register(OwnedHooks(), "owned-hooks")
    call("sync", cat_registry, server, model="own-1", client_options={"provider": "owner"})
    assert server.last_request.json()["owner_flag"] is True
    server.reset()
    call("sync", cat_registry, server, model="cat-plain")
    assert "owner_flag" not in server.last_request.json()
    server.reset()
    server.add(Reply.error(429, {"error": {"message": "slow down"}}))
    with pytest.raises(chatplug.RateLimitError):
        call("sync", cat_registry, server, model="cat-plain")
    server.add(Reply.error(429, {"error": {"message": "slow down"}}))
    with pytest.raises(chatplug.QuotaExceededError, match="owner out of balance"):
        call("sync", cat_registry, server, model="own-1", client_options={"provider": "owner"})


def test_owned_function_returns_none_for_others_and_keeps_its_signature() -> None:
    import inspect

    assert chatplug_response_normalizer(provider=CAT_PROVIDER, stream=False) is None
    assert isinstance(chatplug_response_normalizer(OWNED, True), chatplug.ResponseNormalizer)
    assert list(inspect.signature(chatplug_response_normalizer).parameters) == ["provider", "stream"]
    assert hasattr(chatplug_response_normalizer, "chatplug_impl"), "owned marks a hook implementation"
    assert OwnedHooks.chatplug_map_error.chatplug_impl["tryfirst"] is True  # type: ignore[attr-defined]


def test_owned_needs_a_provider_argument() -> None:
    with pytest.raises(TypeError, match="must take a `provider` argument"):
        @chatplug.owned("x")
        def chatplug_map_error(status_code: int) -> None:
            return None
    with pytest.raises(TypeError, match="Provider or a provider id"):
        chatplug.owned("")


def test_a_catalog_refusal_falls_over_to_a_model_that_takes_the_request(
    server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    """tools on cat-notools is the model's own rule: with fallbacks the call goes on to cat-plain."""
    registry.register(ProviderPlugin(attrs.evolve(CAT_PROVIDER, base_url=server.base_url)), "catprov")
    server.add(Reply.json(completion_body("from plain")))
    with chatplug.Client(provider="catprov", api_key=API_KEY, registry=registry) as client:
        with pytest.raises(chatplug.ModelRuleError) as refused:
            client.chat.completions.create(model="cat-notools", messages=MESSAGES, tools=TOOLS)
        assert refused.value.param == "tools"
        assert server.requests == []
        reply = client.chat.completions.create(
            model="cat-notools", messages=MESSAGES, tools=TOOLS, fallbacks=["cat-plain"]
        )
    assert reply.choices[0].message.content == "from plain"
    assert [request.json()["model"] for request in server.requests] == ["cat-plain"]


def test_a_callers_mistake_never_falls_over(server: FakeServer, registry: chatplug.PluginRegistry) -> None:
    """Sending both names of one parameter is the caller's error, not the model's: no fallback is tried."""
    registry.register(ProviderPlugin(attrs.evolve(CAT_PROVIDER, base_url=server.base_url)), "catprov")
    with chatplug.Client(provider="catprov", api_key=API_KEY, registry=registry) as client, pytest.raises(
        chatplug.InvalidRequestError
    ) as refused:
        client.chat.completions.create(
            model="cat-plain", messages=MESSAGES, max_tokens=5, max_completion_tokens=5, fallbacks=["cat-wide"]
        )
    assert not isinstance(refused.value, chatplug.ModelRuleError)
    assert server.requests == []
