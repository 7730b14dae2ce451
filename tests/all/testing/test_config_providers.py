"""Providers declared in a TOML file: served over real loopback HTTP, malformed files named precisely."""

from __future__ import annotations

from pathlib import Path

import chatplug
import pytest
from chatplug.config import ConfigError, ConfigProviders, config_path, load_providers
from chatplug.testing import FakeServer, Reply

FIXTURES = Path(__file__).parent / "fixtures"
COMPLETION = {
    "id": "cmpl-local", "object": "chat.completion", "created": 1, "model": "Qwen/Qwen2.5-7B-Instruct",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "served locally"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}


def write(tmp_path: Path, text: str, name: str = "providers.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def local_vllm(base_url: str, extra: str = "") -> str:
    return f'''
# a vLLM server on this machine: no key
[[providers]]
id = "local-vllm"
name = "vLLM on this machine"
base_url = "{base_url}"
models = ["Qwen/Qwen2.5-7B-Instruct"]
model_prefixes = ["qwen"]
{extra}
'''


def registry_for(path: Path, **env: str) -> chatplug.PluginRegistry:
    """A registry like the default one, reading only this config file (no installed plugin)."""
    return chatplug.PluginRegistry(environ={"CHATPLUG_CONFIG": str(path), "CHATPLUG_PLUGINS": "config", **env})


def test_config_declared_provider_serves_a_completion(
    tmp_path: Path, fake_server: FakeServer, chatplug_env: pytest.MonkeyPatch
) -> None:
    registry = registry_for(write(tmp_path, local_vllm(fake_server.base_url)))
    fake_server.add(Reply.json(COMPLETION), Reply.sse_file(FIXTURES / "kimi-stream-k2-0905.sse"))
    with chatplug.Client(registry=registry) as client:
        reply = client.chat.completions.create(model="Qwen/Qwen2.5-7B-Instruct",
                                               messages=[{"role": "user", "content": "Hi"}])
        assert reply.choices[0].message.content == "served locally"
        assert reply.usage is not None and reply.usage.total_tokens == 5
        request = fake_server.last_request
        assert request.path == "/v1/chat/completions"
        assert request.json()["model"] == "Qwen/Qwen2.5-7B-Instruct"
        assert "authorization" not in request.headers  # keyless local server
        with client.chat.completions.create(model="local-vllm/qwen-any", stream=True,
                                            messages=[{"role": "user", "content": "Hi"}]) as stream:
            final = stream.get_final_completion()
        assert final.choices[0].message.content
        assert fake_server.last_request.json()["model"] == "qwen-any"
    provider = registry.provider("local-vllm")
    assert provider.name == "vLLM on this machine" and provider.distribution == str(tmp_path / "providers.toml")


@pytest.mark.anyio
async def test_config_provider_with_key_env_sends_bearer_and_enforces_limits(
    tmp_path: Path, fake_server: FakeServer, chatplug_env: pytest.MonkeyPatch
) -> None:
    text = f'''
[[providers]]
id = "ollama"
base_url = "{fake_server.base_url}"
api_key_env = ["OLLAMA_API_KEY"]
models = ["llama3.2"]

[providers.limits]
temperature = [0, 1]
max_stop = 2
tool_choice = ["auto", "none"]
'''
    registry = registry_for(write(tmp_path, text))
    chatplug_env.setenv("OLLAMA_API_KEY", "sk-ollama-local-123456")
    fake_server.add(Reply.json(COMPLETION))
    async with chatplug.AsyncClient(registry=registry) as client:
        await client.chat.completions.create(model="llama3.2", messages=[{"role": "user", "content": "Hi"}])
        assert fake_server.last_request.headers["authorization"] == "Bearer sk-ollama-local-123456"
        with pytest.raises(chatplug.InvalidRequestError, match=r"temperature=1\.5 is out of range; ollama accepts"):
            await client.chat.completions.create(model="llama3.2", messages=[{"role": "user", "content": "Hi"}],
                                                 temperature=1.5)
        with pytest.raises(chatplug.InvalidRequestError, match="at most 2"):
            await client.chat.completions.create(model="llama3.2", messages=[{"role": "user", "content": "Hi"}],
                                                 stop=["a", "b", "c"])
    assert len(fake_server.requests) == 1
    chatplug_env.delenv("OLLAMA_API_KEY")
    with pytest.raises(chatplug.MissingAPIKeyError, match="OLLAMA_API_KEY"):
        chatplug.Client(registry=registry).chat.completions.create(
            model="llama3.2", messages=[{"role": "user", "content": "Hi"}])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_default_location_follows_xdg_and_chatplug_config_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert config_path({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "chatplug" / "providers.toml"
    assert config_path({"HOME": "/h"}) == Path("/h/.config/chatplug/providers.toml")
    assert config_path({"XDG_CONFIG_HOME": str(tmp_path), "CHATPLUG_CONFIG": "/etc/cp.toml"}) == Path("/etc/cp.toml")
    # With no mapping, the process environment; with no HOME in the mapping, the user's home directory.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("CHATPLUG_CONFIG", raising=False)
    assert config_path() == tmp_path / "home" / ".config" / "chatplug" / "providers.toml"
    assert config_path({}) == tmp_path / "home" / ".config" / "chatplug" / "providers.toml"
    monkeypatch.setenv("CHATPLUG_CONFIG", "~/cp.toml")
    assert config_path() == tmp_path / "home" / "cp.toml"


def test_file_in_xdg_config_home_is_found(tmp_path: Path, fake_server: FakeServer) -> None:
    (tmp_path / "chatplug").mkdir()
    write(tmp_path / "chatplug", local_vllm(fake_server.base_url))
    registry = chatplug.PluginRegistry(environ={"XDG_CONFIG_HOME": str(tmp_path), "CHATPLUG_PLUGINS": "config"})
    assert list(registry.providers()) == ["local-vllm"]


def test_no_file_means_no_providers_and_no_failure(tmp_path: Path) -> None:
    registry = chatplug.PluginRegistry(environ={"XDG_CONFIG_HOME": str(tmp_path), "CHATPLUG_PLUGINS": "config"})
    assert registry.providers() == {} and registry.failures() == []


def test_disable_plugins_config_ignores_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, local_vllm("http://127.0.0.1:9/v1"))
    registry = registry_for(path, CHATPLUG_DISABLE_PLUGINS="config")
    assert "local-vllm" not in registry.providers()


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ('[[providers]]\nid = "x"\nbase_url = "http://h/v1\nmodels = ["m"]\n', 3, "not valid TOML"),
        ('[[providers]]\nid = "x"\nmodels = ["m"]\n', 1, "missing required field 'base_url'"),
        ('[[providers]]\nid = "ok"\nbase_url = "http://h/v1"\nmodels = ["m"]\n\n[[providers]]\nid = "Bad Id"\n'
         'base_url = "http://h/v1"\nmodels = ["m"]\n', 7, "provider #2: provider id 'Bad Id' is invalid"),
        ('[[providers]]\nid = "x"\nbase_url = "ftp://h"\nmodels = ["m"]\n', 3, "must start with http:// or https://"),
        ('[[providers]]\nid = "x"\nbase_url = "http://h/v1"\nmodel = ["m"]\n', 4, "unknown field 'model'"),
        ('[[providers]]\nid = "x"\nbase_url = "http://h/v1"\n', 1, "declare the models it serves"),
        ('[[providers]]\nid = "x"\nbase_url = "http://h/v1"\nmodels = "m"\napi_key_env = 5\n', 5,
         "api_key_env must be a string or a list of strings"),
        ('[[providers]]\nid = "x"\nbase_url = "http://h/v1"\nmodels = ["m"]\n[providers.limits]\nmax_stop = 2\n'
         'temperature = [2, 1]\n', 7, "limits.temperature must be [min, max] with min <= max"),
        ('[[providers]]\nid = "x"\nbase_url = "http://h/v1"\nmodels = ["m"]\n[providers.limits]\n'
         'tool_choice = ["sometimes"]\n', 6, "limits.tool_choice must list some of"),
        ('[[providers]]\nid = "x"\nbase_url = "http://h/v1"\nmodels = ["m"]\n[[providers]]\nid = "x"\n'
         'base_url = "http://h/v1"\nmodels = ["n"]\n', 6, "provider id 'x' is declared twice"),
        ('[provider]\nid = "x"\n', 1, "unknown top-level key 'provider'"),
    ],
    ids=["toml-syntax", "missing-base-url", "bad-id", "bad-scheme", "unknown-field", "no-models", "bad-type",
         "bad-range", "bad-tool-choice", "duplicate-id", "wrong-table"],
)
def test_malformed_file_names_the_file_the_line_and_the_problem(
    tmp_path: Path, text: str, line: int, problem: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_providers(path)
    message = str(info.value)
    assert message.startswith(f"{path}, line {line}: "), message
    assert problem in message
    assert info.value.line == line and info.value.path == path


def test_malformed_file_is_reported_like_a_failing_plugin(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, '[[providers]]\nid = "x"\nbase_url = "http://h/v1"\nmodels = [\n')
    registry = registry_for(path)
    assert registry.providers() == {}
    [failure] = registry.failures()
    assert failure.name == "config" and failure.distribution == str(path)
    assert str(failure).startswith(f"plugin 'config' from {path} failed: line ")
    assert "not valid TOML" in str(failure)
    assert str(path) in caplog.text
    with pytest.raises(chatplug.PluginError, match=r"providers\.toml failed: line 4: not valid TOML"):
        registry_for(path, CHATPLUG_STRICT_PLUGINS="1").providers()


def test_missing_file_named_by_chatplug_config_is_reported(tmp_path: Path) -> None:
    registry = registry_for(tmp_path / "nowhere.toml")
    [failure] = registry.failures()
    assert "no such file (named by CHATPLUG_CONFIG)" in failure.error


def test_config_provider_clashing_with_an_installed_plugin_is_reported(tmp_path: Path) -> None:
    import chatplug_deepseek

    path = write(tmp_path, local_vllm("http://127.0.0.1:9/v1").replace("local-vllm", "deepseek"))
    registry = registry_for(path)
    registry.load()
    with pytest.raises(chatplug.PluginError, match="'deepseek' is declared by both"):
        registry.register(chatplug_deepseek, "deepseek")


def test_keyless_credentials_only_for_its_own_providers(tmp_path: Path) -> None:
    plugin = ConfigProviders.from_file(write(tmp_path, local_vllm("http://127.0.0.1:9/v1")))
    other = chatplug.Provider(id="other", base_url="https://o.invalid/v1", models=("m",))
    assert plugin.chatplug_credentials(provider=other, api_key=None) is None
    own = plugin.providers[0]
    assert plugin.chatplug_credentials(provider=own, api_key=None) == {}
    assert plugin.chatplug_credentials(provider=own, api_key="given") is None  # the core sends the given key


@pytest.mark.parametrize(
    ("field", "value"),
    [("model_prefixes", '[""]'), ("model_prefixes", '["qwen", ""]'), ("models", '["  "]'), ("api_key_env", '""')],
)
def test_an_empty_name_is_rejected_at_its_line(tmp_path: Path, field: str, value: str) -> None:
    path = write(
        tmp_path,
        f'[[providers]]\nid = "p"\nbase_url = "http://127.0.0.1:1/v1"\nmodel_prefixes = ["p-"]\n{field} = {value}\n'
        if field != "model_prefixes"
        else f'[[providers]]\nid = "p"\nbase_url = "http://127.0.0.1:1/v1"\nmodels = ["m"]\n{field} = {value}\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_providers(path)
    assert caught.value.line == 5
    assert str(path) in str(caught.value) and field in caught.value.problem


def test_an_empty_prefix_never_takes_over_bare_model_routing(tmp_path: Path) -> None:
    path = write(tmp_path, '[[providers]]\nid = "p"\nbase_url = "http://127.0.0.1:1/v1"\nmodel_prefixes = [""]\n')
    registry = registry_for(path)
    assert "p" not in registry.providers()
    assert any(str(path) in str(failure) for failure in registry.failures())


def test_a_dotted_limit_key_is_reported_at_its_own_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[providers]]\nid = "p"\nbase_url = "http://127.0.0.1:1/v1"\nmodels = ["m"]\n'
        "limits.temperature = [3, 1]\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_providers(path)
    assert caught.value.line == 5
    assert "limits.temperature" in caught.value.problem


@pytest.mark.parametrize(
    ("id_value", "base_url", "line", "field"),
    [
        ('"Bad Id"', '"http://127.0.0.1:1/v1"', 2, "id"),
        ('"ok"', '"ftp://provider id/v1"', 3, "base_url"),  # the message text mentions "provider id"
    ],
)
def test_id_and_base_url_are_checked_each_at_its_own_line(
    tmp_path: Path, id_value: str, base_url: str, line: int, field: str
) -> None:
    path = write(tmp_path, f'[[providers]]\nid = {id_value}\nbase_url = {base_url}\nmodels = ["m"]\n')
    with pytest.raises(ConfigError) as caught:
        load_providers(path)
    assert caught.value.line == line
    assert caught.value.problem.startswith(f"provider #1: {'provider id' if field == 'id' else field} ")


def test_strict_mode_raises_plugin_error_caused_by_the_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, '[[providers]]\nid = "Bad Id"\nbase_url = "http://127.0.0.1:1/v1"\nmodels = ["m"]\n')
    registry = chatplug.PluginRegistry(strict=True, environ={"CHATPLUG_CONFIG": str(path),
                                                             "CHATPLUG_PLUGINS": "config"})
    with pytest.raises(chatplug.PluginError) as caught:
        registry.providers()
    assert isinstance(caught.value.__cause__, ConfigError)
