"""Visible waits (retry lines, the first-token indicator, ``-u``) and machine-readable
output (``providers --json``, ``models --json``, ``chat --jsonl``, ``--json`` on a cut stream)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

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
GLM46 = FIXTURES / "glm-stream-content-glm46.sse"
ANSWER = transcript_text("glm-stream-content-glm46.sse")


def chat(server: FakeServer, *args: str) -> subprocess.CompletedProcess[str]:
    return run(["chat", "hi", "-m", "glm-4.6", "--base-url", server.base_url, *args], env=GLM_KEY)


# ------------------------------------------------------------------- retries


def test_each_retry_is_one_line_on_stderr_saying_what_failed_and_when(server: FakeServer) -> None:
    server.add(Reply.retry_later(429, retry_after=0.2))
    rate_limit = load_json("glm-error-1302-rate-limit-zh.json")
    server.add(Reply.error(429, rate_limit))
    server.add(Reply.sse_file(GLM46))
    result = chat(server)
    assert result.returncode == 0
    assert result.stdout == ANSWER + "\n"  # nothing of the waits on stdout
    assert result.stderr.splitlines() == [
        "chatplug: glm: attempt 1 failed (HTTP 429, code rate_limit_exceeded: FakeServer: HTTP 429, retry later); "
        "retrying in 0.2s (as the server asked)",
        f"chatplug: glm: attempt 2 failed (HTTP 429, code 1302: {rate_limit['error']['message']}); "
        "retrying in 0.8-1.0s",
    ]
    assert len(server.requests) == 3


def test_no_retry_line_when_nothing_is_retried(server: FakeServer) -> None:
    server.add(Reply.error(429, load_json("glm-error-1113-arrears-zh.json")))  # quota: never retried
    result = chat(server)
    assert result.returncode == 1
    assert "attempt 1 failed" not in assert_one_line_error(result.stderr)  # the one line is the error itself


# ------------------------------------------------------------------- first-token indicator


def test_no_indicator_when_stderr_is_not_a_terminal(server: FakeServer) -> None:
    server.add(Reply.sse_file(GLM46, delay_before_headers=1.5))
    result = chat(server)
    assert result.returncode == 0
    assert (result.stdout, result.stderr) == (ANSWER + "\n", "")


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX only")
def test_on_a_terminal_the_wait_for_the_first_token_shows_on_stderr_only(server: FakeServer) -> None:
    import pty

    from test_cli_interactive import _read_until

    server.add(Reply.sse_file(GLM46, delay_before_headers=1.5))
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        command("chat", "hi", "-m", "glm-4.6", "--base-url", server.base_url),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,  # a pipe: must get the answer and nothing else
        stderr=terminal,
        env=clean_env({**GLM_KEY, "TERM": "dumb"}),
    )
    os.close(terminal)
    try:
        assert process.stdout is not None
        stdout = process.stdout.read().decode("utf-8")
        returncode = process.wait(timeout=RUN_TIMEOUT)
        shown = _read_until(controller, b"\x00never").decode("utf-8")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        os.close(controller)
    assert returncode == 0
    assert stdout == ANSWER + "\n"
    assert "chatplug: waiting for glm-4.6 " in shown
    assert "s" in shown.split("waiting for glm-4.6 ", 1)[1]
    assert shown.endswith("\r\x1b[K")  # erased before the answer, so the terminal is left clean


# ------------------------------------------------------------------- -u


def test_usage_flag_asks_the_stream_for_usage(server: FakeServer) -> None:
    server.add(Reply.sse_file(GLM46))
    server.add(Reply.json(load_json("glm-nonstream-reasoning.json")))
    streamed = chat(server, "-u")
    assert streamed.returncode == 0
    assert server.requests[0].json()["stream_options"] == {"include_usage": True}
    assert streamed.stderr == "usage: 6074 prompt + 15 completion = 6089 tokens (43 cached)\n"
    whole = chat(server, "-u", "--no-stream")
    assert whole.returncode == 0
    assert "stream_options" not in server.requests[1].json()  # only streams take it
    plain = FakeServer()
    with plain:
        plain.add(Reply.sse_file(GLM46))
        assert chat(plain).returncode == 0
        assert "stream_options" not in plain.requests[0].json()


# ------------------------------------------------------------------- --jsonl and --json


def test_jsonl_prints_one_chunk_per_line(server: FakeServer) -> None:
    server.add(Reply.sse_file(GLM46))
    result = chat(server, "--jsonl")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    recorded = sse_chunks("glm-stream-content-glm46.sse")
    assert len(lines) == len(recorded)
    chunks = [json.loads(line) for line in lines]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert [chunk["id"] for chunk in chunks] == [chunk["id"] for chunk in recorded]
    assert "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks if chunk["choices"]) == ANSWER
    assert chunks[-1]["usage"]["total_tokens"] == 6089
    assert result.stderr == ""


def test_jsonl_and_json_are_exclusive(server: FakeServer) -> None:
    result = chat(server, "--jsonl", "--json")
    assert result.returncode == 2 and "not allowed with" in result.stderr
    assert server.requests == []


def test_json_on_a_cut_stream_prints_the_partial_completion_and_exits_1(server: FakeServer) -> None:
    recorded = sse_chunks("glm-stream-content-glm46.sse")
    server.add(Reply.sse_file(GLM46, close_after_chunks=4))
    result = chat(server, "--json", "--max-retries", "0")
    assert result.returncode == 1
    partial = json.loads(result.stdout)
    assert partial["id"] == recorded[0]["id"]
    text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in recorded[:4])
    assert partial["choices"][0]["message"]["content"] == text
    assert partial["choices"][0]["finish_reason"] is None
    assert "glm" in assert_one_line_error(result.stderr)


def test_jsonl_on_a_cut_stream_keeps_the_lines_that_arrived(server: FakeServer) -> None:
    server.add(Reply.sse_file(GLM46, close_after_chunks=4))
    result = chat(server, "--jsonl", "--max-retries", "0")
    assert result.returncode == 1
    assert len(result.stdout.splitlines()) == 4
    assert_one_line_error(result.stderr)


# ------------------------------------------------------------------- providers --json, models --json


def test_providers_json_never_holds_a_key() -> None:
    result = run(["providers", "--json"], env={"ZAI_API_KEY": SECRET_KEY})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert SECRET_KEY not in result.stdout
    by_id = {provider["id"]: provider for provider in data["providers"]}
    assert {"glm", "kimi"} <= set(by_id)
    assert by_id["glm"]["api_key_env"] == ["ZAI_API_KEY"] and by_id["glm"]["api_key_set"] is True
    assert by_id["kimi"]["api_key_set"] is False
    assert by_id["glm"]["base_url"] == "https://api.z.ai/api/paas/v4"
    assert by_id["glm"]["distribution"] == "chatplug-glm"
    assert "glm-4.6" in by_id["glm"]["models"] and by_id["glm"]["model_prefixes"] == ["glm-"]
    assert data["failures"] == []
    assert [provider["id"] for provider in data["providers"]] == sorted(by_id)


def test_providers_json_lists_failed_plugins(tmp_path: object) -> None:
    from pathlib import Path

    site = Path(str(tmp_path)) / "site"
    site.mkdir()
    (site / "broken_provider.py").write_text("raise ImportError('needs libfoo 2.0')\n", encoding="utf-8")
    info = site / "broken_provider-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-provider\nVersion: 0.3\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[chatplug]\nbroken = broken_provider\n", encoding="utf-8")
    result = run(["providers", "--json"], env={"PYTHONPATH": str(site)})
    assert result.returncode == 0
    [failure] = json.loads(result.stdout)["failures"]
    assert failure["name"] == "broken" and failure["distribution"] == "broken-provider"
    assert "needs libfoo 2.0" in failure["error"]


def test_models_json_lists_models_and_prefixes() -> None:
    result = run(["models", "--json", "--provider", "kimi"])
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert rows[0] == {"id": "kimi/kimi-k2-0905-preview", "provider": "kimi", "model": "kimi-k2-0905-preview",
                       "prefix": False}
    assert {"id": "kimi/kimi-*", "provider": "kimi", "model": "kimi-", "prefix": True} in rows
    assert {row["provider"] for row in rows} == {"kimi"}
    everything = json.loads(run(["models", "--json"]).stdout)
    assert {"glm", "kimi"} <= {row["provider"] for row in everything}
    unknown = run(["models", "--json", "--provider", "openai"])
    assert unknown.returncode == 1 and unknown.stdout == ""
