"""Edge cases found in review: each test names the behaviour a user relies on."""

from __future__ import annotations

from typing import Any

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from core_support import API_KEY, MESSAGES, TEST_PROVIDER, ProviderPlugin, chunk, completion_body


class _Finishes:
    """An observer recording what ``chatplug_on_finish`` reports."""

    def __init__(self) -> None:
        self.errors: list[BaseException | None] = []

    @chatplug.hookimpl
    def chatplug_on_finish(self, error: BaseException | None) -> None:
        self.errors.append(error)


# ------------------------------------------------------------------- streams


def test_a_complete_stream_is_not_cut_by_a_connection_lost_after_done(
    server: FakeServer, client: chatplug.Client
) -> None:
    events = [chunk({"role": "assistant", "content": "Hi"}), chunk({}, "stop")]
    # Every event is written, [DONE] included, then the connection is torn down before the body's end.
    server.add(Reply.sse(events, close_after_chunks=len(events) + 1))
    with client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "Hi"
    assert final.choices[0].finish_reason == "stop"


class _DeferringNormalizer(chatplug.ResponseNormalizer):
    """Ends the stream after delivering the chunk that says it failed."""

    def normalize_chunk(self, data: dict[str, Any]) -> tuple[dict[str, Any], ...]:
        for choice in data.get("choices", ()):
            if choice.get("finish_reason") == "network_error":
                choice["finish_reason"] = None
                self.deferred_error = chatplug.InternalServerError("the provider's network failed", retryable=True)
        return (data,)


class _DeferringPlugin:
    @chatplug.hookimpl
    def chatplug_response_normalizer(self, provider: chatplug.Provider) -> chatplug.ResponseNormalizer | None:
        return _DeferringNormalizer() if provider.id == TEST_PROVIDER.id else None


def test_a_deferred_normalizer_error_keeps_the_chunk_that_announced_it(
    server: FakeServer, client: chatplug.Client, registry: chatplug.PluginRegistry
) -> None:
    registry.register(_DeferringPlugin(), "deferring")
    usage = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    server.add(Reply.sse([chunk({"content": "Hello "}), chunk({"content": "world"}, "network_error", usage=usage)]))
    received: list[str | None] = []
    with (
        pytest.raises(chatplug.InternalServerError) as caught,
        client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True) as stream,
    ):
        received.extend(c.choices[0].delta.content for c in stream)
    assert received == ["Hello ", "world"]  # the last chunk reached the user before the error
    partial = caught.value.partial
    assert partial is not None
    assert partial.choices[0].message.content == "Hello world"
    assert partial.usage is not None and partial.usage.total_tokens == 3


def test_observers_hear_that_an_early_close_cut_the_stream(
    server: FakeServer, client: chatplug.Client, registry: chatplug.PluginRegistry
) -> None:
    finishes = _Finishes()
    registry.register(finishes, "finishes")
    server.add(Reply.sse([chunk({"content": str(i)}) for i in range(20)] + [chunk({}, "stop")],
                         delay_between_chunks=0.05))
    stream = client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True)
    next(iter(stream))
    stream.close()
    assert len(finishes.errors) == 1
    assert isinstance(finishes.errors[0], chatplug.StreamInterruptedError)


def test_the_key_echoed_in_a_malformed_stream_event_is_hidden(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.sse([chunk({"content": "a"}), f"data: {{broken {API_KEY}\n\n"]))
    with (
        pytest.raises(chatplug.APIResponseValidationError) as caught,
        client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True) as stream,
    ):
        list(stream)
    assert API_KEY not in str(caught.value)
    assert API_KEY not in repr(caught.value.body)


def test_the_key_echoed_in_a_non_json_reply_is_hidden(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply(status=200, headers=(("Content-Type", "text/plain"),), body=f"bad key {API_KEY}".encode()))
    with pytest.raises(chatplug.APIResponseValidationError) as caught:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert API_KEY not in str(caught.value)
    assert API_KEY not in repr(caught.value.body)


# ------------------------------------------------------------------ requests


@pytest.mark.parametrize(
    ("extra_body", "param"),
    [({"n": "3"}, "n"), ({"stop": 5}, "stop"), ({"temperature": "hot"}, "temperature")],
)
def test_bad_values_in_extra_body_are_invalid_requests(
    extra_body: dict[str, Any], param: str, server: FakeServer, client: chatplug.Client
) -> None:
    with pytest.raises(chatplug.InvalidRequestError) as caught:
        client.chat.completions.create(model="t-1", messages=MESSAGES, extra_body=extra_body)
    assert caught.value.param == param
    assert server.requests == []


def test_stop_and_tools_may_be_tuples(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.json(completion_body()))
    tool = {"type": "function", "function": {"name": "f"}}
    client.chat.completions.create(model="t-1", messages=MESSAGES, stop=("x", "y"), tools=(tool,))
    body = server.requests[0].json()
    assert body["stop"] == ["x", "y"]
    assert body["tools"] == [tool]


def test_a_base_url_that_is_not_a_url_fails_before_any_io() -> None:
    with pytest.raises(chatplug.InvalidRequestError, match="not a URL"):
        chatplug.Client(base_url="localhost:8000/v1", api_key=API_KEY)


def test_a_base_url_env_var_that_is_neither_url_nor_endpoint_fails_before_any_io(
    monkeypatch: pytest.MonkeyPatch, server: FakeServer
) -> None:
    provider = chatplug.Provider(id="envprov", base_url=server.base_url, base_url_env="ENVPROV_BASE_URL",
                                 endpoints={"eu": server.base_url}, model_prefixes=("e-",))
    registry = chatplug.PluginRegistry(load_entrypoints=False)
    registry.register(ProviderPlugin(provider), "envprov")
    monkeypatch.setenv("ENVPROV_BASE_URL", "ue")
    with chatplug.Client(registry=registry) as client, pytest.raises(chatplug.InvalidRequestError, match="eu"):
        client.chat.completions.create(model="e-1", messages=MESSAGES, extra_headers={"Authorization": "x"})
    assert server.requests == []


def test_a_closed_client_says_so(server: FakeServer, client: chatplug.Client) -> None:
    client.close()
    with pytest.raises(chatplug.ChatplugError, match="closed"):
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert server.requests == []


# ------------------------------------------------------------------- retries


@pytest.mark.parametrize(("status", "attempts"), [(501, 1), (505, 1), (502, 3), (500, 3)])
def test_only_the_listed_server_errors_are_retried(
    status: int, attempts: int, server: FakeServer, client: chatplug.Client
) -> None:
    for _ in range(3):
        server.add(Reply.error(status, {"error": {"message": "no"}}))
    with pytest.raises(chatplug.InternalServerError) as caught:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert caught.value.status_code == status
    assert len(server.requests) == attempts


def test_observers_hear_the_end_of_a_call_interrupted_while_waiting_to_retry(
    server: FakeServer, client: chatplug.Client, registry: chatplug.PluginRegistry
) -> None:
    finishes = _Finishes()
    registry.register(finishes, "finishes")

    def interrupted_sleep(seconds: float) -> None:
        raise KeyboardInterrupt

    client._sleep = interrupted_sleep
    server.add(Reply.error(503, {"error": {"message": "busy"}}))
    with pytest.raises(KeyboardInterrupt):
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert len(finishes.errors) == 1
    assert isinstance(finishes.errors[0], KeyboardInterrupt)


# ------------------------------------------------------------------- records


def test_a_provider_record_is_hashable_and_its_endpoints_read_only() -> None:
    provider = chatplug.Provider(id="p", base_url="https://a.example/v1", endpoints={"eu": "https://eu.example/v1"})
    assert hash(provider) == hash(chatplug.Provider(id="p", base_url="https://a.example/v1",
                                                    endpoints={"eu": "https://eu.example/v1"}))
    with pytest.raises(TypeError):
        provider.endpoints["eu"] = "https://evil.example/v1"  # type: ignore[index]


def test_strict_mode_keeps_failing_until_fixed(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        @chatplug.hookimpl
        def chatplug_providers(self) -> list[chatplug.Provider]:
            raise RuntimeError("cannot declare")

    registry = chatplug.PluginRegistry(load_entrypoints=False, strict=True)
    registry.pm.register(Broken(), name="broken")
    for _ in range(2):
        with pytest.raises(chatplug.PluginError, match="cannot declare"):
            registry.providers()


# -------------------------------------------------------------- accumulation


def _tool_delta(index: int, call_id: str | None, arguments: str, name: str | None = None) -> dict[str, Any]:
    function: dict[str, Any] = {"arguments": arguments}
    if name:
        function["name"] = name
    call: dict[str, Any] = {"index": index, "function": function}
    if call_id:
        call["id"] = call_id
        call["type"] = "function"
    return chunk({"tool_calls": [call]})


def test_a_repeated_index_sends_later_fragments_to_the_newest_call(
    server: FakeServer, client: chatplug.Client
) -> None:
    server.add(Reply.sse([
        _tool_delta(0, "call_a", "", "first"),
        _tool_delta(0, None, '{"x":1}'),
        _tool_delta(0, "call_b", "", "second"),  # index 0 again, for another call
        _tool_delta(0, None, '{"y":2}'),
        chunk({}, "tool_calls"),
    ]))
    with client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True) as stream:
        calls = stream.get_final_completion().choices[0].message.tool_calls
    assert calls is not None
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("call_a", "first", '{"x":1}'),
        ("call_b", "second", '{"y":2}'),
    ]


def test_refusal_logprobs_are_merged_too(server: FakeServer, client: chatplug.Client) -> None:
    token = {"token": "no", "logprob": -0.1, "bytes": [110, 111], "top_logprobs": []}
    refusing = chunk({"refusal": "no"})
    refusing["choices"][0]["logprobs"] = {"refusal": [token]}
    server.add(Reply.sse([refusing, chunk({}, "stop")]))
    with client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True) as stream:
        choice = stream.get_final_completion().choices[0]
    assert choice.message.refusal == "no"
    assert choice.logprobs == {"refusal": [token]}
