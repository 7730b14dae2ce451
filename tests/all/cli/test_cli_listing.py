"""``chatplug providers`` and ``chatplug models``."""

from __future__ import annotations

from pathlib import Path

from cli_support import SECRET_KEY, run


def _row(output: str, provider_id: str) -> str:
    return next(line for line in output.splitlines() if line.split()[:1] == [provider_id])


def test_providers_shows_each_provider_and_whether_its_key_is_set_but_never_the_key() -> None:
    result = run(["providers"], env={"ZAI_API_KEY": SECRET_KEY})
    assert result.returncode == 0, result.stderr
    assert SECRET_KEY not in result.stdout + result.stderr
    header = result.stdout.splitlines()[0].split()
    assert header[:3] == ["PROVIDER", "DISTRIBUTION", "VERSION"]
    glm = _row(result.stdout, "glm")
    kimi = _row(result.stdout, "kimi")
    assert "chatplug-glm" in glm and "https://api.z.ai/api/paas/v4" in glm and "ZAI_API_KEY (set)" in glm
    assert "chatplug-kimi" in kimi and "https://api.moonshot.ai/v1" in kimi and "MOONSHOT_API_KEY (not set)" in kimi
    from importlib.metadata import version

    assert version("chatplug-glm") in glm.split()
    assert "glm-*" in glm and "kimi-*" in kimi and "moonshot-*" in kimi


def test_providers_shows_a_base_url_override() -> None:
    result = run(["providers"], env={"MOONSHOT_BASE_URL": "https://api.moonshot.cn/v1"})
    assert result.returncode == 0, result.stderr
    assert "https://api.moonshot.cn/v1 (from MOONSHOT_BASE_URL)" in _row(result.stdout, "kimi")


def test_providers_lists_a_plugin_that_failed_to_load(tmp_path: Path) -> None:
    # a distribution whose chatplug entry point cannot be imported
    dist = tmp_path / "chatplug_broken_example-0.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: chatplug-broken-example\nVersion: 0.3\n")
    (dist / "entry_points.txt").write_text("[chatplug]\nbroken = chatplug_broken_example\n")
    (tmp_path / "chatplug_broken_example.py").write_text("raise ImportError('needs libfoo 2.0')\n")
    result = run(["providers"], env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "failed to load" in result.stdout
    failure = next(line for line in result.stdout.splitlines() if "'broken'" in line)
    assert "chatplug-broken-example" in failure and "needs libfoo 2.0" in failure
    # the working providers are still listed
    assert _row(result.stdout, "glm") and _row(result.stdout, "kimi")


def _models(output: str) -> list[str]:
    """The first column of ``chatplug models``: what ``-m`` takes."""
    return [line.split()[0] for line in output.splitlines()[1:] if line.strip()]


def test_models_lists_every_provider_with_its_prefixes() -> None:
    result = run(["models"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].split() == ["MODEL", "CONTEXT", "OUTPUT", "THINKING", "TOOLS", "IMAGES",
                                                     "JSON", "NOTES"]
    models = _models(result.stdout)
    assert "glm/glm-4.6" in models
    assert "kimi/kimi-k2-0905-preview" in models
    assert "kimi/moonshot-*" in models


def test_models_of_one_provider() -> None:
    result = run(["models", "--provider", "kimi"])
    assert result.returncode == 0, result.stderr
    models = _models(result.stdout)
    assert "kimi/kimi-k2-thinking" in models
    assert all(model.startswith("kimi/") for model in models)


def test_models_shows_what_the_catalog_says_of_each_model() -> None:
    result = run(["models"])
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert rows["glm/glm-4.6"].split()[1:8] == ["200K", "128K", "optional", "(on)", "yes", "no", "object"]
    assert rows["glm/glm-4-32b-0414-128k"].split()[3] == "no"
    assert "reasoning_effort none|minimal|low|medium|high|xhigh|max" in rows["glm/glm-5.2"]
    assert rows["kimi/kimi-k2-thinking"].split()[1:4] == ["256K", "-", "always"]
    assert "fixed temperature=1.0 (0.6 without thinking), top_p=0.95" in rows["kimi/kimi-k2.5"]
    assert rows["kimi/moonshot-v1-8k-vision-preview"].split()[4:6] == ["-", "yes"]


def test_models_of_an_unknown_provider_exits_1_listing_the_installed_ones() -> None:
    result = run(["models", "--provider", "openai"])
    assert result.returncode == 1
    assert "glm, kimi" in result.stderr
    assert "Traceback" not in result.stderr
