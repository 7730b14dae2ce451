"""The conversation log: what ``chatplug chat`` stores, ``chatplug logs``, ``-c``/``--cid``,
``--no-log``, schema migrations and two processes writing at once."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from typing import Any

import pytest
from chatplug.testing import FakeServer, Reply
from cli_support import (
    FIXTURES,
    RUN_TIMEOUT,
    SECRET_KEY,
    UserDirs,
    clean_env,
    command,
    load_json,
    run,
    sse_chunks,
    transcript_text,
)

GLM_KEY = {"ZAI_API_KEY": SECRET_KEY}


def rows(dirs: UserDirs) -> list[dict[str, Any]]:
    """Every logged exchange, read with sqlite3 directly (not through chatplug)."""
    connection = sqlite3.connect(dirs.log)
    connection.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in connection.execute("SELECT * FROM exchanges ORDER BY id")]
    finally:
        connection.close()


def user_version(dirs: UserDirs) -> int:
    connection = sqlite3.connect(dirs.log)
    try:
        return int(connection.execute("PRAGMA user_version").fetchone()[0])
    finally:
        connection.close()


def chat(server: FakeServer, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run(["chat", *args, "--base-url", server.base_url], env={**GLM_KEY, **(env or {})})


def test_a_streamed_exchange_is_logged_with_everything(server: FakeServer, user_dirs: UserDirs) -> None:
    server.add(Reply.sse_file(FIXTURES / "glm-stream-reasoning-glm45.sse"))
    result = chat(
        server, "hi", "-m", "glm-4.5", "-s", "Be brief.", "--temperature", "0.5",
        "-o", 'thinking={"type":"enabled"}', "-o", "top_p=0.9",
    )
    assert result.returncode == 0, result.stderr
    [row] = rows(user_dirs)
    assert row["prompt"] == "hi"
    assert row["system"] == "Be brief."
    assert row["model"] == "glm-4.5"
    assert row["provider"] == "glm"
    assert json.loads(row["options"]) == {
        "temperature": 0.5, "top_p": 0.9, "extra_body": {"thinking": {"type": "enabled"}}
    }
    assert row["response"] == transcript_text("glm-stream-reasoning-glm45.sse")
    assert row["reasoning"] == transcript_text("glm-stream-reasoning-glm45.sse", "reasoning_content")
    assert json.loads(row["usage"]) == sse_chunks("glm-stream-reasoning-glm45.sse")[-1]["usage"]
    assert row["finish_reason"] == "stop"
    assert row["response_id"] == "20251001154016c72e2da818044216"
    assert row["error"] is None and row["error_type"] is None
    assert row["tool_calls"] is None
    assert isinstance(row["duration_ms"], int) and row["duration_ms"] >= 0
    assert len(row["conversation_id"]) == 24
    assert user_version(user_dirs) == 2
    if os.name == "posix":  # prompts are private: only the owner may read the log
        assert stat.S_IMODE(user_dirs.log.stat().st_mode) == 0o600
        assert stat.S_IMODE(user_dirs.log.parent.stat().st_mode) == 0o700


def test_tool_calls_are_logged(server: FakeServer, user_dirs: UserDirs) -> None:
    server.add(Reply.sse_file(FIXTURES / "glm-stream-tool-call.sse"))
    result = chat(server, "weather in Florence?", "-m", "glm-4.7-flash")
    assert result.returncode == 0, result.stderr
    [row] = rows(user_dirs)
    assert json.loads(row["tool_calls"]) == [
        {
            "id": "call_3532c842716b4c72a7dd7498",
            "type": "function",
            "function": {"name": "weather", "arguments": '{"location":"Florence,Italy"}'},
        }
    ]
    assert row["finish_reason"] == "tool_calls"


def test_a_cut_stream_logs_the_error_and_the_partial_reply(server: FakeServer, user_dirs: UserDirs) -> None:
    chunks = sse_chunks("glm-stream-content-glm46.sse")
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse", close_after_chunks=4))
    result = chat(server, "hi", "-m", "glm-4.6", "--max-retries", "0")
    assert result.returncode == 1
    [row] = rows(user_dirs)
    partial = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks[:4])
    assert partial  # the cut came after some text
    assert row["response"] == partial
    assert result.stdout == partial + "\n"
    assert row["error_type"] == "StreamInterruptedError"
    assert row["error"]


def test_an_api_error_is_logged(server: FakeServer, user_dirs: UserDirs) -> None:
    server.add(Reply.error(429, load_json("glm-error-1113-arrears-zh.json")))
    result = chat(server, "hi", "-m", "glm-4.6")
    assert result.returncode == 1
    [row] = rows(user_dirs)
    assert row["error_type"] == "QuotaExceededError"
    assert "1113" in row["error"] or "欠费" in row["error"]
    assert row["response"] is None
    assert len(server.requests) == 1


@pytest.mark.parametrize("switch", [["--no-log"], []])
def test_no_log_flag_and_env_var_turn_logging_off(server: FakeServer, user_dirs: UserDirs, switch: list[str]) -> None:
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    env = {} if switch else {"CHATPLUG_NO_LOG": "1"}
    result = chat(server, "hi", "-m", "glm-4.6", *switch, env=env)
    assert result.returncode == 0, result.stderr
    assert not user_dirs.log.exists()
    assert not user_dirs.log.parent.exists()


def test_continue_sends_the_logged_history_and_keeps_the_conversation(
    server: FakeServer, user_dirs: UserDirs
) -> None:
    first_answer = transcript_text("glm-stream-content-glm46.sse")
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    assert chat(server, "Hi there", "-m", "glm-4.6", "-s", "Be brief.").returncode == 0
    # no -m: the conversation's model is used; no -s: its system prompt
    result = chat(server, "And again?", "-c")
    assert result.returncode == 0, result.stderr
    assert server.requests[1].json()["model"] == "glm-4.6"
    assert server.requests[1].json()["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": first_answer},
        {"role": "user", "content": "And again?"},
    ]
    first, second = rows(user_dirs)
    assert first["conversation_id"] == second["conversation_id"]
    assert second["prompt"] == "And again?"


def test_cid_continues_a_given_conversation(server: FakeServer, user_dirs: UserDirs) -> None:
    for _ in range(3):
        server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    assert chat(server, "first conversation", "-m", "glm-4.6").returncode == 0
    assert chat(server, "second conversation", "-m", "glm-4.6").returncode == 0
    first_id = rows(user_dirs)[0]["conversation_id"]
    result = chat(server, "back to the first", "--cid", first_id)
    assert result.returncode == 0, result.stderr
    sent = server.requests[2].json()["messages"]
    assert [message["content"] for message in sent if message["role"] == "user"] == [
        "first conversation", "back to the first"
    ]
    assert rows(user_dirs)[2]["conversation_id"] == first_id


def test_continue_without_a_log_or_with_an_unknown_id_is_a_usage_error(
    server: FakeServer, user_dirs: UserDirs
) -> None:
    result = chat(server, "hi", "-c", "-m", "glm-4.6")
    assert result.returncode == 2
    assert "no logged conversation to continue" in result.stderr
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    assert chat(server, "hi", "-m", "glm-4.6").returncode == 0
    result = chat(server, "hi", "--cid", "nope", "-m", "glm-4.6")
    assert result.returncode == 2
    assert "no logged conversation has id 'nope'" in result.stderr
    assert len(server.requests) == 1  # nothing was sent for the refused calls


def test_failed_turns_are_left_out_of_a_continued_history(server: FakeServer, user_dirs: UserDirs) -> None:
    server.add(Reply.error(429, load_json("glm-error-1113-arrears-zh.json")))
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    assert chat(server, "this one fails", "-m", "glm-4.6").returncode == 1
    assert chat(server, "continue", "-c").returncode == 0
    assert server.requests[1].json()["messages"] == [{"role": "user", "content": "continue"}]


def test_logs_lists_filters_and_prints_json(server: FakeServer, user_dirs: UserDirs) -> None:
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    server.add(Reply.sse_file(FIXTURES / "glm-stream-reasoning-glm45.sse"))
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    assert chat(server, "apples", "-m", "glm-4.6").returncode == 0
    assert chat(server, "bananas", "-m", "glm-4.5").returncode == 0
    assert chat(server, "cherries", "-m", "glm/glm-4.6").returncode == 0

    def logs(*args: str) -> Any:
        result = run(["logs", "--json", *args])
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    assert [record["prompt"] for record in logs()] == ["apples", "bananas", "cherries"]
    assert [record["prompt"] for record in logs("-n", "1")] == ["cherries"]
    assert [record["prompt"] for record in logs("-n", "0")] == ["apples", "bananas", "cherries"]
    assert [record["prompt"] for record in logs("-q", "BANAN")] == ["bananas"]
    assert [record["prompt"] for record in logs("-m", "glm-4.6")] == ["apples", "cherries"]
    assert [record["prompt"] for record in logs("-m", "glm/glm-4.5")] == ["bananas"]
    first = logs()[0]
    assert [record["prompt"] for record in logs("--cid", first["conversation_id"])] == ["apples"]
    assert first["usage"]["total_tokens"] == 6089  # JSON columns come back as JSON
    assert first["options"] == {}
    text = run(["logs", "-n", "1"])
    assert text.returncode == 0
    assert "## Prompt\n\ncherries\n" in text.stdout
    assert transcript_text("glm-stream-content-glm46.sse") in text.stdout
    assert "glm/glm-4.6" in text.stdout


def test_logs_path_and_an_empty_log(user_dirs: UserDirs) -> None:
    result = run(["logs", "path"])
    assert result.returncode == 0
    assert result.stdout == f"{user_dirs.log}\n"
    empty = run(["logs", "--json"])
    assert empty.returncode == 0 and json.loads(empty.stdout) == []
    assert not user_dirs.log.exists()  # reading never creates the log


def test_an_older_schema_is_migrated_forward_and_its_rows_kept(server: FakeServer, user_dirs: UserDirs) -> None:
    from chatplug._cli._log import migrate

    user_dirs.log.parent.mkdir(parents=True)
    connection = sqlite3.connect(user_dirs.log, isolation_level=None)
    migrate(connection, target=1)
    connection.execute(
        "INSERT INTO exchanges (conversation_id, created_at, model, provider, prompt, response) "
        "VALUES ('old-conversation', '2025-01-01T00:00:00Z', 'glm-4.6', 'glm', 'old prompt', 'old reply')"
    )
    assert connection.execute("PRAGMA user_version").fetchone()[0] == 1
    connection.close()
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    result = chat(server, "new prompt", "--cid", "old-conversation")
    assert result.returncode == 0, result.stderr
    assert user_version(user_dirs) == 2
    old, new = rows(user_dirs)
    assert (old["prompt"], old["response"], old["finish_reason"]) == ("old prompt", "old reply", None)
    assert new["finish_reason"] == "stop" and new["conversation_id"] == "old-conversation"
    assert server.requests[0].json()["messages"][:2] == [
        {"role": "user", "content": "old prompt"}, {"role": "assistant", "content": "old reply"}
    ]


def test_a_newer_schema_is_refused_not_written(server: FakeServer, user_dirs: UserDirs) -> None:
    user_dirs.log.parent.mkdir(parents=True)
    connection = sqlite3.connect(user_dirs.log)
    connection.execute("PRAGMA user_version = 99")
    connection.close()
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    result = chat(server, "hi", "-m", "glm-4.6")
    assert result.returncode == 0  # the chat works; only the logging is refused, with one warning
    assert "not logged" in result.stderr and "schema version 99" in result.stderr
    listing = run(["logs"])
    assert listing.returncode == 1
    assert "schema version 99" in listing.stderr and "Traceback" not in listing.stderr
    assert user_version(user_dirs) == 99


TURNS = 15


def test_two_processes_writing_at_once_lose_nothing(user_dirs: UserDirs) -> None:
    # two interactive sessions side by side, each logging one row per turn as fast as the server answers;
    # a third writer (this test) holds the write lock while their first turns end, so both must wait for it
    from chatplug._cli._log import migrate

    user_dirs.log.parent.mkdir(parents=True)
    holder = sqlite3.connect(user_dirs.log, isolation_level=None)
    holder.execute("PRAGMA journal_mode = WAL")
    migrate(holder)
    holder.execute("BEGIN IMMEDIATE")
    reply = Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse")
    with FakeServer(default=reply) as server:
        processes = [
            subprocess.Popen(
                command("chat", "-i", "-m", "glm-4.6", "--base-url", server.base_url),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=clean_env(GLM_KEY),
                text=True,
            )
            for _ in (1, 2)
        ]
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("first turn\n")
            process.stdin.flush()
        deadline = time.monotonic() + RUN_TIMEOUT
        while len(server.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # let both reach their log write, then release the lock
        holder.execute("COMMIT")
        holder.close()
        turns = ["".join(f"process {number} turn {turn}\n" for turn in range(TURNS)) for number in (1, 2)]
        outputs = [
            process.communicate(text, timeout=RUN_TIMEOUT) for process, text in zip(processes, turns, strict=True)
        ]
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr
        assert stderr == ""
    logged = rows(user_dirs)
    expected = sorted(
        ["first turn", "first turn"] + [f"process {number} turn {turn}" for number in (1, 2) for turn in range(TURNS)]
    )
    assert sorted(row["prompt"] for row in logged) == expected
    assert len({row["conversation_id"] for row in logged}) == 2
    assert all(row["response"] == transcript_text("glm-stream-content-glm46.sse") for row in logged)


def test_the_log_never_holds_a_key(server: FakeServer, user_dirs: UserDirs) -> None:
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    server.add(Reply.error(401, load_json("kimi-error-invalid-authentication.json")))
    assert chat(server, "hi", "-m", "glm-4.6", "--api-key", SECRET_KEY).returncode == 0
    assert chat(server, "hi", "-m", "glm-4.6", "--max-retries", "0").returncode == 1
    assert server.requests[0].headers["authorization"] == f"Bearer {SECRET_KEY}"  # the key was really used
    for path in user_dirs.log.parent.iterdir():  # the database and its WAL files
        assert SECRET_KEY.encode() not in path.read_bytes(), path
    listing = run(["logs", "--json", "-n", "0"])
    assert SECRET_KEY not in listing.stdout and SECRET_KEY not in listing.stderr


def test_the_log_module_is_not_imported_by_help_or_providers() -> None:
    code = (
        "import sys\n"
        "from chatplug.cli import main\n"
        "for argv in (['providers'], ['models']):\n"
        "    main(argv)\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "loaded = [name for name in ('sqlite3', 'chatplug._cli._log', 'chatplug._cli._keys',"
        " 'chatplug._cli._interactive', 'getpass') if name in sys.modules]\n"
        "print('LOADED', loaded, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=clean_env(), timeout=RUN_TIMEOUT
    )
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stderr


def test_interactive_mode_continues_a_logged_conversation(server: FakeServer, user_dirs: UserDirs) -> None:
    answer = transcript_text("glm-stream-content-glm46.sse")
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    assert chat(server, "one", "-m", "glm-4.6").returncode == 0
    result = run(["chat", "-i", "-c", "--base-url", server.base_url], env=GLM_KEY, stdin="two\n")
    assert result.returncode == 0, result.stderr
    assert server.requests[1].json()["messages"] == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": answer},
        {"role": "user", "content": "two"},
    ]
    assert len({row["conversation_id"] for row in rows(user_dirs)}) == 1


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX only")
def test_ctrl_c_in_a_one_shot_chat_logs_the_partial_reply_and_exits_130(
    server: FakeServer, user_dirs: UserDirs
) -> None:
    import select
    import signal

    from chatplug.testing import sse_events

    events = sse_events((FIXTURES / "glm-stream-content-glm46.sse").read_bytes())
    server.add(Reply.sse([b"".join(events[:3]), *events[3:]], done=False, delay_between_chunks=30))
    process = subprocess.Popen(
        command("chat", "hi", "-m", "glm-4.6", "--base-url", server.base_url),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(GLM_KEY),
    )
    try:
        assert process.stdout is not None
        shown = b""
        while b"Hello" not in shown:
            ready, _, _ = select.select([process.stdout], [], [], RUN_TIMEOUT)
            assert ready, shown
            piece = os.read(process.stdout.fileno(), 4096)
            assert piece, shown
            shown += piece
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=RUN_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    assert server.client_disconnected.wait(RUN_TIMEOUT)
    [row] = rows(user_dirs)
    assert row["response"] == "\n\nHello"
    assert row["error"] == "interrupted (Ctrl-C)"
