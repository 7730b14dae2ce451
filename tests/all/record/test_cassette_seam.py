"""How a cassette learns of chatplug's requests: through the public
``chatplug_on_request`` observer hook only. Each attempt is tagged on its
own, so key pools (a key taken out mid-call) and fallbacks (two models in one
call) record and replay; keys are taken from the request as it goes out; a
request that looks like chatplug's but was never announced fails loudly and is
never sent; clients of another registry are covered when it is named."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import chatplug
import httpx
import pytest
from chatplug.plugins import default_registry
from chatplug.testing import CassetteMismatch, FakeServer, Reply, _cassette, use_cassette
from chatplug.testing._server import RecordedRequest
from record_support import FIXTURES, MESSAGES, SECRET_KEY

pytest_plugins = ["pytester"]

GLM_STREAM = (FIXTURES / "glm-stream-reasoning-glm45.sse").read_bytes()
KIMI_STREAM = (FIXTURES / "kimi-stream-k2-0905.sse").read_bytes()
TOOL_CALL = (FIXTURES / "glm-nonstream-tool-call.json").read_bytes()

KEY_A = "sk-pool-first-0a1b2c3d4e5f6a7b"
KEY_B = "sk-pool-second-9f8e7d6c5b4a3f2e"
KIMI_KEY = "sk-kimi-fallback-5c6d7e8f9a0b1c2d"


def _auth(request: RecordedRequest) -> str:
    headers = {name.lower(): value for name, value in request.headers.items()}
    return headers.get("authorization", "")


def _echo_key_a(request: RecordedRequest) -> Reply | None:
    """The provider refuses KEY_A, echoing it back in the body and a header (as some providers do)."""
    if KEY_A not in _auth(request):
        return None
    body = {"error": {"message": f"Incorrect API key provided: {KEY_A}", "type": "invalid_authentication_error"}}
    return Reply.error(401, body, headers={"x-echo": _auth(request)})


def _pool_app(base_url: str) -> dict[str, Any]:
    """An app with a key pool: a whole reply (its first key is refused, so a second attempt uses the
    other key), then a stream on the key that is left."""
    with chatplug.Client(provider="glm", base_url=base_url, api_key=[KEY_A, KEY_B], max_retries=0) as client:
        whole = client.chat.completions.create(model="glm-4.7-flash", messages=MESSAGES).to_dict()
        with client.chat.completions.create(model="glm-4.5", messages=MESSAGES, stream=True) as stream:
            chunks = [chunk.to_dict() for chunk in stream]
        return {"whole": whole, "chunks": chunks}


def test_a_key_pool_records_each_attempt_with_no_key_and_replays_it(tmp_path: Path) -> None:
    path = tmp_path / "pool.json"
    with FakeServer(responder=_echo_key_a) as server:
        server.add(Reply.json(TOOL_CALL), Reply.sse_bytes(GLM_STREAM, chunk_size=7))
        with use_cassette(path, record_mode="once") as cassette:
            live = _pool_app(server.base_url)
        assert [_auth(request) for request in server.requests] == [f"Bearer {KEY_A}", f"Bearer {KEY_B}",
                                                                    f"Bearer {KEY_B}"]
        url = server.base_url
    assert len(cassette.recorded) == 3
    text = path.read_text(encoding="utf-8")
    assert KEY_A not in text and KEY_B not in text
    assert "authorization" not in text.lower() and "x-echo" not in text  # a header holding the key is dropped
    refused, answered, streamed = json.loads(text)["interactions"]
    assert refused["response"]["status"] == 401
    assert json.loads(refused["response"]["body"])["error"]["message"] == "Incorrect API key provided: ***"
    assert (answered["response"]["status"], answered["model"]) == (200, "glm-4.7-flash")
    assert refused["request"]["body"] == answered["request"]["body"]  # two attempts of one call
    assert "".join(streamed["response"]["events"]).encode() == GLM_STREAM
    # replay: the server is gone; the same pool sees the 401, drops KEY_A and retries on KEY_B, from the file
    with use_cassette(path) as replay:
        assert _pool_app(url) == live
    assert replay.play_counts == [1, 1, 1]


def _fallback_app() -> dict[str, Any]:
    """An app whose GLM call falls back to Kimi (one call, two models), on the async client."""

    async def run() -> dict[str, Any]:
        async with chatplug.AsyncClient(max_retries=0, fallbacks=["kimi/kimi-k2-0905-preview"]) as client:
            stream = await client.chat.completions.create(model="glm-4.5", messages=MESSAGES, stream=True)
            async with stream:
                chunks = [chunk.to_dict() async for chunk in stream]
                final = (await stream.get_final_completion()).to_dict()
        return {"chunks": chunks, "final": final}

    return asyncio.run(run())


def test_a_fallback_records_both_models_of_one_call_and_replays_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "fallback.json"
    monkeypatch.setenv("ZAI_API_KEY", SECRET_KEY)
    monkeypatch.setenv("MOONSHOT_API_KEY", KIMI_KEY)
    overloaded = {"error": {"message": "The service may be temporarily overloaded", "type": "server_error"}}
    with FakeServer() as glm, FakeServer() as kimi:
        monkeypatch.setenv("ZAI_BASE_URL", glm.base_url)
        monkeypatch.setenv("MOONSHOT_BASE_URL", kimi.base_url)
        glm.add(Reply.error(503, overloaded))
        kimi.add(Reply.sse_bytes(KIMI_STREAM, chunk_size=11))
        with use_cassette(path, record_mode="once") as cassette:
            live = _fallback_app()
        assert (len(glm.requests), len(kimi.requests)) == (1, 1)
    assert live["final"]["model"] == "kimi-k2-0905-preview"
    assert len(cassette.recorded) == 2
    text = path.read_text(encoding="utf-8")
    assert SECRET_KEY not in text and KIMI_KEY not in text
    first, second = json.loads(text)["interactions"]
    assert (first["provider"], first["model"], first["response"]["status"]) == ("glm", "glm-4.5", 503)
    assert (second["provider"], second["model"]) == ("kimi", "kimi-k2-0905-preview")
    assert second["request"]["body"]["model"] == "kimi-k2-0905-preview"
    assert "".join(second["response"]["events"]).encode() == KIMI_STREAM
    # replay with no key and both servers gone: the 503 is replayed, the call falls back, the stream replays
    for name in ("ZAI_API_KEY", "MOONSHOT_API_KEY"):
        monkeypatch.delenv(name)
    with use_cassette(path) as replay:
        assert _fallback_app() == live
    assert replay.play_counts == [1, 1]


def _answer_by_prompt(request: RecordedRequest) -> Reply:
    """A completion answering the request's own prompt (so concurrent replies cannot be swapped unseen)."""
    content = request.json()["messages"][0]["content"]
    return Reply.json({"id": content, "object": "chat.completion", "created": 1, "model": "glm-4.5",
                       "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": f"re: {content}"}}]},
                      delay_before_headers=0.01)


def test_threads_each_tag_their_own_attempts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One client shared by threads: each attempt's note lives in its own thread's context."""
    path = tmp_path / "threads.json"
    monkeypatch.setenv("ZAI_API_KEY", SECRET_KEY)
    prompts = [f"question {n}" for n in range(6)]

    def ask_all(base_url: str) -> list[str]:
        def pause(request: httpx.Request) -> None:
            time.sleep(0.01)  # between chatplug_on_request and the transport: lets the other threads announce theirs

        with httpx.Client(event_hooks={"request": [pause]}) as http, \
                chatplug.Client(provider="glm", base_url=base_url, http_client=http, max_retries=0) as client, \
                ThreadPoolExecutor(max_workers=3) as pool:
            def ask(prompt: str) -> str:
                reply = client.chat.completions.create(model="glm-4.5",
                                                       messages=[{"role": "user", "content": prompt}])
                return reply.choices[0].message.content or ""
            return list(pool.map(ask, prompts))

    with FakeServer(responder=_answer_by_prompt) as server:
        with use_cassette(path, record_mode="once"):
            assert ask_all(server.base_url) == [f"re: {prompt}" for prompt in prompts]
        url = server.base_url
    monkeypatch.delenv("ZAI_API_KEY")
    with use_cassette(path) as replay:
        assert ask_all(url) == [f"re: {prompt}" for prompt in prompts]
    assert replay.play_counts == [1] * len(prompts)


def test_concurrent_tasks_each_tag_their_own_attempts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One async client, several calls in flight at once: each task's note lives in its own context."""
    path = tmp_path / "tasks.json"
    monkeypatch.setenv("ZAI_API_KEY", SECRET_KEY)
    prompts = [f"task {n}" for n in range(6)]

    def ask_all(base_url: str) -> list[str]:
        async def run() -> list[str]:
            async def pause(request: httpx.Request) -> None:
                await asyncio.sleep(0.01)  # between chatplug_on_request and the transport: the other tasks run

            async with httpx.AsyncClient(event_hooks={"request": [pause]}) as http, \
                    chatplug.AsyncClient(provider="glm", base_url=base_url, http_client=http, max_retries=0) as client:
                async def ask(prompt: str) -> str:
                    reply = await client.chat.completions.create(model="glm-4.5",
                                                                 messages=[{"role": "user", "content": prompt}])
                    return reply.choices[0].message.content or ""
                return list(await asyncio.gather(*(ask(prompt) for prompt in prompts)))
        return asyncio.run(run())

    with FakeServer(responder=_answer_by_prompt) as server:
        with use_cassette(path, record_mode="once"):
            assert ask_all(server.base_url) == [f"re: {prompt}" for prompt in prompts]
        url = server.base_url
    monkeypatch.delenv("ZAI_API_KEY")
    with use_cassette(path) as replay:
        assert ask_all(url) == [f"re: {prompt}" for prompt in prompts]
    assert replay.play_counts == [1] * len(prompts)


# --------------------------------------------------------------------- another registry, custom credentials

VAULT_TOKEN = "vault-session-token-3e4f5a6b7c8d"


class _Vault:
    """A host app's plugin: a provider that sends its key in ``x-api-key`` (no scheme), plus a
    vault session header its credentials hook adds."""

    def __init__(self, base_url: str) -> None:
        self.provider = chatplug.Provider(id="vaulted", base_url=base_url, models=("vault-1",),
                                          auth_header="x-api-key", auth_scheme="")

    @chatplug.hookimpl
    def chatplug_providers(self) -> chatplug.Provider:
        return self.provider

    @chatplug.hookimpl(tryfirst=True)
    def chatplug_credentials(self, provider: chatplug.Provider, api_key: str | None) -> dict[str, str] | None:
        if provider.id != "vaulted":
            return None
        return {"x-api-key": api_key or "", "X-Vault-Session": VAULT_TOKEN}


def _registry(base_url: str) -> chatplug.PluginRegistry:
    registry = chatplug.PluginRegistry(load_entrypoints=False)
    registry.register(_Vault(base_url), name="vault")
    return registry


def _echo_everything(request: RecordedRequest) -> Reply:
    """A provider that echoes every request header back (in the body and in headers)."""
    echoed = json.dumps(request.headers)
    return Reply.json({"id": "x", "object": "chat.completion", "created": 1, "model": "vault-1",
                       "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": echoed}}]},
                      headers={"x-seen-key": request.headers.get("x-api-key", "")})


def _vault_call(registry: chatplug.PluginRegistry) -> str:
    with chatplug.Client(registry=registry, provider="vaulted", api_key=SECRET_KEY, max_retries=0) as client:
        return client.chat.completions.create(model="vault-1", messages=MESSAGES).choices[0].message.content or ""


def test_a_client_of_an_unwatched_registry_fails_loudly_and_sends_nothing(tmp_path: Path) -> None:
    path = tmp_path / "vault.json"
    with FakeServer(responder=_echo_everything) as server:
        registry = _registry(server.base_url)
        for mode in ("none", "all"):  # replaying or recording, an unannounced chatplug request is never sent
            with use_cassette(path, record_mode=mode) as cassette, pytest.raises(CassetteMismatch) as failure:
                _vault_call(registry)
            message = str(failure.value)
            assert "a chatplug request reached the network layer without being announced to the cassette" in message
            assert f"POST {server.base_url}/chat/completions; it has chatplug's User-Agent" in message
            assert "registries=[that registry]" in message
            assert SECRET_KEY not in message
            assert cassette.errors == [message]
        assert server.requests == []
    assert not path.exists()


def test_a_named_registry_records_with_its_own_auth_header_scrubbed_and_replays(tmp_path: Path) -> None:
    path = tmp_path / "vault.json"
    with FakeServer(responder=_echo_everything) as server:
        registry = _registry(server.base_url)
        with use_cassette(path, record_mode="once", registries=[registry]):
            live = _vault_call(registry)
        sent = server.last_request.headers
        assert (sent["x-api-key"], sent["x-vault-session"]) == (SECRET_KEY, VAULT_TOKEN)
    assert SECRET_KEY in live and VAULT_TOKEN in live  # the app saw the echo live
    text = path.read_text(encoding="utf-8")
    assert SECRET_KEY not in text and VAULT_TOKEN not in text
    [interaction] = json.loads(text)["interactions"]
    assert "x-api-key" not in interaction["request"]["headers"]
    assert "x-vault-session" not in interaction["request"]["headers"]
    assert "x-seen-key" not in interaction["response"]["headers"]
    assert interaction["provider"] == "vaulted"
    with use_cassette(path, registries=[registry]):
        replayed = _vault_call(registry)
    assert replayed == live.replace(SECRET_KEY, "***").replace(VAULT_TOKEN, "***")


# --------------------------------------------------------------------- when tagging fails

def test_a_failing_tag_fails_the_call_loudly_in_replay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """Observers are isolated (a raising one is logged, the call goes on), so a tag that fails must be
    caught at the transport: the request has chatplug's User-Agent and goes to a provider's URL."""
    path = tmp_path / "app.json"
    path.write_text(json.dumps({"chatplug_cassette": 1, "interactions": []}))

    @chatplug.hookimpl
    def broken(self: Any, request: Any) -> None:
        raise RuntimeError("tagging broke")

    monkeypatch.setattr(_cassette._Tagger, "chatplug_on_request", broken)
    with FakeServer() as server:
        monkeypatch.setenv("ZAI_BASE_URL", server.base_url)
        with (
            caplog.at_level(logging.ERROR, logger="chatplug"),
            use_cassette(path) as cassette,
            chatplug.Client(max_retries=0) as client,
            pytest.raises(CassetteMismatch, match="it goes to glm's URL"),
        ):
            client.chat.completions.create(model="glm-4.5", messages=MESSAGES)
        assert server.requests == []
    assert len(cassette.errors) == 1
    assert "chatplug observer chatplug.testing.cassette.chatplug_on_request raised" in caplog.text


def test_plain_httpx_to_a_providers_chat_url_is_refused_other_paths_pass(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "app.json"
    path.write_text(json.dumps({"chatplug_cassette": 1, "interactions": []}))
    with FakeServer(default=Reply.json({"plain": "httpx"})) as server:
        monkeypatch.setenv("ZAI_BASE_URL", server.base_url)
        with use_cassette(path):
            with pytest.raises(CassetteMismatch, match="it goes to glm's URL") as failure:
                httpx.post(server.url.replace("http://", "http://user:hunter22@") + "/v1/chat/completions?key=x",
                           json={"model": "glm-4.5"})
            assert f"(POST {server.base_url}/chat/completions; it goes" in str(failure.value)  # no user info, no query
            assert httpx.get(server.base_url + "/models").json() == {"plain": "httpx"}
        assert [request.path for request in server.requests] == ["/v1/models"]


def test_another_observer_raising_does_not_stop_the_tag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Noisy:
        @chatplug.hookimpl
        def chatplug_on_request(self, request: Any) -> None:
            raise RuntimeError("an app observer broke")

    path = tmp_path / "app.json"
    monkeypatch.setenv("ZAI_API_KEY", SECRET_KEY)
    noisy = Noisy()
    chatplug.register_plugin(noisy, name="noisy-observer")
    try:
        with FakeServer() as server:
            server.add(Reply.json(TOOL_CALL))
            with use_cassette(path, record_mode="once"), \
                    chatplug.Client(provider="glm", base_url=server.base_url, max_retries=0) as client:
                client.chat.completions.create(model="glm-4.5", messages=MESSAGES)
    finally:
        default_registry().unregister(noisy)
    assert json.loads(path.read_text())["interactions"][0]["model"] == "glm-4.5"


# --------------------------------------------------------------------- the observer's life

def test_the_observer_is_registered_only_while_a_cassette_is_active(tmp_path: Path) -> None:
    registry = chatplug.PluginRegistry(load_entrypoints=False)
    pm = default_registry().pm
    assert not pm.has_plugin(_cassette.TAGGER_NAME)
    outer = use_cassette(tmp_path / "outer.json", registries=[registry])
    with outer:
        with use_cassette(tmp_path / "inner.json", registries=[registry, default_registry()]):
            assert pm.has_plugin(_cassette.TAGGER_NAME) and registry.pm.has_plugin(_cassette.TAGGER_NAME)
        assert pm.has_plugin(_cassette.TAGGER_NAME) and registry.pm.has_plugin(_cassette.TAGGER_NAME)
    assert not pm.has_plugin(_cassette.TAGGER_NAME) and not registry.pm.has_plugin(_cassette.TAGGER_NAME)
    assert httpx.HTTPTransport.handle_request.__qualname__ == "HTTPTransport.handle_request"


def test_a_note_left_by_a_request_that_was_never_sent_is_not_reused(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """An attempt announced but never sent (its request could not be built) must not tag the next
    unrelated request, even one to the same URL."""
    path = tmp_path / "app.json"
    path.write_text(json.dumps({"chatplug_cassette": 1, "interactions": []}))
    with FakeServer(default=Reply.json({"plain": "httpx"})) as server, use_cassette(path):
        event = chatplug.RequestEvent(call_id=1, attempt=0, provider=default_registry().provider("glm"),
                                      model="glm-4.5", method="POST", url=server.url + "/elsewhere",
                                      headers={}, payload={}, stream=False)
        _cassette._TAGGER.chatplug_on_request(event)
        assert httpx.post(server.url + "/other", json={}).json() == {"plain": "httpx"}  # another URL: untouched
        with pytest.raises(CassetteMismatch, match="holds no calls"):  # the note's own URL claims it
            httpx.post(server.url + "/elsewhere", json={})
        assert httpx.post(server.url + "/elsewhere", json={}).json() == {"plain": "httpx"}  # claimed once only
        assert [request.path for request in server.requests] == ["/other", "/elsewhere"]


class _KeyInDefaultHeaders:
    """A host app that sends its key itself, in ``default_headers``: its credentials hook adds none,
    so the observer event shows the header as is and only the outgoing auth header reveals the key."""

    @chatplug.hookimpl
    def chatplug_providers(self) -> chatplug.Provider:
        return chatplug.Provider(id="selfkeyed", base_url="http://127.0.0.1:9/v1", models=("self-1",))

    @chatplug.hookimpl(tryfirst=True)
    def chatplug_credentials(self, provider: chatplug.Provider) -> dict[str, str] | None:
        return {} if provider.id == "selfkeyed" else None


def test_the_key_is_taken_from_the_outgoing_auth_header_itself(tmp_path: Path) -> None:
    path = tmp_path / "selfkeyed.json"
    registry = chatplug.PluginRegistry(load_entrypoints=False)
    registry.register(_KeyInDefaultHeaders(), name="selfkeyed")
    with FakeServer(responder=_echo_everything) as server:
        with (
            use_cassette(path, record_mode="once", registries=[registry]),
            chatplug.Client(registry=registry, provider="selfkeyed", base_url=server.base_url, max_retries=0,
                            default_headers={"Authorization": f"Bearer {SECRET_KEY}"}) as client,
        ):
            live = client.chat.completions.create(model="self-1", messages=MESSAGES).choices[0].message.content
        assert _auth(server.last_request) == f"Bearer {SECRET_KEY}"
    assert live is not None and SECRET_KEY in live
    text = path.read_text(encoding="utf-8")
    assert SECRET_KEY not in text
    [interaction] = json.loads(text)["interactions"]
    assert "authorization" not in interaction["request"]["headers"]
    echoed = json.loads(json.loads(interaction["response"]["body"])["choices"][0]["message"]["content"])
    assert echoed["authorization"] == "***"  # the provider's echo of the whole header value, scrubbed


# --------------------------------------------------------------------- the pytest marker

REGISTRY_APP = '''
import os

import chatplug
import pytest


class LocalModels:
    @chatplug.hookimpl
    def chatplug_providers(self):
        return chatplug.Provider(id="local", base_url=os.environ["APP_BASE_URL"], models=("local-1",),
                                 api_key_env=("LOCAL_API_KEY",))


REGISTRY = chatplug.PluginRegistry(load_entrypoints=False)
REGISTRY.register(LocalModels(), name="local-models")


@pytest.mark.chatplug_cassette(registries=[REGISTRY])
def test_local(chatplug_cassette):
    with chatplug.Client(registry=REGISTRY, max_retries=0) as client:
        reply = client.chat.completions.create(model="local-1", messages=[{"role": "user", "content": "Hi"}])
    assert reply.choices[0].finish_reason == "tool_calls"
'''


def test_the_marker_names_a_registry_and_replay_needs_no_key_for_its_providers(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHATPLUG_RECORD", raising=False)
    monkeypatch.delenv("LOCAL_API_KEY", raising=False)
    pytester.makeconftest('pytest_plugins = ["chatplug.testing"]')
    pytester.makepyfile(test_app=REGISTRY_APP)
    cassette = pytester.path / "cassettes" / "test_app" / "test_local.json"
    with FakeServer() as server:
        monkeypatch.setenv("APP_BASE_URL", server.base_url)
        monkeypatch.setenv("LOCAL_API_KEY", SECRET_KEY)
        server.add(Reply.json(TOOL_CALL))
        pytester.runpytest("-q", "--chatplug-record=once").assert_outcomes(passed=1)
        assert _auth(server.last_request) == f"Bearer {SECRET_KEY}"
    assert SECRET_KEY not in cassette.read_text(encoding="utf-8")
    assert json.loads(cassette.read_text(encoding="utf-8"))["interactions"][0]["provider"] == "local"
    monkeypatch.delenv("LOCAL_API_KEY")  # the server is gone, and no key: the registry's provider gets a placeholder
    pytester.runpytest("-q").assert_outcomes(passed=1)
