"""``python -m chatplug.testing serve``: a FakeServer from the command line,
replying with recorded files (in order or matched), for people testing their apps."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from chatplug.testing._replay import load_recording
from record_support import FIXTURES, MESSAGES, RUN_TIMEOUT, SECRET_KEY, child_env, stream_sync


@contextmanager
def serving(*args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Start ``python -m chatplug.testing serve ARGS``; yields its base URL (first stdout line) and the process."""
    process = subprocess.Popen([sys.executable, "-m", "chatplug.testing", "serve", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=child_env(), stdin=subprocess.DEVNULL)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1"), url
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        process.wait(RUN_TIMEOUT)


def _completion(base_url: str, model: str) -> chatplug.ChatCompletion:
    with chatplug.Client(provider="glm", base_url=base_url, api_key=SECRET_KEY, max_retries=0) as client:
        return client.chat.completions.create(model=model, messages=MESSAGES)


def test_serve_a_folder_in_order_then_says_it_ran_out(tmp_path: Path) -> None:
    for name in ("glm-nonstream-tool-call", "glm-stream-reasoning-glm45"):
        for suffix in (".json", ".sse", ".source.txt"):
            if (FIXTURES / (name + suffix)).exists():
                shutil.copy(FIXTURES / (name + suffix), tmp_path)
    with FakeServer() as direct:  # the same files through FakeServer in the test process, for comparison
        direct.add(Reply.recorded(tmp_path / "glm-stream-reasoning-glm45.sse"))
        expected_stream = stream_sync(direct.base_url)
    with serving(str(tmp_path)) as (url, process):
        first = _completion(url, "glm-4.7-flash")  # files are served in name order: the .json first
        assert first.choices[0].finish_reason == "tool_calls"
        assert first.choices[0].message.tool_calls is not None
        assert stream_sync(url) == expected_stream
        with pytest.raises(chatplug.InternalServerError, match="all 2 recordings were served"):
            _completion(url, "glm-4.6")
        process.send_signal(signal.SIGINT)
        assert process.wait(RUN_TIMEOUT) == 0
        assert process.stderr is not None
        log = process.stderr.read()
    assert "serving 2 recording(s), in order" in log
    assert log.count("POST /v1/chat/completions -> HTTP 200") == 2
    assert "-> HTTP 500" in log


def test_serve_matched_by_model_and_stream(tmp_path: Path) -> None:
    with serving("--match", str(FIXTURES / "kimi-stream-k2-0905.sse"), str(FIXTURES / "glm-nonstream-tool-call.json"),
                 str(FIXTURES / "glm-stream-reasoning-glm45.sse")) as (url, _):
        _, final = stream_sync(url, model="glm-4.5")  # the recording's sidecar says: glm-4.5, streamed
        assert final["id"] == "20251001154016c72e2da818044216"
        _, final = stream_sync(url, model="glm-4.5")  # used up: the last match again
        assert final["id"] == "20251001154016c72e2da818044216"
        with pytest.raises(chatplug.InternalServerError, match="no recording matches model='glm-9' stream=False"):
            _completion(url, "glm-9")


def test_serve_reports_an_unreadable_path_and_exits_1(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "chatplug.testing", "serve", str(tmp_path / "missing.sse")],
                          capture_output=True, text=True, env=child_env(), timeout=RUN_TIMEOUT)
    assert done.returncode == 1
    assert "no recording at" in done.stderr and "missing.sse" in done.stderr
    assert done.stdout == ""


def test_serve_on_a_taken_port_exits_1() -> None:
    with FakeServer() as taken:
        done = subprocess.run([sys.executable, "-m", "chatplug.testing", "serve", "--port", str(taken.port),
                               str(FIXTURES / "glm-nonstream-tool-call.json")],
                              capture_output=True, text=True, env=child_env(), timeout=RUN_TIMEOUT)
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{taken.port}" in done.stderr


def test_hand_written_sidecars_give_status_and_content_type() -> None:
    legacy_error = load_recording(FIXTURES / "kimi-error-invalid-authentication.json")
    assert legacy_error.status == 400  # no status stored: an error body is served as a 400
    stream = load_recording(FIXTURES / "glm-stream-reasoning-glm45.sse")
    assert stream.status == 200
    assert stream.reply().chunks is not None
    assert b"".join(stream.reply().chunks or ()) == (FIXTURES / "glm-stream-reasoning-glm45.sse").read_bytes()


def test_add_recordings_queues_a_folder_in_name_order(tmp_path: Path) -> None:
    for name in ("b-stream.sse", "a-tool.json"):
        source = "glm-stream-reasoning-glm45.sse" if name.endswith(".sse") else "glm-nonstream-tool-call.json"
        shutil.copy(FIXTURES / source, tmp_path / name)
    with FakeServer() as server:
        server.add_recordings(tmp_path)
        assert server.pending() == 2
        assert _completion(server.base_url, "glm-4.7-flash").choices[0].finish_reason == "tool_calls"
        assert stream_sync(server.base_url)[1]["choices"][0]["message"]["content"] == "\n\nHi!"


def test_a_responder_that_raises_answers_500_and_the_server_keeps_serving() -> None:
    def broken(request: object) -> Reply:
        raise KeyError("no such recording")

    with FakeServer(responder=broken) as server:
        with pytest.raises(chatplug.InternalServerError, match="the responder raised KeyError"):
            _completion(server.base_url, "glm-4.6")
        server.responder = None
        server.add(Reply.recorded(FIXTURES / "glm-nonstream-tool-call.json"))
        assert _completion(server.base_url, "glm-4.7-flash").choices[0].finish_reason == "tool_calls"
