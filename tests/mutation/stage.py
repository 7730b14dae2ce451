"""Lay out the workspace ``tox -e mutation`` runs mutmut in.

mutmut 3 finds the code to mutate under ``./src`` and names each mutant after
its import path, so it cannot work on this repository's layout directly (the
core lives in ``core/src/chatplug``, the plugins in ``plugins/*/src``). This
script copies the mutated modules' packages into ``<stage>/src`` and the test
suites that exercise them in-process into ``<stage>/tests``, and writes the
``pyproject.toml`` that configures pytest and mutmut there.

Usage: ``python tests/mutation/stage.py [STAGE_DIR]`` (default ``.mutation``).
A stage left by an earlier run is reused while nothing it copies changed; see
:func:`stage` for why any change starts it over.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: package name -> where its sources live in the repository.
PACKAGES = {
    "chatplug": ROOT / "core" / "src" / "chatplug",
    "chatplug_glm": ROOT / "plugins" / "glm" / "src" / "chatplug_glm",
    "chatplug_kimi": ROOT / "plugins" / "kimi" / "src" / "chatplug_kimi",
}

#: The modules mutated (issue 11): the core's stream, accumulate, transport,
#: errors, plugins, request and SSE modules, the contract's shared ==/hash/repr,
#: and each plugin's error and payload modules.
MUTATED = [
    "src/chatplug/_attrs_methods.py",
    "src/chatplug/_streaming.py",
    "src/chatplug/_accumulate.py",
    "src/chatplug/_transport.py",
    "src/chatplug/errors.py",
    "src/chatplug/plugins.py",
    "src/chatplug/_request.py",
    "src/chatplug/_sse.py",
    "src/chatplug_glm/_errors.py",
    "src/chatplug_glm/_payload.py",
    "src/chatplug_kimi/_errors.py",
    "src/chatplug_kimi/_payload.py",
]

#: Files outside the packages that the suites read: each plugin's README holds
#: the error table its tests check row by row; the core's tests hold the
#: precompiled structuring functions to what the generator writes.
DATA_FILES = ["plugins/glm/README.md", "plugins/kimi/README.md", "core/tools/generate_structurers.py"]

#: Suites that call the mutated code in the test process. The CLI suite runs the
#: command in subprocesses, which import the unmutated installed code: it could
#: kill nothing, so it is left out.
SUITES = ["core", "glm", "kimi", "all/reliability", "all/testing"]

PYPROJECT = """\
# Written by tests/mutation/stage.py; do not edit.
[tool.pytest.ini_options]
minversion = "8.0"
testpaths = ["tests"]
addopts = "--strict-markers -p no:cacheprovider"
markers = ["live: talks to a real provider API; skipped unless its key is set"]

[tool.mutmut]
source_paths = ["src"]
also_copy = ["docs", "plugins", "core"]
only_mutate = {only_mutate}
pytest_add_cli_args_test_selection = {suites}
pytest_add_cli_args = ["-x", "-q", "-m", "not live"]
"""


def _fingerprint() -> str:
    """A digest of everything the stage copies: code, suites, data files and the stage's own hooks."""
    digest = hashlib.sha256()
    for name, path in sorted(PACKAGES.items()):
        for file in sorted(path.rglob("*.py")):
            digest.update(f"{name}/{file.relative_to(path)}".encode())
            digest.update(file.read_bytes())
    files = [ROOT / data_file for data_file in DATA_FILES]
    files += [ROOT / "tests" / "conftest.py", Path(__file__).with_name("stage_plugin.py"), Path(__file__)]
    for folder in [*(f"tests/{suite}" for suite in SUITES), "docs"]:
        copied = (ROOT / folder).rglob("*")
        files += sorted(file for file in copied if file.is_file() and "__pycache__" not in file.parts)
    for file in files:
        digest.update(str(file.relative_to(ROOT)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def stage(target: Path) -> Path:
    """Build the mutmut workspace at ``target``, or reuse it if nothing it copies changed; return it.

    A stage whose inputs changed starts from scratch, results included:
    mutmut 3.8's incremental run records the coverage of new tests *in place
    of* what it had, after which most mutants count as "no tests". To re-check
    a survivor after adding a test, name it (``tox -e mutation -- NAME``): the
    stage is rebuilt and only the named mutants run.
    """
    fingerprint = _fingerprint()
    stamp = target / ".fingerprint"
    if stamp.is_file() and stamp.read_text() == fingerprint:
        return target
    target.mkdir(parents=True, exist_ok=True)
    for entry in target.iterdir():  # emptied, not removed: it may be the caller's working directory
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name, path in PACKAGES.items():
        shutil.copytree(path, target / "src" / name, ignore=ignore)
    for suite in SUITES:
        shutil.copytree(ROOT / "tests" / suite, target / "tests" / suite, ignore=ignore)
    shutil.copytree(ROOT / "docs", target / "docs")  # a core test checks docs/hooks.md against the hook specs
    for data_file in DATA_FILES:
        (target / data_file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / data_file, target / data_file)
    # The suites' conftest, plus the stage-only hooks of stage_plugin.py (why: its docstring).
    shutil.copy2(Path(__file__).with_name("stage_plugin.py"), target / "tests" / "_mutation_stage.py")
    conftest = (ROOT / "tests" / "conftest.py").read_text(encoding="utf-8")
    conftest += "\n\nfrom _mutation_stage import pytest_collection_modifyitems, pytest_configure  # noqa: E402, F401\n"
    (target / "tests" / "conftest.py").write_text(conftest, encoding="utf-8")
    suites = [f"tests/{suite}" for suite in SUITES]
    (target / "pyproject.toml").write_text(
        PYPROJECT.format(only_mutate=_toml_list(MUTATED), suites=_toml_list(suites)), encoding="utf-8"
    )
    stamp.write_text(fingerprint)
    return target


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


if __name__ == "__main__":
    where = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / ".mutation"
    print(stage(where.resolve()))
