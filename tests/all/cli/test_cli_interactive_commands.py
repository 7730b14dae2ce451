"""``chatplug chat -i``: slash commands are never sent, Ctrl-C cancels a reply
and keeps the session, Ctrl-C at the prompt ends it, and every turn is logged."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from typing import Any

import pytest
from chatplug.testing import FakeServer, Reply, sse_events
from cli_support import (
    FIXTURES,
    RUN_TIMEOUT,
    SECRET_KEY,
    UserDirs,
    clean_env,
    command,
    run,
    transcript_text,
)
from test_cli_interactive import _read_until


class Terminal:
    """What a pseudo-terminal showed so far, read in order: each wait starts after the last match."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.seen = b""
        self.position = 0

    def wait_for(self, needle: bytes) -> None:
        while self.seen.find(needle, self.position) < 0:
            before = len(self.seen)
            self.seen = _read_until(self.fd, needle, self.seen)
            if len(self.seen) == before:
                raise AssertionError(f"{needle!r} never showed; the terminal showed {self.seen!r}")
        self.position = self.seen.find(needle, self.position) + len(needle)

GLM_KEY = {"ZAI_API_KEY": SECRET_KEY}
GLM46 = FIXTURES / "glm-stream-content-glm46.sse"


def rows(dirs: UserDirs) -> list[dict[str, Any]]:
    connection = sqlite3.connect(dirs.log)
    connection.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in connection.execute("SELECT * FROM exchanges ORDER BY id")]
    finally:
        connection.close()


def test_slash_commands_are_never_sent_and_shape_the_conversation(server: FakeServer, user_dirs: UserDirs) -> None:
    for _ in range(4):
        server.add(Reply.sse_file(GLM46))
    answer = transcript_text("glm-stream-content-glm46.sse")
    script = (
        "/help\n/system Be terse.\nHi\n/model glm-4.5\nAgain\n/model gpt-unknown-9\n/reset\nFresh\n"
        "/unknown\n//slash text\n/exit\nnever sent\n"
    )
    result = run(["chat", "-i", "-m", "glm-4.6", "--base-url", server.base_url], env=GLM_KEY, stdin=script)
    assert result.returncode == 0, result.stderr
    assert len(server.requests) == 4
    sent = [request.json() for request in server.requests]
    assert [body["model"] for body in sent] == ["glm-4.6", "glm-4.5", "glm-4.5", "glm-4.5"]
    assert sent[0]["messages"] == [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}]
    assert sent[1]["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": answer},
        {"role": "user", "content": "Again"},
    ]
    # /reset forgets the turns, keeps the system prompt
    assert sent[2]["messages"] == [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Fresh"}]
    assert sent[3]["messages"][-1] == {"role": "user", "content": "/slash text"}
    for body in sent:
        assert not any(str(message["content"]).startswith(("/help", "/model", "/system", "/reset", "/unknown"))
                       for message in body["messages"])
    assert "/reset" in result.stderr and "/system TEXT" in result.stderr  # /help went to stderr
    assert "unknown command /unknown" in result.stderr
    assert "model not changed" in result.stderr and "gpt-unknown-9" in result.stderr
    assert result.stdout == answer * 4 if answer.endswith("\n") else result.stdout == (answer + "\n") * 4
    logged = rows(user_dirs)
    assert [row["prompt"] for row in logged] == ["Hi", "Again", "Fresh", "/slash text"]
    assert [row["model"] for row in logged] == ["glm-4.6", "glm-4.5", "glm-4.5", "glm-4.5"]
    assert logged[0]["conversation_id"] == logged[1]["conversation_id"]
    assert logged[2]["conversation_id"] != logged[1]["conversation_id"]  # /reset starts a new conversation
    assert logged[3]["conversation_id"] == logged[2]["conversation_id"]
    assert all(row["system"] == "Be terse." for row in logged)


def test_model_switches_to_another_provider(server: FakeServer, user_dirs: UserDirs) -> None:
    server.add(Reply.sse_file(GLM46))
    server.add(Reply.sse_file(FIXTURES / "kimi-stream-k2-0905.sse"))
    result = run(
        ["chat", "-i", "-m", "glm-4.6", "--base-url", server.base_url],
        # --base-url stays with GLM: Kimi reaches the loopback server through its own env override
        env={**GLM_KEY, "MOONSHOT_API_KEY": SECRET_KEY + "-kimi", "MOONSHOT_BASE_URL": server.base_url},
        stdin="Hi\n/model kimi-k2-0905-preview\nAnd you?\n",
    )
    assert result.returncode == 0, result.stderr
    assert server.requests[1].json()["model"] == "kimi-k2-0905-preview"
    assert server.requests[1].headers["authorization"] == f"Bearer {SECRET_KEY}-kimi"
    assert [(row["provider"], row["model"]) for row in rows(user_dirs)] == [
        ("glm", "glm-4.6"), ("kimi", "kimi-k2-0905-preview")
    ]


def _slow_reply() -> Reply:
    """The recorded GLM stream: its first three events at once, then one event every 30 s."""
    events = sse_events((GLM46).read_bytes())
    return Reply.sse([b"".join(events[:3]), *events[3:]], done=False, delay_between_chunks=30)


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX only")
def test_ctrl_c_cancels_the_reply_keeps_the_session_and_ends_it_at_the_prompt(
    server: FakeServer, user_dirs: UserDirs
) -> None:
    import fcntl
    import pty
    import termios

    server.add(_slow_reply())
    server.add(Reply.sse_file(GLM46))
    controller, terminal = pty.openpty()

    def take_terminal() -> None:  # a real terminal: Ctrl-C (\x03) sends SIGINT to the session
        os.setsid()
        fcntl.ioctl(terminal, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        command("chat", "-i", "-m", "glm-4.6", "--base-url", server.base_url),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=clean_env({**GLM_KEY, "TERM": "dumb"}),
        preexec_fn=take_terminal,  # this test starts no thread of its own before the fork
    )
    os.close(terminal)
    try:
        screen = Terminal(controller)
        screen.wait_for(b"> ")
        os.write(controller, b"tell me a story\n")
        screen.wait_for(b"Hello")
        os.write(controller, b"\x03")  # Ctrl-C while the reply streams
        assert server.client_disconnected.wait(RUN_TIMEOUT)  # the server saw the connection go
        screen.wait_for(b"reply cancelled")
        screen.wait_for(b"> ")
        os.write(controller, b"again\n")
        screen.wait_for(b"Hello")
        screen.wait_for(b"> ")
        os.write(controller, b"\x03")  # Ctrl-C at the prompt ends the session
        returncode = process.wait(timeout=RUN_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    assert returncode == 130
    assert server.requests[0].disconnected
    assert server.requests[1].json()["messages"] == [{"role": "user", "content": "again"}]  # cancelled turn left out
    cancelled, answered = rows(user_dirs)
    assert cancelled["prompt"] == "tell me a story"
    assert cancelled["error"] == "interrupted (Ctrl-C)" and cancelled["error_type"] == "KeyboardInterrupt"
    assert cancelled["response"] == "\n\nHello"  # the partial reply of the three events that arrived
    assert answered["error"] is None
    assert answered["response"] == transcript_text("glm-stream-content-glm46.sse")
    assert answered["conversation_id"] == cancelled["conversation_id"]
    assert json.loads(answered["usage"])["total_tokens"] == 6089
