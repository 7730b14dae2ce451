"""Finding the installed ``chatplug`` entry points, cheaply.

``importlib.metadata.entry_points()`` parses the entry points of every
installed distribution and the e-mail-style metadata of each match, and
importing it pulls in ``zipfile``, ``csv`` and ``email``: about 10 ms of CPU
(more in wall time) in every process that builds its first client. Installed
distributions on plain directories are laid out by a standard (the
``*.dist-info`` / ``*.egg-info`` folders of the "Recording installed projects"
specification), so this module reads them directly: it lists each ``sys.path``
directory once (except the standard library's own, where installers never put
a distribution), opens only ``entry_points.txt`` files, and reads the name and
version of a distribution only when it declares an entry point in the group.

Where that layout is not the whole story (a zip file or an egg on
``sys.path``, or a custom finder on ``sys.meta_path`` that supplies
distributions), it defers to ``importlib.metadata``. Either way the result is
the same: entry points in ``sys.path`` order, the first distribution of a name
shadowing later ones, as ``importlib.metadata`` does.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

__all__ = ["EntryPoint", "entry_points"]


class EntryPoint:
    """One entry point: its name, its ``module:attr`` value, and its distribution.

    A plain slotted class, compared by its four fields: a ``NamedTuple`` class
    costs about 0.1 ms to create, in every process that builds a client.
    """

    __slots__ = ("dist_name", "dist_version", "name", "value")

    def __init__(self, name: str, value: str, dist_name: str | None, dist_version: str | None) -> None:
        self.name = name
        self.value = value
        self.dist_name = dist_name
        self.dist_version = dist_version

    def _fields(self) -> tuple[str, str, str | None, str | None]:
        return self.name, self.value, self.dist_name, self.dist_version

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EntryPoint):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        name, value, dist_name, dist_version = self._fields()
        return f"EntryPoint(name={name!r}, value={value!r}, dist_name={dist_name!r}, dist_version={dist_version!r})"

    def load(self) -> Any:
        """Import the module the value names and return the object it points at."""
        parsed = _parse_value(self.value)
        if parsed is None:
            raise ValueError(f"entry point {self.name!r} has a malformed value {self.value!r}")
        module, attr = parsed
        obj: Any = importlib.import_module(module)
        for part in attr.split(".") if attr else ():
            obj = getattr(obj, part)
        return obj


def _dotted_name(text: str) -> bool:
    """Whether ``text`` is identifiers joined by dots (``pkg``, ``pkg.mod``, ``Outer.Inner``)."""
    return all(part.isidentifier() for part in text.split("."))


def _parse_value(value: str) -> tuple[str, str] | None:
    """``(module, attr)`` of an entry-point value: ``module``, ``module:attr`` or
    ``module:attr.sub``, optionally followed by ``[extras]`` (ignored), as
    importlib.metadata reads them; ``attr`` is ``""`` when absent, ``None`` means
    malformed. String methods, not a regular expression: compiling one cost more
    than the rest of the scan, in every process that builds a client."""
    head, bracket, extras = value.partition("[")
    if bracket and not extras.rstrip().endswith("]"):
        return None
    module, colon, attr = head.partition(":")
    module, attr = module.strip(), attr.strip()
    if not _dotted_name(module) or (colon and not _dotted_name(attr)):
        return None
    return module, attr
_SUFFIXES = (".dist-info", ".egg-info")


def _normalize(name: str) -> str:
    """A distribution name as the packaging specs compare it (``Foo_Bar`` == ``foo-bar``):
    runs of ``-``, ``_`` and ``.`` become one ``-``, lowercased (string methods, not a
    regular expression: this runs once per installed distribution)."""
    name = name.lower().replace("_", "-").replace(".", "-")
    while "--" in name:
        name = name.replace("--", "-")
    return name


def _standard_layout_only() -> bool:
    """Whether every distribution is visible as a folder in a ``sys.path`` directory."""
    from importlib.machinery import PathFinder

    for finder in sys.meta_path:
        if finder is not PathFinder and hasattr(finder, "find_distributions"):
            return False
    return not any(entry and os.path.isfile(entry) for entry in sys.path)


def _header(folder: str) -> tuple[str | None, str | None]:
    """``Name`` and ``Version`` from a distribution's METADATA (or an egg's PKG-INFO)."""
    for filename in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(folder, filename), encoding="utf-8", errors="replace") as handle:
                name = version = None
                for line in handle:
                    if not line.strip():
                        break  # the headers end at the first blank line
                    key, _, value = line.partition(":")
                    if key == "Name":
                        name = value.strip()
                    elif key == "Version":
                        version = value.strip()
                return name, version
        except OSError:
            continue
    return None, None


def _group_lines(text: str, group: str) -> list[tuple[str, str]]:
    """``(name, value)`` pairs of the ``[group]`` section of an ``entry_points.txt``."""
    found: list[tuple[str, str]] = []
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            inside = line[1:-1].strip() == group
            continue
        if inside:
            name, sep, value = line.partition("=")
            if sep:
                found.append((name.strip(), value.strip()))
    return found


def _stdlib_folders() -> frozenset[str]:
    """The standard library's folders on ``sys.path``, which no installer puts a
    distribution in: listing them (some 280 names) would be a quarter of the scan."""
    os_file = getattr(os, "__file__", None)
    if not os_file:
        return frozenset()
    stdlib = os.path.dirname(os_file)
    return frozenset({stdlib, os.path.join(stdlib, "lib-dynload")})


def _scan(group: str) -> list[EntryPoint]:
    found: list[EntryPoint] = []
    seen: set[str] = set()
    stdlib = _stdlib_folders()
    for entry in sys.path:
        directory = entry or "."
        if directory in stdlib:
            continue
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for filename in names:
            if not filename.lower().endswith(_SUFFIXES):
                continue
            key = _normalize(filename.rpartition(".")[0].partition("-")[0])
            if key in seen:
                continue  # shadowed by a distribution earlier on sys.path
            seen.add(key)
            folder = os.path.join(directory, filename)
            try:
                with open(os.path.join(folder, "entry_points.txt"), encoding="utf-8") as handle:
                    text = handle.read()
            except OSError:
                continue
            if f"[{group}]" not in text.replace(" ", ""):
                continue
            lines = _group_lines(text, group)
            if lines:
                dist_name, dist_version = _header(folder)
                found.extend(EntryPoint(name, value, dist_name, dist_version) for name, value in lines)
    return found


def _from_importlib(group: str) -> list[EntryPoint]:
    from importlib import metadata

    return [
        EntryPoint(ep.name, ep.value, ep.dist.name if ep.dist else None, ep.dist.version if ep.dist else None)
        for ep in metadata.entry_points(group=group)
    ]


def entry_points(group: str) -> list[EntryPoint]:
    """Every installed entry point of ``group``, in ``sys.path`` order."""
    if _standard_layout_only():
        return _scan(group)
    return _from_importlib(group)
