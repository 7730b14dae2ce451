"""``chatplug chat`` replaying recorded GLM and Kimi transcripts through the real command."""

from __future__ import annotations

import json
import subprocess
import sys

from chatplug.testing import FakeServer, Reply
from cli_support import (
    FIXTURES,
    RUN_TIMEOUT,
    SECRET_KEY,
    as_printed,
    clean_env,
    load_json,
    run,
    sse_chunks,
    transcript_text,
)

GLM_KEY = {"ZAI_API_KEY": SECRET_KEY}
KIMI_KEY = {"MOONSHOT_API_KEY": SECRET_KEY}


def test_glm_stream_prints_the_transcript_text_and_reasoning_apart(server: FakeServer) -> None:
    server.add(Reply.sse_file(FIXTURES / "glm-stream-reasoning-glm45.sse"))
    result = run(["chat", "hi", "-m", "glm-4.5", "--base-url", server.base_url], env=GLM_KEY)
    assert result.returncode == 0, result.stderr
    assert result.stdout == as_printed(transcript_text("glm-stream-reasoning-glm45.sse"))
    # stdout is not a terminal, so the reasoning goes to stderr, not into the answer
    reasoning = transcript_text("glm-stream-reasoning-glm45.sse", "reasoning_content")
    assert reasoning in result.stderr
    assert reasoning not in result.stdout
    request = server.requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert request.json() == {"model": "glm-4.5", "messages": [{"role": "user", "content": "hi"}], "stream": True}


def test_kimi_stream_through_the_base_url_env_var_with_usage(server: FakeServer) -> None:
    server.add(Reply.sse_file(FIXTURES / "kimi-stream-k2-0905.sse"))
    result = run(
        ["chat", "Introduce yourself", "-m", "kimi-k2-0905-preview", "-u"],
        env={**KIMI_KEY, "MOONSHOT_BASE_URL": server.base_url},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == as_printed(transcript_text("kimi-stream-k2-0905.sse"))
    # Kimi puts usage inside choices[0] of its last chunk; the command still finds it
    assert "usage: 4796 prompt + 174 completion = 4970 tokens" in result.stderr
    assert server.requests[0].json()["model"] == "kimi-k2-0905-preview"


def test_provider_prefixed_model_is_sent_without_the_prefix(server: FakeServer) -> None:
    server.add(Reply.sse_file(FIXTURES / "kimi-stream-k2-0905.sse"))
    result = run(["chat", "hi", "-m", "kimi/kimi-k2-0905-preview", "--base-url", server.base_url], env=KIMI_KEY)
    assert result.returncode == 0, result.stderr
    assert server.requests[0].json()["model"] == "kimi-k2-0905-preview"


def test_no_reasoning_hides_the_reasoning(server: FakeServer) -> None:
    server.add(Reply.sse_file(FIXTURES / "glm-stream-reasoning-glm45.sse"))
    result = run(["chat", "hi", "-m", "glm-4.5", "--no-reasoning", "--base-url", server.base_url], env=GLM_KEY)
    assert result.returncode == 0, result.stderr
    assert result.stdout == as_printed(transcript_text("glm-stream-reasoning-glm45.sse"))
    assert "greeting" not in result.stderr + result.stdout
    assert result.stderr == ""


def test_json_of_a_stream_parses_and_matches_the_transcript(server: FakeServer) -> None:
    name = "glm-stream-tool-call.sse"
    server.add(Reply.sse_file(FIXTURES / name))
    result = run(["chat", "weather in Florence?", "-m", "glm-4.7-flash", "--json", "--base-url", server.base_url],
                 env=GLM_KEY)
    assert result.returncode == 0, result.stderr
    completion = json.loads(result.stdout)
    chunks = sse_chunks(name)
    assert completion["object"] == "chat.completion"
    assert completion["id"] == chunks[0]["id"]
    message = completion["choices"][0]["message"]
    assert message["content"] == transcript_text(name)
    assert message["reasoning_content"] == transcript_text(name, "reasoning_content")
    assert completion["choices"][0]["finish_reason"] == "tool_calls"
    recorded_call = next(
        call
        for chunk in chunks
        for choice in chunk.get("choices") or []
        for call in (choice.get("delta") or {}).get("tool_calls") or []
    )
    assert message["tool_calls"][0]["id"] == recorded_call["id"]
    assert message["tool_calls"][0]["function"]["name"] == recorded_call["function"]["name"]
    usage = next(chunk["usage"] for chunk in reversed(chunks) if chunk.get("usage"))
    assert completion["usage"]["total_tokens"] == usage["total_tokens"]
    # the model asked for a tool the command cannot run: it says so on stderr
    assert "tool" in result.stderr


def test_json_without_stream_matches_the_recorded_body(server: FakeServer) -> None:
    body = load_json("glm-nonstream-reasoning.json")
    server.add(Reply.json(body))
    result = run(["chat", "hi", "-m", "glm-4.7-flash", "--no-stream", "--json", "--base-url", server.base_url],
                 env=GLM_KEY)
    assert result.returncode == 0, result.stderr
    completion = json.loads(result.stdout)
    assert completion["id"] == body["id"]
    assert completion["choices"][0]["message"]["content"] == body["choices"][0]["message"]["content"]
    assert completion["choices"][0]["message"]["reasoning_content"] == body["choices"][0]["message"][
        "reasoning_content"
    ]
    assert completion["usage"]["total_tokens"] == body["usage"]["total_tokens"]
    assert "stream" not in server.requests[0].json()


def test_no_stream_prints_the_answer_and_reasoning_apart(server: FakeServer) -> None:
    body = load_json("glm-nonstream-glm46-reasoning.json")
    server.add(Reply.json(body))
    result = run(["chat", "hi", "-m", "glm-4.6", "--no-stream", "-u", "--base-url", server.base_url], env=GLM_KEY)
    assert result.returncode == 0, result.stderr
    message = body["choices"][0]["message"]
    assert result.stdout == as_printed(message["content"])
    assert message["reasoning_content"] in result.stderr
    assert f"= {body['usage']['total_tokens']} tokens" in result.stderr


def test_a_whole_reply_loads_no_stream_module(server: FakeServer) -> None:
    body = load_json("glm-nonstream-glm46-reasoning.json")
    server.add(Reply.json(body))
    code = (
        "import sys\n"
        "from chatplug.cli import main\n"
        f"status = main(['chat', 'hi', '-m', 'glm-4.6', '--no-stream', '--base-url', {server.base_url!r}])\n"
        "stream = ('chatplug._streaming', 'chatplug._sse', 'chatplug._accumulate', 'chatplug._stream_types')\n"
        "print('LOADED', [name for name in stream if name in sys.modules], status, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, encoding="utf-8",
                            env=clean_env(GLM_KEY), timeout=RUN_TIMEOUT)
    assert result.stdout == as_printed(body["choices"][0]["message"]["content"])
    assert result.stderr.splitlines()[-1] == "LOADED [] 0"


def test_prompt_from_stdin(server: FakeServer) -> None:
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    result = run(["chat", "-m", "glm-4.6", "--base-url", server.base_url], env=GLM_KEY,
                 stdin="What is the capital of Italy?\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == as_printed(transcript_text("glm-stream-content-glm46.sse"))
    assert server.requests[0].json()["messages"] == [{"role": "user", "content": "What is the capital of Italy?"}]


def test_dash_reads_stdin(server: FakeServer) -> None:
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    result = run(["chat", "-", "-m", "glm-4.6", "--base-url", server.base_url], env=GLM_KEY, stdin="from a pipe")
    assert result.returncode == 0, result.stderr
    assert server.requests[0].json()["messages"][0]["content"] == "from a pipe"


def test_piped_stdin_is_appended_to_the_prompt_argument(server: FakeServer) -> None:
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    result = run(["chat", "Summarise this file:", "-m", "glm-4.6", "--base-url", server.base_url], env=GLM_KEY,
                 stdin="line one\nline two\n")
    assert result.returncode == 0, result.stderr
    assert server.requests[0].json()["messages"][0]["content"] == "Summarise this file:\n\nline one\nline two"


def test_options_and_extras_reach_the_request_body(server: FakeServer) -> None:
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    result = run(
        [
            "chat", "hi", "-m", "glm-4.6", "--base-url", server.base_url,
            "-s", "Answer in one word.",
            "--temperature", "0.3",
            "--max-tokens", "64",
            "-o", 'thinking={"type":"disabled"}',
            "-o", "top_p=0.5",
            "-o", "do_sample=false",
            "-o", "user_id=alice-0001",
            "-o", 'stop=["END"]',
        ],
        env=GLM_KEY,
    )
    assert result.returncode == 0, result.stderr
    body = server.requests[0].json()
    assert body["messages"] == [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "hi"},
    ]
    assert body["thinking"] == {"type": "disabled"}
    assert body["top_p"] == 0.5
    assert body["do_sample"] is False
    assert body["user_id"] == "alice-0001"
    assert body["temperature"] == 0.3
    assert body["max_tokens"] == 64
    assert body["stop"] == ["END"] or body["stop"] == "END"


def test_api_key_option_overrides_the_environment(server: FakeServer) -> None:
    server.add(Reply.sse_file(FIXTURES / "kimi-stream-k2-0905.sse"))
    result = run(
        ["chat", "hi", "-m", "kimi-k2-0905-preview", "--base-url", server.base_url, "--api-key", SECRET_KEY],
        env={"MOONSHOT_API_KEY": "sk-from-the-environment-000"},
    )
    assert result.returncode == 0, result.stderr
    assert server.requests[0].headers["authorization"] == f"Bearer {SECRET_KEY}"


def test_debug_logs_the_request_with_the_key_redacted(server: FakeServer) -> None:
    server.add(Reply.sse_file(FIXTURES / "kimi-stream-k2-0905.sse"))
    result = run(
        ["chat", "hi", "-m", "kimi-k2-0905-preview", "--base-url", server.base_url, "--api-key", SECRET_KEY,
         "--debug"],
        env=KIMI_KEY,
    )
    assert result.returncode == 0, result.stderr
    assert f"POST {server.base_url}/chat/completions" in result.stderr
    assert '"Authorization": "***"' in result.stderr
    assert '"messages": [{"role": "user", "content": "hi"}]' in result.stderr
    assert "response #" in result.stderr and "HTTP 200" in result.stderr
    assert SECRET_KEY not in result.stderr + result.stdout
    assert result.stdout == as_printed(transcript_text("kimi-stream-k2-0905.sse"))


def test_python_m_and_the_installed_script_are_the_same_command() -> None:
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from cli_support import clean_env

    script = shutil.which("chatplug", path=str(Path(sys.executable).parent))
    assert script is not None, "the chatplug console script is not installed next to this Python"
    by_script = subprocess.run([script, "--version"], capture_output=True, text=True, env=clean_env(), timeout=60)
    by_module = run(["--version"])
    assert by_script.returncode == by_module.returncode == 0
    assert by_script.stdout == by_module.stdout
    assert by_script.stdout.startswith("chatplug ")
