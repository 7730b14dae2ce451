"""Every distribution's metadata, as pip and PyPI read it from the installed package.

What a user sees on the package index and in ``pip show``: the licence, the
Python versions, the typed marker, the project links and the README. The test
reads the installed metadata (``importlib.metadata``), not the pyproject files,
so it checks what the build backend actually wrote.
"""

from __future__ import annotations

from email.message import Message
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
REPOSITORY = "https://github.com/chatplug/chatplug"

#: Distribution name -> its folder in the repository.
DISTRIBUTIONS = {
    "chatplug": "core",
    "chatplug-glm": "plugins/glm",
    "chatplug-kimi": "plugins/kimi",
    "chatplug-deepseek": "examples/deepseek",
    "chatplug-otel": "plugins/otel",
    "chatplug-gateway": "plugins/gateway",
}

PYTHONS = ("3.10", "3.11", "3.12", "3.13")


def _metadata(dist: str) -> Message:
    try:
        return metadata.metadata(dist)  # type: ignore[return-value]
    except metadata.PackageNotFoundError:
        pytest.skip(f"{dist} is not installed in this environment")


@pytest.mark.parametrize("dist", sorted(DISTRIBUTIONS))
def test_licence_is_declared_once_as_an_spdx_expression(dist: str) -> None:
    meta = _metadata(dist)
    assert meta["License-Expression"] == "MIT"
    # PyPI rejects an upload that has both a License-Expression and a License :: classifier.
    assert [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")] == []
    assert meta.get_all("License-File") == ["LICENSE"]


@pytest.mark.parametrize("dist", sorted(DISTRIBUTIONS))
def test_licence_file_of_each_distribution_is_the_repository_licence(dist: str) -> None:
    root_licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert root_licence.startswith("MIT License\n")
    assert (ROOT / DISTRIBUTIONS[dist] / "LICENSE").read_text(encoding="utf-8") == root_licence


@pytest.mark.parametrize("dist", sorted(DISTRIBUTIONS))
def test_python_versions_typed_and_os_classifiers(dist: str) -> None:
    meta = _metadata(dist)
    classifiers = set(meta.get_all("Classifier") or [])
    assert meta["Requires-Python"] == ">=3.10"
    for version in PYTHONS:
        assert f"Programming Language :: Python :: {version}" in classifiers
    assert {"Typing :: Typed", "Operating System :: OS Independent",
            "Programming Language :: Python :: 3 :: Only"} <= classifiers
    # The classifiers claim no version below requires-python.
    assert not any(c.startswith(("Programming Language :: Python :: 3.8", "Programming Language :: Python :: 3.9"))
                   for c in classifiers)


@pytest.mark.parametrize("dist", sorted(DISTRIBUTIONS))
def test_project_urls_point_at_the_one_repository(dist: str) -> None:
    urls = dict(value.split(", ", 1) for value in _metadata(dist).get_all("Project-URL") or [])
    assert set(urls) == {"Homepage", "Documentation", "Source", "Issues"}
    assert urls["Source"] == REPOSITORY
    assert urls["Issues"] == f"{REPOSITORY}/issues"
    folder = DISTRIBUTIONS[dist]
    expected_home = REPOSITORY if folder == "core" else f"{REPOSITORY}/tree/main/{folder}"
    assert urls["Homepage"] == expected_home
    assert urls["Documentation"].startswith(REPOSITORY)


@pytest.mark.parametrize("dist", sorted(DISTRIBUTIONS))
def test_readme_is_the_long_description(dist: str) -> None:
    meta = _metadata(dist)
    assert meta["Description-Content-Type"] == "text/markdown"
    readme = (ROOT / DISTRIBUTIONS[dist] / "README.md").read_text(encoding="utf-8")
    assert meta.get_payload().strip() == readme.strip()  # type: ignore[union-attr]
