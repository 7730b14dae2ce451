"""Errors of ``chatplug chat``: one line on stderr, the right exit code, never the key."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys

import pytest
from chatplug.testing import FakeServer, Reply, sse_events
from cli_support import (
    FIXTURES,
    RUN_TIMEOUT,
    SECRET_KEY,
    assert_one_line_error,
    clean_env,
    command,
    load_json,
    run,
    transcript_text,
)

GLM_KEY = {"ZAI_API_KEY": SECRET_KEY}
KIMI_KEY = {"MOONSHOT_API_KEY": SECRET_KEY}


def test_missing_key_exits_1_naming_the_env_var(server: FakeServer) -> None:
    result = run(["chat", "hi", "-m", "glm-4.6", "--base-url", server.base_url])
    assert result.returncode == 1
    line = assert_one_line_error(result.stderr)
    assert "ZAI_API_KEY" in line
    assert "glm" in line
    assert result.stdout == ""
    assert server.requests == []  # nothing was sent without a key


def test_unknown_model_exits_1_listing_the_installed_providers(server: FakeServer) -> None:
    result = run(["chat", "hi", "-m", "gpt-unknown-9"], env=GLM_KEY)
    assert result.returncode == 1
    line = assert_one_line_error(result.stderr)
    assert "gpt-unknown-9" in line
    assert "glm, kimi" in line
    assert server.requests == []


def test_unknown_provider_exits_1_listing_the_installed_providers() -> None:
    result = run(["chat", "hi", "-m", "glm-4.6", "--provider", "nosuch"], env=GLM_KEY)
    assert result.returncode == 1
    assert "glm, kimi" in assert_one_line_error(result.stderr)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["chat", "hi", "-m", "glm-4.6", "--bogus"], "chatplug: error: unrecognized arguments: --bogus"),
        (["chat", "hi", "-m", "glm-4.6", "-o", "no-equals-sign"],
         "chatplug chat: error: argument -o/--option: expected key=value, got 'no-equals-sign'"),
        (["chat", "hi", "-m", "glm-4.6", "--temperature", "warm"],
         "chatplug chat: error: argument --temperature: invalid float value: 'warm'"),
        (["chat", "hi", "-m", "glm-4.6", "--max-tokens", "-5"],
         "chatplug chat: error: argument --max-tokens: expected a number >= 0, got '-5'"),
        (["chat", "hi", "-m", "glm-4.6", "-o", "stream=false"],
         "chatplug: error: -o stream=... is not allowed: use --no-stream"),
        (["chat", "hi"],
         "chatplug: error: no model: pass -m MODEL, set CHATPLUG_MODEL, or set a default with "
         "'chatplug models default MODEL'; 'chatplug models' lists them"),
        # argparse words the list of choices differently across Python versions: the start is exact
        (["frobnicate"], "chatplug: error: argument COMMAND: invalid choice: 'frobnicate'"),
        ([], "chatplug: error: the following arguments are required: COMMAND"),
    ],
    ids=["unknown-flag", "bad-o", "bad-temperature", "negative-max-tokens", "reserved-o", "no-model",
         "unknown-command", "no-command"],
)
def test_bad_usage_exits_2(args: list[str], error: str, server: FakeServer) -> None:
    result = run([*args, "--base-url", server.base_url] if args[:1] == ["chat"] else args, env=GLM_KEY)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.rstrip("\n").splitlines()[-1]
    assert last == error or (args == ["frobnicate"] and last.startswith(error + " (choose from ")), result.stderr
    assert result.stdout == ""
    assert server.requests == []


def test_out_of_range_parameter_exits_2_before_any_request(server: FakeServer) -> None:
    result = run(["chat", "hi", "-m", "glm-4.6", "--temperature", "1.5", "--base-url", server.base_url], env=GLM_KEY)
    assert result.returncode == 2
    line = assert_one_line_error(result.stderr)
    assert "temperature" in line and "1.5" in line and "glm" in line
    assert server.requests == []


def test_glm_balance_error_names_provider_status_code_and_message(server: FakeServer) -> None:
    body = load_json("glm-error-1113-arrears-zh.json")
    server.add(Reply.error(429, body))
    result = run(["chat", "hi", "-m", "glm-4.6", "--base-url", server.base_url], env=GLM_KEY)
    assert result.returncode == 1
    line = assert_one_line_error(result.stderr)
    assert "glm" in line
    assert "HTTP 429" in line
    assert "1113" in line
    assert body["error"]["message"] in line
    assert "balance" in line  # the hint: retrying will not help
    assert len(server.requests) == 1  # out of balance is never retried


def test_kimi_bad_key_hints_at_the_env_var(server: FakeServer) -> None:
    body = load_json("kimi-error-invalid-authentication.json")
    server.add(Reply.error(401, body))
    result = run(["chat", "hi", "-m", "kimi-k2-0905-preview", "--base-url", server.base_url], env=KIMI_KEY)
    assert result.returncode == 1
    line = assert_one_line_error(result.stderr)
    assert "kimi" in line and "HTTP 401" in line and "invalid_authentication_error" in line
    assert "Invalid Authentication" in line
    assert "MOONSHOT_API_KEY" in line


def test_kimi_unknown_model_from_the_server(server: FakeServer) -> None:
    body = load_json("kimi-error-model-not-found.json")
    server.add(Reply.error(404, body))
    result = run(["chat", "hi", "-m", "kimi/issue-19552-invalid-model", "--base-url", server.base_url], env=KIMI_KEY)
    assert result.returncode == 1
    line = assert_one_line_error(result.stderr)
    assert "HTTP 404" in line and "resource_not_found_error" in line and "issue-19552-invalid-model" in line


def test_debug_shows_the_traceback_but_never_the_key(server: FakeServer) -> None:
    server.add(Reply.error(401, load_json("kimi-error-invalid-authentication.json")))
    result = run(
        ["chat", "hi", "-m", "kimi-k2-0905-preview", "--base-url", server.base_url, "--debug"], env=KIMI_KEY
    )
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "AuthenticationError" in result.stderr
    assert SECRET_KEY not in result.stderr + result.stdout
    assert result.stderr.rstrip().splitlines()[-1].startswith("chatplug: error: kimi, HTTP 401")


def test_connection_refused_exits_1() -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run(["chat", "hi", "-m", "glm-4.6", "--max-retries", "0", "--base-url", f"http://127.0.0.1:{port}/v1"],
                 env=GLM_KEY)
    assert result.returncode == 1
    line = assert_one_line_error(result.stderr)
    assert "glm" in line and "connection" in line


def test_stream_cut_keeps_the_printed_text_and_exits_1(server: FakeServer) -> None:
    events = sse_events((FIXTURES / "kimi-stream-k2-0905.sse").read_bytes())
    server.add(Reply.sse(events, done=False, close_after_chunks=4))
    result = run(["chat", "hi", "-m", "kimi-k2-0905-preview", "--base-url", server.base_url], env=KIMI_KEY)
    assert result.returncode == 1
    # the content of the four events that arrived ("", "I", " can", ":\n\n") stays printed
    assert result.stdout.startswith("I can:\n")
    line = assert_one_line_error(result.stderr)
    assert "kimi" in line and "cut" in line


def _read_until(fd: int, needle: bytes, limit: float = RUN_TIMEOUT) -> bytes:
    """Read from ``fd`` until ``needle`` shows up (``limit`` is a safety net, not a timing check)."""
    seen = b""
    while needle not in seen:
        ready, _, _ = select.select([fd], [], [], limit)
        if not ready:
            break
        piece = os.read(fd, 4096)
        if not piece:
            break
        seen += piece
    return seen


#: Runs ``python -m chatplug ARGS`` with SIGINT back at its default. A child inherits an ignored
#: SIGINT (pytest started as a background job: ``pytest &``), and Python leaves an ignored SIGINT
#: ignored, so Ctrl-C would never reach the command under test.
_WITH_DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable, '-m', 'chatplug', *sys.argv[1:]])"
)


def test_ctrl_c_during_a_stream_exits_130_and_closes_the_connection(server: FakeServer) -> None:
    _ctrl_c_during_a_stream(server)


def test_ctrl_c_works_when_the_test_runner_ignores_sigint(server: FakeServer) -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in `pytest &` from a non-interactive shell
    try:
        _ctrl_c_during_a_stream(server)
    finally:
        signal.signal(signal.SIGINT, previous)


def _ctrl_c_during_a_stream(server: FakeServer) -> None:
    events = sse_events((FIXTURES / "kimi-stream-k2-0905.sse").read_bytes())
    # a slow stream: the first pieces arrive, then the server keeps trickling
    server.add(Reply.sse(events * 20, done=False, delay_between_chunks=0.5))
    process = subprocess.Popen(
        [sys.executable, "-c", _WITH_DEFAULT_SIGINT, "chat", "hi", "-m", "kimi-k2-0905-preview",
         "--base-url", server.base_url],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(KIMI_KEY),
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        printed = _read_until(process.stdout.fileno(), b"I can")
        assert printed.startswith(b"I can"), printed
        process.send_signal(signal.SIGINT)
        returncode = process.wait(timeout=RUN_TIMEOUT)
        rest = process.stdout.read()
        stderr = process.stderr.read().decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert returncode == 130
    assert "Traceback" not in stderr
    output = (printed + rest).decode()
    assert output.startswith("I can")  # what was printed stays printed
    assert len(output) < len(transcript_text("kimi-stream-k2-0905.sse")) * 20  # it stopped early
    assert server.client_disconnected.wait(RUN_TIMEOUT)
    assert server.requests[0].disconnected


def test_a_key_echoed_back_by_the_server_is_never_printed(server: FakeServer) -> None:
    # some gateways quote the key they rejected; the command must not pass it on
    body = {"error": {"message": f"Incorrect API key provided: {SECRET_KEY}", "type": "incorrect_api_key_error"}}
    server.add(Reply.error(401, body))
    result = run(["chat", "hi", "-m", "kimi-k2-0905-preview", "--base-url", server.base_url, "--api-key", SECRET_KEY])
    assert result.returncode == 1
    line = assert_one_line_error(result.stderr)  # also asserts the key is absent
    assert "Incorrect API key provided: ***" in line


def test_output_closed_early_ends_quietly(server: FakeServer) -> None:
    # `chatplug chat ... | head -c 1`: the reader goes away while the reply streams
    events = sse_events((FIXTURES / "kimi-stream-k2-0905.sse").read_bytes())
    server.add(Reply.sse(events * 20, done=False, delay_between_chunks=0.05))
    process = subprocess.Popen(
        command("chat", "hi", "-m", "kimi-k2-0905-preview", "--base-url", server.base_url),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(KIMI_KEY),
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        assert _read_until(process.stdout.fileno(), b"I")
        process.stdout.close()
        returncode = process.wait(timeout=RUN_TIMEOUT)
        stderr = process.stderr.read().decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert returncode == 1
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr
    assert server.client_disconnected.wait(RUN_TIMEOUT)  # the stream was closed, not left running
