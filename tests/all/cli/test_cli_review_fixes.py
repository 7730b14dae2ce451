"""Behaviour fixed after review: tool-call turns in -i, exit codes, piped stdin,
argument checks, key redaction in usage errors and plain --base-url servers."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from chatplug.testing import FakeServer, Reply
from cli_support import (
    FIXTURES,
    RUN_TIMEOUT,
    SECRET_KEY,
    assert_one_line_error,
    clean_env,
    command,
    run,
    transcript_text,
)

GLM_KEY = {"ZAI_API_KEY": SECRET_KEY}


def test_interactive_history_never_carries_tool_calls_without_their_answers(server: FakeServer) -> None:
    server.add(Reply.sse_file(FIXTURES / "glm-stream-tool-call.sse"))
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    result = run(
        ["chat", "-i", "-m", "glm-4.6", "--base-url", server.base_url],
        env=GLM_KEY,
        stdin="Weather in Florence?\nThanks\n/exit\n",
    )
    assert result.returncode == 0, result.stderr
    second = server.requests[1].json()["messages"]
    # an assistant turn with tool_calls and no tool messages after it is rejected by real APIs
    assert all("tool_calls" not in message for message in second)
    assert [message["role"] for message in second] == ["user", "assistant", "user"]
    assert second[1]["content"] == transcript_text("glm-stream-tool-call.sse")


def test_interactive_exits_1_when_every_turn_failed(server: FakeServer) -> None:
    server.default = Reply.error(500, {"error": {"message": "boom", "type": "server_error"}})
    result = run(
        ["chat", "-i", "-m", "glm-4.6", "--max-retries", "0", "--base-url", server.base_url],
        env=GLM_KEY,
        stdin="one\ntwo\n",
    )
    assert result.returncode == 1
    assert len(server.requests) == 2  # the second turn was still tried


def test_no_stdin_leaves_piped_input_to_the_caller(server: FakeServer) -> None:
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    result = run(
        ["chat", "q1", "-m", "glm-4.6", "--no-stdin", "--base-url", server.base_url],
        env=GLM_KEY,
        stdin="q2\nq3\n",
    )
    assert result.returncode == 0, result.stderr
    assert server.last_request.json()["messages"] == [{"role": "user", "content": "q1"}]


def test_an_open_pipe_that_never_closes_does_not_hang_with_no_stdin(server: FakeServer) -> None:
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    process = subprocess.Popen(
        command("chat", "hi", "-m", "glm-4.6", "--no-stdin", "--base-url", server.base_url),
        stdin=subprocess.PIPE,  # kept open for the whole run
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(GLM_KEY),
    )
    try:
        assert process.stdout is not None
        out = process.stdout.read()
        assert process.wait(RUN_TIMEOUT) == 0
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.kill()
        process.wait()
    assert out == transcript_text("glm-stream-content-glm46.sse") + "\n"


def test_a_silent_open_pipe_is_announced_on_stderr_then_read(server: FakeServer) -> None:
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    process = subprocess.Popen(
        command("chat", "Summarise:", "-m", "glm-4.6", "--base-url", server.base_url),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(GLM_KEY),
    )
    try:
        assert process.stderr is not None and process.stdin is not None
        notice = process.stderr.readline()  # blocks until the command says what it waits for
        assert "--no-stdin" in notice and "</dev/null" in notice
        process.stdin.write("late text\n")
        process.stdin.close()
        assert process.wait(RUN_TIMEOUT) == 0
    finally:
        process.kill()
        process.wait()
    assert server.last_request.json()["messages"][0]["content"] == "Summarise:\n\nlate text"


def test_no_stdin_with_interactive_is_a_usage_error() -> None:
    result = run(["chat", "-i", "--no-stdin", "-m", "glm-4.6"], env=GLM_KEY)
    assert result.returncode == 2
    assert "--no-stdin" in assert_one_line_error(result.stderr)


@pytest.mark.parametrize("value", ["-1", "0", "soon"])
def test_timeout_must_be_a_positive_number(value: str) -> None:
    result = run(["chat", "hi", "-m", "glm-4.6", f"--timeout={value}"], env=GLM_KEY)
    assert result.returncode == 2
    assert "--timeout" in result.stderr and "internal error" not in result.stderr


def test_max_tokens_zero_is_a_usage_error() -> None:
    result = run(["chat", "hi", "-m", "glm-4.6", "--max-tokens", "0"], env=GLM_KEY)
    assert result.returncode == 2
    assert "--max-tokens" in result.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["chat", "hi", "-m", "glm-4.6", "--apikey", SECRET_KEY],
        ["chat", "hi", "-m", "glm-4.6", f"--api_key={SECRET_KEY}"],
        ["chat", "hi", SECRET_KEY, "-m", "glm-4.6"],
        ["--api-key", SECRET_KEY, "chat", "hi"],
    ],
)
def test_usage_errors_never_echo_a_key(argv: list[str]) -> None:
    result = run(argv)
    assert result.returncode == 2
    assert "error" in result.stderr
    assert SECRET_KEY not in result.stdout + result.stderr
    assert SECRET_KEY[3:20] not in result.stderr


@pytest.mark.parametrize("option", ["timeout=5", "extra_body={}", "extra_headers={}", "extra_query={}", "model=x"])
def test_per_call_options_and_model_are_usage_errors_in_o(server: FakeServer, option: str) -> None:
    result = run(["chat", "hi", "-m", "glm-4.6", "-o", option, "--base-url", server.base_url], env=GLM_KEY)
    assert result.returncode == 2
    assert f"-o {option.split('=')[0]}=" in assert_one_line_error(result.stderr)
    assert server.requests == []


def test_o_model_is_a_usage_error_even_for_an_unknown_model() -> None:
    result = run(["chat", "hi", "-m", "no-such-model", "-o", "model=x"], env=GLM_KEY)
    assert result.returncode == 2


def test_provider_conflicting_with_the_model_prefix_is_a_usage_error(server: FakeServer) -> None:
    result = run(
        ["chat", "hi", "--provider", "kimi", "-m", "glm/glm-4.6", "--base-url", server.base_url],
        env={"MOONSHOT_API_KEY": SECRET_KEY},
    )
    assert result.returncode == 2
    line = assert_one_line_error(result.stderr)
    assert "'glm'" in line and "'kimi'" in line
    assert server.requests == []


def test_base_url_alone_reaches_a_plain_openai_compatible_server_without_a_key(server: FakeServer) -> None:
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    result = run(["chat", "hi", "-m", "llama3", "--base-url", server.base_url], env=GLM_KEY)
    assert result.returncode == 0, result.stderr
    request = server.last_request
    assert request.path == "/v1/chat/completions"
    assert request.json()["model"] == "llama3"
    assert "authorization" not in request.headers  # the GLM key is never sent to a stranger


def test_base_url_alone_sends_the_given_api_key(server: FakeServer) -> None:
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    result = run(["chat", "hi", "-m", "llama3", "--base-url", server.base_url, "--api-key", SECRET_KEY])
    assert result.returncode == 0, result.stderr
    assert server.last_request.headers["authorization"] == f"Bearer {SECRET_KEY}"


def test_models_shows_plugins_that_failed_to_load(tmp_path: Path) -> None:
    config = tmp_path / "providers.toml"
    config.write_text('[[providers]]\nid = "Bad Id"\nbase_url = "http://127.0.0.1:1/v1"\nmodels = ["m"]\n')
    result = run(["models"], env={"CHATPLUG_CONFIG": str(config)})
    assert result.returncode == 0, result.stderr
    assert "glm/glm-4.6" in result.stdout
    assert str(config) in result.stderr and "line 2" in result.stderr


def test_main_runs_twice_in_one_process_without_leaking_state(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import logging, sys
        from chatplug.cli import main
        from chatplug.plugins import default_registry
        chatplug_logger = logging.getLogger("chatplug")
        before = (chatplug_logger.level, chatplug_logger.propagate, list(chatplug_logger.handlers))
        for _ in range(2):
            code = main(["chat", "hi", "-m", "glm-4.6", "--debug", "--base-url", sys.argv[1]])
            assert code == 0, code
        assert default_registry().pm.get_plugin("chatplug.cli.debug") is None
        after = (chatplug_logger.level, chatplug_logger.propagate, list(chatplug_logger.handlers))
        assert after == before, (before, after)
        print("ok")
        """
    )
    with FakeServer() as server:
        server.add(
            Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"),
            Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"),
        )
        result = subprocess.run(
            [sys.executable, "-c", script, server.base_url],
            input="",
            capture_output=True,
            text=True,
            env=clean_env(GLM_KEY),
            timeout=RUN_TIMEOUT,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("ok\n")
    assert SECRET_KEY not in result.stderr


def test_ctrl_d_newline_goes_to_the_session_stdout() -> None:
    from chatplug._cli import _chat

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = io.StringIO()
    original = sys.stdin
    terminal = Terminal("")
    sys.stdin = terminal
    try:
        assert _chat._read_line(terminal, True, out) is None
    finally:
        sys.stdin = original
    assert out.getvalue() == "\n"
