"""Kill -9 a 10,000-evaluation CLI search at 5 random points and resume it at once each time (issue 18).

Each kill lands wherever it lands (the points are chosen by evaluations stored, the kill itself is not
synchronised with the loop); what must hold wherever it lands: every candidate stored once, the budget
exact, and the same evaluations in the same order, so the same winner, as the uninterrupted run.
The check itself is the benchmark's (``benchmarks/planner_speed.py``), so suite and benchmark test one thing.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def _benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("planner_speed", ROOT / "benchmarks" / "planner_speed.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["planner_speed"] = module
    spec.loader.exec_module(module)
    return module


def test_kill9_at_five_points_then_resume_at_once_gives_the_uninterrupted_result(tmp_path: Path) -> None:
    out = _benchmark().crash_test(f"sqlite:///{tmp_path / 'crash.db'}", budget=10_000, kills=5, seed=3)
    assert out["final_rc"] == 0, out["stderr_tail"]
    assert len(out["killed_at_evaluations"]) == 5 and max(out["killed_at_evaluations"]) < 10_000
    assert out["budget_exact"] and out["n_evaluated"] == 10_000
    assert out["stored_once"], (out["n_candidates"], out["n_distinct_archs"])
    assert out["same_evaluation_sequence"] and out["same_winner"]
