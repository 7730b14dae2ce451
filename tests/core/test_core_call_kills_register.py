"""The name a plugin registered at run time gets when none is given, and a
plugin refused by the hook specs leaves nothing behind. Written to kill mutants
of ``PluginRegistry.register`` that ``tox -e mutation`` left alive (see
docs/mutation.md)."""

from __future__ import annotations

import types

import chatplug
import pytest


def provider(provider_id: str) -> chatplug.Provider:
    return chatplug.Provider(id=provider_id, base_url="http://127.0.0.1:9/v1", model_prefixes=(f"{provider_id}-",))


class Declares:
    def __init__(self, provider_id: str) -> None:
        self.provider_id = provider_id

    @chatplug.hookimpl
    def chatplug_providers(self) -> list[chatplug.Provider]:
        return [provider(self.provider_id)]


def test_a_module_plugin_is_registered_under_its_module_name() -> None:
    module = types.ModuleType("acme_chatplug_plugin")

    @chatplug.hookimpl
    def chatplug_providers() -> list[chatplug.Provider]:
        return [provider("acme")]

    module.chatplug_providers = chatplug_providers  # type: ignore[attr-defined]
    registry = chatplug.PluginRegistry(load_entrypoints=False)
    registry.register(module)
    assert registry.pm.get_plugin("acme_chatplug_plugin") is module
    assert registry.providers()["acme"].distribution == "acme_chatplug_plugin"


def test_an_object_without_a_name_is_registered_as_plugin_and_its_id() -> None:
    plugin = Declares("anon")
    registry = chatplug.PluginRegistry(load_entrypoints=False)
    registry.register(plugin)
    assert registry.pm.get_plugin(f"plugin-{id(plugin)}") is plugin
    assert registry.providers()["anon"].distribution == f"plugin-{id(plugin)}"


class UnknownHook:
    """Implements a hook chatplug does not define (a typo): pluggy accepts it at
    registration and refuses it only when pending hooks are checked."""

    @chatplug.hookimpl
    def chatplug_provider(self) -> list[chatplug.Provider]:  # sic: chatplug_providers
        return [provider("typo")]


def test_a_plugin_with_an_unknown_hook_is_refused_and_left_unregistered() -> None:
    registry = chatplug.PluginRegistry(load_entrypoints=False)
    plugin = UnknownHook()
    with pytest.raises(chatplug.PluginError) as caught:
        registry.register(plugin, "typo-plugin")
    assert str(caught.value).startswith("plugin 'typo-plugin' could not be registered: ")
    assert "chatplug_provider" in str(caught.value)
    assert registry.pm.get_plugin("typo-plugin") is None
    assert not registry.pm.is_registered(plugin)
    registry.register(Declares("fixed"), "typo-plugin")  # the name is free again
    assert sorted(registry.providers()) == ["fixed"]
