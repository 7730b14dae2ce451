"""The registry's plugin manager finds exactly the hooks pluggy's own finds, quicker.

``chatplug.plugins._PluginManager`` rules out a module's imports and constants
from its ``__dict__`` before pluggy's ``inspect.getattr_static`` look. These
tests hold it to pluggy's answer for every name of real plugin modules and of
a module holding every kind of attribute, and check that it never runs an
attribute's own code (pluggy does not either).
"""

from __future__ import annotations

import functools
import types
from typing import Any

import chatplug
import pluggy
import pytest
from chatplug import _defaults, hookspecs
from chatplug.plugins import _certainly_no_hook, _PluginManager

hookimpl = chatplug.hookimpl


class Recorder:
    """An attribute value whose own ``__getattr__`` would report being asked (a lazy proxy, say)."""

    asked: list[str] = []

    def __getattr__(self, name: str) -> Any:
        Recorder.asked.append(name)
        return {}


class Holder:
    @hookimpl
    def chatplug_providers(self) -> list[chatplug.Provider]:
        return [chatplug.Provider(id="bound", base_url="https://bound.example/v1")]


def _marked_static() -> list[chatplug.Provider]:
    return [chatplug.Provider(id="static", base_url="https://static.example/v1")]


def _every_kind() -> types.ModuleType:
    """A plugin module holding each kind of value pluggy may meet."""
    module = types.ModuleType("cp_every_kind")

    @hookimpl
    def chatplug_providers() -> list[chatplug.Provider]:
        return [chatplug.Provider(id="every", base_url="https://every.example/v1")]

    @hookimpl(specname="chatplug_prepare_payload")
    def renamed(provider: chatplug.Provider, model: str, payload: dict[str, Any]) -> None:
        payload["renamed"] = True

    def unmarked() -> None:
        return None

    @functools.wraps(chatplug_providers)
    def wrapped() -> list[chatplug.Provider]:
        return chatplug_providers()

    odd = types.FunctionType(unmarked.__code__, {}, "odd")
    odd.__func__ = chatplug_providers  # type: ignore[attr-defined]  # pluggy reads a marker through __func__
    module.__dict__.update(
        chatplug_providers=chatplug_providers, renamed=renamed, unmarked=unmarked, wrapped=wrapped, odd=odd,
        bound=Holder().chatplug_providers, static_marked=hookimpl(staticmethod(_marked_static)),
        Holder=Holder, recorder=Recorder(), constant=3, text="chatplug_impl", partial=functools.partial(unmarked),
        os=types, builtin=len,
    )
    return module


def _answers(manager: pluggy.PluginManager, module: Any, spec: bool) -> dict[str, Any]:
    parse = manager.parse_hookspec_opts if spec else manager.parse_hookimpl_opts
    return {name: parse(module, name) for name in dir(module)}


@pytest.mark.parametrize("module", [_defaults, chatplug.testing, chatplug.plugins, _every_kind()],
                         ids=["defaults", "testing", "plugins", "every_kind"])
def test_hookimpls_found_are_pluggys_own(module: Any) -> None:
    Recorder.asked.clear()
    ours = _answers(_PluginManager("chatplug"), module, spec=False)
    assert ours == _answers(pluggy.PluginManager("chatplug"), module, spec=False)
    assert Recorder.asked == []  # neither looked through the proxy


def test_the_every_kind_module_holds_the_hooks_pluggy_takes() -> None:
    found = {name for name, opts in _answers(_PluginManager("chatplug"), _every_kind(), spec=False).items() if opts}
    assert found == {"chatplug_providers", "renamed", "wrapped", "odd", "bound", "static_marked"}


def test_hookspecs_found_are_pluggys_own() -> None:
    ours = _answers(_PluginManager("chatplug"), hookspecs, spec=True)
    assert ours == _answers(pluggy.PluginManager("chatplug"), hookspecs, spec=True)
    assert sorted(name for name, opts in ours.items() if opts) == sorted(
        name for name in dir(hookspecs) if name.startswith("chatplug_"))


def test_a_registry_registers_the_same_hooks_as_pluggy_would() -> None:
    module = _every_kind()
    ours = _PluginManager("chatplug")
    theirs = pluggy.PluginManager("chatplug")
    for manager in (ours, theirs):
        manager.add_hookspecs(hookspecs)
        manager.register(module, name="every")

    def registered(manager: pluggy.PluginManager) -> list[tuple[str, Any]]:
        callers = manager.get_hookcallers(module) or []
        return sorted(((caller.name, impl.function) for caller in callers for impl in caller.get_hookimpls()),
                      key=lambda pair: pair[0])

    assert registered(ours) == registered(theirs)
    assert [name for name, _ in registered(ours)] == [
        "bound", "chatplug_prepare_payload", "chatplug_providers", "odd", "static_marked", "wrapped"]
    payload: dict[str, Any] = {}
    ours.hook.chatplug_prepare_payload(provider=None, model="m", payload=payload)
    assert payload == {"renamed": True}
    assert isinstance(chatplug.PluginRegistry(load_entrypoints=False).pm, _PluginManager)


def test_only_plain_module_attributes_are_judged() -> None:
    module = _every_kind()
    assert _certainly_no_hook(module, "unmarked", "chatplug_impl")
    assert _certainly_no_hook(module, "constant", "chatplug_impl")
    assert _certainly_no_hook(module, "recorder", "chatplug_impl")
    assert _certainly_no_hook(module, "Holder", "chatplug_impl")
    assert not _certainly_no_hook(module, "chatplug_providers", "chatplug_impl")
    assert _certainly_no_hook(module, "chatplug_providers", "chatplug_spec")  # marked, but as an impl
    assert not _certainly_no_hook(module, "odd", "chatplug_impl")
    assert not _certainly_no_hook(module, "bound", "chatplug_impl")
    assert not _certainly_no_hook(module, "static_marked", "chatplug_impl")
    assert not _certainly_no_hook(module, "missing", "chatplug_impl")  # not in the dict: pluggy decides
    assert not _certainly_no_hook(Holder, "chatplug_providers", "chatplug_impl")  # a class: pluggy decides
    assert not _certainly_no_hook(Holder(), "anything", "chatplug_impl")  # an instance: pluggy decides


def test_pluggys_own_look_runs_only_for_what_the_quick_test_cannot_rule_out(monkeypatch: pytest.MonkeyPatch) -> None:
    looked: list[tuple[str, str]] = []
    impl, spec = pluggy.PluginManager.parse_hookimpl_opts, pluggy.PluginManager.parse_hookspec_opts

    def look_impl(self: pluggy.PluginManager, plugin: Any, name: str) -> Any:
        looked.append(("impl", name))
        return impl(self, plugin, name)

    def look_spec(self: pluggy.PluginManager, namespace: Any, name: str) -> Any:
        looked.append(("spec", name))
        return spec(self, namespace, name)

    monkeypatch.setattr(pluggy.PluginManager, "parse_hookimpl_opts", look_impl)
    monkeypatch.setattr(pluggy.PluginManager, "parse_hookspec_opts", look_spec)
    manager = _PluginManager("chatplug")
    manager.add_hookspecs(hookspecs)
    manager.register(_every_kind(), name="every")
    specs = sorted(name for name in dir(hookspecs) if name.startswith("chatplug_"))
    assert sorted(name for kind, name in looked if kind == "spec") == specs
    assert sorted(name for kind, name in looked if kind == "impl") == [
        "bound", "chatplug_providers", "odd", "renamed", "static_marked", "wrapped"]
