"""pytest hooks that only the mutation stage uses (stage.py wires them into its conftest).

mutmut runs, for each mutant, every test that reached the mutated function,
with ``-x``: a killed mutant costs the tests before the first failure, a
surviving one costs them all. On this suite that made a full run take hours,
so in the stage:

- tests run fastest first (by the durations mutmut recorded in its stats
  run), so a mutant is usually killed by a quick test;
- Hypothesis draws 25 examples per property instead of 100 (still fixed by
  the ``ci`` profile's derandomize, so every run sees the same examples);
- tests that cannot see a mutant are left out: those that run chatplug in a
  subprocess (it imports the installed, unmutated code), the 500-stream load
  test, a resource-leak check whose every code path the quicker tests also
  take, and the one that checks which line a warning names (under mutmut, a
  trampoline frame sits between chatplug and its caller). Left out means *less* chance to kill a mutant: the score is a
  lower bound of what the whole suite would give.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

#: Node-id prefixes never run under mutation, and why.
LEFT_OUT = {
    "tests/core/test_core_suite_guards.py": "runs pytest in a subprocess, on the installed code",
    "tests/core/test_core_startup.py": "runs chatplug in a fresh subprocess, on the installed code",
    "tests/glm/test_glm_errors.py::test_the_error_table_loads_with_the_first_error_and_its_names_stay_importable":
        "runs chatplug in a fresh subprocess, on the installed code",
    "tests/all/reliability/test_reliability_load.py::test_500_concurrent_streams_complete_without_leaks":
        "a leak check under load; the quicker tests take the same code paths",
    "tests/core/test_core_call_kills_transport.py::test_the_warning_names_the_line_that_made_the_call":
        "mutmut's trampolines stand between chatplug and its caller, so the warning names one of them",
}

#: Examples per Hypothesis property in the stage.
MUTATION_EXAMPLES = 25


def _recorded_durations() -> dict[str, float]:
    """Seconds per test node id from mutmut's stats run (empty before the first one)."""
    for stats in (Path("mutmut-stats.json"), Path("mutants") / "mutmut-stats.json"):
        if stats.is_file():
            durations = json.loads(stats.read_text(encoding="utf-8")).get("duration_by_test", {})
            return {str(node): float(seconds) for node, seconds in durations.items()}
    return {}


def pytest_configure(config: pytest.Config) -> None:
    """Load a cheaper copy of the selected Hypothesis profile."""
    try:
        from hypothesis import settings
    except ImportError:
        return
    base = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE") or "dev")
    settings.register_profile("mutation", parent=base, max_examples=MUTATION_EXAMPLES)
    settings.load_profile("mutation")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the tests that cannot see a mutant, and run the rest fastest first."""
    kept = [item for item in items if not item.nodeid.startswith(tuple(LEFT_OUT))]
    left_out = [item for item in items if item.nodeid.startswith(tuple(LEFT_OUT))]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
    durations = _recorded_durations()
    kept.sort(key=lambda item: durations.get(item.nodeid, 0.0))
    items[:] = kept
