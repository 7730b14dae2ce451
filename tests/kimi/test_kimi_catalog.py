"""The Kimi model catalog, thinking models and their history, asserted on the
bytes the loopback server received (sync and async), and on nothing sent when
a request is refused.

The tool-call turns are synthetic, in Moonshot's documented shapes: a
thinking model streams ``reasoning_content`` before the call, and refuses a
history whose assistant tool-call message lacks it (HTTP 400 "thinking is
enabled but reasoning_content is missing in assistant tool call message at
index N", reported in mastra-ai/mastra#12592 and cloudwego/eino-ext#700).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import chatplug
import chatplug_kimi
import pytest
from chatplug.testing import FakeServer, Reply

from .kimi_support import API_KEY, chunk, completion

MODES = pytest.mark.parametrize("mode", ["sync", "async"])
MESSAGES: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Beijing?"}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
CALL_ID = "functions.get_weather:0"
ARGUMENTS = json.dumps({"city": "Beijing"})
REASONING = "The user wants the weather; I should call get_weather for Beijing."
TOOL_CALL = {"id": CALL_ID, "type": "function", "function": {"name": "get_weather", "arguments": ARGUMENTS}}
TOOL_REPLY = {"role": "tool", "tool_call_id": CALL_ID, "content": '{"weather": "sunny"}'}


def thinking_reply() -> dict[str, Any]:
    """A non-stream kimi-k2-thinking reply: reasoning, then a tool call."""
    body = completion({"role": "assistant", "content": "", "reasoning_content": REASONING,
                       "tool_calls": [TOOL_CALL]}, "tool_calls")
    body["model"] = "kimi-k2-thinking"
    return body


def thinking_stream() -> list[dict[str, Any]]:
    """The same turn streamed: reasoning fragments, the call, then its arguments in pieces."""
    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"reasoning_content": REASONING[i:i + 20]}) for i in range(0, len(REASONING), 20)]
    events.append(chunk({"tool_calls": [{"index": 0, "id": CALL_ID, "type": "function",
                                         "function": {"name": "get_weather", "arguments": ""}}]}))
    events += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": ARGUMENTS[i:i + 4]}}]})
               for i in range(0, len(ARGUMENTS), 4)]
    events.append(chunk({}, "tool_calls", choice_usage={"prompt_tokens": 9, "completion_tokens": 9,
                                                        "total_tokens": 18}))
    return events


def options(server: FakeServer, registry: chatplug.PluginRegistry, **extra: Any) -> dict[str, Any]:
    return {"provider": "kimi", "api_key": API_KEY, "base_url": server.base_url, "registry": registry,
            "max_retries": 0, **extra}


def send(mode: str, registry: chatplug.PluginRegistry, server: FakeServer, *,
         client_options: dict[str, Any] | None = None, **kwargs: Any) -> chatplug.ChatCompletion:
    kwargs.setdefault("messages", MESSAGES)
    server.default = Reply.json(completion({"role": "assistant", "content": "ok"}))
    settings = options(server, registry, **(client_options or {}))
    if mode == "sync":
        with chatplug.Client(**settings) as client:
            reply: chatplug.ChatCompletion = client.chat.completions.create(**kwargs)
            return reply

    async def run() -> chatplug.ChatCompletion:
        async with chatplug.AsyncClient(**settings) as aclient:
            areply: chatplug.ChatCompletion = await aclient.chat.completions.create(**kwargs)
            return areply

    return asyncio.run(run())


def refused(mode: str, registry: chatplug.PluginRegistry, server: FakeServer,
            **kwargs: Any) -> chatplug.InvalidRequestError:
    before = len(server.requests)
    with pytest.raises(chatplug.InvalidRequestError) as info:
        send(mode, registry, server, **kwargs)
    assert len(server.requests) == before, "a refused request must not reach Moonshot"
    assert info.value.provider == "kimi"
    return info.value


def sent(server: FakeServer) -> dict[str, Any]:
    body: dict[str, Any] = server.last_request.json()
    return body


# ------------------------------------------------------------------ the catalog as data


def test_catalog_facts_per_model() -> None:
    provider = chatplug_kimi.PROVIDER
    thinking = provider.model_info("kimi-k2-thinking")
    assert (thinking.thinking, thinking.reasoning_in_history, thinking.context_window) == ("always", True, 262_144)
    assert not thinking.fixed, "the parameter reference gives k2-thinking a default temperature, not a fixed one"
    k25 = provider.model_info("kimi-k2.5")
    assert (k25.thinking, k25.thinking_default, k25.images) == ("optional", True, True)
    assert k25.fixed == {"temperature": 1.0, "top_p": 0.95, "n": 1, "presence_penalty": 0, "frequency_penalty": 0}
    assert k25.fixed_without_thinking == {"temperature": 0.6}
    assert provider.model_info("kimi-k2-0905-preview").thinking == "none"
    assert provider.model_info("moonshot-v1-8k").context_window == 8_192
    assert provider.model_info("moonshot-v1-32k-vision-preview").images is True
    assert set(chatplug_kimi.MODELS) == set(chatplug_kimi.CATALOG.models)


@pytest.mark.parametrize(
    ("model", "source", "thinking"),
    [("kimi-k2.6-preview", "kimi-k2.[5-9]*", "optional"), ("kimi-k2-thinking-0120", "kimi-k2*-thinking*", "always"),
     ("kimi-k2-0101-preview", "kimi-k2*", "none"), ("moonshot-v1-256k-vision-preview", "moonshot-v1-*-vision*", "none"),
     ("kimi-next-thinking", "*-thinking*", "always")],
)
def test_a_new_model_of_a_known_family_gets_its_family_rules(model: str, source: str, thinking: str) -> None:
    info = chatplug_kimi.PROVIDER.model_info(model)
    assert (info.source, info.thinking) == (source, thinking)


# ------------------------------------------------------------------ fixed sampling


@MODES
@pytest.mark.parametrize(("param", "value"), [("temperature", 0.3), ("top_p", 0.5), ("presence_penalty", 0.4),
                                              ("frequency_penalty", 0.4)])
def test_k25_refuses_changing_its_fixed_sampling(mode: str, param: str, value: float,
                                                 registry: chatplug.PluginRegistry, server: FakeServer) -> None:
    error = refused(mode, registry, server, model="kimi-k2.5", **{param: value})
    assert error.param == param and f"kimi-k2.5 fixes {param}" in str(error)


@MODES
def test_k25_n_above_one_is_refused(mode: str, registry: chatplug.PluginRegistry, server: FakeServer) -> None:
    error = refused(mode, registry, server, model="kimi-k2.5", n=2)
    assert error.param == "n" and "fixes n at 1" in str(error)


@MODES
def test_k25_temperature_follows_thinking(mode: str, registry: chatplug.PluginRegistry, server: FakeServer) -> None:
    send(mode, registry, server, model="kimi-k2.5", temperature=1.0)
    assert sent(server)["temperature"] == 1.0
    off = {"thinking": {"type": "disabled"}}
    assert "0.6 with thinking off" in str(refused(mode, registry, server, model="kimi-k2.5", temperature=1.0,
                                                 extra_body=off))
    send(mode, registry, server, model="kimi-k2.5", temperature=0.6, extra_body=off)
    assert (sent(server)["temperature"], sent(server)["thinking"]) == (0.6, {"type": "disabled"})


@MODES
def test_k2_thinking_temperature_is_sent_as_given(mode: str, registry: chatplug.PluginRegistry,
                                                  server: FakeServer) -> None:
    send(mode, registry, server, model="kimi-k2-thinking", temperature=0.8)
    assert sent(server)["temperature"] == 0.8


@MODES
def test_thinking_cannot_be_disabled_on_k2_thinking(mode: str, registry: chatplug.PluginRegistry,
                                                    server: FakeServer) -> None:
    error = refused(mode, registry, server, model="kimi-k2-thinking", extra_body={"thinking": {"type": "disabled"}})
    assert error.param == "thinking" and "always thinks" in str(error)


@MODES
def test_parameters_moonshot_does_not_document(mode: str, registry: chatplug.PluginRegistry,
                                               server: FakeServer) -> None:
    for param, value in (("seed", 1), ("logprobs", True), ("logit_bias", {"1": 1})):
        error = refused(mode, registry, server, model="kimi-k2-0905-preview", **{param: value})
        assert error.param == param
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    assert "json_object" in str(refused(mode, registry, server, model="moonshot-v1-8k", response_format=schema))
    image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]}]
    assert "kimi-k2.5" in str(refused(mode, registry, server, model="kimi-k2-0905-preview", messages=image))


@MODES
def test_drop_option_fits_one_parameter_set_to_k25(mode: str, registry: chatplug.PluginRegistry,
                                                   server: FakeServer) -> None:
    params: dict[str, Any] = dict(temperature=0.3, top_p=0.9, seed=5, max_tokens=512)
    send(mode, registry, server, model="kimi-k2.5", client_options={"drop_unsupported_params": True}, **params)
    assert sent(server) == {"model": "kimi-k2.5", "messages": MESSAGES, "max_tokens": 512}


@MODES
def test_n_above_one_needs_temperature_still_checked(mode: str, registry: chatplug.PluginRegistry,
                                                     server: FakeServer) -> None:
    error = refused(mode, registry, server, model="kimi-k2-0905-preview", n=2, temperature=0)
    assert error.param == "n" and "temperature > 0" in str(error)


# ------------------------------------------------------------------ the history of a thinking model


@MODES
@pytest.mark.parametrize("model", ["kimi-k2-thinking", "kimi-k2.5"])
def test_tool_turn_without_reasoning_fails_before_io(mode: str, model: str, registry: chatplug.PluginRegistry,
                                                     server: FakeServer) -> None:
    history = [*MESSAGES, {"role": "assistant", "content": "", "tool_calls": [TOOL_CALL]}, TOOL_REPLY]
    error = refused(mode, registry, server, model=model, messages=history, tools=TOOLS)
    assert error.param == "messages" and "messages[1]" in str(error)
    assert "reasoning_content" in str(error) and "reasoning_placeholder" in str(error)


@MODES
def test_tool_turn_without_reasoning_passes_with_thinking_off_or_a_non_thinking_model(
    mode: str, registry: chatplug.PluginRegistry, server: FakeServer
) -> None:
    history = [*MESSAGES, {"role": "assistant", "content": "", "tool_calls": [TOOL_CALL]}, TOOL_REPLY]
    send(mode, registry, server, model="kimi-k2.5", messages=history, extra_body={"thinking": {"type": "disabled"}},
         temperature=0.6)
    assert "reasoning_content" not in sent(server)["messages"][1]
    send(mode, registry, server, model="kimi-k2-0905-preview", messages=history)
    assert sent(server)["messages"] == history


@MODES
def test_placeholder_only_as_an_explicit_opt_in(mode: str, registry: chatplug.PluginRegistry,
                                                server: FakeServer) -> None:
    history = [*MESSAGES, {"role": "assistant", "content": "", "tool_calls": [TOOL_CALL]}, TOOL_REPLY]
    send(mode, registry, server, model="kimi-k2-thinking", messages=history,
         client_options={"reasoning_placeholder": "."})
    assert sent(server)["messages"][1]["reasoning_content"] == "."


def _assert_second_request_keeps_reasoning(server: FakeServer) -> None:
    body = sent(server)
    assistant = body["messages"][1]
    assert assistant["reasoning_content"] == REASONING
    assert assistant["tool_calls"] == [TOOL_CALL], "the tool call goes back byte for byte"
    assert body["messages"][2] == TOOL_REPLY


@pytest.mark.parametrize("form", ["typed", "to_dict"])
def test_reasoning_survives_a_non_stream_reply_sync(form: str, registry: chatplug.PluginRegistry,
                                                    server: FakeServer) -> None:
    server.add(Reply.json(thinking_reply()), Reply.json(completion({"role": "assistant", "content": "Sunny."})))
    with chatplug.Client(**options(server, registry)) as client:
        first = client.chat.completions.create(model="kimi-k2-thinking", messages=MESSAGES, tools=TOOLS)
        message = first.choices[0].message
        assert message.reasoning_content == REASONING
        back: Any = message if form == "typed" else message.to_dict()
        client.chat.completions.create(model="kimi-k2-thinking", messages=[*MESSAGES, back, TOOL_REPLY], tools=TOOLS)
    _assert_second_request_keeps_reasoning(server)


@pytest.mark.parametrize("form", ["typed", "to_dict"])
def test_reasoning_survives_a_non_stream_reply_async(form: str, registry: chatplug.PluginRegistry,
                                                     server: FakeServer) -> None:
    server.add(Reply.json(thinking_reply()), Reply.json(completion({"role": "assistant", "content": "Sunny."})))

    async def run() -> None:
        async with chatplug.AsyncClient(**options(server, registry)) as client:
            first = await client.chat.completions.create(model="kimi-k2-thinking", messages=MESSAGES, tools=TOOLS)
            message = first.choices[0].message
            back: Any = message if form == "typed" else message.to_dict()
            await client.chat.completions.create(model="kimi-k2-thinking", messages=[*MESSAGES, back, TOOL_REPLY],
                                                 tools=TOOLS)

    asyncio.run(run())
    _assert_second_request_keeps_reasoning(server)


@pytest.mark.parametrize("form", ["typed", "to_dict"])
def test_reasoning_survives_a_streamed_reply_sync(form: str, registry: chatplug.PluginRegistry,
                                                  server: FakeServer) -> None:
    server.add(Reply.sse(thinking_stream()), Reply.json(completion({"role": "assistant", "content": "Sunny."})))
    with chatplug.Client(**options(server, registry)) as client:
        with client.chat.completions.create(model="kimi-k2-thinking", messages=MESSAGES, tools=TOOLS,
                                            stream=True) as stream:
            for _ in stream:
                pass
            message = stream.get_final_completion().choices[0].message
        assert message.reasoning_content == REASONING
        back: Any = message if form == "typed" else message.to_dict()
        client.chat.completions.create(model="kimi-k2-thinking", messages=[*MESSAGES, back, TOOL_REPLY], tools=TOOLS)
    _assert_second_request_keeps_reasoning(server)


@pytest.mark.parametrize("form", ["typed", "to_dict"])
def test_reasoning_survives_a_streamed_reply_async(form: str, registry: chatplug.PluginRegistry,
                                                   server: FakeServer) -> None:
    server.add(Reply.sse(thinking_stream()), Reply.json(completion({"role": "assistant", "content": "Sunny."})))

    async def run() -> None:
        async with chatplug.AsyncClient(**options(server, registry)) as client:
            stream = await client.chat.completions.create(model="kimi-k2-thinking", messages=MESSAGES, tools=TOOLS,
                                                          stream=True)
            async with stream:
                async for _ in stream:
                    pass
                message = (await stream.get_final_completion()).choices[0].message
            back: Any = message if form == "typed" else message.to_dict()
            await client.chat.completions.create(model="kimi-k2-thinking", messages=[*MESSAGES, back, TOOL_REPLY],
                                                 tools=TOOLS)

    asyncio.run(run())
    _assert_second_request_keeps_reasoning(server)


def test_reasoning_survives_a_hand_written_typed_message(registry: chatplug.PluginRegistry,
                                                         server: FakeServer) -> None:
    typed = chatplug.AssistantMessage(
        content="",
        reasoning_content=REASONING,
        tool_calls=[chatplug.ChatCompletionMessageToolCall(
            id=CALL_ID, function=chatplug.Function(name="get_weather", arguments=ARGUMENTS))],
    )
    assert typed.to_dict()["reasoning_content"] == REASONING
    assert chatplug.from_dict(typed.to_dict(), chatplug.AssistantMessage) == typed
    send("sync", registry, server, model="kimi-k2-thinking", messages=[*MESSAGES, typed, TOOL_REPLY], tools=TOOLS)
    _assert_second_request_keeps_reasoning(server)
