"""``chatplug chat -i``: a conversation driven through piped stdin and through a pseudo-terminal."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from typing import Any

import pytest
from chatplug.testing import FakeServer, Reply
from cli_support import (
    FIXTURES,
    RUN_TIMEOUT,
    SECRET_KEY,
    assert_one_line_error,
    clean_env,
    command,
    load_json,
    run,
    sse_chunks,
    transcript_text,
)

GLM_KEY = {"ZAI_API_KEY": SECRET_KEY}
KIMI_KEY = {"MOONSHOT_API_KEY": SECRET_KEY}


def kimi_thinking_stream(reasoning: list[str], answer: list[str]) -> list[dict[str, Any]]:
    """A kimi-k2-thinking stream. SYNTHETIC: no recorded Kimi thinking stream
    exists in the shared fixtures, so this reuses the envelope of the recorded
    kimi-stream-k2-0905.sse (ids, fingerprint, usage inside choices[0]) and adds
    ``reasoning_content`` deltas as Moonshot documents them."""
    recorded = sse_chunks("kimi-stream-k2-0905.sse")
    envelope = {key: recorded[0][key] for key in ("id", "object", "created", "system_fingerprint")}
    envelope["model"] = "kimi-k2-thinking"
    deltas = [{"role": "assistant", "content": ""}]
    deltas += [{"reasoning_content": piece} for piece in reasoning]
    deltas += [{"content": piece} for piece in answer]
    chunks = [
        {**envelope, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]} for delta in deltas
    ]
    last_choice = recorded[-1]["choices"][0]
    chunks.append({**envelope, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop",
                                            "usage": last_choice["usage"]}]})
    return chunks


def test_piped_conversation_keeps_history_and_sends_kimi_reasoning_back(server: FakeServer) -> None:
    server.add(Reply.sse(kimi_thinking_stream(["The user greets.", " Greet back."], ["Hello", "!"])))
    server.add(Reply.sse(kimi_thinking_stream(["Second turn."], ["Fine", ", thanks."])))
    result = run(
        ["chat", "-i", "-m", "kimi-k2-thinking", "-s", "Be brief.", "--base-url", server.base_url],
        env=KIMI_KEY,
        stdin="Hi there\n\nHow are you?\n/exit\nthis line is never sent\n",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hello!\nFine, thanks.\n"
    assert len(server.requests) == 2
    second = server.requests[1].json()["messages"]
    assert second[0] == {"role": "system", "content": "Be brief."}
    assert second[1] == {"role": "user", "content": "Hi there"}
    assert second[2]["role"] == "assistant"
    assert second[2]["content"] == "Hello!"
    # thinking models need their reasoning in the history they are sent back
    assert second[2]["reasoning_content"] == "The user greets. Greet back."
    assert second[3] == {"role": "user", "content": "How are you?"}


def test_end_of_input_leaves_and_the_prompt_argument_is_the_first_turn(server: FakeServer) -> None:
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    server.add(Reply.sse_file(FIXTURES / "glm-stream-reasoning-glm45.sse"))
    result = run(
        ["chat", "-i", "First question", "-m", "glm-4.6", "--base-url", server.base_url],
        env=GLM_KEY,
        stdin="Second question\n",  # no /exit: end of input (Ctrl-D) ends the chat
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        transcript_text("glm-stream-content-glm46.sse") + "\n" + transcript_text("glm-stream-reasoning-glm45.sse")
        + "\n"
    )
    messages = server.requests[1].json()["messages"]
    assert [message["role"] for message in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"] == "First question"
    assert messages[1]["content"] == transcript_text("glm-stream-content-glm46.sse")
    assert messages[2]["content"] == "Second question"


def test_an_api_error_ends_the_turn_not_the_conversation(server: FakeServer) -> None:
    server.add(Reply.error(429, load_json("glm-error-1302-rate-limit-zh.json")))
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    result = run(
        ["chat", "-i", "-m", "glm-4.6", "--max-retries", "0", "--base-url", server.base_url],
        env=GLM_KEY,
        stdin="too fast\nagain\n/exit\n",
    )
    assert result.returncode == 1  # a failed turn makes the whole session exit 1 at the end
    line = assert_one_line_error(result.stderr)
    assert "HTTP 429" in line and "1302" in line
    assert result.stdout == transcript_text("glm-stream-content-glm46.sse") + "\n"
    # the failed turn is not part of the history
    assert server.requests[1].json()["messages"] == [{"role": "user", "content": "again"}]


def test_missing_key_in_interactive_mode_exits_1(server: FakeServer) -> None:
    result = run(["chat", "-i", "-m", "glm-4.6", "--base-url", server.base_url], stdin="hello\n")
    assert result.returncode == 1
    assert "ZAI_API_KEY" in assert_one_line_error(result.stderr)


def _read_until(fd: int, needle: bytes, seen: bytes = b"") -> bytes:
    """Read the terminal until ``needle`` shows up after what was already ``seen``."""
    start = len(seen)
    while needle not in seen[start:]:
        ready, _, _ = select.select([fd], [], [], RUN_TIMEOUT)
        if not ready:
            break
        try:
            piece = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not piece:
            break
        seen += piece
    return seen


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX only")
def test_terminal_conversation_dims_reasoning_and_ctrl_d_leaves(server: FakeServer) -> None:
    import pty

    server.add(Reply.sse_file(FIXTURES / "glm-stream-reasoning-glm45.sse"))
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        command("chat", "-i", "-m", "glm-4.5", "--base-url", server.base_url),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=clean_env({**GLM_KEY, "TERM": "dumb"}),
        close_fds=True,
    )
    os.close(terminal)
    try:
        seen = _read_until(controller, b"> ")
        assert b"/exit or Ctrl-D" in seen
        os.write(controller, b"hi\n")
        seen = _read_until(controller, b"Hi!", seen)
        seen = _read_until(controller, b"> ", seen)
        os.write(controller, b"\x04")  # Ctrl-D
        returncode = process.wait(timeout=RUN_TIMEOUT)
        seen = _read_until(controller, b"\x00never", seen)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    assert returncode == 0
    output = seen.decode("utf-8", "replace")
    reasoning = transcript_text("glm-stream-reasoning-glm45.sse", "reasoning_content")
    # on a terminal the reasoning is shown dimmed, apart from the answer
    assert f"\x1b[2m{reasoning[:3]}" in output
    assert "Hi!" in output
    assert output.index("Hi!") > output.index("\x1b[2m")
    assert len(server.requests) == 1
