"""``chatplug providers`` and ``chatplug models`` tell the truth about plugin filters.

With plugins installed but left out by ``CHATPLUG_PLUGINS`` /
``CHATPLUG_DISABLE_PLUGINS``, the command says which and why, and never
suggests installing them. Runs the real command in a subprocess.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("chatplug_glm") is None or importlib.util.find_spec("chatplug_kimi") is None,
    reason="needs chatplug-glm and chatplug-kimi installed",
)


def chatplug(*args: str, tmp_path: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "NO_COLOR": "1", **environ}
    return subprocess.run([sys.executable, "-m", "chatplug", *args], env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def test_providers_names_the_plugins_the_allow_list_leaves_out(tmp_path: Path) -> None:
    done = chatplug("providers", tmp_path=tmp_path, CHATPLUG_PLUGINS="glm")
    assert done.returncode == 0, done.stderr
    rows = [line.split()[0] for line in done.stdout.split("\n\n")[0].splitlines()[1:]]
    assert rows == ["glm"]
    note = done.stdout.strip().splitlines()[-1]
    assert note.startswith("plugin") and "kimi" in note and "installed but CHATPLUG_PLUGINS=glm leaves" in note, note


def test_everything_filtered_out_never_suggests_an_install(tmp_path: Path) -> None:
    for command in ("providers", "models"):
        done = chatplug(command, tmp_path=tmp_path, CHATPLUG_DISABLE_PLUGINS="glm,kimi,deepseek")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("no providers loaded: plugins ")
        assert "CHATPLUG_DISABLE_PLUGINS=glm,kimi,deepseek leave" in done.stdout
        assert "pip install" not in done.stdout + done.stderr


def test_unknown_model_error_names_the_filter(tmp_path: Path) -> None:
    done = chatplug("chat", "hi", "-m", "kimi-k2-0905-preview", tmp_path=tmp_path, CHATPLUG_PLUGINS="glm")
    assert done.returncode == 1
    assert "installed providers: glm (plugin" in done.stderr
    assert "CHATPLUG_PLUGINS=glm leaves" in done.stderr
    assert "pip install" not in done.stderr
