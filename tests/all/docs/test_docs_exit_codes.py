"""The exit-code tables of README.md and docs/cli.md say what the command does.

Both tables are read from the documents, compared with each other and with
the constants in ``chatplug._cli._errors``; then the real ``chatplug`` command
runs (a subprocess, a temporary HOME, a loopback server) into each situation a
row names, and must exit with that row's code.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from chatplug._cli._errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE
from chatplug.testing import FakeServer, Reply

ROOT = Path(__file__).resolve().parents[3]
_ROW = re.compile(r"^\| (\d+) \| (.+?) \|$", re.MULTILINE)


def exit_code_table(document: str) -> dict[int, str]:
    """The ``| exit code | meaning |`` table of ``document``: code -> meaning."""
    text = (ROOT / document).read_text(encoding="utf-8")
    start = text.index("| exit code | meaning |")
    block = text[start:].split("\n\n", 1)[0]  # the table ends at the first blank line
    return {int(code): meaning for code, meaning in _ROW.findall(block)}


def code_for(table: dict[int, str], words: str) -> int:
    """The code of the one row whose meaning mentions ``words``."""
    codes = [code for code, meaning in table.items() if words in meaning]
    assert len(codes) == 1, f"{words!r} is in rows {codes} of {table}"
    return codes[0]


TABLE = exit_code_table("docs/cli.md")


def test_readme_and_cli_docs_have_the_same_table() -> None:
    assert exit_code_table("README.md") == TABLE


def test_the_table_lists_exactly_the_codes_the_command_uses() -> None:
    assert set(TABLE) == {0, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED}
    assert TABLE[0] == "success"
    assert code_for(TABLE, "Ctrl-C") == EXIT_INTERRUPTED == 130


# ------------------------------------------------------- the command itself


@pytest.fixture(autouse=True)
def _providers_installed() -> None:
    import importlib.util

    if importlib.util.find_spec("chatplug_glm") is None:
        pytest.skip("these runs use the GLM provider; chatplug-glm is not installed")


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


def _env(tmp_path: Path, server: FakeServer | None = None, **extra: str) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_DATA_HOME": str(tmp_path / "data"), "NO_COLOR": "1"}
    if server is not None:
        env.update(ZAI_API_KEY="sk-exit-codes-0123456789", ZAI_BASE_URL=server.base_url)
    env.update(extra)
    return env


def chatplug(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chatplug", *args], env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def _completion(content: str) -> dict[str, object]:
    return {"id": "c1", "object": "chat.completion", "created": 1, "model": "glm-4.6",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}


def test_success(server: FakeServer, tmp_path: Path) -> None:
    server.add(Reply.json(_completion("Ciao!")))
    done = chatplug("chat", "hi", "-m", "glm-4.6", "--no-stream", env=_env(tmp_path, server))
    assert (done.returncode, done.stdout) == (0, "Ciao!\n"), done.stderr


def test_api_error(server: FakeServer, tmp_path: Path) -> None:
    server.add(Reply.error(400, {"error": {"code": "1214", "message": "bad messages"}}))
    done = chatplug("chat", "hi", "-m", "glm-4.6", "--no-stream", env=_env(tmp_path, server))
    assert done.returncode == code_for(TABLE, "API or network error"), done.stderr


def test_network_error(tmp_path: Path) -> None:
    with FakeServer() as gone:
        url = gone.base_url  # nothing listens there once the server stopped
    env = _env(tmp_path, None, ZAI_API_KEY="sk-exit-codes-0123456789", ZAI_BASE_URL=url)
    done = chatplug("chat", "hi", "-m", "glm-4.6", "--max-retries", "0", env=env)
    assert done.returncode == code_for(TABLE, "API or network error"), done.stderr


def test_missing_key(tmp_path: Path) -> None:
    done = chatplug("chat", "hi", "-m", "glm-4.6", env=_env(tmp_path))
    assert "no API key" in done.stderr
    assert done.returncode == code_for(TABLE, "missing key")


def test_unknown_model_and_unknown_provider(tmp_path: Path) -> None:
    model = chatplug("chat", "hi", "-m", "no-such-model-9", env=_env(tmp_path))
    assert "no installed provider claims model 'no-such-model-9'" in model.stderr
    assert model.returncode == code_for(TABLE, "unknown model or provider")
    provider = chatplug("models", "--provider", "no-such-provider", env=_env(tmp_path))
    assert provider.returncode == code_for(TABLE, "unknown model or provider"), provider.stderr


def test_bad_option(tmp_path: Path) -> None:
    done = chatplug("chat", "hi", "--no-such-option", env=_env(tmp_path))
    assert done.returncode == code_for(TABLE, "bad option or value")


def test_request_the_limits_reject_sends_nothing(server: FakeServer, tmp_path: Path) -> None:
    done = chatplug("chat", "hi", "-m", "glm-4.6", "--temperature", "5", env=_env(tmp_path, server))
    assert "temperature" in done.stderr
    assert done.returncode == code_for(TABLE, "limits reject (nothing was sent)")
    assert server.requests == []


@pytest.mark.skipif(os.name == "nt", reason="sends SIGINT, which Windows does not deliver this way")
def test_ctrl_c_during_a_stream(server: FakeServer, tmp_path: Path) -> None:
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "glm-4.6",
             "choices": [{"index": 0, "delta": {"content": "Once"}, "finish_reason": None}]}
    server.add(Reply.sse([chunk, chunk], delay_between_chunks=60))
    process = subprocess.Popen([sys.executable, "-m", "chatplug", "chat", "tell a story", "-m", "glm-4.6"],
                               env=_env(tmp_path, server), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL)
    assert process.stdout is not None
    try:
        assert process.stdout.read(4) == b"Once"  # the first chunk arrived; the second is a minute away
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == code_for(TABLE, "Ctrl-C")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        assert process.stderr is not None
        process.stderr.close()
