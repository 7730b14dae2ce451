"""score.py, which turns mutmut's verdicts and docs/mutation.md into the mutation score (issue 11, item 5)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import score
import stage


def test_every_mutant_the_doc_explains_belongs_to_a_mutated_module() -> None:
    explained = score.explained_equivalents(score.DOC.read_text(encoding="utf-8"))
    modules = {path.removeprefix("src/").removesuffix(".py").replace("/", ".") for path in stage.MUTATED}
    assert explained, "docs/mutation.md explains no equivalent mutant"
    assert {score.module_of(name) for name in explained} <= modules


def test_the_score_counts_killed_over_killed_unexplained_and_untested() -> None:
    verdicts = score.parse_verdicts(
        "    chatplug.errors.x_a__mutmut_1: killed\n"
        "    chatplug.errors.x_a__mutmut_2: timeout\n"
        "    chatplug.errors.x_a__mutmut_3: survived\n"
        "    chatplug.errors.x_a__mutmut_4: survived\n"
        "    chatplug.errors.x_a__mutmut_5: no tests\n"
        "    chatplug._sse.xǁSSEDecoderǁflush__mutmut_1: not checked\n"
        "not a verdict line\n"
    )
    rows = score.tally(verdicts, equivalent={"chatplug.errors.x_a__mutmut_4"})
    errors = rows["chatplug.errors"]
    assert (errors["mutants"], errors["killed"], errors["equivalent"], errors["survived"], errors["no tests"]) == (
        5, 2, 1, 1, 1,
    )
    assert score.score(errors) == 50.0
    assert rows["chatplug._sse"]["not checked"] == 1
    assert score.score(rows["chatplug._sse"]) is None
    assert rows["all"]["mutants"] == 6


def test_check_fails_on_a_survivor_the_doc_does_not_explain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    explained = sorted(score.explained_equivalents(score.DOC.read_text(encoding="utf-8")))
    lines = [f"    {name}: survived" for name in explained]
    lines += [f"    chatplug.errors.x_killed__mutmut_{n}: killed" for n in range(1, 11)]
    verdicts = tmp_path / "verdicts.txt"
    verdicts.write_text("\n".join(lines), encoding="utf-8")
    assert score.main([str(verdicts), "--check", "90"]) == 0
    verdicts.write_text("\n".join([*lines, "    chatplug.errors.x_new__mutmut_1: survived"]), encoding="utf-8")
    assert score.main([str(verdicts), "--check", "90"]) == 1
    assert "chatplug.errors.x_new__mutmut_1" in capsys.readouterr().out.split("neither killed nor explained")[1]


def test_a_later_run_replaces_earlier_verdicts_but_not_with_not_checked(tmp_path: Path) -> None:
    first, second = tmp_path / "full.txt", tmp_path / "rerun.txt"
    first.write_text("    chatplug.errors.x_a__mutmut_1: survived\n    chatplug.errors.x_a__mutmut_2: killed\n"
                     "    chatplug.errors.x_a__mutmut_3: survived\n", encoding="utf-8")
    second.write_text("    chatplug.errors.x_a__mutmut_1: killed\n    chatplug.errors.x_a__mutmut_2: not checked\n"
                      "    chatplug.errors.x_a__mutmut_3: killed\n", encoding="utf-8")
    assert score.main([str(first), str(second), "--check", "90"]) == 0
    assert score.main([str(first), "--check", "90"]) == 1


def test_a_survivor_the_doc_names_under_not_killed_counts_but_does_not_fail(tmp_path: Path) -> None:
    documented = sorted(score.documented_survivors(score.DOC.read_text(encoding="utf-8")))
    assert documented, "docs/mutation.md names no survivor under 'Not killed'"
    verdicts = tmp_path / "verdicts.txt"
    lines = [f"    {name}: survived" for name in documented]
    lines += [f"    chatplug.errors.x_killed__mutmut_{n}: killed" for n in range(1, 1000)]
    verdicts.write_text("\n".join(lines), encoding="utf-8")
    assert score.main([str(verdicts), "--check", "90"]) == 0
    rows = score.tally(score.parse_verdicts(verdicts.read_text(encoding="utf-8")), equivalent=set())
    assert rows["all"]["survived"] == len(documented)
