"""The gateway's TOML file: errors with their line, `serve --check`, and what the config does."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
from chatplug.testing import FakeServer, Reply
from chatplug_gateway import GatewayConfigError, load_config
from chatplug_gateway._config import hash_key
from gateway_support import MESSAGES, completion, fixture_json, run_serve, threaded_gateway

FULL = """\
[server]
host = "127.0.0.1"
port = 8080
workers = 2

[upstream]
max_retries = 1
timeout = 120

[providers.glm]
api_key_env = ["ZAI_KEY_A", "ZAI_KEY_B"]

[models]
fast = "glm/glm-4.5-air"

[fallbacks]
"glm/glm-4.6" = ["kimi/kimi-k2-0905-preview"]
fast = ["glm-4.6"]

[limits]
storage = "redis://127.0.0.1:6379/0"
on_storage_error = "closed"

[[limits.upstream]]
provider = "glm"
max_in_flight = 5

[[keys]]
name = "team-a"
key_env = "TEAM_A_GATEWAY_KEY"
models = ["glm/*"]
rpm = 60
"""


def test_a_full_config_reads_into_its_values() -> None:
    config = load_config(text=FULL, environ={"TEAM_A_GATEWAY_KEY": "gw-0123456789abcdef"})
    assert (config.host, config.port, config.workers, config.max_retries, config.timeout) == (
        "127.0.0.1", 8080, 2, 1, 120.0)
    assert config.aliases == {"fast": "glm/glm-4.5-air"}
    assert config.fallbacks == {"glm/glm-4.6": ("kimi/kimi-k2-0905-preview",), "fast": ("glm-4.6",)}
    assert [(p.provider, p.api_key_env) for p in config.provider_keys] == [("glm", ("ZAI_KEY_A", "ZAI_KEY_B"))]
    assert config.storage == "redis://127.0.0.1:6379/0" and config.on_storage_error == "closed"
    assert [(r.provider, r.max_in_flight) for r in config.upstream_limits] == [("glm", 5)]
    [key] = config.keys
    assert (key.name, key.models, key.limits.rpm) == ("team-a", ("glm/*",), 60)
    assert key.sha256 == hash_key("gw-0123456789abcdef")
    assert "gw-0123456789abcdef" not in repr(config)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("[server]\nport = 'eighty'\n", 2, "server.port must be a whole number >= 0, got 'eighty'"),
        ("[server]\nhost = \"x\"\nworkers = 0\n", 3, "server.workers must be a whole number >= 1"),
        ("[serve]\nport = 1\n", 1, "unknown top-level key 'serve'"),
        ("[upstream]\nretries = 3\n", 2, "[upstream]: unknown key 'retries'; known: fallback_on_context_length"),
        ("[[keys]]\nname = \"a\"\nkey = \"gw-long-enough-key-1\"\n\n[[keys]]\nname = \"b\"\n", 5,
         "keys #2: give exactly one of key_env"),
        ("[[keys]]\nname = \"a\"\nkey = \"short\"\n", 3, "at least 16 characters"),
        ("[[keys]]\nname = \"a\"\nkey_env = \"NOT_SET_ANYWHERE_42\"\n", 3,
         "the environment variable NOT_SET_ANYWHERE_42 is not set"),
        ("[[keys]]\nname = \"a\"\nkey = \"gw-long-enough-key-1\"\nrpm = -1\n", 4,
         "keys #1: rpm must be a whole number >= 1, got -1"),
        ("[models]\nfast = 3\n", 2, "models.fast must name a model"),
        ("[fallbacks]\n\"glm-4.6\" = \"kimi-k2-0905-preview\"\n", 2, "must be a list of models"),
        ("[limits]\nstorage = \"mysql://x\"\n", 2, "limits.storage must be 'memory://' or a Redis URL"),
        ("[limits]\n\n[[limits.upstream]]\nprovider = \"glm\"\n", 3, "limits.upstream #1: limits nothing"),
        ("[providers.glm]\napi_key = \"sk-x\"\n", 2, "providers.glm: unknown key 'api_key'"),
        ("[server]\nport = 80\nport = 81\n", 3, "not valid TOML"),
    ],
)
def test_errors_name_the_line_and_what_would_be_right(text: str, line: int, words: str) -> None:
    with pytest.raises(GatewayConfigError) as caught:
        load_config(text=text, environ={})
    assert caught.value.line == line, str(caught.value)
    assert words in str(caught.value)


def test_serve_check_reports_the_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text("[server]\nport = 8000\n\n[models]\nfast = \"nosuch/model-x\"\n")
    result = run_serve(["--check", "--config", str(config)])
    assert result.returncode == 1
    assert result.stderr.startswith(f"chatplug serve: {config}, line 5: models.fast: no installed provider claims")
    config.write_text("[server]\nworkers = \"two\"\n")
    result = run_serve(["--check", "--config", str(config)])
    assert result.returncode == 1
    assert f"{config}, line 2: server.workers must be a whole number >= 1, got 'two'" in result.stderr


def test_serve_check_passes_a_good_file_and_checks_provider_key_variables(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(FULL)
    env = {"TEAM_A_GATEWAY_KEY": "gw-0123456789abcdef", "ZAI_KEY_B": "zai-b"}
    result = run_serve(["--check", "--config", str(config)], env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (f"{config}: ok: listen 127.0.0.1:8080, 2 worker(s), 1 gateway key(s), 1 alias(es), "
                             "2 fallback chain(s), 1 upstream limit(s), limits storage redis\n")
    result = run_serve(["--check", "--config", str(config)], env={**env, "ZAI_KEY_B": ""})
    assert result.returncode == 1
    assert f"{config}, line 10: providers.glm: none of ZAI_KEY_A, ZAI_KEY_B is set" in result.stderr
    assert "zai-b" not in result.stderr + result.stdout


def test_configured_fallbacks_take_over_from_an_out_of_quota_model(fake: FakeServer) -> None:
    fake.add(Reply.error(429, fixture_json("glm-error-1113-insufficient-balance-en.json")),
             Reply.json(completion("from kimi", model="kimi-k2-0905-preview")))
    toml = '[upstream]\nmax_retries = 0\n\n[fallbacks]\n"glm/glm-4.6" = ["kimi/kimi-k2-0905-preview"]\n'
    with threaded_gateway(toml) as served, openai.OpenAI(base_url=served.base_url, api_key="x", max_retries=0) as c:
        reply = c.chat.completions.create(model="glm/glm-4.6", messages=MESSAGES)
    assert reply.choices[0].message.content == "from kimi"
    assert [r.json()["model"] for r in fake.requests] == ["glm-4.6", "kimi-k2-0905-preview"]


def test_fallbacks_a_key_may_not_use_are_skipped(fake: FakeServer) -> None:
    fake.add(Reply.error(429, fixture_json("glm-error-1113-insufficient-balance-en.json")))
    toml = ('[upstream]\nmax_retries = 0\n\n[fallbacks]\n"glm/glm-4.6" = ["kimi/kimi-k2-0905-preview"]\n\n'
            '[[keys]]\nname = "glm-only"\nkey = "gw-glm-only-key-0000"\nmodels = ["glm/*"]\n')
    with threaded_gateway(toml) as served, openai.OpenAI(
        base_url=served.base_url, api_key="gw-glm-only-key-0000", max_retries=0
    ) as c, pytest.raises(openai.RateLimitError) as caught:
        c.chat.completions.create(model="glm/glm-4.6", messages=MESSAGES)
    assert caught.value.code == "insufficient_quota"
    assert [r.json()["model"] for r in fake.requests] == ["glm-4.6"]


def test_a_key_pool_from_the_providers_table(fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZAI_KEY_A", "zai-pool-key-a-000000000")
    monkeypatch.setenv("ZAI_KEY_B", "zai-pool-key-b-111111111")
    fake.default = Reply.json(completion())
    toml = '[providers.glm]\napi_key_env = ["ZAI_KEY_A", "ZAI_KEY_B"]\n'
    with threaded_gateway(toml) as served, openai.OpenAI(base_url=served.base_url, api_key="x", max_retries=0) as c:
        for _ in range(4):
            c.chat.completions.create(model="glm-4.6", messages=MESSAGES)
    assert [r.headers["authorization"][-1] for r in fake.requests] == ["0", "1", "0", "1"]  # round-robin


def test_command_line_options_override_the_server_table(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[server]\nhost = "127.0.0.1"\nport = 8080\nworkers = 2\n')
    result = run_serve(["--check", "--config", str(config), "--port", "9999", "--workers", "3", "--host", "::1"])
    assert result.returncode == 0, result.stderr
    assert "ok: listen ::1:9999, 3 worker(s)," in result.stdout
    result = run_serve(["--check", "--config", str(config), "--workers", "0"])
    assert result.returncode == 2 and "--workers 0 must be 1 or more" in result.stderr


def test_the_config_file_can_come_from_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text("[server]\nport = 7070\n")
    result = run_serve(["--check"], env={"CHATPLUG_GATEWAY_CONFIG": str(config)})
    assert result.returncode == 0 and result.stdout.startswith(f"{config}: ok: listen 127.0.0.1:7070,")


def test_upstream_limits_from_the_config_hold_back_requests(fake: FakeServer) -> None:
    """[[limits.upstream]] becomes chatplug's Limiter on the client: a provider's rpm, here with no wait."""
    fake.default = Reply.json(completion())
    toml = ('[upstream]\nmax_retries = 0\n\n[limits]\nmax_wait = 0\n\n'
            '[[limits.upstream]]\nprovider = "glm"\nrpm = 1\n')
    with threaded_gateway(toml) as served, openai.OpenAI(base_url=served.base_url, api_key="x", max_retries=0) as c:
        c.chat.completions.create(model="glm-4.6", messages=MESSAGES)
        with pytest.raises(openai.RateLimitError) as caught:
            c.chat.completions.create(model="glm-4.6", messages=MESSAGES)
        c.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES)  # another provider: not limited
    assert caught.value.code == "rate_limit_exceeded" and "rpm=1" in caught.value.message
    assert [r.json()["model"] for r in fake.requests] == ["glm-4.6", "kimi-k2-0905-preview"]


def test_serve_does_not_start_with_an_alias_to_nowhere(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[models]\n\nfast = "glm/glm-4.5-air"\nbroken = "nosuch/x"\n')
    result = run_serve(["--config", str(config), "--port", "9"])
    assert result.returncode == 1
    assert f"{config}, line 4: models.broken: no installed provider claims" in result.stderr


def test_check_warns_that_in_memory_limits_multiply_with_workers(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[[keys]]\nname = "a"\nkey = "gw-long-enough-key-1"\nrpm = 10\n')
    result = run_serve(["--check", "--config", str(config), "--workers", "4"])
    assert result.returncode == 0
    assert "warning: 4 workers with in-memory limits" in result.stderr
    assert "warning" not in run_serve(["--check", "--config", str(config)]).stderr
