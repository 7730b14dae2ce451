"""The client over real loopback HTTP: non-stream and stream calls, sync/async
parity, per-call and per-client options, model routing and limit checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import chatplug
import httpx
import pytest
from chatplug.testing import FakeServer, Reply
from core_support import API_KEY, FIXTURES, MESSAGES, ProviderPlugin, chunk, completion_body

SSE_SAMPLES = sorted(FIXTURES.glob("*.sse"))
COMPLETION_SAMPLES = sorted(FIXTURES.glob("*nonstream*.json"))


# ------------------------------------------------------------------ non-stream


def test_non_stream_call_sends_openai_request_and_parses_reply(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.json(completion_body("hello there")))
    reply = client.chat.completions.create(model="t-1", messages=MESSAGES, temperature=0.5, max_tokens=20)
    assert isinstance(reply, chatplug.ChatCompletion)
    assert reply.choices[0].message.content == "hello there"
    assert reply.usage is not None and reply.usage.total_tokens == 5
    (request,) = server.requests
    assert request.method == "POST"
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"model": "t-1", "messages": MESSAGES, "temperature": 0.5, "max_tokens": 20}


@pytest.mark.parametrize("path", COMPLETION_SAMPLES, ids=[p.name for p in COMPLETION_SAMPLES])
def test_recorded_completion_served_over_http_round_trips(
    path: Path, server: FakeServer, client: chatplug.Client
) -> None:
    server.add(Reply.json(path.read_bytes()))
    reply = client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert reply.to_dict() == json.loads(path.read_bytes())


def test_provider_prefix_is_stripped_for_a_pinned_client(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.json(completion_body()))
    client.chat.completions.create(model="testprov/t-1", messages=MESSAGES)
    assert server.requests[0].json()["model"] == "t-1"


# ---------------------------------------------------------------------- stream


def test_stream_is_an_iterator_and_context_manager(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.sse([chunk({"role": "assistant", "content": "Hel"}), chunk({"content": "lo"}),
                          chunk({}, "stop")]))
    with client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True) as stream:
        assert isinstance(stream, chatplug.Stream)
        pieces = [c.choices[0].delta.content or "" for c in stream]
        final = stream.get_final_completion()
    assert pieces == ["Hel", "lo", ""]
    assert final.choices[0].message.content == "Hello"
    assert server.requests[0].json()["stream"] is True
    assert server.requests[0].headers["accept"] == "text/event-stream"


def test_closing_a_stream_early_releases_the_connection(server: FakeServer, client: chatplug.Client) -> None:
    # 400 chunks 50 ms apart: the stream cannot end on its own before the 10 s wait below, however
    # slowly a loaded machine runs this test (with 50 it once did, and no disconnect was seen)
    server.add(Reply.sse([chunk({"content": str(i)}) for i in range(400)] + [chunk({}, "stop")],
                         delay_between_chunks=0.05))
    stream = client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True)
    first = next(iter(stream))
    stream.close()
    stream.close()  # twice is safe
    assert first.choices[0].delta.content == "0"
    assert server.client_disconnected.wait(10)


def test_final_completion_after_an_early_close_raises_with_what_arrived(
    server: FakeServer, client: chatplug.Client
) -> None:
    server.add(Reply.sse([chunk({"content": str(i)}) for i in range(50)] + [chunk({}, "stop")],
                         delay_between_chunks=0.05))
    stream = client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True)
    iterator = iter(stream)
    next(iterator)
    next(iterator)
    stream.close()
    with pytest.raises(chatplug.StreamInterruptedError, match="closed after 2 chunks") as caught:
        stream.get_final_completion()
    partial = caught.value.partial
    assert partial is not None
    assert partial.choices[0].message.content == "01"
    assert partial.choices[0].finish_reason is None


def _collect_sync(client: chatplug.Client, server: FakeServer, path: Path) -> tuple[list[Any], Any, Any]:
    server.add(Reply.sse_file(path), Reply.json(completion_body("same")))
    with client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True) as stream:
        chunks = [c.to_dict() for c in stream]
        final = stream.get_final_completion().to_dict()
    plain = client.chat.completions.create(model="t-1", messages=MESSAGES).to_dict()
    return chunks, final, plain


async def _collect_async(aclient: chatplug.AsyncClient, server: FakeServer, path: Path) -> tuple[list[Any], Any, Any]:
    server.add(Reply.sse_file(path), Reply.json(completion_body("same")))
    stream = await aclient.chat.completions.create(model="t-1", messages=MESSAGES, stream=True)
    async with stream:
        assert isinstance(stream, chatplug.AsyncStream)
        chunks = [c.to_dict() async for c in stream]
        final = (await stream.get_final_completion()).to_dict()
    plain = (await aclient.chat.completions.create(model="t-1", messages=MESSAGES)).to_dict()
    return chunks, final, plain


@pytest.mark.anyio
@pytest.mark.parametrize("path", SSE_SAMPLES, ids=[p.name for p in SSE_SAMPLES])
async def test_sync_and_async_give_the_same_results_on_the_same_transcript(
    path: Path, server: FakeServer, registry: chatplug.PluginRegistry, aclient: chatplug.AsyncClient
) -> None:
    with chatplug.Client(provider="testprov", api_key=API_KEY, base_url=server.base_url, registry=registry) as client:
        sync_result = _collect_sync(client, server, path)
    async_result = await _collect_async(aclient, server, path)
    assert sync_result[0], "the transcript produced chunks"
    assert async_result == sync_result
    sync_requests, async_requests = server.requests[:2], server.requests[2:]
    assert [r.json() for r in async_requests] == [r.json() for r in sync_requests]


# --------------------------------------------------------------------- options


def test_extra_headers_query_and_body_reach_the_server(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.json(completion_body()))
    client.chat.completions.create(
        model="t-1", messages=MESSAGES,
        extra_headers={"X-Trace": "abc"}, extra_query={"api-version": "2024-01"},
        extra_body={"thinking": {"type": "enabled"}, "do_sample": False},
    )
    (request,) = server.requests
    assert request.headers["x-trace"] == "abc"
    assert request.query == "api-version=2024-01"
    body = request.json()
    assert body["thinking"] == {"type": "enabled"} and body["do_sample"] is False


def test_unknown_keyword_points_to_extra_body(client: chatplug.Client, server: FakeServer) -> None:
    with pytest.raises(chatplug.InvalidRequestError, match="extra_body") as info:
        client.chat.completions.create(  # type: ignore[call-overload]  # the mistake under test
            model="t-1", messages=MESSAGES, thinking={"type": "enabled"}
        )
    assert info.value.param == "thinking"
    assert server.requests == []


def test_default_headers_are_sent_and_extra_headers_override_them(
    server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    server.add(Reply.json(completion_body()), Reply.json(completion_body()))
    with chatplug.Client(provider="testprov", api_key=API_KEY, base_url=server.base_url, registry=registry,
                         default_headers={"X-App": "host", "X-Env": "prod"}) as client:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
        client.chat.completions.create(model="t-1", messages=MESSAGES, extra_headers={"X-Env": "staging"})
    first, second = server.requests
    assert (first.headers["x-app"], first.headers["x-env"]) == ("host", "prod")
    assert (second.headers["x-app"], second.headers["x-env"]) == ("host", "staging")


def test_per_call_timeout_is_applied_and_raises_timeout_error(
    server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    seen: list[Any] = []
    http = httpx.Client(event_hooks={"request": [lambda request: seen.append(request.extensions["timeout"])]})
    server.add(Reply.json(completion_body(), delay_before_headers=5))
    with chatplug.Client(provider="testprov", api_key=API_KEY, base_url=server.base_url, registry=registry,
                         http_client=http, max_retries=0) as client, pytest.raises(chatplug.APITimeoutError) as info:
        client.chat.completions.create(model="t-1", messages=MESSAGES, timeout=0.2)
    http.close()
    assert seen[0]["read"] == 0.2
    assert isinstance(info.value, chatplug.APIConnectionError)
    assert info.value.provider == "testprov"


def test_client_timeout_is_the_default_for_each_call(server: FakeServer, registry: chatplug.PluginRegistry) -> None:
    seen: list[Any] = []
    http = httpx.Client(event_hooks={"request": [lambda request: seen.append(request.extensions["timeout"])]})
    server.add(Reply.json(completion_body()))
    with chatplug.Client(provider="testprov", api_key=API_KEY, base_url=server.base_url, registry=registry,
                         http_client=http, timeout=7.5) as client:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    http.close()
    assert seen[0] == {"connect": 7.5, "read": 7.5, "write": 7.5, "pool": 7.5}


def test_lent_http_client_is_used_and_not_closed(server: FakeServer, registry: chatplug.PluginRegistry) -> None:
    used: list[str] = []
    http = httpx.Client(event_hooks={"request": [lambda request: used.append(str(request.url))]})
    server.add(Reply.json(completion_body()))
    client = chatplug.Client(provider="testprov", api_key=API_KEY, base_url=server.base_url, registry=registry,
                             http_client=http)
    client.chat.completions.create(model="t-1", messages=MESSAGES)
    client.close()
    assert used == [f"{server.base_url}/chat/completions"]
    assert not http.is_closed
    http.close()


@pytest.mark.anyio
async def test_lent_async_http_client_is_used_and_not_closed(
    server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    used: list[str] = []

    async def record(request: httpx.Request) -> None:
        used.append(str(request.url))

    http = httpx.AsyncClient(event_hooks={"request": [record]})
    server.add(Reply.json(completion_body()))
    async with chatplug.AsyncClient(provider="testprov", api_key=API_KEY, base_url=server.base_url,
                                    registry=registry, http_client=http) as client:
        await client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert used == [f"{server.base_url}/chat/completions"]
    assert not http.is_closed
    await http.aclose()


def test_owned_http_client_is_closed_by_close(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.json(completion_body()))
    client.chat.completions.create(model="t-1", messages=MESSAGES)
    client.close()
    assert client.http_client.is_closed


# --------------------------------------------------------------------- routing


def _routing_registry(server: FakeServer) -> chatplug.PluginRegistry:
    registry = chatplug.PluginRegistry(load_entrypoints=False)
    alpha = chatplug.Provider(id="alpha", base_url=server.base_url, api_key_env=("ALPHA_KEY",),
                              model_prefixes=("shared-", "alpha-"))
    beta = chatplug.Provider(id="beta", base_url=server.base_url, api_key_env=("BETA_KEY",),
                             models=("beta-large",), model_prefixes=("shared-",))
    registry.register(ProviderPlugin(alpha, beta), "routing")
    return registry


@pytest.fixture
def router(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("ALPHA_KEY", "alpha-key-123456789")
    monkeypatch.setenv("BETA_KEY", "beta-key-123456789")
    with chatplug.Client(registry=_routing_registry(server)) as client:
        yield client


@pytest.mark.parametrize(
    ("model", "provider_key", "sent_model"),
    [
        ("alpha-1", "alpha-key-123456789", "alpha-1"),
        ("beta-large", "beta-key-123456789", "beta-large"),
        ("beta/shared-x", "beta-key-123456789", "shared-x"),
        ("alpha/anything", "alpha-key-123456789", "anything"),
    ],
)
def test_model_routing(model: str, provider_key: str, sent_model: str, router: chatplug.Client,
                       server: FakeServer) -> None:
    server.add(Reply.json(completion_body()))
    router.chat.completions.create(model=model, messages=MESSAGES)
    (request,) = server.requests
    assert request.headers["authorization"] == f"Bearer {provider_key}"
    assert request.json()["model"] == sent_model


def test_unclaimed_model_names_the_installed_providers(router: chatplug.Client, server: FakeServer) -> None:
    with pytest.raises(chatplug.ModelNotFoundError) as info:
        router.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert "alpha" in str(info.value) and "beta" in str(info.value)
    assert info.value.providers == ("alpha", "beta")
    assert server.requests == []


def test_ambiguous_model_names_both_claimants(router: chatplug.Client, server: FakeServer) -> None:
    with pytest.raises(chatplug.ModelNotFoundError, match=r"alpha.*beta") as info:
        router.chat.completions.create(model="shared-1", messages=MESSAGES)
    assert "alpha/shared-1" in str(info.value) or "provider/" in str(info.value)
    assert server.requests == []


def test_unknown_provider_id_is_model_not_found(registry: chatplug.PluginRegistry) -> None:
    with pytest.raises(chatplug.ModelNotFoundError, match="testprov"):
        chatplug.Client(provider="nope", api_key=API_KEY, registry=registry)


def test_missing_key_names_the_env_var_before_any_io(
    server: FakeServer, registry: chatplug.PluginRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHATPLUG_TEST_KEY", raising=False)
    with (
        chatplug.Client(provider="testprov", base_url=server.base_url, registry=registry) as client,
        pytest.raises(chatplug.MissingAPIKeyError, match="CHATPLUG_TEST_KEY"),
    ):
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert server.requests == []


def test_key_is_read_from_the_provider_env_var(
    server: FakeServer, registry: chatplug.PluginRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATPLUG_TEST_KEY", "env-key-0123456789")
    server.add(Reply.json(completion_body()))
    with chatplug.Client(provider="testprov", base_url=server.base_url, registry=registry) as client:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert server.requests[0].headers["authorization"] == "Bearer env-key-0123456789"


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("params", "param", "fragment"),
    [
        ({"temperature": 1.5}, "temperature", "0 <= temperature <= 1"),
        ({"top_p": 0}, "top_p", "0.01 <= top_p <= 1"),
        ({"stop": ["a", "b", "c"]}, "stop", "at most 2"),
        ({"n": 4}, "n", "n <= 3"),
        ({"tool_choice": "required"}, "tool_choice", "'auto'"),
        ({"temperature": "hot"}, "temperature", "must be a number"),
        ({"max_tokens": 0}, "max_tokens", "positive integer"),
        ({"extra_body": {"temperature": 3}}, "temperature", "out of range"),
    ],
)
def test_limits_are_checked_before_any_io(
    params: dict[str, Any], param: str, fragment: str, server: FakeServer, client: chatplug.Client
) -> None:
    with pytest.raises(chatplug.InvalidRequestError) as info:
        client.chat.completions.create(model="t-1", messages=MESSAGES, **params)
    assert info.value.param == param
    assert info.value.provider == "testprov"
    assert fragment in str(info.value)
    assert "testprov" in str(info.value)
    assert server.requests == []


@pytest.mark.parametrize(
    "messages",
    [[], "hi", [{"role": "wizard", "content": "x"}], [{"role": "user"}], [{"role": "tool", "content": "x"}]],
)
def test_malformed_messages_are_rejected_before_any_io(
    messages: Any, server: FakeServer, client: chatplug.Client
) -> None:
    with pytest.raises(chatplug.InvalidRequestError) as info:
        client.chat.completions.create(model="t-1", messages=messages)
    assert info.value.param == "messages"
    assert server.requests == []


@pytest.mark.anyio
async def test_async_limits_are_checked_before_any_io(server: FakeServer, aclient: chatplug.AsyncClient) -> None:
    with pytest.raises(chatplug.InvalidRequestError):
        await aclient.chat.completions.create(model="t-1", messages=MESSAGES, temperature=2)
    assert server.requests == []


def test_values_inside_the_limits_are_sent_unchanged(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.json(completion_body()))
    client.chat.completions.create(model="t-1", messages=MESSAGES, temperature=1, top_p=0.01, stop=["a", "b"], n=3,
                                   tool_choice="none")
    body = server.requests[0].json()
    assert (body["temperature"], body["top_p"], body["stop"], body["n"], body["tool_choice"]) == (
        1, 0.01, ["a", "b"], 3, "none")




def test_a_plain_openai_compatible_endpoint_needs_no_plugin(server: FakeServer) -> None:
    server.add(Reply.json(completion_body("no plugin needed")))
    with chatplug.Client(base_url=server.base_url, api_key=API_KEY,
                         registry=chatplug.PluginRegistry(load_entrypoints=False)) as client:
        reply = client.chat.completions.create(model="any-model", messages=MESSAGES)
    assert reply.choices[0].message.content == "no plugin needed"
    assert server.requests[0].json()["model"] == "any-model"


@pytest.mark.anyio
async def test_closing_an_async_stream_early_releases_the_connection(
    server: FakeServer, aclient: chatplug.AsyncClient
) -> None:
    server.add(Reply.sse([chunk({"content": str(i)}) for i in range(50)] + [chunk({}, "stop")],
                         delay_between_chunks=0.05))
    stream = await aclient.chat.completions.create(model="t-1", messages=MESSAGES, stream=True)
    async with stream:
        first = await stream.__anext__()
    await stream.close()  # twice is safe
    assert first.choices[0].delta.content == "0"
    assert server.client_disconnected.wait(10)
    with pytest.raises(chatplug.StreamInterruptedError) as caught:
        await stream.get_final_completion()
    assert caught.value.partial is not None
    assert caught.value.partial.choices[0].message.content == "0"
