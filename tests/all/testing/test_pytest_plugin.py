"""The opt-in pytest plugin ``chatplug.testing``: its fixtures, seen from a pytester sub-session."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


def test_fixtures_give_isolation_a_clean_environment_and_a_server(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZAI_API_KEY", "sk-leaky-zai")
    monkeypatch.setenv("MOONSHOT_BASE_URL", "https://elsewhere.invalid/v1")
    monkeypatch.setenv("CHATPLUG_PLUGINS", "glm")
    monkeypatch.setenv("PATH_IS_KEPT", "yes")
    pytester.makeconftest('pytest_plugins = ["chatplug.testing"]')
    pytester.makepyfile('''
import os

import chatplug
import httpx
from chatplug.testing import Reply


def test_env(chatplug_env):
    assert "ZAI_API_KEY" not in os.environ
    assert "MOONSHOT_BASE_URL" not in os.environ
    assert "CHATPLUG_PLUGINS" not in os.environ
    assert os.environ["PATH_IS_KEPT"] == "yes"
    assert os.environ["XDG_CONFIG_HOME"].endswith("xdg-config")
    chatplug_env.setenv("ZAI_API_KEY", "set-by-the-test")


def test_env_is_restored_after_the_test():
    assert os.environ["ZAI_API_KEY"] == "sk-leaky-zai"


def test_registry_is_isolated(chatplug_registry):
    assert chatplug_registry.providers() == {}
    assert chatplug_registry is not chatplug.default_registry()


def test_fake_server(fake_server):
    fake_server.add(Reply.json({"ok": True}))
    assert httpx.get(fake_server.base_url + "/models").json() == {"ok": True}
    assert fake_server.last_request.path == "/v1/models"
''')
    result = pytester.runpytest("-q", "-p", "no:randomly")
    result.assert_outcomes(passed=4)


def test_the_plugin_is_opt_in(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_needs_it(fake_server):\n    pass\n")
    result = pytester.runpytest("-q", "-p", "no:randomly")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'fake_server' not found*"])


def test_scrubbing_removes_a_providers_own_env_vars_whatever_their_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import os

    from chatplug import Provider
    from chatplug.testing._fixtures import provider_env_names, scrub_environment

    acme = Provider(id="acme", base_url="https://acme.invalid/v1", api_key_env=("ACME_TOKEN",),
                    base_url_env="ACME_ENDPOINT", models=("a-1",))
    monkeypatch.setenv("ACME_TOKEN", "tok-from-the-developer-shell")
    monkeypatch.setenv("ACME_ENDPOINT", "https://elsewhere.invalid/v1")
    monkeypatch.setenv("UNRELATED_SETTING", "kept")
    removed = scrub_environment(monkeypatch, tmp_path, provider_env_names([acme]))
    assert {"ACME_TOKEN", "ACME_ENDPOINT"} <= set(removed)
    assert "ACME_TOKEN" not in os.environ and "ACME_ENDPOINT" not in os.environ
    assert os.environ["UNRELATED_SETTING"] == "kept"
