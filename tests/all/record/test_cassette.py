"""Cassettes: a test's chatplug calls recorded once against the loopback
provider, then replayed with no key and no network (the server is stopped),
chunk by chunk, sync and async; unmatched or modified requests fail naming
what differed; no key ever reaches the file."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import chatplug
import httpx
import pytest
from chatplug.testing import Cassette, CassetteMismatch, FakeServer, Reply, use_cassette
from record_support import FIXTURES, MESSAGES, SECRET_KEY, crlf_with_keepalives

FRAMED_STREAM = crlf_with_keepalives((FIXTURES / "glm-stream-reasoning-glm45.sse").read_bytes())
TOOL_CALL = (FIXTURES / "glm-nonstream-tool-call.json").read_bytes()


def app_calls(base_url: str | None, *, model: str = "glm-4.5", content: str = "Hi there") -> dict[str, Any]:
    """A host app: builds its own client from the environment, streams one reply and completes another."""
    messages = [{"role": "user", "content": content}]
    with chatplug.Client(provider="glm", base_url=base_url, max_retries=0) as client:
        with client.chat.completions.create(model=model, messages=messages, stream=True) as stream:
            chunks = [chunk.to_dict() for chunk in stream]
            streamed = stream.get_final_completion().to_dict()
        whole = client.chat.completions.create(model="glm-4.7-flash", messages=messages).to_dict()
    return {"chunks": chunks, "streamed": streamed, "whole": whole}


def app_calls_async(base_url: str | None) -> dict[str, Any]:
    """The same app on the async client."""

    async def run() -> dict[str, Any]:
        async with chatplug.AsyncClient(provider="glm", base_url=base_url, max_retries=0) as client:
            stream = await client.chat.completions.create(model="glm-4.5", messages=MESSAGES, stream=True)
            async with stream:
                chunks = [chunk.to_dict() async for chunk in stream]
                streamed = (await stream.get_final_completion()).to_dict()
            whole = (await client.chat.completions.create(model="glm-4.7-flash", messages=MESSAGES)).to_dict()
        return {"chunks": chunks, "streamed": streamed, "whole": whole}

    return asyncio.run(run())


def _record(path: Path, monkeypatch: pytest.MonkeyPatch, *, asynchronous: bool = False) -> tuple[dict[str, Any], str]:
    """Record the app once against a live loopback server; returns what the app saw and the server's URL."""
    monkeypatch.setenv("ZAI_API_KEY", SECRET_KEY)
    with FakeServer() as server:
        server.add(Reply.sse_bytes(FRAMED_STREAM, chunk_size=5), Reply.json(TOOL_CALL))
        with use_cassette(path, record_mode="once") as cassette:
            seen = app_calls_async(server.base_url) if asynchronous else app_calls(server.base_url)
        assert len(server.requests) == 2
        assert len(cassette.recorded) == 2
        url = server.base_url
    monkeypatch.delenv("ZAI_API_KEY")
    return seen, url


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_record_then_replay_with_no_key_and_no_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       mode: str) -> None:
    path = tmp_path / "cassettes" / "app.json"
    asynchronous = mode == "async"
    live, url = _record(path, monkeypatch, asynchronous=asynchronous)
    assert "ZAI_API_KEY" not in os.environ
    with use_cassette(path) as cassette:  # the server is gone: any real request would fail to connect
        replayed = app_calls_async(url) if asynchronous else app_calls(url)
    assert replayed == live
    assert len(replayed["chunks"]) == FRAMED_STREAM.count(b"data: {")
    assert replayed["streamed"]["choices"][0]["message"]["content"] == "\n\nHi!"
    assert replayed["whole"]["choices"][0]["finish_reason"] == "tool_calls"
    assert cassette.play_counts == [1, 1]
    assert "ZAI_API_KEY" not in os.environ  # the placeholder key is gone again


def test_the_file_holds_the_stream_event_by_event_and_no_credential(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "app.json"
    _record(path, monkeypatch)
    text = path.read_text(encoding="utf-8")
    assert SECRET_KEY not in text
    assert "authorization" not in text.lower()
    data = json.loads(text)
    first, second = data["interactions"]
    assert (first["provider"], first["model"], second["model"]) == ("glm", "glm-4.5", "glm-4.7-flash")
    assert "".join(first["response"]["events"]).encode() == FRAMED_STREAM
    assert first["response"]["events"][1] == ": keep-alive\r\n\r\n"
    assert first["request"]["body"] == {"model": "glm-4.5", "messages": MESSAGES, "stream": True}
    assert second["response"]["body"].encode() == TOOL_CALL


class _CountingStream(httpx.SyncByteStream):
    """Wraps a response body to see the pieces the client receives, in order."""

    def __init__(self, inner: Any, pieces: list[bytes]) -> None:
        self._inner = inner
        self._pieces = pieces

    def __iter__(self) -> Any:
        for piece in self._inner:
            self._pieces.append(piece)
            yield piece

    def close(self) -> None:
        self._inner.close()


def test_replay_streams_event_by_event(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "app.json"
    _, url = _record(path, monkeypatch)
    pieces: list[bytes] = []
    seen: list[int] = []

    def count(response: httpx.Response) -> None:
        response.stream = _CountingStream(response.stream, pieces)

    with (
        use_cassette(path),
        httpx.Client(event_hooks={"response": [count]}) as http,
        chatplug.Client(provider="glm", base_url=url, http_client=http, max_retries=0) as client,
        client.chat.completions.create(model="glm-4.5", messages=MESSAGES, stream=True) as stream,
    ):
        for _ in stream:
            seen.append(len(pieces))  # how many pieces had arrived when each chunk came out
    events = json.loads(path.read_text())["interactions"][0]["response"]["events"]
    assert pieces == [event.encode() for event in events]  # one piece per recorded event, in order
    assert seen[0] < len(pieces)  # the first chunk came out before the last piece was read


def test_an_unmatched_model_fails_naming_the_difference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "app.json"
    _, url = _record(path, monkeypatch)
    with use_cassette(path) as cassette, pytest.raises(CassetteMismatch) as failure:
        app_calls(url, model="glm-4.6")
    message = str(failure.value)
    assert "no recorded call matches this request (provider='glm' model='glm-4.6' stream=True" in message
    assert "model: recorded 'glm-4.5', sent 'glm-4.6'" in message
    assert "body.model: recorded 'glm-4.5', sent 'glm-4.6'" in message
    assert "CHATPLUG_RECORD=new" in message
    assert cassette.errors == [message]
    assert json.loads(path.read_text())["interactions"][0]["model"] == "glm-4.5"  # nothing new was recorded


def test_a_modified_body_fails_naming_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "app.json"
    _, url = _record(path, monkeypatch)
    before = path.read_bytes()
    with use_cassette(path), pytest.raises(CassetteMismatch,
                                           match=r"body\.messages\[0\]\.content: recorded 'Hi there', sent 'Hello'"):
        app_calls(url, content="Hello")
    assert path.read_bytes() == before


def test_ignored_fields_and_a_custom_matcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "app.json"
    _, url = _record(path, monkeypatch)
    with use_cassette(path, ignore_body_fields=["messages"]):
        assert app_calls(url, content="Hello")["whole"]["choices"][0]["finish_reason"] == "tool_calls"

    def by_model_only(recorded: Any, sent: Any) -> list[str]:
        return [] if recorded.model == sent.model else ["another model"]

    with use_cassette(path, matcher=by_model_only):
        app_calls(url, content="anything at all")
    with pytest.raises(ValueError, match="match_on has"):
        Cassette(path, match_on=["prompt"])
    with pytest.raises(ValueError, match="record_mode='sometimes'"):
        Cassette(path, record_mode="sometimes")


def test_a_call_plays_once_unless_repeats_are_allowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "app.json"
    _, url = _record(path, monkeypatch)
    with use_cassette(path):
        app_calls(url)
        with pytest.raises(CassetteMismatch, match="matches call #1, which was already played"):
            app_calls(url)
    with use_cassette(path, allow_repeats=True):
        app_calls(url)
        app_calls(url)


def test_no_recording_unless_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "missing.json"
    monkeypatch.setenv("ZAI_API_KEY", SECRET_KEY)  # a key alone does not make a recording
    with FakeServer() as server:
        server.add(Reply.sse_bytes(FRAMED_STREAM), Reply.json(TOOL_CALL))
        with use_cassette(path), pytest.raises(CassetteMismatch, match=r"holds no calls \(the file does not exist\)"):
            app_calls(server.base_url)
        assert server.requests == []
    assert not path.exists()


def test_new_mode_appends_and_all_mode_rerecords(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "app.json"
    _record(path, monkeypatch)
    monkeypatch.setenv("ZAI_API_KEY", SECRET_KEY)
    with FakeServer() as server:
        server.add(Reply.sse_bytes(FRAMED_STREAM), Reply.json(TOOL_CALL))
        with use_cassette(path, record_mode="new"):
            app_calls(server.base_url, content="Hello")  # both calls differ from the recording: both recorded
        assert len(server.requests) == 2
        assert len(json.loads(path.read_text())["interactions"]) == 4
        server.add(Reply.sse_bytes(FRAMED_STREAM), Reply.json(TOOL_CALL))
        with use_cassette(path, record_mode="all"):
            app_calls(server.base_url, content="Again")
        assert len(server.requests) == 4
    interactions = json.loads(path.read_text())["interactions"]
    assert [i["request"]["body"]["messages"][0]["content"] for i in interactions] == ["Again", "Again"]


def test_no_key_in_the_cassette_even_when_the_provider_echoes_it(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "echo.json"
    monkeypatch.setenv("ZAI_API_KEY", SECRET_KEY)
    echo = {"error": {"message": f"Incorrect API key provided: {SECRET_KEY}", "type": "invalid_authentication_error"}}
    with FakeServer() as server:
        server.add(Reply.error(401, echo, headers={"x-request-id": SECRET_KEY}))
        with (
            use_cassette(path, record_mode="once"),
            chatplug.Client(provider="glm", base_url=server.base_url, max_retries=0) as client,
            pytest.raises(chatplug.AuthenticationError),
        ):
            client.chat.completions.create(model="glm-4.5", messages=MESSAGES)
        url = server.base_url
    text = path.read_text()
    assert SECRET_KEY not in text
    assert "Incorrect API key provided: ***" in text
    monkeypatch.delenv("ZAI_API_KEY")
    with (
        use_cassette(path),
        chatplug.Client(provider="glm", base_url=url, max_retries=0) as client,
        pytest.raises(chatplug.AuthenticationError, match=r"Incorrect API key provided: \*\*\*"),
    ):
        client.chat.completions.create(model="glm-4.5", messages=MESSAGES)


def test_other_httpx_traffic_passes_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "app.json"
    _record(path, monkeypatch)
    with FakeServer() as other, use_cassette(path):
        other.add(Reply.json({"plain": "httpx"}))
        assert httpx.post(other.base_url + "/anything", json={}).json() == {"plain": "httpx"}
    assert httpx.HTTPTransport.handle_request.__name__ == "handle_request"
    assert httpx.HTTPTransport.handle_request.__qualname__ == "HTTPTransport.handle_request"  # patch undone


def test_a_lent_http_client_is_covered_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "app.json"
    _, url = _record(path, monkeypatch)
    with (
        use_cassette(path),
        httpx.Client() as http,
        chatplug.Client(provider="glm", base_url=url, http_client=http, max_retries=0) as client,
        client.chat.completions.create(model="glm-4.5", messages=MESSAGES, stream=True) as stream,
    ):
        assert stream.get_final_completion().choices[0].message.content == "\n\nHi!"
