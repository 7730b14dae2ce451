"""Build every distribution as a user or a release would, and use the result.

``tox -e package`` runs this: for each distribution it builds the
sdist and, from that sdist, the wheel (``python -m build``, in an isolated
build environment, as a release would), checks them with ``twine check
--strict``, installs the wheels in a fresh virtual environment and runs
``chatplug providers`` from there, outside the repository. It also pastes the
README's one-line set-up command into a shell with another fresh venv first on
PATH, and checks that it installs and chats (GLM pointed at a loopback server).

It takes about a minute, so outside ``tox -e package`` it is skipped (set
``CHATPLUG_BUILD_DISTS=1`` to run it with plain pytest).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from chatplug.testing import FakeServer, Reply

ROOT = Path(__file__).resolve().parents[3]

#: Distribution name -> (folder, import package).
DISTRIBUTIONS = {
    "chatplug": ("core", "chatplug"),
    "chatplug-glm": ("plugins/glm", "chatplug_glm"),
    "chatplug-kimi": ("plugins/kimi", "chatplug_kimi"),
    "chatplug-deepseek": ("examples/deepseek", "chatplug_deepseek"),
    "chatplug-otel": ("plugins/otel", "chatplug_otel"),
    "chatplug-gateway": ("plugins/gateway", "chatplug_gateway"),
}

pytestmark = pytest.mark.skipif(
    os.environ.get("CHATPLUG_BUILD_DISTS") != "1",
    reason="builds every sdist and wheel and a fresh venv (about a minute): run `tox -e package`",
)


def _run(*command: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True)
    shown = " ".join(map(str, command))
    assert done.returncode == 0, f"{shown} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def dist_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every sdist and wheel, built into one folder."""
    out = tmp_path_factory.mktemp("dist")
    for folder, _ in DISTRIBUTIONS.values():
        # Without --sdist/--wheel, build makes the sdist and then the wheel *from the sdist*:
        # a file missing from the sdist breaks the wheel here rather than for a user.
        _run(sys.executable, "-m", "build", "--outdir", out, ROOT / folder)
    yield out


def _artifacts(dist_dir: Path, dist: str) -> tuple[Path, Path]:
    stem = dist.replace("-", "_")
    wheels = sorted(dist_dir.glob(f"{stem}-*-py3-none-any.whl"))
    sdists = sorted(dist_dir.glob(f"{stem}-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in dist_dir.iterdir())
    return wheels[0], sdists[0]


def test_twine_check_passes_strict(dist_dir: Path) -> None:
    files = sorted(dist_dir.iterdir())
    assert len(files) == 2 * len(DISTRIBUTIONS)
    output = _run(sys.executable, "-m", "twine", "check", "--strict", *files)
    assert output.count("PASSED") == len(files)


@pytest.mark.parametrize("dist", sorted(DISTRIBUTIONS))
def test_wheel_and_sdist_carry_licence_readme_and_typed_marker(dist_dir: Path, dist: str) -> None:
    package = DISTRIBUTIONS[dist][1]
    wheel, sdist = _artifacts(dist_dir, dist)
    licence = (ROOT / "LICENSE").read_bytes()
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(name for name in names if name.endswith(".dist-info/METADATA")).rsplit("/", 1)[0]
        assert archive.read(f"{info}/licenses/LICENSE") == licence
        assert f"{package}/py.typed" in names
        assert f"{package}/__init__.py" in names
    with tarfile.open(sdist) as archive:
        top = sdist.name.removesuffix(".tar.gz")
        members = set(archive.getnames())
        assert {f"{top}/LICENSE", f"{top}/README.md", f"{top}/pyproject.toml"} <= members
        extracted = archive.extractfile(f"{top}/LICENSE")
        assert extracted is not None and extracted.read() == licence


def test_wheels_install_in_a_fresh_venv_and_chatplug_providers_lists_both(dist_dir: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    wheels = [_artifacts(dist_dir, dist)[0] for dist in ("chatplug", "chatplug-glm", "chatplug-kimi")]
    _run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *wheels)

    # A clean environment: no keys, no plugin filters, a HOME with no config; run
    # outside the repository so nothing is imported from the source tree.
    env = {"PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}", "HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "NO_COLOR": "1"}
    where = _run(python, "-c", "import chatplug, chatplug_glm; print(chatplug.__file__); print(chatplug_glm.__file__)",
                 cwd=tmp_path, env=env)
    assert all(line.startswith(str(venv)) for line in where.split()), where

    listing = _run(bindir / "chatplug", "providers", cwd=tmp_path, env=env)
    rows = {line.split()[0]: line.split() for line in listing.splitlines()[1:] if line.strip()}
    assert set(rows) == {"glm", "kimi"}, listing
    for provider, wheel in (("glm", wheels[1]), ("kimi", wheels[2])):
        assert rows[provider][1:3] == [f"chatplug-{provider}", wheel.name.split("-")[1]]
    assert "ZAI_API_KEY (not set)" in listing and "MOONSHOT_API_KEY (not set)" in listing


def test_the_readme_set_up_command_runs_as_written(tmp_path: Path) -> None:
    """The README's one-line set-up, pasted into a shell with a fresh venv first on PATH,
    installs the three distributions and chats (GLM pointed at a loopback server)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- snippet: setup -->\n```bash\n(.+?)\n```", readme, re.DOTALL)
    assert match is not None, "README.md: the set-up block lost its snippet marker"
    command = match[1]
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "glm-4.6",
             "choices": [{"index": 0, "finish_reason": "stop",
                          "delta": {"role": "assistant", "content": "Hello there, my dear friend!"}}]}
    with FakeServer() as server:
        server.add(Reply.sse([chunk]))
        env = {"PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", "HOME": str(tmp_path),
               "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data"),
               "NO_COLOR": "1", "ZAI_API_KEY": "sk-readme-0123456789", "ZAI_BASE_URL": server.base_url}
        output = _run("bash", "-c", command, cwd=ROOT, env=env)
        assert server.last_request.json()["model"] == "glm-4.6"
    assert output.endswith("Hello there, my dear friend!\n"), output[-500:]
