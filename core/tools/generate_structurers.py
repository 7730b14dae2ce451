"""Write the contract classes' structuring functions, precompiled, as modules of ``chatplug``.

``chatplug._convert`` generates one structuring function per contract class
from the class's fields. Compiling that source is most of a fresh process's
first parse (about 0.2 ms a class), so the functions of the contract's own
classes are also written out as modules (``_convert.PRECOMPILED_MODULES``:
one for the reply side, one for the stream side, one for the request side),
which Python compiles once into its bytecode cache like any other. At run
time a function is used only when the checksum recorded next to it matches
the source ``_convert`` generates then; otherwise it is compiled as before.

Run it after changing a contract class or the generator::

    python core/tools/generate_structurers.py          # rewrite the modules
    python core/tools/generate_structurers.py --check  # exit 1 if one is stale (--package DIR: another copy)

``tests/core/test_core_precompiled.py`` runs the check.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chatplug import _convert, types

#: The source folder of the ``chatplug`` package, where the modules are written.
PACKAGE = Path(__file__).resolve().parents[1] / "src" / "chatplug"

HEADER = '''"""Precompiled structuring functions of the classes {home} defines (generated: do not edit).

Written by ``core/tools/generate_structurers.py`` from what
``chatplug._convert.structure_source`` generates for each class. These
functions are never called from here: ``_convert`` takes the code of one
(only when its checksum below matches the source it generates now) and runs
it with that class's own globals, which is why the names they read are not
defined in this module.
"""
# ruff: noqa
# mypy: ignore-errors
'''


def contract_classes() -> dict[str, list[type]]:
    """Every wire class ``chatplug.types`` exports, by the module that defines it (an alias once)."""
    by_home: dict[str, list[type]] = {home: [] for home in _convert.PRECOMPILED_MODULES}
    for name in types.__all__:
        cls = getattr(types, name)
        if isinstance(cls, type) and _convert._is_wire_class(cls) and cls.__name__ == name:
            home = _convert.contract_module(cls)
            assert home is not None, name
            by_home[home].append(cls)
    return by_home


def render(home: str, classes: list[type]) -> str:
    """The text of the precompiled module for the classes ``home`` defines."""
    checksums: list[str] = []
    functions: list[str] = []
    for cls in classes:
        source, _ = _convert.structure_source(cls)
        checksums.append(f"    {cls.__name__!r}: {_convert.source_checksum(source)},\n")
        header, _, body = source.partition("\n")
        assert header == "def structure(o, _=None):", header
        functions.append(f"\n\ndef structure_{cls.__name__}(o, _=None):\n{body}\n")
    return (
        HEADER.format(home=f"``{home}``")
        + "\n#: crc32 of the source each function was generated from, by class name.\nCHECKSUMS = {\n"
        + "".join(checksums)
        + "}\n"
        + "".join(functions)
    )


def target(package: Path, module: str) -> Path:
    """The source file of ``chatplug.<name>`` in the package folder ``package``."""
    return package / (module.rpartition(".")[2] + ".py")


def main(argv: list[str] | None = None) -> int:
    """Rewrite the modules, or with ``--check`` report whether any is stale."""
    parser = argparse.ArgumentParser(description="Write chatplug's precompiled structuring functions.")
    parser.add_argument("--check", action="store_true", help="exit 1 if a module differs from what would be written")
    parser.add_argument("--package", type=Path, default=PACKAGE,
                        help="the chatplug package folder to write or check (default: the source tree's)")
    args = parser.parse_args(argv)
    stale = []
    for home, classes in contract_classes().items():
        path = target(args.package, _convert.PRECOMPILED_MODULES[home])
        text = render(home, classes)
        current = path.read_text() if path.exists() else ""
        if current == text:
            continue
        if args.check:
            stale.append(path)
        else:
            path.write_text(text)
    for path in stale:
        print(f"{path} is stale: run python core/tools/generate_structurers.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
