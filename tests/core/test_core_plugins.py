"""Plugin loading: lazy, safe (a broken entry point is reported with its
distribution and error while the others load), strict mode, allow/block
environment variables, duplicate provider ids, run-time registration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from core_support import API_KEY, MESSAGES, TEST_PROVIDER, ProviderPlugin, completion_body

GOOD = '''
import chatplug

@chatplug.hookimpl
def chatplug_providers():
    return chatplug.Provider(id="goodprov", base_url="https://good.example/v1", model_prefixes=("good-",))
'''

BROKEN = '''
raise ImportError("this plugin needs a module that is not installed")
'''

DUPE = '''
import chatplug

@chatplug.hookimpl
def chatplug_providers():
    return [chatplug.Provider(id="dupe", base_url="https://{host}.example/v1")]
'''


def add_distribution(site: Path, dist: str, version: str, entry_name: str, module: str, source: str) -> None:
    """Lay out an installed distribution (dist-info with a chatplug entry point) in ``site``."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[chatplug]\n{entry_name} = {module}\n")
    (site / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on sys.path holding a good and a broken plugin distribution."""
    add_distribution(tmp_path, "good-plugin", "1.0", "good", "cp_test_good", GOOD)
    add_distribution(tmp_path, "broken-plugin", "2.0", "broken", "cp_test_broken", BROKEN)
    monkeypatch.syspath_prepend(str(tmp_path))
    for module in ("cp_test_good", "cp_test_broken", "cp_test_dupe_a", "cp_test_dupe_b"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    return tmp_path


def only(*names: str, **extra: str) -> dict[str, str]:
    """An environment that allows just these entry points (so installed plugins stay out of the test)."""
    return {"CHATPLUG_PLUGINS": ",".join(names), **extra}


def run_python(code: str, site: Path | None = None, **env: str) -> Any:
    """Run ``code`` in a fresh interpreter and return the JSON it prints last."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CHATPLUG_")}
    if site is not None:
        environ["PYTHONPATH"] = os.pathsep.join([str(site), environ.get("PYTHONPATH", "")])
    environ.update(env)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=environ, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ laziness


def test_import_chatplug_scans_no_entry_points() -> None:
    result = run_python('''
        import json
        import chatplug._entrypoints as scanner
        calls = []
        original = scanner.entry_points
        def spy(group):
            calls.append(group)
            return original(group)
        scanner.entry_points = spy
        import chatplug
        import chatplug.testing
        at_import = list(calls)
        chatplug.providers()
        print(json.dumps({"at_import": at_import, "after_use": calls}))
    ''')
    assert result["at_import"] == []
    assert result["after_use"] == ["chatplug"]  # the probe works: first use does scan


def test_isolated_registry_scans_no_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("entry points were scanned")

    monkeypatch.setattr(metadata, "entry_points", refuse)
    import chatplug._entrypoints

    monkeypatch.setattr(chatplug._entrypoints, "entry_points", refuse)
    registry = chatplug.PluginRegistry(load_entrypoints=False)
    registry.register(ProviderPlugin(TEST_PROVIDER), "p")
    assert list(registry.providers()) == ["testprov"]


# ------------------------------------------------------------- broken plugins


def test_broken_entry_point_is_reported_and_the_others_load(site: Path) -> None:
    registry = chatplug.PluginRegistry(environ=only("good", "broken"))
    assert "goodprov" in registry.providers()
    (failure,) = registry.failures()
    assert failure.name == "broken"
    assert failure.distribution == "broken-plugin" and failure.version == "2.0"
    assert "ImportError" in failure.error and "not installed" in failure.error
    assert "broken-plugin" in str(failure)


def test_plugin_failures_reports_a_broken_entry_point_in_a_fresh_process(site: Path) -> None:
    result = run_python('''
        import json, chatplug
        failures = chatplug.plugin_failures()
        print(json.dumps({
            "providers": sorted(chatplug.providers()),
            "failures": [[f.name, f.distribution, f.error] for f in failures],
        }))
    ''', site=site, CHATPLUG_PLUGINS="good,broken")
    assert result["providers"] == ["goodprov"]
    assert [f[:2] for f in result["failures"]] == [["broken", "broken-plugin"]]
    assert "not installed" in result["failures"][0][2]


def test_strict_mode_raises_plugin_error(site: Path) -> None:
    registry = chatplug.PluginRegistry(environ=only("good", "broken"), strict=True)
    with pytest.raises(chatplug.PluginError, match="broken-plugin"):
        registry.providers()


def test_strict_mode_from_the_environment(site: Path) -> None:
    registry = chatplug.PluginRegistry(environ=only("good", "broken", CHATPLUG_STRICT_PLUGINS="1"))
    with pytest.raises(chatplug.PluginError, match="not installed"):
        registry.load()


def test_allow_list_skips_the_others(site: Path) -> None:
    registry = chatplug.PluginRegistry(environ=only("good"))
    assert list(registry.providers()) == ["goodprov"]
    assert registry.failures() == []


def test_block_list_skips_the_named_plugin(site: Path) -> None:
    registry = chatplug.PluginRegistry(environ=only("good", "broken", CHATPLUG_DISABLE_PLUGINS="broken"))
    assert list(registry.providers()) == ["goodprov"]
    assert registry.failures() == []


def test_block_list_wins_over_allow_list(site: Path) -> None:
    registry = chatplug.PluginRegistry(environ=only("good", CHATPLUG_DISABLE_PLUGINS="good"))
    assert registry.providers() == {}


def test_env_vars_work_in_a_fresh_process(site: Path) -> None:
    code = '''
        import json, chatplug
        print(json.dumps([sorted(chatplug.providers()), [f.name for f in chatplug.plugin_failures()]]))
    '''
    assert run_python(code, site=site, CHATPLUG_PLUGINS="good") == [["goodprov"], []]
    blocked = run_python(code, site=site, CHATPLUG_PLUGINS="good,broken", CHATPLUG_DISABLE_PLUGINS="broken,good")
    assert blocked == [[], []]


def test_duplicate_provider_id_names_both_distributions(site: Path) -> None:
    add_distribution(site, "dupe-one", "1.0", "dupe_a", "cp_test_dupe_a", DUPE.replace("{host}", "one"))
    add_distribution(site, "dupe-two", "3.1", "dupe_b", "cp_test_dupe_b", DUPE.replace("{host}", "two"))
    registry = chatplug.PluginRegistry(environ=only("good", "dupe_a", "dupe_b"))
    assert "goodprov" in registry.providers()
    assert "dupe" not in registry.providers()
    messages = " ".join(f.error for f in registry.failures())
    assert "dupe-one" in messages and "dupe-two" in messages
    with pytest.raises(chatplug.PluginError, match=r"dupe-one.*dupe-two|dupe-two.*dupe-one"):
        registry.provider("dupe")


def test_duplicate_provider_id_in_strict_mode_raises(site: Path) -> None:
    add_distribution(site, "dupe-one", "1.0", "dupe_a", "cp_test_dupe_a", DUPE.replace("{host}", "one"))
    add_distribution(site, "dupe-two", "3.1", "dupe_b", "cp_test_dupe_b", DUPE.replace("{host}", "two"))
    registry = chatplug.PluginRegistry(environ=only("dupe_a", "dupe_b"), strict=True)
    with pytest.raises(chatplug.PluginError, match="dupe-one"):
        registry.load()


def test_loaded_provider_records_its_distribution(site: Path) -> None:
    provider = chatplug.PluginRegistry(environ=only("good")).provider("goodprov")
    assert (provider.distribution, provider.version) == ("good-plugin", "1.0")


# ----------------------------------------------------------- run-time plugins


def test_register_at_run_time_makes_a_provider_usable(server: FakeServer) -> None:
    registry = chatplug.PluginRegistry(load_entrypoints=False)
    host = chatplug.Provider(id="hosted", base_url=server.base_url, model_prefixes=("h-",))
    with chatplug.Client(registry=registry) as client:
        with pytest.raises(chatplug.ModelNotFoundError):
            client.chat.completions.create(model="h-1", messages=MESSAGES)
        registry.register(ProviderPlugin(host), "host-app")

        class Vault:
            @chatplug.hookimpl(tryfirst=True)
            def chatplug_credentials(self, provider: chatplug.Provider) -> dict[str, str] | None:
                return {"Authorization": f"Bearer {API_KEY}"} if provider.id == "hosted" else None

        registry.register(Vault(), "vault")
        server.add(Reply.json(completion_body("from the host")))
        reply = client.chat.completions.create(model="h-1", messages=MESSAGES)
    assert reply.choices[0].message.content == "from the host"
    assert server.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


def test_register_with_a_taken_provider_id_fails_and_keeps_the_first(registry: chatplug.PluginRegistry) -> None:
    clash = chatplug.Provider(id="testprov", base_url="https://other.example/v1")
    with pytest.raises(chatplug.PluginError, match="testprov"):
        registry.register(ProviderPlugin(clash), "intruder")
    assert registry.provider("testprov").base_url == TEST_PROVIDER.base_url
    assert registry.failures() == []


def test_register_rejects_an_unknown_hook(registry: chatplug.PluginRegistry) -> None:
    class Typo:
        @chatplug.hookimpl
        def chatplug_provider(self) -> None:  # missing "s"
            return None

    with pytest.raises(chatplug.PluginError, match="chatplug_provider"):
        registry.register(Typo(), "typo")
    assert list(registry.providers()) == ["testprov"]


def test_a_plugin_whose_provider_hook_raises_is_reported(registry: chatplug.PluginRegistry) -> None:
    class Faulty:
        @chatplug.hookimpl
        def chatplug_providers(self) -> None:
            raise RuntimeError("cannot read my config")

    registry.register(Faulty(), "faulty")
    assert list(registry.providers()) == ["testprov"]
    assert any("cannot read my config" in f.error and f.name == "faulty" for f in registry.failures())


def test_unregister_removes_the_provider(registry: chatplug.PluginRegistry) -> None:
    extra = ProviderPlugin(chatplug.Provider(id="extra", base_url="https://extra.example/v1"))
    registry.register(extra, "extra")
    assert "extra" in registry.providers()
    registry.unregister(extra)
    assert "extra" not in registry.providers()


def test_a_plugin_hook_for_another_provider_does_not_take_over(server: FakeServer, client: chatplug.Client,
                                                                registry: chatplug.PluginRegistry) -> None:
    class Polite:
        @chatplug.hookimpl
        def chatplug_prepare_payload(self, provider: chatplug.Provider, payload: dict[str, Any]) -> None:
            if provider.id == "someone-else":
                payload["hijacked"] = True

        @chatplug.hookimpl
        def chatplug_map_error(self, provider: chatplug.Provider) -> None:
            return None

    registry.register(Polite(), "polite")
    server.add(Reply.json(completion_body()), Reply.error(404, {"error": {"message": "x"}}))
    client.chat.completions.create(model="t-1", messages=MESSAGES)
    with pytest.raises(chatplug.NotFoundError):
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert "hijacked" not in server.requests[0].json()


def test_prepare_payload_can_reject_before_any_io(
    server: FakeServer, client: chatplug.Client, registry: chatplug.PluginRegistry
) -> None:
    class Strict:
        @chatplug.hookimpl
        def chatplug_prepare_payload(self, provider: chatplug.Provider, payload: dict[str, Any]) -> None:
            if provider.id == "testprov" and "seed" in payload:
                raise chatplug.InvalidRequestError("testprov does not take seed", param="seed", provider="testprov")

    registry.register(Strict(), "strict")
    with pytest.raises(chatplug.InvalidRequestError, match="seed"):
        client.chat.completions.create(model="t-1", messages=MESSAGES, seed=1)
    assert server.requests == []


# ------------------------------------------------------------- documentation


def test_every_hook_is_documented_with_arguments_and_an_example() -> None:
    import inspect

    from chatplug import hookspecs

    reference = (Path(__file__).parents[2] / "docs" / "hooks.md").read_text()
    specs = [name for name, value in vars(hookspecs).items()
             if name.startswith("chatplug_") and inspect.isfunction(value)]
    assert len(specs) >= 10
    for name in specs:
        function = getattr(hookspecs, name)
        assert function.__doc__ and function.__doc__.strip(), f"{name} has no docstring"
        assert name in reference, f"{name} is not in docs/hooks.md"
        for argument in inspect.signature(function).parameters:
            assert argument in reference, f"{name}({argument}) is not explained in docs/hooks.md"
    assert "@chatplug.hookimpl" in reference or "@hookimpl" in reference


@pytest.mark.parametrize("provider_id", ["glm", "kimi-2", "a.b_c-d", "9lives"])
def test_a_provider_id_of_lowercase_letters_digits_and_separators_is_taken(provider_id: str) -> None:
    assert chatplug.Provider(id=provider_id, base_url="https://x.example/v1").id == provider_id


@pytest.mark.parametrize("provider_id", ["", "GLM", "-glm", "_glm", ".glm", "glm/4", "glm 4", "glm\n", "glmé", 42])
def test_any_other_provider_id_is_refused_naming_the_rule(provider_id: object) -> None:
    with pytest.raises(ValueError) as caught:
        chatplug.Provider(id=provider_id, base_url="https://x.example/v1")  # type: ignore[arg-type]
    assert str(caught.value) == (f"provider id {provider_id!r} is invalid: use lowercase ASCII letters, digits, "
                                 "'.', '_' or '-', starting with a letter or digit")


def test_plugin_failure_is_one_class_of_chatplug_plugins_however_it_is_reached(
    registry: chatplug.PluginRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pickle

    from chatplug import plugins

    # as in a fresh process: the class is not in the module yet (an earlier test may have made it)
    monkeypatch.delitem(vars(plugins), "PluginFailure", raising=False)

    class Faulty:
        @chatplug.hookimpl
        def chatplug_providers(self) -> None:
            raise RuntimeError("cannot read my config")

    registry.register(Faulty(), "faulty")
    (failure,) = registry.failures()
    first, second = plugins.PluginFailure, plugins.PluginFailure
    assert first is second is chatplug.PluginFailure is type(failure)
    assert vars(plugins)["PluginFailure"] is first  # made once, then an ordinary module attribute
    assert (first.__module__, first.__qualname__) == ("chatplug.plugins", "PluginFailure")
    assert "PluginFailure" in dir(plugins)
    assert pickle.loads(pickle.dumps(failure)) == failure
    with pytest.raises(AttributeError) as caught:
        plugins.PluginFailures  # noqa: B018 - the lookup is the test
    assert str(caught.value) == "module 'chatplug.plugins' has no attribute 'PluginFailures'"
