"""Which values of CHATPLUG_STRICT_PLUGINS make a registry strict, and the name
the core's own hooks are registered under. Written to kill mutants of
``PluginRegistry.__init__`` that ``tox -e mutation`` left alive (see
docs/mutation.md)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import chatplug
import chatplug._defaults
import pytest


class BrokenProviders:
    """A plugin whose provider hook fails, as a half-installed third-party plugin would."""

    @chatplug.hookimpl
    def chatplug_providers(self) -> list[chatplug.Provider]:
        raise RuntimeError("missing dependency")


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_each_documented_on_value_makes_a_failing_plugin_raise(value: str) -> None:
    registry = chatplug.PluginRegistry(load_entrypoints=False, environ={"CHATPLUG_STRICT_PLUGINS": value})
    assert registry.strict is True
    with pytest.raises(chatplug.PluginError) as caught:
        registry.register(BrokenProviders(), "broken")
    assert str(caught.value) == (
        "plugin 'broken' failed: chatplug_providers failed: RuntimeError: missing dependency"
    )


@pytest.mark.parametrize("environ", [{}, {"CHATPLUG_STRICT_PLUGINS": "0"}, {"CHATPLUG_STRICT_PLUGINS": ""}])
def test_without_it_a_failing_plugin_is_recorded_and_skipped(environ: dict[str, str]) -> None:
    registry = chatplug.PluginRegistry(load_entrypoints=False, environ=environ)
    assert registry.strict is False
    registry.register(BrokenProviders(), "broken")
    assert [(f.name, f.error) for f in registry.failures()] == [
        ("broken", "chatplug_providers failed: RuntimeError: missing dependency")]


def test_the_cores_own_hooks_are_registered_as_chatplug_defaults() -> None:
    """The name is documented (chatplug._defaults): it can be looked up, and no plugin can take it."""
    registry = chatplug.PluginRegistry(load_entrypoints=False)
    assert registry.pm.get_plugin("chatplug.defaults") is chatplug._defaults
    with pytest.raises(chatplug.PluginError) as caught:
        registry.register(BrokenProviders(), "chatplug.defaults")
    assert str(caught.value).startswith("plugin 'chatplug.defaults' could not be registered: ")
    assert registry.pm.get_plugin("chatplug.defaults") is chatplug._defaults


def test_an_unknown_provider_id_names_itself_and_the_installed_ones() -> None:
    from core_support import ProviderPlugin

    registry = chatplug.PluginRegistry(load_entrypoints=False)
    registry.register(ProviderPlugin(*(chatplug.Provider(id=name, base_url=f"https://{name}.example/v1")
                                       for name in ("zeta", "alpha"))), "two-providers")
    with pytest.raises(chatplug.ModelNotFoundError) as caught:
        registry.provider("nope")
    assert (caught.value.model, caught.value.providers) == ("nope", ("alpha", "zeta"))
    assert str(caught.value) == "no installed provider has id 'nope'; installed providers: alpha, zeta"


RAISING = '''
import chatplug

@chatplug.hookimpl
def chatplug_providers():
    raise RuntimeError("no providers today")
'''


def test_a_providers_hook_that_raises_is_reported_with_its_distribution_and_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_core_promises import add_distribution

    add_distribution(tmp_path, "kill-raising-providers", "kraising", "cp_kill_raising", RAISING)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "cp_kill_raising", raising=False)
    environ = {"CHATPLUG_PLUGINS": "kraising"}
    registry = chatplug.PluginRegistry(environ=environ)
    assert registry.providers() == {}
    error = "chatplug_providers failed: RuntimeError: no providers today"
    assert [(f.name, f.distribution, f.version, f.error) for f in registry.failures()] == [
        ("kraising", "kill-raising-providers", "1.0", error)
    ]
    strict = chatplug.PluginRegistry(environ={**environ, "CHATPLUG_STRICT_PLUGINS": "1"})
    with pytest.raises(chatplug.PluginError) as caught:
        strict.providers()
    assert str(caught.value) == f"plugin 'kraising' from kill-raising-providers 1.0 failed: {error}"
    assert isinstance(caught.value.__cause__, RuntimeError)


class NotProviders:
    """A plugin whose providers hook returns something that is not a Provider."""

    @chatplug.hookimpl
    def chatplug_providers(self) -> list[object]:
        return [42]


def test_a_providers_hook_returning_other_objects_names_their_type() -> None:
    registry = chatplug.PluginRegistry(load_entrypoints=False)
    registry.register(NotProviders(), "not-providers")
    assert registry.providers() == {}
    assert [f.error for f in registry.failures()] == [
        "chatplug_providers failed: TypeError: expected chatplug.Provider records, got int"
    ]


DECLARING = '''
import chatplug

@chatplug.hookimpl
def chatplug_providers():
    return [chatplug.Provider(id=pid, base_url="https://" + pid + ".example/v1") for pid in {ids!r}]
'''


def test_a_failing_plugin_and_clashes_leave_every_other_provider_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Three installed plugins declare one id (each with one of its own) next to one whose hook raises."""
    from test_core_promises import add_distribution

    add_distribution(tmp_path, "kill-a-raising", "kfirst", "cp_kill_first", RAISING)
    for letter in "abc":
        add_distribution(tmp_path, f"kill-dup-{letter}", f"kdup{letter}", f"cp_kill_dup_{letter}",
                         DECLARING.format(ids=("dup", f"{letter}-only")))
        monkeypatch.delitem(sys.modules, f"cp_kill_dup_{letter}", raising=False)
    monkeypatch.delitem(sys.modules, "cp_kill_first", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = chatplug.PluginRegistry(environ={"CHATPLUG_PLUGINS": "kfirst, kdupa, kdupb, kdupc"})
    with caplog.at_level(logging.WARNING, logger="chatplug"):
        assert sorted(registry.providers()) == ["a-only", "b-only", "c-only"]
    clash = registry.failures()[-1]
    assert (clash.name, clash.distribution, clash.version) == ("dup", None, None)
    assert clash.error.startswith("provider id 'dup' is declared by both kill-dup-")
    assert clash.error.endswith("; uninstall one, or block one with CHATPLUG_DISABLE_PLUGINS")
    clash_lines = [record.getMessage() for record in caplog.records if "declared by both" in record.getMessage()]
    assert clash_lines == [clash.error]
    with pytest.raises(chatplug.PluginError) as caught:
        registry.provider("dup")
    assert str(caught.value) == clash.error
