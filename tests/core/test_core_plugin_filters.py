"""When CHATPLUG_PLUGINS / CHATPLUG_DISABLE_PLUGINS leave installed plugins out,
the messages say so, and never suggest installing what is already installed.

The installed plugins are real distributions: a ``dist-info`` folder with an
``entry_points.txt`` on ``sys.path``, found by ``importlib.metadata`` as pip's
would be.
"""

from __future__ import annotations

from pathlib import Path

import chatplug
import pytest

PLUGIN_MODULE = '''
import chatplug

@chatplug.hookimpl
def chatplug_providers():
    return chatplug.Provider(id="{name}", base_url="https://{name}.example/v1", model_prefixes=("{name}-",))
'''


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two installed plugin distributions, ``filtalpha`` and ``filtbeta``."""
    for name in ("filtalpha", "filtbeta"):
        (tmp_path / f"chatplug_{name}.py").write_text(PLUGIN_MODULE.format(name=name), encoding="utf-8")
        info = tmp_path / f"chatplug_{name}-1.0.dist-info"
        info.mkdir()
        metadata = f"Metadata-Version: 2.1\nName: chatplug-{name}\nVersion: 1.0\n"
        (info / "METADATA").write_text(metadata, encoding="utf-8")
        (info / "entry_points.txt").write_text(f"[chatplug]\n{name} = chatplug_{name}\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _registry(tmp_path: Path, **environ: str) -> chatplug.PluginRegistry:
    return chatplug.PluginRegistry(environ={"XDG_CONFIG_HOME": str(tmp_path / "no-config"), **environ})


def test_nothing_filtered(installed: Path) -> None:
    registry = _registry(installed)
    assert {"filtalpha", "filtbeta"} <= set(registry.providers())
    assert registry.filtered_out() == []
    assert registry.filter_note() is None


def test_allow_list_names_what_it_leaves_out(installed: Path) -> None:
    registry = _registry(installed, CHATPLUG_PLUGINS="filtalpha")
    assert set(registry.providers()) == {"filtalpha"}
    assert "filtbeta" in registry.filtered_out()
    with pytest.raises(chatplug.ModelNotFoundError) as info:
        registry.resolve_model("filtbeta-large")
    message = str(info.value)
    left_out = registry.filtered_out()  # filtbeta, and any real plugin this env has installed
    which = "plugin filtbeta is" if left_out == ["filtbeta"] else f"plugins {', '.join(left_out)} are"
    pronoun = "it" if left_out == ["filtbeta"] else "them"
    assert f"installed providers: filtalpha ({which} installed but CHATPLUG_PLUGINS=filtalpha leaves {pronoun} out)" \
        in message
    assert "pip install" not in message


def test_everything_filtered_out_says_so_instead_of_suggesting_an_install(installed: Path) -> None:
    registry = _registry(installed, CHATPLUG_PLUGINS="nothing-by-this-name", CHATPLUG_DISABLE_PLUGINS="filtalpha")
    assert registry.providers() == {}
    message = registry.no_providers_message()
    assert message.startswith("no providers loaded: plugins ")
    assert message.endswith("are installed but CHATPLUG_PLUGINS=nothing-by-this-name and "
                            "CHATPLUG_DISABLE_PLUGINS=filtalpha leave them out")
    assert "pip install" not in message
    with pytest.raises(chatplug.ModelNotFoundError) as info:
        registry.resolve_model("filtalpha-1")
    assert "installed providers: none (plugins " in str(info.value)
    assert "Write it as" not in str(info.value)  # there is no provider to write


def test_one_plugin_blocked(installed: Path) -> None:
    registry = _registry(installed, CHATPLUG_DISABLE_PLUGINS="filtbeta")
    assert registry.filtered_out() == ["filtbeta"]
    assert registry.filter_note() == "plugin filtbeta is installed but CHATPLUG_DISABLE_PLUGINS=filtbeta leaves it out"


def test_no_plugin_at_all_suggests_no_install_that_cannot_work(tmp_path: Path) -> None:
    registry = chatplug.PluginRegistry(load_entrypoints=False, environ={"XDG_CONFIG_HOME": str(tmp_path)})
    message = registry.no_providers_message()
    # The provider distributions are not on a package index: no "pip install chatplug-glm".
    assert "pip install" not in message
    assert message.startswith("no providers installed: install a provider plugin (a distribution with a 'chatplug' "
                              "entry point, such as chatplug-glm or chatplug-kimi from the chatplug sources)")
    assert message.endswith(f"declare an OpenAI-compatible server in {tmp_path / 'chatplug' / 'providers.toml'}")
    with pytest.raises(chatplug.ModelNotFoundError) as info:
        registry.resolve_model("some-model")
    assert "pass base_url= for any OpenAI-compatible server" in str(info.value)
