"""compress_quality's result files: the KD grid and the mixed study write into one JSON / markdown, each after
every task, possibly at the same time; neither may drop what the other stored. No training here."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture()
def cq(benchmark_module: Callable[[str], Any]) -> Any:
    return benchmark_module("compress_quality")


def test_each_study_replaces_only_its_own_keys_and_section(cq: Any, tmp_path: Path) -> None:
    (tmp_path / "compress_quality.json").write_text(json.dumps({"recipe": {"int8_acc": 90.0}}))
    (tmp_path / "compress_quality.md").write_text("# Title\n\n## Default recipe\n\nrecipe text\n")
    cq._merge_results(tmp_path, {"kd_variants": [1]}, "## KD variants (issue 17)", "## KD variants (issue 17)\n\nA\n")
    cq._merge_results(tmp_path, {"mixed_precision": {"seeds": 1}}, "## Mixed precision (issue 17)",
                      "## Mixed precision (issue 17)\n\nB\n")
    cq._merge_results(tmp_path, {"kd_variants": [1, 2]}, "## KD variants (issue 17)",
                      "## KD variants (issue 17)\n\nA2\n")
    res = json.loads((tmp_path / "compress_quality.json").read_text())
    assert res == {"recipe": {"int8_acc": 90.0}, "kd_variants": [1, 2], "mixed_precision": {"seeds": 1}}
    md = (tmp_path / "compress_quality.md").read_text()
    assert "recipe text" in md and "A2" in md and "\nA\n" not in md and "B" in md
    assert md.index("## KD variants") < md.index("## Mixed precision")  # a replaced section keeps its place


def _row(seed: int, acc_delta: float, saved: float) -> dict[str, Any]:
    return {"seed": seed, "acc_delta_pp": acc_delta, "flash_saved_pct": saved, "arena_delta_bytes": 0,
            "mixed": {"flash_bytes": 1000}, "estimate": {"flash_model_bytes": 990}}


def test_the_mixed_summary_is_over_the_seeds_stored(cq: Any) -> None:
    proto = {"arch": "a", "epochs": 5}
    one = cq._mixed_aggregate(proto, [_row(0, -0.1, 30.0)], 10.0)
    assert one["seeds"] == 1 and one["summary"]["flash_saved_pct"] == {"mean": 30.0, "ci95": [30.0, 30.0]}
    two = cq._mixed_aggregate(proto, [_row(1, 0.1, 20.0), _row(0, -0.1, 30.0)], 20.0)
    assert [r["seed"] for r in two["per_seed"]] == [0, 1] and two["protocol"] == proto
    lo, hi = two["summary"]["flash_saved_pct"]["ci95"]
    assert two["summary"]["flash_saved_pct"]["mean"] == pytest.approx(25.0) and lo < 25.0 < hi
    assert two["estimate_flash_error_pct"] == pytest.approx([-1.0, -1.0])
