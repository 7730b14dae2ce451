"""``chatplug keys`` and ``chatplug models default``: the stored key and model, their
precedence, the file's permissions, and that no key is ever printed."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

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
)

STORED_KEY = "sk-stored-7f3e9a1c5b2d48e6a0c4"
ENV_KEY = "sk-env-2b8d6f0a4c9e41d7b3a5"


def store(provider: str, key: str) -> subprocess.CompletedProcess[str]:
    return run(["keys", "set", provider], stdin=key + "\n")


def test_keys_set_from_stdin_writes_an_owner_only_file(user_dirs: UserDirs) -> None:
    result = store("glm", STORED_KEY)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == f"chatplug: key for glm saved in {user_dirs.keys}\n"
    assert json.loads(user_dirs.keys.read_text(encoding="utf-8")) == {"glm": STORED_KEY}
    if os.name == "posix":
        assert stat.S_IMODE(user_dirs.keys.stat().st_mode) == 0o600
        assert stat.S_IMODE(user_dirs.keys.parent.stat().st_mode) == 0o700
    assert store("kimi", SECRET_KEY).returncode == 0
    assert store("glm", STORED_KEY + "x").returncode == 0  # replaces glm's key
    assert json.loads(user_dirs.keys.read_text(encoding="utf-8")) == {"glm": STORED_KEY + "x", "kimi": SECRET_KEY}
    assert not list(user_dirs.keys.parent.glob(".*tmp"))  # no temporary file left behind


def test_keys_list_shows_names_never_values_and_keys_path(user_dirs: UserDirs) -> None:
    assert run(["keys", "list"]).stdout == ""
    store("kimi", SECRET_KEY)
    store("glm", STORED_KEY)
    listing = run(["keys", "list"])
    assert (listing.returncode, listing.stdout, listing.stderr) == (0, "glm\nkimi\n", "")
    path = run(["keys", "path"])
    assert path.stdout == f"{user_dirs.keys}\n"
    removed = run(["keys", "remove", "kimi"])
    assert removed.returncode == 0
    assert run(["keys", "list"]).stdout == "glm\n"
    assert run(["keys", "remove", "kimi"]).returncode == 2


def test_keys_set_refuses_empty_or_bad_input(user_dirs: UserDirs) -> None:
    assert run(["keys", "set", "glm"], stdin="\n").returncode == 2
    two_words = run(["keys", "set", "glm"], stdin="sk-one sk-two\n")
    assert two_words.returncode == 2 and "whitespace" in two_words.stderr
    assert "sk-one" not in two_words.stderr
    bad_name = run(["keys", "set", "../glm"], stdin=STORED_KEY)
    assert bad_name.returncode == 2 and "not a provider id" in bad_name.stderr
    assert not user_dirs.keys.exists()
    unknown = store("acme", STORED_KEY)
    assert unknown.returncode == 0 and "no installed provider has id 'acme'" in unknown.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX only")
def test_keys_set_on_a_terminal_reads_the_key_without_echo(user_dirs: UserDirs) -> None:
    import fcntl
    import pty
    import termios

    from test_cli_interactive import _read_until

    controller, terminal = pty.openpty()

    def take_terminal() -> None:  # the child's controlling terminal, so getpass can open /dev/tty
        os.setsid()
        fcntl.ioctl(terminal, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        command("keys", "set", "glm"),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=clean_env({"TERM": "dumb"}),
        preexec_fn=take_terminal,  # this test starts no thread before the fork
    )
    os.close(terminal)
    try:
        seen = _read_until(controller, b"(input hidden): ")
        os.write(controller, STORED_KEY.encode() + b"\n")
        returncode = process.wait(timeout=RUN_TIMEOUT)
        seen = _read_until(controller, b"\x00never", seen)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    assert returncode == 0
    assert b"saved in" in seen
    assert STORED_KEY.encode() not in seen  # never echoed
    assert json.loads(user_dirs.keys.read_text(encoding="utf-8")) == {"glm": STORED_KEY}


def _authorization(server: FakeServer, *args: str, env: dict[str, str] | None = None) -> str:
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    result = run(["chat", "hi", "-m", "glm-4.6", "--base-url", server.base_url, *args], env=env)
    assert result.returncode == 0, result.stderr
    for secret in (STORED_KEY, ENV_KEY, SECRET_KEY):
        assert secret not in result.stdout + result.stderr
    return server.requests[-1].headers["authorization"]


def test_precedence_is_api_key_then_environment_then_store(server: FakeServer, user_dirs: UserDirs) -> None:
    store("glm", STORED_KEY)
    assert _authorization(server) == f"Bearer {STORED_KEY}"
    assert _authorization(server, env={"ZAI_API_KEY": ENV_KEY}) == f"Bearer {ENV_KEY}"
    assert _authorization(server, "--api-key", SECRET_KEY, env={"ZAI_API_KEY": ENV_KEY}) == f"Bearer {SECRET_KEY}"


def test_a_stored_key_is_never_sent_to_a_plain_base_url_server(server: FakeServer, user_dirs: UserDirs) -> None:
    store("glm", STORED_KEY)
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    result = run(["chat", "hi", "-m", "llama3", "--base-url", server.base_url])
    assert result.returncode == 0, result.stderr
    assert "authorization" not in server.requests[0].headers


def test_a_rejected_stored_key_says_where_it_came_from_and_is_never_printed(
    server: FakeServer, user_dirs: UserDirs
) -> None:
    store("kimi", STORED_KEY)
    server.add(Reply.error(401, load_json("kimi-error-invalid-authentication.json")))
    result = run(["chat", "hi", "-m", "kimi-k2-0905-preview", "--base-url", server.base_url, "--debug"])
    assert result.returncode == 1
    assert "chatplug keys set kimi" in result.stderr
    assert STORED_KEY not in result.stdout + result.stderr
    assert "Authorization\": \"***\"" in result.stderr  # --debug shows the header, redacted
    logged = run(["logs", "--json"])
    assert STORED_KEY not in logged.stdout
    for path in user_dirs.log.parent.iterdir():
        assert STORED_KEY.encode() not in path.read_bytes()


def test_the_library_client_never_reads_the_store(user_dirs: UserDirs) -> None:
    store("glm", STORED_KEY)
    code = (
        "import chatplug\n"
        "from chatplug.cli import stored_api_key\n"
        "try:\n"
        "    chatplug.Client(provider='glm').chat.completions.create(model='glm-4.6', messages=[{'role': 'user', "
        "'content': 'hi'}])\n"
        "except chatplug.MissingAPIKeyError:\n"
        "    print('missing key')\n"
        "print(stored_api_key('glm') == " + repr(STORED_KEY) + ")\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=clean_env(), timeout=RUN_TIMEOUT
    )
    assert result.stdout == "missing key\nTrue\n", result.stderr


def test_an_unreadable_store_is_a_warning(server: FakeServer, user_dirs: UserDirs) -> None:
    user_dirs.keys.parent.mkdir(parents=True)
    user_dirs.keys.write_text("{not json", encoding="utf-8")
    result = run(["chat", "hi", "-m", "glm-4.6", "--base-url", server.base_url])
    assert result.returncode == 1
    assert "is not valid JSON" in result.stderr
    assert "ZAI_API_KEY" in result.stderr  # and then the usual missing-key error
    assert server.requests == []


def test_models_default_sets_the_model_and_chatplug_model_wins(server: FakeServer, user_dirs: UserDirs) -> None:
    env = {"ZAI_API_KEY": SECRET_KEY}
    none = run(["models", "default"])
    assert none.returncode == 0 and none.stdout == "" and "no default model" in none.stderr
    assert run(["models", "default", "glm-4.5"]).returncode == 0
    assert run(["models", "default"]).stdout == "glm-4.5\n"
    assert (user_dirs.config / "chatplug" / "default_model.txt").read_text(encoding="utf-8") == "glm-4.5\n"
    for _ in range(3):
        server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    assert run(["chat", "hi", "--base-url", server.base_url], env=env).returncode == 0
    assert server.requests[-1].json()["model"] == "glm-4.5"
    assert run(["chat", "hi", "--base-url", server.base_url], env={**env, "CHATPLUG_MODEL": "glm-4.6"}).returncode == 0
    assert server.requests[-1].json()["model"] == "glm-4.6"
    assert run(["chat", "hi", "-m", "glm-4.7", "--base-url", server.base_url], env=env).returncode == 0
    assert server.requests[-1].json()["model"] == "glm-4.7"
    assert run(["models", "default", "--clear"]).returncode == 0
    missing = run(["chat", "hi", "--base-url", server.base_url], env=env)
    assert missing.returncode == 2 and "chatplug models default MODEL" in missing.stderr


def test_models_default_refuses_an_unknown_model(user_dirs: UserDirs) -> None:
    result = run(["models", "default", "gpt-unknown-9"])
    assert result.returncode == 1
    assert "no installed provider claims model 'gpt-unknown-9'" in result.stderr
    assert not Path(user_dirs.config / "chatplug" / "default_model.txt").exists()


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX only")
def test_a_store_others_can_read_is_flagged_and_set_makes_it_private_again(user_dirs: UserDirs) -> None:
    store("glm", STORED_KEY)
    user_dirs.keys.chmod(0o644)
    listing = run(["keys", "list"])
    assert listing.stdout == "glm\n"
    assert f"{user_dirs.keys} can be read by other users" in listing.stderr
    assert store("kimi", SECRET_KEY).returncode == 0
    assert stat.S_IMODE(user_dirs.keys.stat().st_mode) == 0o600
    assert run(["keys", "list"]).stderr == ""
