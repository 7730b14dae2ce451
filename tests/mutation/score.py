"""The mutation score of a ``tox -e mutation`` run, checked against docs/mutation.md.

docs/mutation.md is the record of every surviving mutant that is *equivalent*
(the change alters no behaviour): each one is named there in backticks, under
the "Equivalent" heading. This script reads mutmut's verdicts, sets those
mutants aside, and prints the score per module as a Markdown table:

    score = killed / (killed + survivors not explained + mutants no test runs)

Usage (in the stage directory, as ``tox -e mutation`` runs it)::

    python tests/mutation/score.py [--check PERCENT] [VERDICTS_FILE ...]

A ``VERDICTS_FILE`` holds ``mutmut results --all true`` output; without one the
script runs that command. With several, a later file's verdict on a mutant
replaces an earlier one's (unless it is "not checked"): a full run, then a
re-run of its survivors after new tests, give the score of the two together.
With ``--check``, the exit status is 1 when the score is below PERCENT, when a
survivor is neither killed nor explained, or when the doc explains a mutant
that no longer survives (a stale entry).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "mutation.md"

#: A mutant's name as mutmut prints it: module, mangled function, number.
MUTANT = re.compile(r"[A-Za-z_][\w.ǁ]*__mutmut_\d+")
#: One line of ``mutmut results --all true``: ``    name: verdict``.
VERDICT_LINE = re.compile(r"^\s*(" + MUTANT.pattern + r"): (.+?)\s*$")


def _named_under(doc: str, heading: str) -> set[str] | None:
    """Mutant names in backticks under a heading starting with ``heading`` (to the next one of its level)."""
    match = re.search(rf"^(#+) {heading}\b.*?$(.*?)(?=^\1 |\Z)", doc, flags=re.MULTILINE | re.DOTALL)
    if match is None:
        return None
    return {name for name in re.findall(r"`([^`]+)`", match.group(2)) if MUTANT.fullmatch(name)}


def explained_equivalents(doc: str) -> set[str]:
    """Mutant names in backticks under the doc's "Equivalent" heading (up to the next heading of its level)."""
    names = _named_under(doc, "Equivalent")
    if names is None:
        raise SystemExit(f"{DOC} has no 'Equivalent' heading: the record of equivalent mutants is missing")
    return names


def documented_survivors(doc: str) -> set[str]:
    """Mutant names under the doc's "Not killed" heading: survivors it names and explains, which count
    against the score but do not fail the check."""
    return _named_under(doc, "Not killed") or set()


def parse_verdicts(text: str) -> dict[str, str]:
    """``{mutant name: verdict}`` from ``mutmut results --all true`` output."""
    verdicts = {}
    for line in text.splitlines():
        found = VERDICT_LINE.match(line)
        if found:
            verdicts[found.group(1)] = found.group(2)
    return verdicts


def module_of(name: str) -> str:
    """``chatplug._sse`` for ``chatplug._sse.xǁSSEDecoderǁflush__mutmut_6``."""
    return name.split(".x")[0] if ".x" in name else name.rsplit(".", 1)[0]


def tally(verdicts: dict[str, str], equivalent: set[str]) -> dict[str, Counter[str]]:
    """Counts per module (and ``all``) of: mutants, killed, equivalent, survived, no tests, other, not checked."""
    rows: dict[str, Counter[str]] = defaultdict(Counter)
    for name, verdict in verdicts.items():
        if verdict in ("killed", "timeout", "caught by type check"):
            kind = "killed"
        elif verdict == "survived":
            kind = "equivalent" if name in equivalent else "survived"
        elif verdict in ("no tests", "not checked"):
            kind = verdict
        else:  # suspicious, skipped, segfault, interrupted: not a verdict on the tests
            kind = "other"
        for key in (module_of(name), "all"):
            rows[key]["mutants"] += 1
            rows[key][kind] += 1
    return rows


def score(row: Counter[str]) -> float | None:
    """Killed share of the mutants that count (None when none were checked)."""
    counted = row["killed"] + row["survived"] + row["no tests"]
    return None if counted == 0 else 100.0 * row["killed"] / counted


def table(rows: dict[str, Counter[str]]) -> str:
    """The Markdown table docs/mutation.md shows."""
    columns = ["mutants", "killed", "equivalent", "survived", "no tests", "not checked", "other"]
    lines = ["| module | " + " | ".join(columns) + " | score |", "|---" * (len(columns) + 2) + "|"]
    for module in [*sorted(key for key in rows if key != "all"), "all"]:
        row = rows[module]
        value = score(row)
        shown = "-" if value is None else f"{value:.1f} %"
        name = "**all**" if module == "all" else f"`{module}`"
        cells = [str(row[column]) for column in columns]
        if module == "all":
            cells, shown = [f"**{cell}**" for cell in cells], f"**{shown}**"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {shown} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the table; with ``--check``, fail on a low score, an unexplained survivor or a stale entry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "verdicts", nargs="*", type=Path, help="saved `mutmut results --all true` outputs, oldest first"
    )
    parser.add_argument("--check", type=float, metavar="PERCENT", help="fail below this score")
    args = parser.parse_args(argv)
    if not args.verdicts:
        texts = [subprocess.run(["mutmut", "results", "--all", "true"], capture_output=True, text=True,
                                check=True).stdout]
    else:
        texts = [path.read_text(encoding="utf-8") for path in args.verdicts]
    verdicts: dict[str, str] = {}
    for text in texts:
        verdicts.update({name: verdict for name, verdict in parse_verdicts(text).items()
                         if verdict != "not checked" or name not in verdicts})
    if not verdicts:
        print("no mutmut verdicts found: run `tox -e mutation` first", file=sys.stderr)
        return 1
    equivalent = explained_equivalents(DOC.read_text(encoding="utf-8"))
    rows = tally(verdicts, equivalent)
    print(table(rows))
    documented = documented_survivors(DOC.read_text(encoding="utf-8"))
    survivors = sorted(name for name, verdict in verdicts.items()
                       if verdict == "survived" and name not in equivalent | documented)
    stale = sorted(name for name in equivalent if verdicts.get(name) in ("killed", "timeout", "caught by type check"))
    unknown = sorted(name for name in equivalent if name not in verdicts)
    for title, names in (("Survivors neither killed nor explained in docs/mutation.md", survivors),
                         ("Explained as equivalent in docs/mutation.md but no longer surviving", stale),
                         ("Explained in docs/mutation.md but not a mutant of this code", unknown)):
        if names:
            print(f"\n{title} ({len(names)}):")
            print("\n".join(f"  {name}" for name in names))
    if args.check is None:
        return 0
    value = score(rows["all"])
    failed = value is None or value < args.check or bool(survivors) or bool(stale)
    print(f"\nscore {'-' if value is None else f'{value:.1f} %'} (target {args.check:g} %): "
          f"{'FAILED' if failed else 'ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
