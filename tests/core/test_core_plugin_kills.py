"""Exact tests of plugin loading written to kill mutants that survived ``tox -e mutation``
(see docs/mutation.md): failure text and fields, log lines, duplicate entry-point names,
model routing with slashes, and the errors routing gives."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import chatplug
import pytest
from chatplug.plugins import PluginFailure
from test_core_promises import GOOD, add_distribution


def test_plugin_failure_text_names_what_is_known() -> None:
    assert str(PluginFailure("p", None, None, "boom")) == "plugin 'p' failed: boom"
    assert str(PluginFailure("p", "dist-p", None, "boom")) == "plugin 'p' from dist-p failed: boom"
    assert str(PluginFailure("p", "dist-p", "1.2", "boom")) == "plugin 'p' from dist-p 1.2 failed: boom"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    for module in ("cp_kill_one", "cp_kill_two", "cp_kill_bad", "cp_kill_hook"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    return tmp_path


def test_a_skipped_plugin_is_logged_at_debug(site: Path, caplog: pytest.LogCaptureFixture) -> None:
    add_distribution(site, "kill-one", "kone", "cp_kill_one", GOOD.replace("{id}", "kone"))
    with caplog.at_level(logging.DEBUG, logger="chatplug"):
        chatplug.PluginRegistry(environ={"CHATPLUG_PLUGINS": "nothing-else"}).load()
    assert "plugin 'kone' skipped by CHATPLUG_PLUGINS/CHATPLUG_DISABLE_PLUGINS" in caplog.messages


def test_a_failed_import_is_logged_and_chained_in_strict_mode(site: Path, caplog: pytest.LogCaptureFixture) -> None:
    add_distribution(site, "kill-bad", "kbad", "cp_kill_bad", "raise ImportError('needs numpy')")
    with caplog.at_level(logging.WARNING, logger="chatplug"):
        registry = chatplug.PluginRegistry(environ={"CHATPLUG_PLUGINS": "kbad"})
        registry.load()
    assert caplog.messages == ["plugin 'kbad' from kill-bad 1.0 failed: import failed: ImportError: needs numpy"]
    strict = chatplug.PluginRegistry(environ={"CHATPLUG_PLUGINS": "kbad"}, strict=True)
    with pytest.raises(chatplug.PluginError) as caught:
        strict.load()
    assert isinstance(caught.value.__cause__, ImportError)


def test_a_plugin_that_fails_registration_is_recorded_and_removed(site: Path) -> None:
    add_distribution(site, "kill-hook", "khook", "cp_kill_hook",
                     "import chatplug\n\n@chatplug.hookimpl\ndef chatplug_not_a_hook():\n    return None\n")
    add_distribution(site, "kill-one", "kone", "cp_kill_one", GOOD.replace("{id}", "kone"))
    registry = chatplug.PluginRegistry(environ={"CHATPLUG_PLUGINS": "khook, kone"})
    assert list(registry.providers()) == ["kone"]
    (failure,) = registry.failures()
    assert (failure.name, failure.distribution, failure.version) == ("khook", "kill-hook", "1.0")
    assert failure.error.startswith("registration failed: PluginValidationError: ")
    assert registry.pm.get_plugin("khook") is None  # not left half-registered
    strict = chatplug.PluginRegistry(environ={"CHATPLUG_PLUGINS": "khook"}, strict=True)
    with pytest.raises(chatplug.PluginError) as caught:
        strict.load()
    assert type(caught.value.__cause__).__name__ == "PluginValidationError"


def test_a_second_entry_point_with_a_taken_name_is_skipped_quietly(tmp_path: Path, site: Path) -> None:
    later, last = tmp_path / "later", tmp_path / "last"
    later.mkdir()
    last.mkdir()
    add_distribution(site, "kill-one", "kdup", "cp_kill_one", GOOD.replace("{id}", "kfirst"))
    add_distribution(later, "kill-two", "kdup", "cp_kill_two", GOOD.replace("{id}", "ksecond"))
    add_distribution(last, "kill-three", "kthree", "cp_kill_bad", GOOD.replace("{id}", "kthird"))
    sys.path.extend([str(later), str(last)])  # found in this order: the duplicate comes before kthree
    try:
        registry = chatplug.PluginRegistry(environ={"CHATPLUG_PLUGINS": "kdup, kthree"})
        assert sorted(registry.providers()) == ["kfirst", "kthird"]
        assert registry.failures() == []
    finally:
        sys.path.remove(str(later))
        sys.path.remove(str(last))


def test_a_model_name_with_slashes_routes_on_the_first_one(registry: chatplug.PluginRegistry) -> None:
    provider, name = registry.resolve_model("testprov/org/model-x")
    assert (provider.id, name) == ("testprov", "org/model-x")


def test_an_unknown_model_error_lists_the_installed_providers(registry: chatplug.PluginRegistry) -> None:
    with pytest.raises(chatplug.ModelNotFoundError) as caught:
        registry.resolve_model("zzz-1")
    assert str(caught.value) == (
        "no installed provider claims model 'zzz-1'; installed providers: testprov. "
        "Write it as 'provider/zzz-1' to choose one."
    )
    empty = chatplug.PluginRegistry(load_entrypoints=False)
    with pytest.raises(chatplug.ModelNotFoundError) as caught:
        empty.resolve_model("zzz-1")
    # no install command that could not work (the provider distributions are not on a package index)
    assert "installed providers: none (install a provider plugin, or pass base_url= for any OpenAI-compatible " \
        "server)." in str(caught.value)


class _Claims:
    def __init__(self, provider_id: str) -> None:
        self.provider = chatplug.Provider(id=provider_id, base_url="https://x.example/v1", model_prefixes=("same-",))

    @chatplug.hookimpl
    def chatplug_providers(self) -> list[chatplug.Provider]:
        return [self.provider]


def test_a_model_two_providers_claim_names_both() -> None:
    registry = chatplug.PluginRegistry(load_entrypoints=False)
    registry.register(_Claims("pa"), "pa")
    registry.register(_Claims("pb"), "pb")
    with pytest.raises(chatplug.ModelNotFoundError) as caught:
        registry.resolve_model("same-1")
    assert str(caught.value) == "model 'same-1' is claimed by several providers (pa, pb); write it as 'provider/same-1'"
    assert (caught.value.model, caught.value.providers) == ("same-1", ("pa", "pb"))
    assert ", ".join(sorted(registry.providers())) == "pa, pb"
    with pytest.raises(chatplug.ModelNotFoundError) as unknown:
        registry.provider("pc")
    assert "installed providers: pa, pb" in str(unknown.value)


def test_a_config_error_without_a_line_has_no_line_prefix(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    registry = chatplug.PluginRegistry(environ={"CHATPLUG_CONFIG": str(missing), "CHATPLUG_PLUGINS": "config"})
    (failure,) = registry.failures()
    assert (failure.name, failure.distribution) == ("config", str(missing))
    assert failure.error == "no such file (named by CHATPLUG_CONFIG)"


def test_the_default_registry_is_made_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from chatplug import plugins

    monkeypatch.setattr(plugins, "_default", None)
    first = plugins.default_registry()
    assert isinstance(first, chatplug.PluginRegistry)
    assert plugins.default_registry() is first
