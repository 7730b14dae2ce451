"""The API key never leaks: not in a repr, a log line at DEBUG (httpx and
httpcore included), an exception or its traceback, nor CLI output with
``--debug``; and it never travels to another host through a redirect.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import subprocess
import sys
import traceback
import uuid
import warnings
from collections.abc import Iterator

import chatplug
import httpx
import pytest
from chatplug._transport import warn_insecure
from chatplug.testing import FakeServer, Reply
from reliability_support import (
    API_KEY,
    MESSAGES,
    TEST_PROVIDER,
    chunk,
    completion,
    make_registry,
    refused_base_url,
)

#: A server echoing the key back, as some gateways do in their 401 bodies.
ECHOING_401 = {"error": {"message": f"Incorrect API key provided: {API_KEY}", "type": "invalid_request_error",
                         "code": "invalid_api_key"}}


class RaisingObserver:
    """An observer that fails on every request: its logged traceback must not leak either."""

    @chatplug.hookimpl
    def chatplug_on_request(self, request: object) -> None:
        raise RuntimeError(f"observer failed while looking at {request!r}")


def leaks(text: str) -> bool:
    """Whether ``text`` holds the key, whole or its distinctive tail."""
    return API_KEY in text or API_KEY[-12:] in text


def describe_error(error: BaseException) -> str:
    """Everything a user might print about an error."""
    parts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    for name in ("message", "body", "headers", "partial", "request_id", "code"):
        parts.append(repr(getattr(error, name, None)))
    return "\n".join(parts)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture every log record at DEBUG, chatplug's, httpx's and httpcore's included."""
    names = ("chatplug", "httpx", "httpcore")
    previous = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    yield caplog
    for name, level in previous.items():
        logging.getLogger(name).setLevel(level)


def test_no_output_anywhere_holds_the_key(debug_logs: pytest.LogCaptureFixture,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    outputs: list[str] = []
    errors: list[BaseException] = []
    registry, recorder = make_registry(RaisingObserver())

    with FakeServer() as server:
        server.add(
            Reply.json(completion()),
            Reply.sse([chunk("a"), chunk(None, "stop")]),
            Reply.error(401, ECHOING_401),
            Reply.error(429, {"error": {"message": f"rate limited for key {API_KEY}"}}, headers={"Retry-After": "0"}),
            Reply.error(429, {"error": {"message": "rate limited"}}, headers={"Retry-After": "0"}),
            Reply.error(429, {"error": {"message": "rate limited"}}, headers={"Retry-After": "0"}),
            Reply.sse([chunk("cut")], close_after_chunks=1),
            Reply.sse([chunk("x"), b"event: error\ndata: {\"error\": {\"message\": \"bad key " + API_KEY.encode()
                       + b"\"}}\n\n"]),
        )
        client = chatplug.Client(provider="rel", api_key=API_KEY, base_url=server.base_url, registry=registry)
        client._sleep = lambda _: None
        outputs += [repr(client), str(client), repr(TEST_PROVIDER), repr(registry.providers)]
        outputs.append(repr(client.chat.completions.create(model="rel-1", messages=MESSAGES)))
        with client.chat.completions.create(model="rel-1", messages=MESSAGES, stream=True) as stream:
            outputs.append(repr(stream))
            outputs.append(repr(list(stream)))
        for _ in range(4):
            try:
                with client.chat.completions.create(model="rel-1", messages=MESSAGES, stream=True) as stream:
                    list(stream)
            except chatplug.ChatplugError as exc:
                errors.append(exc)
        client.close()

        monkeypatch.setenv("CHATPLUG_RELIABILITY_KEY", API_KEY)
        from_env = chatplug.Client(provider=TEST_PROVIDER, registry=registry, base_url=server.base_url)
        outputs += [repr(from_env), str(from_env)]

        async def async_calls() -> None:
            aclient = chatplug.AsyncClient(provider="rel", api_key=API_KEY, base_url=refused_base_url(),
                                           registry=registry, max_retries=1)
            outputs.append(repr(aclient))

            async def no_wait(_: float) -> None:
                return None

            aclient._sleep = no_wait
            try:
                await aclient.chat.completions.create(model="rel-1", messages=MESSAGES)
            except chatplug.ChatplugError as exc:
                errors.append(exc)
            await aclient.close()

        asyncio.run(async_calls())

    assert [type(error) for error in errors] == [
        chatplug.AuthenticationError,
        chatplug.RateLimitError,
        chatplug.StreamInterruptedError,
        chatplug.APIStatusError,
        chatplug.APIConnectionError,
    ]
    outputs += [describe_error(error) for error in errors]
    outputs += [repr(event) + repr(dict(event.headers)) for event in recorder.events]
    outputs += [record.getMessage() for record in debug_logs.records]
    outputs += [debug_logs.text]
    assert any(record.name.startswith("httpcore") for record in debug_logs.records)  # DEBUG really was on
    assert any("observer" in record.getMessage() for record in debug_logs.records)
    leaked = [text for text in outputs if leaks(text)]
    assert leaked == []


def test_the_key_is_sent_where_it_belongs() -> None:
    """The counterpart of the sweep: the key does reach the configured server, as a bearer token."""
    registry, _ = make_registry()
    with FakeServer(default=Reply.json(completion())) as server:
        with chatplug.Client(provider="rel", api_key=API_KEY, base_url=server.base_url, registry=registry) as client:
            client.chat.completions.create(model="rel-1", messages=MESSAGES)
        assert server.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize("follow_redirects", [False, True])
def test_a_redirect_never_carries_the_key_to_another_host(follow_redirects: bool) -> None:
    registry, _ = make_registry()
    with FakeServer(default=Reply.json(completion())) as elsewhere, FakeServer() as server:
        target = f"{elsewhere.base_url}/chat/completions"
        server.default = Reply.error(307, "", headers={"Location": target})
        lent = httpx.Client(follow_redirects=follow_redirects)  # even a host app's client set to follow
        client = chatplug.Client(provider="rel", api_key=API_KEY, base_url=server.base_url, registry=registry,
                                 http_client=lent)
        with pytest.raises(chatplug.APIStatusError) as caught:
            client.chat.completions.create(model="rel-1", messages=MESSAGES)
        lent.close()
        assert caught.value.status_code == 307
        assert target in str(caught.value)
        assert len(server.requests) == 1
        assert elsewhere.requests == []


def test_plain_http_to_a_remote_host_warns_once_per_host() -> None:
    host = f"api-{uuid.uuid4().hex[:8]}.example.com"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_insecure(f"http://{host}/v1/chat/completions")
        warn_insecure(f"http://{host}/v1/chat/completions")
        warn_insecure(f"https://{host}/v1/chat/completions")
        warn_insecure("http://127.0.0.1:8000/v1/chat/completions")
        warn_insecure("http://localhost:8000/v1/chat/completions")
    messages = [str(item.message) for item in caught]
    assert len(messages) == 1
    assert host in messages[0] and "https" in messages[0]


def test_a_client_on_plain_http_warns_once_and_still_works() -> None:
    """Through a real client: the call goes ahead (allowed), the warning comes once.
    A mock transport answers, so the remote host is never contacted."""
    host = f"gateway-{uuid.uuid4().hex[:8]}.example.net"
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=completion())

    registry, _ = make_registry()
    lent = httpx.Client(transport=httpx.MockTransport(answer))
    client = chatplug.Client(provider="rel", api_key=API_KEY, base_url=f"http://{host}/v1", registry=registry,
                             http_client=lent)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            assert client.chat.completions.create(model="rel-1", messages=MESSAGES).choices[0].message.content
    assert len([item for item in caught if host in str(item.message)]) == 1
    assert not any(leaks(str(item.message)) for item in caught)
    assert len(seen) == 3
    lent.close()


# ------------------------------------------------------------------------ CLI


needs_glm = pytest.mark.skipif(
    importlib.util.find_spec("chatplug_glm") is None, reason="the CLI cases pin the GLM plugin (plugins/glm)"
)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.endswith("_API_KEY")}
    env["PYTHONWARNINGS"] = "default"
    return subprocess.run([sys.executable, "-m", "chatplug", *args], capture_output=True, text=True, timeout=60,
                          env=env, check=False)


@needs_glm
@pytest.mark.parametrize(
    "reply",
    [
        Reply.sse([chunk("Hi "), chunk("there"), chunk(None, "stop")]),
        Reply.error(401, ECHOING_401),
        Reply.sse([chunk("cut")], close_after_chunks=1),
    ],
    ids=["stream", "401-echoing-the-key", "cut-stream"],
)
def test_cli_output_with_debug_never_shows_the_key(reply: Reply) -> None:
    with FakeServer(default=reply) as server:
        result = run_cli("chat", "--provider", "glm", "-m", "glm-4.6", "--base-url", server.base_url,
                         "--api-key", API_KEY, "--max-retries", "0", "--debug", "Say hi")
        assert server.requests, result.stderr
        assert server.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    output = result.stdout + result.stderr
    assert "chatplug" in output.lower() or "Hi there" in output  # the CLI did run and talk
    assert not leaks(output), output


@needs_glm
def test_cli_connection_error_with_debug_never_shows_the_key() -> None:
    result = run_cli("chat", "--provider", "glm", "-m", "glm-4.6", "--base-url", refused_base_url(),
                     "--api-key", API_KEY, "--max-retries", "0", "--debug", "Say hi")
    assert result.returncode == 1
    assert not leaks(result.stdout + result.stderr)
