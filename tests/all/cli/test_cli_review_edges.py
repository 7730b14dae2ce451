"""Review of the CLI as a new user meets it: a stored key counts as configured,
the missing-key error names the key store, and ``-c`` continues a conversation
in the state its last turn left it (a system prompt removed with ``/system``
stays removed)."""

from __future__ import annotations

import json
import subprocess

from chatplug.testing import FakeServer, Reply
from cli_support import (
    FIXTURES,
    RUN_TIMEOUT,
    SECRET_KEY,
    UserDirs,
    assert_one_line_error,
    clean_env,
    command,
    run,
    transcript_text,
)

GLM_KEY = {"ZAI_API_KEY": SECRET_KEY}


def _store_glm_key() -> None:
    stored = run(["keys", "set", "glm"], stdin=SECRET_KEY + "\n")
    assert stored.returncode == 0, stored.stderr


def test_providers_table_says_a_stored_key_is_there() -> None:
    _store_glm_key()
    result = run(["providers"])
    assert result.returncode == 0, result.stderr
    glm = next(line for line in result.stdout.splitlines() if line.startswith("glm "))
    kimi = next(line for line in result.stdout.splitlines() if line.startswith("kimi "))
    assert "ZAI_API_KEY (not set, stored key)" in glm
    assert "MOONSHOT_API_KEY (not set)" in kimi and "stored" not in kimi
    assert SECRET_KEY not in result.stdout + result.stderr


def test_providers_json_says_a_stored_key_is_there() -> None:
    _store_glm_key()
    result = run(["providers", "--json"])
    assert result.returncode == 0, result.stderr
    by_id = {provider["id"]: provider for provider in json.loads(result.stdout)["providers"]}
    assert (by_id["glm"]["api_key_set"], by_id["glm"]["api_key_stored"]) == (False, True)
    assert (by_id["kimi"]["api_key_set"], by_id["kimi"]["api_key_stored"]) == (False, False)
    assert SECRET_KEY not in result.stdout


def test_env_key_wins_in_the_providers_table() -> None:
    _store_glm_key()
    result = run(["providers"], env=GLM_KEY)
    glm = next(line for line in result.stdout.splitlines() if line.startswith("glm "))
    assert "ZAI_API_KEY (set)" in glm


def test_missing_key_error_names_the_key_store(server: FakeServer) -> None:
    result = run(["chat", "hi", "-m", "glm-4.6", "--base-url", server.base_url])
    assert result.returncode == 1
    line = assert_one_line_error(result.stderr)
    assert line == (
        "chatplug: error: no API key for provider 'glm': set ZAI_API_KEY, "
        "store one with 'chatplug keys set glm', or pass --api-key"
    )
    assert server.requests == []


def test_continue_keeps_a_system_prompt_removed_mid_conversation(server: FakeServer) -> None:
    for _ in range(3):
        server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    first = run(
        ["chat", "-i", "-m", "glm-4.6", "-s", "Be brief.", "--base-url", server.base_url],
        env=GLM_KEY,
        stdin="one\n/system\ntwo\n/exit\n",
    )
    assert first.returncode == 0, first.stderr
    assert [m["role"] for m in server.requests[1].json()["messages"]] == ["user", "assistant", "user"]
    again = run(["chat", "-c", "three", "--base-url", server.base_url], env=GLM_KEY)
    assert again.returncode == 0, again.stderr
    sent = server.requests[2].json()["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user", "assistant", "user"]
    assert [m["content"] for m in sent if m["role"] == "user"] == ["one", "two", "three"]


def test_continue_keeps_the_last_system_prompt(server: FakeServer) -> None:
    for _ in range(3):
        server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    first = run(
        ["chat", "-i", "-m", "glm-4.6", "-s", "Be brief.", "--base-url", server.base_url],
        env=GLM_KEY,
        stdin="one\n/system Answer in French.\ntwo\n/exit\n",
    )
    assert first.returncode == 0, first.stderr
    again = run(["chat", "-c", "three", "--base-url", server.base_url], env=GLM_KEY)
    assert again.returncode == 0, again.stderr
    sent = server.requests[2].json()["messages"]
    assert sent[0] == {"role": "system", "content": "Answer in French."}


def test_continuing_a_plain_server_conversation_asks_for_its_base_url(server: FakeServer) -> None:
    server.add(Reply.sse_file(FIXTURES / "kimi-stream-k2-0905.sse"))
    server.add(Reply.sse_file(FIXTURES / "kimi-stream-k2-0905.sse"))
    first = run(["chat", "hi", "-m", "llama3", "--base-url", server.base_url])
    assert first.returncode == 0, first.stderr
    lost = run(["chat", "-c", "again"])
    assert lost.returncode == 2
    line = assert_one_line_error(lost.stderr)
    assert "plain OpenAI-compatible server" in line and "--base-url" in line
    assert len(server.requests) == 1
    again = run(["chat", "-c", "again", "--base-url", server.base_url])
    assert again.returncode == 0, again.stderr
    assert [m["content"] for m in server.requests[1].json()["messages"] if m["role"] == "user"] == ["hi", "again"]


def test_a_broken_key_store_is_an_error_not_a_usage_error(user_dirs: UserDirs) -> None:
    user_dirs.keys.parent.mkdir(parents=True)
    user_dirs.keys.write_text("not json\n", encoding="utf-8")
    for args in (["keys", "list"], ["keys", "set", "glm"], ["keys", "remove", "glm"]):
        result = run(args, stdin=SECRET_KEY + "\n")
        assert result.returncode == 1, (args, result.stderr)
        assert result.stderr.splitlines()[-1] == (
            f"chatplug: error: the key store {user_dirs.keys} is not valid JSON; fix or remove it"
        )
    assert user_dirs.keys.read_text(encoding="utf-8") == "not json\n"  # never overwritten


def test_a_bad_provider_name_for_keys_set_stays_a_usage_error() -> None:
    result = run(["keys", "set", "../glm"], stdin=SECRET_KEY + "\n")
    assert result.returncode == 2
    assert "is not a provider id" in result.stderr


def test_logs_help_names_every_field_that_q_searches() -> None:
    result = run(["logs", "--help"])
    assert result.returncode == 0
    assert "prompt, system prompt, reasoning or reply contains TEXT" in " ".join(result.stdout.split())


def test_a_catalog_refusal_names_the_option_the_command_takes(server: FakeServer) -> None:
    result = run(["chat", "hi", "-m", "kimi-k2.5", "-o", "seed=1", "--base-url", server.base_url],
                 env={"MOONSHOT_API_KEY": SECRET_KEY})
    assert result.returncode == 2
    line = assert_one_line_error(result.stderr)
    assert line.endswith("(hint: on the command line that is -o drop_unsupported_params=true)"), line
    assert server.requests == []


def test_drop_unsupported_params_is_a_call_option_not_a_body_field(server: FakeServer) -> None:
    server.add(Reply.sse_file(FIXTURES / "kimi-stream-k2-0905.sse"))
    result = run(
        ["chat", "hi", "-m", "kimi-k2.5", "-o", "seed=1", "-o", "drop_unsupported_params=true",
         "--base-url", server.base_url],
        env={"MOONSHOT_API_KEY": SECRET_KEY},
    )
    assert result.returncode == 0, result.stderr
    body = server.requests[0].json()
    assert "seed" not in body and "drop_unsupported_params" not in body
    assert body["model"] == "kimi-k2.5"


def test_drop_unsupported_params_takes_a_boolean(server: FakeServer) -> None:
    result = run(["chat", "hi", "-m", "kimi-k2.5", "-o", "drop_unsupported_params=yes", "--base-url", server.base_url],
                 env={"MOONSHOT_API_KEY": SECRET_KEY})
    assert result.returncode == 2
    assert "drop_unsupported_params= takes true or false" in result.stderr
    assert server.requests == []


def test_model_switch_in_a_plain_server_session_never_sends_a_provider_key(server: FakeServer) -> None:
    for _ in range(2):
        server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    result = run(
        ["chat", "-i", "-m", "llama3", "--base-url", server.base_url],
        env=GLM_KEY,
        stdin="hi\n/model glm-4.6\nagain\n",
    )
    assert result.returncode == 0, result.stderr
    assert [request.json()["model"] for request in server.requests] == ["llama3", "glm-4.6"]
    for request in server.requests:
        assert "authorization" not in {name.lower() for name in request.headers}
        assert SECRET_KEY.encode() not in request.body


def test_model_switch_to_another_provider_leaves_base_url_and_api_key_behind(server: FakeServer) -> None:
    """--base-url and --api-key were given for Kimi: GLM, reached with /model, uses its own
    URL (here ZAI_BASE_URL, another loopback server) and its own key, never Kimi's."""
    kimi_key = "sk-kimi-only-7f3a9c1e5b2d4f60"
    server.add(Reply.sse_file(FIXTURES / "kimi-stream-k2-0905.sse"))
    with FakeServer() as glm_server:
        glm_server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
        result = run(
            ["chat", "-i", "-m", "kimi-k2-0905-preview", "--base-url", server.base_url, "--api-key", kimi_key],
            env={**GLM_KEY, "ZAI_BASE_URL": glm_server.base_url},
            stdin="hi\n/model glm-4.6\nagain\n",
        )
        assert result.returncode == 0, result.stderr
        assert [request.json()["model"] for request in server.requests] == ["kimi-k2-0905-preview"]
        assert server.requests[0].headers["authorization"] == f"Bearer {kimi_key}"
        assert [request.json()["model"] for request in glm_server.requests] == ["glm-4.6"]
        assert glm_server.requests[0].headers["authorization"] == f"Bearer {SECRET_KEY}"


def test_models_default_says_when_chatplug_model_overrides_it() -> None:
    result = run(["models", "default", "glm-4.6"], env={"CHATPLUG_MODEL": "kimi-k2-0905-preview"})
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "chatplug: default model is now glm-4.6",
        "chatplug: note: CHATPLUG_MODEL=kimi-k2-0905-preview is set and wins over the default",
    ]
    quiet = run(["models", "default", "glm-4.6"])
    assert quiet.stderr.splitlines() == ["chatplug: default model is now glm-4.6"]


def _run_bytes(args: list[str], stdin: bytes, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(command(*args), input=stdin, capture_output=True, env=clean_env(env), timeout=RUN_TIMEOUT)


def test_piped_input_that_is_not_utf8_is_a_usage_error_before_any_request(server: FakeServer) -> None:
    result = _run_bytes(["chat", "-m", "glm-4.6", "--base-url", server.base_url], b"caf\xe9 au lait\n", GLM_KEY)
    assert result.returncode == 2
    assert result.stderr.decode() == (
        "chatplug: error: the prompt is not valid UTF-8 (byte 0xe9 at character 3); convert it first, "
        "e.g. iconv -f latin1 -t utf-8\n"
    )
    assert server.requests == []


def test_a_non_utf8_line_in_a_conversation_is_skipped_and_the_session_goes_on(server: FakeServer) -> None:
    server.add(Reply.sse_file(FIXTURES / "glm-stream-content-glm46.sse"))
    result = _run_bytes(["chat", "-i", "-m", "glm-4.6", "--base-url", server.base_url],
                        b"caf\xe9\nhello\n", GLM_KEY)
    assert result.returncode == 1  # a turn failed
    assert "the line is not valid UTF-8 (byte 0xe9 at character 3)" in result.stderr.decode()
    assert "internal error" not in result.stderr.decode()
    assert [request.json()["messages"] for request in server.requests] == [[{"role": "user", "content": "hello"}]]
    assert result.stdout.decode() == transcript_text("glm-stream-content-glm46.sse").rstrip("\n") + "\n"


def test_a_system_prompt_that_is_not_utf8_is_a_usage_error(server: FakeServer) -> None:
    args = [b"chat", b"hi", b"-m", b"glm-4.6", b"-s", b"r\xe9sum\xe9", b"--base-url", server.base_url.encode()]
    result = subprocess.run([*command()[:3], *args], input=b"", capture_output=True, env=clean_env(GLM_KEY),
                            timeout=RUN_TIMEOUT)
    assert result.returncode == 2
    assert b"the system prompt (-s) is not valid UTF-8 (byte 0xe9 at character 1)" in result.stderr
    assert server.requests == []
