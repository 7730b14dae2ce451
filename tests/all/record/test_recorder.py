"""The recorder: what the loopback provider sent is what lands on disk, byte
for byte, with no credential in it, and the files replay to the same chunks
and the same final completion (sync and async)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from chatplug.testing import FakeServer, Reply
from chatplug.testing._record import PROMPT_REMOVED, record_call, save_fixture
from chatplug.testing._replay import load_recording
from record_support import (
    FIXTURES,
    MESSAGES,
    SECRET_KEY,
    crlf_with_keepalives,
    every_recorded_byte,
    run_module,
    stream_async,
    stream_sync,
)

REAL_STREAM = (FIXTURES / "glm-stream-reasoning-glm45.sse").read_bytes()
FRAMED_STREAM = crlf_with_keepalives(REAL_STREAM)


def _record_stream(server: FakeServer, monkeypatch: pytest.MonkeyPatch, out: Path, data: bytes,
                   chunk_size: int | None = None) -> tuple[Path, Path]:
    server.add(Reply.sse_bytes(data, chunk_size=chunk_size,
                               headers={"x-request-id": "req-42", "x-ratelimit-remaining-requests": "99",
                                        "set-cookie": "session=abc"}))
    monkeypatch.setenv("ZAI_API_KEY", SECRET_KEY)
    recorded = record_call(provider="glm", model="glm-4.5", messages=MESSAGES, stream=True,
                           base_url=server.base_url)
    return save_fixture(recorded.exchange, out, "glm-stream", base_url_note=" through the test server")


def test_stream_bytes_on_disk_equal_the_bytes_sent(server: FakeServer, monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    body, source = _record_stream(server, monkeypatch, tmp_path, FRAMED_STREAM, chunk_size=7)
    assert body.name == "glm-stream.sse"
    assert body.read_bytes() == FRAMED_STREAM  # CRLF and both keep-alive comments kept, pieces joined
    assert b"\r\n: keep-alive\r\n\r\n" in body.read_bytes()
    text = source.read_text(encoding="utf-8")
    assert text.startswith("Source: recorded with `python -m chatplug.testing record`")
    fields = dict(line.split(": ", 1) for line in text.splitlines())
    assert fields["Provider"] == "glm"
    assert fields["Model"] == "glm-4.5"
    assert fields["Endpoint"] == f"POST {server.base_url}/chat/completions"
    assert fields["Response"] == "HTTP 200"
    assert json.loads(fields["Response-Headers"]) == {
        "content-type": "text/event-stream", "x-request-id": "req-42", "x-ratelimit-remaining-requests": "99"}
    assert json.loads(fields["Request"]) == {"model": "glm-4.5", "messages": MESSAGES, "stream": True}
    assert "authorization" not in fields["Request-Headers"].lower()
    assert "line endings CRLF" in fields["Class"]
    assert "2 comment/keep-alive" in fields["Class"]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_recording_replays_to_the_same_chunks_and_completion(server: FakeServer, monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path, mode: str) -> None:
    read = stream_sync if mode == "sync" else stream_async
    server.add(Reply.sse_bytes(FRAMED_STREAM))
    original_chunks, original_final = read(server.base_url)
    body, _ = _record_stream(server, monkeypatch, tmp_path, FRAMED_STREAM)
    with FakeServer() as replay:
        replay.add(Reply.recorded(body))
        replayed_chunks, replayed_final = read(replay.base_url)
    assert replayed_chunks == original_chunks
    assert len(replayed_chunks) == REAL_STREAM.count(b"data: {")
    assert replayed_final == original_final
    assert replayed_final["choices"][0]["message"]["content"] == "\n\nHi!"


def test_replayed_recording_sends_the_same_bytes_again(server: FakeServer, monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    body, _ = _record_stream(server, monkeypatch, tmp_path / "first", FRAMED_STREAM)
    with FakeServer() as replay:
        replay.add(Reply.recorded(body))
        again, _ = _record_stream(replay, monkeypatch, tmp_path / "second", b"unused")
    # the second recording was of the replay server, which had the recorded reply queued first
    assert again.read_bytes() == FRAMED_STREAM


def test_json_completion_kept_verbatim(server: FakeServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    raw = (FIXTURES / "glm-nonstream-tool-call.json").read_bytes()
    server.add(Reply.json(raw, headers={"x-request-id": "r-1"}))
    monkeypatch.setenv("ZAI_API_KEY", SECRET_KEY)
    recorded = record_call(provider="glm", model="glm-4.7-flash", messages=MESSAGES, base_url=server.base_url)
    assert recorded.outcome == "ChatCompletion (finish_reason=tool_calls)"
    body, _ = save_fixture(recorded.exchange, tmp_path, "glm-nonstream")
    assert body.name == "glm-nonstream.json"
    assert body.read_bytes() == raw


def test_gzip_body_is_stored_decoded(server: FakeServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    raw = (FIXTURES / "glm-nonstream-tool-call.json").read_bytes()
    server.add(Reply(status=200, headers=(("Content-Type", "application/json"), ("Content-Encoding", "gzip")),
                     body=gzip.compress(raw)))
    monkeypatch.setenv("ZAI_API_KEY", SECRET_KEY)
    recorded = record_call(provider="glm", model="glm-4.7-flash", messages=MESSAGES, base_url=server.base_url)
    body, source = save_fixture(recorded.exchange, tmp_path, "glm-gzip")
    assert body.read_bytes() == raw
    assert "content-encoding" not in source.read_text()  # the stored body is no longer compressed


def test_no_key_in_any_recorded_file_even_when_the_provider_echoes_it(
        server: FakeServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    echo = {"error": {"message": f"Incorrect API key provided: {SECRET_KEY}. Bearer {SECRET_KEY}",
                      "type": "invalid_authentication_error"}}
    server.add(Reply.error(401, echo, headers={"x-request-id": f"req-{SECRET_KEY}"}))
    monkeypatch.setenv("ZAI_API_KEY", SECRET_KEY)
    recorded = record_call(provider="glm", model="glm-4.5", messages=MESSAGES, base_url=server.base_url)
    assert server.last_request.headers["authorization"] == f"Bearer {SECRET_KEY}"  # it was sent, then scrubbed
    assert recorded.outcome.startswith("AuthenticationError")
    assert recorded.exchange.redactions == 2
    body, source = save_fixture(recorded.exchange, tmp_path, "glm-error-401")
    for path, data in every_recorded_byte(tmp_path):
        assert SECRET_KEY.encode() not in data, f"the key leaked into {path.name}"
        assert b"sk-record-test" not in data
    # "Bearer <key>" is one secret, replaced whole
    assert json.loads(body.read_bytes())["error"]["message"] == "Incorrect API key provided: ***. ***"
    assert "replaced by *** in 2 place(s)" in source.read_text()
    assert load_recording(body).status == 401


def test_key_in_a_stream_and_a_text_body_is_scrubbed_too(server: FakeServer, monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    monkeypatch.setenv("ZAI_API_KEY", SECRET_KEY)
    server.add(Reply.sse([{"error": {"message": f"bad key {SECRET_KEY}"}}], done=False))
    stream = record_call(provider="glm", model="glm-4.5", messages=MESSAGES, stream=True, base_url=server.base_url)
    server.add(Reply.error(502, f"<html>upstream said {SECRET_KEY}</html>"))
    text = record_call(provider="glm", model="glm-4.5", messages=MESSAGES, base_url=server.base_url)
    save_fixture(stream.exchange, tmp_path, "stream-error")
    body, _ = save_fixture(text.exchange, tmp_path, "html-error")
    assert body.suffix == ".txt"
    assert body.read_bytes() == b"<html>upstream said ***</html>"
    for path, data in every_recorded_byte(tmp_path):
        assert SECRET_KEY.encode() not in data, f"the key leaked into {path.name}"


@pytest.mark.parametrize(("replacement", "stored"),
                         [(PROMPT_REMOVED, "[prompt removed]"), ("a greeting", "a greeting")])
def test_prompt_stripped_or_replaced_in_the_stored_request(server: FakeServer, monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path, replacement: str, stored: str) -> None:
    monkeypatch.setenv("ZAI_API_KEY", SECRET_KEY)
    server.add(Reply.json((FIXTURES / "glm-nonstream-tool-call.json").read_bytes()))
    messages: list[dict[str, Any]] = [{"role": "system", "content": "private system prompt"},
                                      {"role": "user", "content": [{"type": "text", "text": "my secret plans"}]}]
    recorded = record_call(provider="glm", model="glm-4.7-flash", messages=messages, base_url=server.base_url)
    assert server.last_request.json()["messages"] == messages  # the real prompt was sent
    _, source = save_fixture(recorded.exchange, tmp_path, "glm", prompt_replacement=replacement)
    text = source.read_text()
    assert "private system prompt" not in text and "my secret plans" not in text
    request = json.loads(next(line for line in text.splitlines() if line.startswith("Request: "))[9:])
    assert request["messages"] == [{"role": "system", "content": stored},
                                   {"role": "user", "content": [{"type": "text", "text": stored}]}]


# ---------------------------------------------------------------- the command


def test_record_command_writes_a_fixture_the_conformance_kit_reads(server: FakeServer, tmp_path: Path) -> None:
    server.add(Reply.sse_bytes(FRAMED_STREAM))
    done = run_module(["record", "--provider", "glm", "--model", "glm-4.5", "--prompt", "Hi there", "--stream",
                       "--base-url", server.base_url, "--out", str(tmp_path), "--strip-prompt"],
                      env={"ZAI_API_KEY": SECRET_KEY})
    assert done.returncode == 0, done.stderr
    written = [Path(line) for line in done.stdout.splitlines()]
    assert [p.name for p in written] == ["glm-stream-glm-4.5.sse", "glm-stream-glm-4.5.source.txt"]
    assert written[0].read_bytes() == FRAMED_STREAM
    assert "HTTP 200 text/event-stream" in done.stderr
    assert "ChatCompletion (finish_reason=stop)" in done.stderr
    assert "Hi there" not in written[1].read_text()
    assert SECRET_KEY not in done.stdout + done.stderr
    assert server.last_request.json()["messages"] == [{"role": "user", "content": "Hi there"}]
    server.add(Reply.sse_bytes(FRAMED_STREAM))
    again = run_module(["record", "--provider", "glm", "--model", "glm-4.5", "--stream",
                        "--base-url", server.base_url, "--out", str(tmp_path)], env={"ZAI_API_KEY": SECRET_KEY})
    assert again.returncode == 2
    assert "exists; pick another --name or pass --force" in again.stderr


def test_record_command_params_and_error_name(server: FakeServer, tmp_path: Path) -> None:
    server.add(Reply.error(404, (FIXTURES / "kimi-error-invalid-authentication.json").read_bytes()
                           .replace(b"Invalid Authentication", b"Not found the model nope")))
    done = run_module(["record", "--provider", "kimi", "--model", "nope", "--param", "max_tokens=16",
                       "--param", "stop=[\"x\"]", "--extra-body", '{"partial": false}', "--base-url", server.base_url,
                       "--out", str(tmp_path)], env={"MOONSHOT_API_KEY": SECRET_KEY})
    assert done.returncode == 0, done.stderr
    assert server.last_request.json() == {"model": "nope", "messages": [{"role": "user",
                                          "content": "Say hello in five words."}],
                                          "max_tokens": 16, "stop": ["x"], "partial": False}
    assert [Path(line).name for line in done.stdout.splitlines()] == [
        "kimi-error-404-nope.json", "kimi-error-404-nope.source.txt"]
    assert "HTTP 404" in done.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--provider", "no-such-provider", "--model", "m"], "no-such-provider"),
    (["--provider", "glm", "--model", "m", "--param", "oops"], "expected NAME=VALUE"),
    (["--provider", "glm", "--model", "m", "--extra-body", "{nope"], "--extra-body is not JSON"),
    (["--provider", "glm", "--model", "m", "--param", "temperature=9"], "temperature=9 is out of range"),
])
def test_record_command_bad_arguments_exit_2_before_any_request(server: FakeServer, tmp_path: Path,
                                                               args: list[str], message: str) -> None:
    done = run_module(["record", *args, "--base-url", server.base_url, "--out", str(tmp_path)],
                      env={"ZAI_API_KEY": SECRET_KEY})
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert server.requests == []
    assert list(tmp_path.iterdir()) == []


def test_record_command_connection_refused_exits_1(tmp_path: Path) -> None:
    with FakeServer() as gone:
        url = gone.base_url
    done = run_module(["record", "--provider", "glm", "--model", "glm-4.5", "--base-url", url,
                       "--out", str(tmp_path)], env={"ZAI_API_KEY": SECRET_KEY})
    assert done.returncode == 1
    assert "nothing was recorded" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_record_command_output_and_files_hold_no_echoed_key(server: FakeServer, tmp_path: Path) -> None:
    echo = {"error": {"message": f"Incorrect API key provided: {SECRET_KEY}", "type": "invalid_authentication_error"}}
    server.add(Reply.error(401, echo))
    done = run_module(["record", "--provider", "glm", "--model", "glm-4.5", "--base-url", server.base_url,
                       "--out", str(tmp_path)], env={"ZAI_API_KEY": SECRET_KEY})
    assert done.returncode == 0, done.stderr
    assert "HTTP 401" in done.stderr
    assert "AuthenticationError" in done.stderr
    assert "replaced by *** in 1 place(s)" in done.stderr
    assert SECRET_KEY not in done.stdout + done.stderr
    for path, data in every_recorded_byte(tmp_path):
        assert SECRET_KEY.encode() not in data, f"the key leaked into {path.name}"


def test_record_command_works_with_a_config_provider(server: FakeServer, tmp_path: Path) -> None:
    config = tmp_path / "providers.toml"
    config.write_text(f'[[providers]]\nid = "acme-local"\nbase_url = "{server.base_url}"\n'
                      f'api_key_env = "ACME_TOKEN"\nmodels = ["acme-1"]\nname = "Acme on this machine"\n')
    server.add(Reply.sse_bytes(FRAMED_STREAM))
    out = tmp_path / "out"
    done = run_module(["record", "--provider", "acme-local", "--model", "acme-1", "--stream", "--out", str(out)],
                      env={"CHATPLUG_CONFIG": str(config), "ACME_TOKEN": SECRET_KEY})
    assert done.returncode == 0, done.stderr
    assert server.last_request.headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert (out / "acme-local-stream-acme-1.sse").read_bytes() == FRAMED_STREAM
    source = (out / "acme-local-stream-acme-1.source.txt").read_text()
    assert "from acme-local (Acme on this machine)." in source
    assert "Class: LIVE CAPTURE" in source  # the provider's own base URL, not an override
    for path, data in every_recorded_byte(out):
        assert SECRET_KEY.encode() not in data, f"the key leaked into {path.name}"
