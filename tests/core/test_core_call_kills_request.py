"""Every refusal of a request's messages and parameters, with its exact text,
parameter and provider, and the values just inside each bound going out as the
exact bytes the server receives. Written to kill mutants of ``_request`` that
``tox -e mutation`` left alive (see docs/mutation.md)."""

from __future__ import annotations

import json
from typing import Any

import attrs
import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from core_support import API_KEY, MESSAGES, TEST_PROVIDER, ProviderPlugin, completion_body

USER = {"role": "user", "content": "Hi"}
A_DICT = 'expected a dict like {"role": "user", "content": "Hi"} or a chatplug message object'
ROLES = "expected one of system, developer, user, assistant, tool, function"
NOT_A_LIST = "messages must be a list of message dicts or objects"
RANGE = "is out of range; testprov accepts"

REFUSALS: list[tuple[dict[str, Any], str, str]] = [
    # the messages
    ({"messages": [42]}, "messages", f"messages[0] is of type int; {A_DICT}"),
    ({"messages": [USER, "hi"]}, "messages", f"messages[1] is of type str; {A_DICT}"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "messages", f"messages[0].role is 'robot'; {ROLES}"),
    ({"messages": [USER, {"content": "x"}]}, "messages", f"messages[1].role is None; {ROLES}"),
    ({"messages": [USER, {"role": "user"}]}, "messages",
     "messages[1] (user) has no content; expected a string or a list of parts"),
    ({"messages": [{"role": "system", "content": None}]}, "messages",
     "messages[0] (system) has no content; expected a string or a list of parts"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages",
     "messages[0].content is of type int; expected a string or a list of content parts"),
    ({"messages": [USER, {"role": "tool", "content": "x"}]}, "messages",
     "messages[1] (tool) needs tool_call_id: the id of the call it answers"),
    ({"messages": [{"role": "tool", "content": "x", "tool_call_id": 5}]}, "messages",
     "messages[0] (tool) needs tool_call_id: the id of the call it answers"),
    ({"messages": [USER, {"role": "assistant", "content": None, "tool_calls": "x"}]}, "messages",
     "messages[1].tool_calls must be a list"),
    ({"messages": "hi"}, "messages", NOT_A_LIST),
    ({"messages": b"hi"}, "messages", NOT_A_LIST),
    ({"messages": USER}, "messages", NOT_A_LIST),
    ({"messages": 5}, "messages", NOT_A_LIST),
    ({"messages": []}, "messages", "messages is empty; send at least one message"),
    ({"messages": iter([])}, "messages", "messages is empty; send at least one message"),
    # the types of the named parameters (and of the same names sent in extra_body)
    ({"extra_body": ["x"]}, "extra_body", "extra_body must be a dict of extra JSON fields"),
    ({"temperature": "hot"}, "temperature", "temperature='hot' must be a number"),
    ({"top_p": True}, "top_p", "top_p=True must be a number"),
    ({"frequency_penalty": [1]}, "frequency_penalty", "frequency_penalty=[1] must be a number"),
    ({"presence_penalty": "0"}, "presence_penalty", "presence_penalty='0' must be a number"),
    ({"extra_body": {"temperature": "x"}}, "temperature", "temperature='x' must be a number"),
    ({"max_tokens": 0}, "max_tokens", "max_tokens=0 must be a positive integer"),
    ({"max_tokens": 1.5}, "max_tokens", "max_tokens=1.5 must be a positive integer"),
    ({"max_tokens": "5"}, "max_tokens", "max_tokens='5' must be a positive integer"),
    ({"max_completion_tokens": True}, "max_completion_tokens", "max_completion_tokens=True must be a positive integer"),
    ({"max_completion_tokens": 0}, "max_completion_tokens", "max_completion_tokens=0 must be a positive integer"),
    ({"n": 0}, "n", "n=0 must be a positive integer"),
    ({"top_logprobs": -1}, "top_logprobs", "top_logprobs=-1 must be an integer of 0 or more"),
    ({"top_logprobs": 1.0}, "top_logprobs", "top_logprobs=1.0 must be an integer of 0 or more"),
    ({"seed": 1.5}, "seed", "seed=1.5 must be an integer"),
    ({"seed": True}, "seed", "seed=True must be an integer"),
    ({"stop": 5}, "stop", "stop=5 must be a string or a list of strings"),
    ({"stop": ["a", 1]}, "stop", "stop=['a', 1] must be a string or a list of strings"),
    ({"extra_body": {"stop": ("a", "b")}}, "stop", "stop=('a', 'b') must be a string or a list of strings"),
    ({"reasoning_effort": 5}, "reasoning_effort", "reasoning_effort=5 must be a string such as 'high'"),
    ({"tool_choice": 5}, "tool_choice", "tool_choice=5 must be a string or an object"),
    ({"tools": "x"}, "tools", "tools must be a list of tool objects"),
    ({"tools": [5]}, "tools", 'tools[0] must be an object with a "type"'),
    ({"tools": [{"x": 1}]}, "tools", 'tools[0] must be an object with a "type"'),
    ({"tools": [{"type": 1}]}, "tools", 'tools[0] must be an object with a "type"'),
    ({"tools": [{"type": "function"}]}, "tools", 'tools[0] (function) needs "function": {"name": ...}'),
    ({"tools": [{"type": "function", "function": "f"}]}, "tools",
     'tools[0] (function) needs "function": {"name": ...}'),
    ({"tools": [{"type": "web"}, {"type": "function", "function": {"name": 5}}]}, "tools",
     'tools[1] (function) needs "function": {"name": ...}'),
    ({"response_format": "json"}, "response_format", 'response_format must be an object like {"type": "json_object"}'),
    ({"response_format": {"type": 5}}, "response_format",
     'response_format must be an object like {"type": "json_object"}'),
    ({"response_format": {}}, "response_format", 'response_format must be an object like {"type": "json_object"}'),
    # the provider's declared limits
    ({"temperature": 1.5}, "temperature", f"temperature=1.5 {RANGE} 0 <= temperature <= 1"),
    ({"temperature": -0.1}, "temperature", f"temperature=-0.1 {RANGE} 0 <= temperature <= 1"),
    ({"top_p": 0}, "top_p", f"top_p=0 {RANGE} 0.01 <= top_p <= 1"),
    ({"top_p": 1.01}, "top_p", f"top_p=1.01 {RANGE} 0.01 <= top_p <= 1"),
    ({"stop": ["a", "b", "c"]}, "stop", "stop has 3 entries; testprov accepts at most 2"),
    ({"n": 4}, "n", f"n=4 {RANGE} 1 <= n <= 3"),
    ({"tool_choice": "required"}, "tool_choice",
     "tool_choice='required' is not supported; testprov accepts 'auto', 'none'"),
    ({"tool_choice": {"type": "function", "function": {"name": "f"}}}, "tool_choice",
     "tool_choice={'type': 'function', 'function': {'name': 'f'}} is not supported; testprov accepts 'auto', 'none'"),
    # what JSON cannot carry, found in no single field
    ({"extra_body": {(1, 2): "x"}}, "extra_body",
     "extra_body cannot be sent as JSON (keys must be str, int, float, bool or None, not tuple)"),
]


@pytest.mark.parametrize(("call", "param", "message"), REFUSALS, ids=[f"{i:02d}-{p}" for i, (_, p, _) in
                                                                      enumerate(REFUSALS)])
def test_each_refusal_names_the_parameter_and_what_would_be_right(
    client: chatplug.Client, server: FakeServer, call: dict[str, Any], param: str, message: str
) -> None:
    call = {"messages": MESSAGES, **call}
    with pytest.raises(chatplug.InvalidRequestError) as caught:
        client.chat.completions.create(model="t-1", **call)
    error = caught.value
    assert type(error) is chatplug.InvalidRequestError
    assert str(error) == f"testprov: {message}"
    assert (error.param, error.provider) == (param, "testprov")
    assert server.requests == []


def sent(client: chatplug.Client, server: FakeServer, **call: Any) -> bytes:
    """The body bytes the server received for one call."""
    server.add(Reply.json(completion_body()))
    client.chat.completions.create(model="t-1", **{"messages": MESSAGES, **call})
    return server.last_request.body


def test_the_values_at_each_bound_are_sent_as_given(client: chatplug.Client, server: FakeServer) -> None:
    body = sent(client, server, temperature=0, top_p=1, max_tokens=1, n=3, top_logprobs=0, seed=0,
                stop=["a", "b"], frequency_penalty=-2.0, presence_penalty=2, reasoning_effort="low",
                tool_choice="none", response_format={"type": "json_object"})
    assert json.loads(body) == {
        "model": "t-1", "messages": MESSAGES, "temperature": 0, "top_p": 1, "max_tokens": 1, "n": 3,
        "top_logprobs": 0, "seed": 0, "stop": ["a", "b"], "frequency_penalty": -2.0, "presence_penalty": 2,
        "reasoning_effort": "low", "tool_choice": "none", "response_format": {"type": "json_object"},
    }
    assert json.loads(sent(client, server, temperature=1, top_p=0.01, stop="one", max_completion_tokens=7)) == {
        "model": "t-1", "messages": MESSAGES, "temperature": 1, "top_p": 0.01, "stop": "one",
        "max_completion_tokens": 7,
    }


def test_the_body_is_compact_utf8_json_in_the_order_given(client: chatplug.Client, server: FakeServer) -> None:
    """Named parameters follow model and messages; extra_body comes last and wins over a named one;
    a tuple is sent as a list; text is sent as UTF-8, not as \\u escapes."""
    body = sent(client, server, messages=[{"role": "user", "content": "caf\u00e9"}], stop=("x", "y"),
                temperature=0.5, extra_body={"temperature": 0.25, "vendor_flag": True})
    assert body == (
        '{"model":"t-1","messages":[{"role":"user","content":"caf\u00e9"}],"stop":["x","y"],'
        '"temperature":0.25,"vendor_flag":true}'
    ).encode()


def test_every_role_and_message_shape_that_is_accepted_goes_out_unchanged(
    client: chatplug.Client, server: FakeServer
) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "s"},
        {"role": "developer", "content": "d"},
        {"role": "user", "content": [{"type": "text", "text": "look"}]},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "content": "42", "tool_call_id": "call_1"},
        {"role": "function", "content": "old style", "name": "f"},
        {"role": "assistant", "content": ""},
    ]
    assert json.loads(sent(client, server, messages=messages)) == {"model": "t-1", "messages": messages}


def test_a_tool_that_is_not_a_function_needs_only_a_type(client: chatplug.Client, server: FakeServer) -> None:
    tools = [{"type": "web_search"}, {"type": "function", "function": {"name": "f"}}]
    assert json.loads(sent(client, server, tools=tools, tool_choice="auto"))["tools"] == tools


def test_a_provider_that_takes_a_named_function_says_so_when_it_refuses(
    server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    limits = chatplug.Limits(tool_choice=("auto", "function"), max_stop=1)
    registry.register(ProviderPlugin(attrs.evolve(TEST_PROVIDER, id="fnprov", limits=limits)), "fnprov")
    named = {"type": "function", "function": {"name": "f"}}
    with chatplug.Client(provider="fnprov", api_key=API_KEY, base_url=server.base_url, registry=registry) as client:
        with pytest.raises(chatplug.InvalidRequestError) as caught:
            client.chat.completions.create(model="t-1", messages=MESSAGES, tool_choice="none")
        assert str(caught.value) == (
            "fnprov: tool_choice='none' is not supported; fnprov accepts 'auto', an object naming a function"
        )
        assert (caught.value.param, caught.value.provider) == ("tool_choice", "fnprov")
        with pytest.raises(chatplug.InvalidRequestError) as caught:
            client.chat.completions.create(model="t-1", messages=MESSAGES, stop=["a", "b"])
        assert str(caught.value) == "fnprov: stop has 2 entries; fnprov accepts at most 1"
        assert server.requests == []
        server.add(Reply.json(completion_body()), Reply.json(completion_body()))
        client.chat.completions.create(model="t-1", messages=MESSAGES, tool_choice=named, stop="only")
        assert json.loads(server.last_request.body)["tool_choice"] == named
        client.chat.completions.create(model="t-1", messages=MESSAGES, stop=["one"])
        assert json.loads(server.last_request.body)["stop"] == ["one"]


def test_a_models_own_range_replaces_the_providers(server: FakeServer, registry: chatplug.PluginRegistry) -> None:
    """temperature 1.5 is out of the provider's range but inside the model's; top_p keeps the provider's."""
    catalog = chatplug.ModelCatalog(models={"t-wide": chatplug.ModelInfo(ranges={"temperature": (0, 2)})})
    registry.register(ProviderPlugin(attrs.evolve(TEST_PROVIDER, id="wideprov", catalog=catalog)), "wideprov")
    with chatplug.Client(provider="wideprov", api_key=API_KEY, base_url=server.base_url, registry=registry) as client:
        server.add(Reply.json(completion_body()))
        client.chat.completions.create(model="t-wide", messages=MESSAGES, temperature=1.5)
        assert json.loads(server.last_request.body)["temperature"] == 1.5
        with pytest.raises(chatplug.InvalidRequestError) as caught:
            client.chat.completions.create(model="t-wide", messages=MESSAGES, top_p=0)
        assert str(caught.value) == "wideprov: top_p=0 is out of range; wideprov accepts 0.01 <= top_p <= 1"
        with pytest.raises(chatplug.InvalidRequestError) as caught:
            client.chat.completions.create(model="t-other", messages=MESSAGES, temperature=1.5)
        assert str(caught.value) == (
            "wideprov: temperature=1.5 is out of range; wideprov accepts 0 <= temperature <= 1"
        )
    assert len(server.requests) == 1
