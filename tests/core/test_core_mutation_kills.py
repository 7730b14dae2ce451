"""Exact tests written to kill mutants that survived ``tox -e mutation`` (see docs/mutation.md).

Each asserts a value the code produces that no other test pinned: the error a
redirect gives, what a malformed stream event carries, the defaults of a tool
call that arrives without an id or a name, the attributes client-side errors carry.
"""

from __future__ import annotations

from typing import Any

import chatplug
import httpx
import pytest
from chatplug._accumulate import ChunkAccumulator
from chatplug._transport import transport_error
from chatplug.testing import FakeServer, Reply
from core_support import MESSAGES, chunk


def plan_for(client: chatplug.Client, stream: bool = False) -> Any:
    return client._prepare("t-1", MESSAGES, stream, {})


# ------------------------------------------------------------------ redirects


def test_a_redirect_error_names_the_location_and_is_never_retried(server: FakeServer, client: chatplug.Client) -> None:
    target = "https://elsewhere.example/v1/chat/completions"
    server.default = Reply.error(307, "", headers={"Location": target})
    with pytest.raises(chatplug.APIStatusError) as caught:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    error = caught.value
    assert type(error) is chatplug.APIStatusError
    assert str(error) == (
        f"testprov, HTTP 307: the server redirected to {target}; chatplug does not follow redirects "
        "(the API key must not travel to another address). Set base_url to the final address."
    )
    assert error.provider == "testprov"
    assert error.headers["location"] == target
    assert error.retryable is False
    assert len(server.requests) == 1


def test_a_redirect_without_a_location_says_so(server: FakeServer, client: chatplug.Client) -> None:
    server.default = Reply.error(302, "")
    with pytest.raises(chatplug.APIStatusError) as caught:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert caught.value.message.startswith("the server redirected to ?; ")


# ---------------------------------------------------------- transport errors


@pytest.mark.parametrize(
    ("exc", "cls", "message"),
    [
        (httpx.ReadTimeout(""), chatplug.APITimeoutError, "testprov: request timed out (ReadTimeout)"),
        (httpx.ConnectTimeout("slow"), chatplug.APITimeoutError, "testprov: request timed out (ConnectTimeout: slow)"),
        (httpx.ConnectError(""), chatplug.APIConnectionError, "testprov: connection failed (ConnectError)"),
        (httpx.RemoteProtocolError("peer closed"), chatplug.APIConnectionError,
         "testprov: connection failed (RemoteProtocolError: peer closed)"),
    ],
)
def test_transport_errors_name_the_provider_and_the_cause(
    client: chatplug.Client, exc: httpx.HTTPError, cls: type[chatplug.APIError], message: str
) -> None:
    error = transport_error(plan_for(client), exc)
    assert type(error) is cls
    assert str(error) == message
    assert error.provider == "testprov"


def test_a_transport_error_never_shows_the_key(client: chatplug.Client) -> None:
    key = client._api_key.get()  # type: ignore[union-attr]
    error = transport_error(plan_for(client), httpx.ConnectError(f"proxy said Bearer {key}"))
    assert str(error) == "testprov: connection failed (ConnectError: proxy said ***)"


# ---------------------------------------------------------- malformed streams


def test_a_malformed_stream_event_carries_provider_and_raw_text(server: FakeServer, client: chatplug.Client) -> None:
    raw = b'{"choices": [' + b"x" * 300
    server.add(Reply.sse([chunk({"content": "a"}), b"data: " + raw + b"\n\n"], done=False))
    with pytest.raises(chatplug.APIResponseValidationError) as caught, client.chat.completions.create(
        model="t-1", messages=MESSAGES, stream=True
    ) as stream:
        for _ in stream:
            pass
    error = caught.value
    assert type(error) is chatplug.APIResponseValidationError
    assert error.provider == "testprov"
    assert error.body == raw.decode()
    assert str(error).startswith("testprov: malformed JSON in stream event (")
    assert str(error).endswith(f"): {raw[:200]!r}")
    assert error.partial is not None and error.partial.choices[0].message.content == "a"


def test_a_last_event_without_a_blank_line_is_still_read(server: FakeServer, client: chatplug.Client) -> None:
    """The body ends right after the last event's data line: no blank line, no [DONE]. The event is read."""
    import json

    last = json.dumps(chunk({"content": "end"}, finish_reason="stop")).encode()
    server.add(Reply.sse_bytes(b"data: " + json.dumps(chunk({"role": "assistant", "content": "the "})).encode()
                               + b"\n\ndata: " + last))
    with client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "the end"
    assert final.choices[0].finish_reason == "stop"


def test_an_unfinished_stream_error_says_how_many_chunks_arrived(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.sse([chunk({"content": "a"}), chunk({"content": "b"})], done=False))
    with pytest.raises(chatplug.StreamInterruptedError) as caught, client.chat.completions.create(
        model="t-1", messages=MESSAGES, stream=True
    ) as stream:
        for _ in stream:
            pass
    assert str(caught.value) == "testprov: the stream ended after 2 chunks with neither [DONE] nor a finish_reason"
    assert caught.value.provider == "testprov"


# ---------------------------------------------------------------- tool calls


def assemble(*deltas: dict[str, Any]) -> chatplug.ChatCompletion:
    accumulator = ChunkAccumulator()
    for delta in deltas:
        accumulator.add(chatplug.from_dict(chunk({"tool_calls": [delta]}), chatplug.ChatCompletionChunk))
    return accumulator.completion()


def test_a_tool_call_without_id_type_or_name_gets_empty_defaults() -> None:
    final = assemble({"index": 0, "function": {"arguments": "{}"}})
    (call,) = final.choices[0].message.tool_calls or []
    assert (call.id, call.type, call.function.name, call.function.arguments) == ("", "function", "", "{}")
    assert final.to_dict()["choices"][0]["message"]["tool_calls"] == [
        {"id": "", "type": "function", "function": {"name": "", "arguments": "{}"}}
    ]


def test_a_fragment_without_index_joins_the_call_with_its_id() -> None:
    final = assemble(
        {"index": 0, "id": "a", "type": "function", "function": {"name": "f", "arguments": '{"x":'}},
        {"index": 1, "id": "b", "type": "function", "function": {"name": "g", "arguments": "{}"}},
        {"id": "a", "function": {"arguments": "1}"}},
    )
    calls = [(c.id, c.function.name, c.function.arguments) for c in final.choices[0].message.tool_calls or []]
    assert calls == [("a", "f", '{"x":1}'), ("b", "g", "{}")]


def test_a_later_fragment_does_not_rename_the_call() -> None:
    final = assemble(
        {"index": 0, "id": "a", "function": {"name": "first", "arguments": ""}},
        {"index": 0, "id": "a", "function": {"name": "second", "arguments": "{}"}},
    )
    (call,) = final.choices[0].message.tool_calls or []
    assert (call.id, call.function.name, call.function.arguments) == ("a", "first", "{}")


# ------------------------------------------------------- client-side errors


def test_a_missing_key_error_names_the_provider_and_its_env_vars(
    registry: chatplug.PluginRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHATPLUG_TEST_KEY", raising=False)
    with chatplug.Client(provider="testprov", base_url="http://127.0.0.1:9/v1", registry=registry) as client, \
            pytest.raises(chatplug.MissingAPIKeyError) as caught:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert caught.value.provider == "testprov"
    assert caught.value.env_vars == ("CHATPLUG_TEST_KEY",)


def test_a_model_not_found_error_names_the_model(registry: chatplug.PluginRegistry) -> None:
    with pytest.raises(chatplug.ModelNotFoundError) as caught:
        registry.resolve_model("no-such-model")
    assert caught.value.model == "no-such-model"
    assert caught.value.providers == ("testprov",)


def test_a_status_error_without_provider_or_status_reads_as_its_message() -> None:
    assert str(chatplug.APIStatusError("just the message")) == "just the message"
    assert str(chatplug.APIStatusError("m", code="c1")) == "code c1: m"


# ------------------------------------------------------- second round (see docs/mutation.md)


def test_a_subclass_without_its_own_policy_follows_the_status_from_500() -> None:
    class GatewayError(chatplug.APIStatusError):
        """A third party's class that names no retry policy: the status decides, from 500 up."""

    assert GatewayError("x", status_code=500).retryable is True
    assert GatewayError("x", status_code=501).retryable is False
    assert GatewayError("x", status_code=499).retryable is False  # below 500 the class default stays


def test_a_status_error_keeps_the_partial_it_was_given() -> None:
    partial = chatplug.ChatCompletion(id="p", created=1, model="m", choices=[])
    assert chatplug.APIStatusError("m", partial=partial).partial is partial
    assert chatplug.RateLimitError("m", status_code=429, partial=partial).partial is partial


def test_a_key_echoed_in_an_error_message_is_replaced_in_the_message(
    server: FakeServer, client: chatplug.Client
) -> None:
    key = client._api_key.get()  # type: ignore[union-attr]
    server.add(Reply.error(401, {"error": {"message": f"Incorrect API key provided: {key}"}}))
    with pytest.raises(chatplug.AuthenticationError) as caught:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert caught.value.message == "Incorrect API key provided: ***"
    assert caught.value.args == ("Incorrect API key provided: ***",)


@pytest.mark.anyio
async def test_an_async_stream_repr_names_provider_and_model(
    server: FakeServer, aclient: chatplug.AsyncClient
) -> None:
    server.add(Reply.sse([chunk({"content": "x"}, finish_reason="stop")]))
    stream = await aclient.chat.completions.create(model="t-1", messages=MESSAGES, stream=True)
    async with stream:
        assert repr(stream) == "<chatplug.AsyncStream provider='testprov' model='t-1'>"


def test_register_plugin_adds_to_the_default_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    from chatplug import plugins
    from core_support import TEST_PROVIDER, ProviderPlugin

    monkeypatch.setattr(plugins, "_default", chatplug.PluginRegistry(load_entrypoints=False))
    plugin = ProviderPlugin(TEST_PROVIDER)
    chatplug.register_plugin(plugin, "registered-by-name")
    assert plugins.default_registry().pm.get_plugin("registered-by-name") is plugin
    assert list(chatplug.providers()) == ["testprov"]


# -------------------------------------------------------- third round: accumulate


def _assemble_wire(*wires: dict[str, Any]) -> chatplug.ChatCompletion:
    accumulator = ChunkAccumulator()
    for wire in wires:
        accumulator.add(chatplug.from_dict(wire, chatplug.ChatCompletionChunk))
    return accumulator.completion()


def test_identity_is_taken_from_later_chunks_until_id_and_model_are_known() -> None:
    first = chunk({"role": "assistant", "content": "a"}, id="c1", model="", created=0)
    second = chunk({"content": "b"}, id="c1", model="m-2", created=7, service_tier="flex")
    final = _assemble_wire(first, second)
    assert (final.id, final.model, final.created, final.service_tier) == ("c1", "m-2", 7, "flex")
    no_id = _assemble_wire(chunk({"content": "a"}, id="", model="m"), chunk({"content": "b"}, id="c2", model="m"))
    assert (no_id.id, no_id.model) == ("c2", "m")


def test_an_unfinished_choice_has_no_native_finish_reason() -> None:
    final = _assemble_wire(chunk({"role": "assistant", "content": "a"}))
    assert (final.choices[0].finish_reason, final.choices[0].native_finish_reason) == (None, None)


def test_logprobs_of_every_chunk_are_joined() -> None:
    token = {"token": "a", "logprob": -0.1, "bytes": None, "top_logprobs": []}
    first, second = chunk({"content": "a"}), chunk({"content": "b"}, finish_reason="stop")
    first["choices"][0]["logprobs"] = {"content": [token]}
    second["choices"][0]["logprobs"] = {"content": [dict(token, token="b")], "refusal": None}
    final = _assemble_wire(first, second)
    assert final.choices[0].logprobs == {"content": [token, dict(token, token="b")]}
