"""A registration refused for a provider-id clash rolls back only what it added:
the failures recorded before it stay. Written to kill a mutant of
``PluginRegistry.register`` that ``tox -e mutation`` left alive (see docs/mutation.md)."""

from __future__ import annotations

import chatplug
import pytest


class Declares:
    def __init__(self, provider_id: str) -> None:
        self.provider_id = provider_id

    @chatplug.hookimpl
    def chatplug_providers(self) -> list[chatplug.Provider]:
        return [chatplug.Provider(id=self.provider_id, base_url="http://127.0.0.1:9/v1")]


class BrokenProviders:
    @chatplug.hookimpl
    def chatplug_providers(self) -> list[chatplug.Provider]:
        raise RuntimeError("missing dependency")


def test_a_clash_refused_at_registration_keeps_the_failures_recorded_before_it() -> None:
    registry = chatplug.PluginRegistry(load_entrypoints=False, environ={})
    registry.register(BrokenProviders(), "broken")
    registry.register(Declares("dup"), "first")
    with pytest.raises(chatplug.PluginError) as caught:
        registry.register(Declares("dup"), "second")
    assert str(caught.value) == (
        "provider id 'dup' is declared by both first and second; uninstall one, or block one with "
        "CHATPLUG_DISABLE_PLUGINS"
    )
    assert [(f.name, f.error) for f in registry.failures()] == [
        ("broken", "chatplug_providers failed: RuntimeError: missing dependency")]
    assert registry.provider("dup").distribution == "first"
