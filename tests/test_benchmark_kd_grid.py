"""The KD grid's bookkeeping (benchmarks/kd_grid.py): gains paired by seed, qad from int8, the task list a resumed
run still owes. No training here: the rows are written by hand."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture()
def kd_grid(benchmark_module: Callable[[str], Any]) -> Any:
    return benchmark_module("kd_grid")


PARAMS = {"student": "s", "C": 8, "N": 1, "teachers": ["t0", "t1"], "teacher_epochs": 15, "epochs": 10,
          "qat_epochs": 1, "soup": 3, "label_smoothing": 0.0, "train_limit": None, "test_limit": None,
          "val_fraction": 0.1, "data": "/nowhere"}


def _row(seed: int, method: str, float_acc: float, int8_acc: float) -> dict[str, Any]:
    return {"seed": seed, "method": method, "float_acc": float_acc, "int8_acc": int8_acc,
            "ptq_int8_acc": int8_acc - 0.5, "flash_bytes": 1, "arena_bytes": 1, "fits": True, "latency_ms": 1.0,
            "stages": {}, "seconds": 10.0, "test_images": 10000, "train_images": 60000}


def test_gains_are_paired_by_seed_and_qad_compares_int8(kd_grid: Any) -> None:
    rows = {f"{s}/no_kd": _row(s, "no_kd", 90.0 + s, 89.0 + s) for s in range(3)}
    rows.update({f"{s}/kd_single": _row(s, "kd_single", 91.0 + s, 90.5 + s) for s in range(3)})
    rows["3/kd_single"] = _row(3, "kd_single", 99.0, 99.0)  # no no_kd run of seed 3: not paired, not counted
    agg = kd_grid.aggregate(PARAMS, rows, 1.0)
    by = {v["name"]: v for v in agg["kd_variants"]}
    assert set(by) == {"kd_single", "qad"}  # methods without rows are left out, not reported as zero
    assert by["kd_single"]["seeds"] == 3 and by["kd_single"]["gain_mean_pp"] == pytest.approx(1.0)
    assert by["kd_single"]["gain_ci95"] == pytest.approx([1.0, 1.0])  # the same gain on every seed
    assert by["qad"]["metric"] == "int8_acc" and by["qad"]["gain_mean_pp"] == pytest.approx(1.5)
    assert by["kd_single"]["int8_drop_pp"] == pytest.approx(0.5) and by["kd_single"]["ptq_drop_pp"] == 1.0
    assert agg["no_kd"]["seeds"] == 3 and agg["no_kd"]["float_acc_mean"] == pytest.approx(91.0)


def test_a_resumed_grid_owes_only_what_is_missing(kd_grid: Any, tmp_path: Path) -> None:
    ckpt = tmp_path / "t0.pt"
    ckpt.write_bytes(b"x")
    rows = {"teacher/0": {"checkpoint": str(ckpt)}, "teacher/1": {"checkpoint": str(tmp_path / "gone.pt")},
            "0/no_kd": _row(0, "no_kd", 90, 89)}
    todo = kd_grid._tasks(PARAMS, rows, [0, 1], tmp_path)
    keys = [t["key"] for t in todo]
    assert keys[0] == "teacher/1" and "teacher/0" not in keys  # a checkpoint gone from disk is trained again
    assert "0/no_kd" not in keys and "1/no_kd" in keys and len(keys) == 1 + 6 + 7
    # method by method, every seed of one before the next: the paired reference and kd_single come first
    assert keys[1:4] == ["1/no_kd", "0/kd_single", "1/kd_single"]
    assert kd_grid.protocol(PARAMS) == kd_grid.protocol({**PARAMS, "data": "/elsewhere"})  # where, not what
    assert kd_grid.protocol(PARAMS) != kd_grid.protocol({**PARAMS, "epochs": 5})


def test_a_cell_runs_only_its_methods(kd_grid: Any, tmp_path: Path) -> None:
    todo = kd_grid._tasks(PARAMS, {}, [0, 1], tmp_path, ("label_mix", "no_kd"))
    assert [t["key"] for t in todo] == ["teacher/0", "teacher/1", "0/no_kd", "1/no_kd", "0/label_mix",
                                        "1/label_mix"]  # ORDER's order, whatever order the caller gave
    for bad in (("kd_single",), ("no_kd", "distill_harder")):  # no reference to pair with / a method not known
        with pytest.raises(ValueError, match="kd grid methods"):
            kd_grid.run_grid(PARAMS, [0], None, tmp_path, 1, None, lambda _v: None, bad)


def test_a_second_cell_reuses_teachers_trained_the_same_way(kd_grid: Any, tmp_path: Path) -> None:
    ckpts = [tmp_path / f"t{k}.pt" for k in range(2)]
    for c in ckpts:
        c.write_bytes(b"x")
    main = {"protocol": kd_grid.protocol(PARAMS),
            "tasks": {f"teacher/{k}": {"checkpoint": str(c), "float_acc": 93.0} for k, c in enumerate(ckpts)}}
    small = {**PARAMS, "C": 4}  # another student, the same teachers' recipe
    got = kd_grid.shared_teachers(small, [main])
    assert set(got) == {"teacher/0", "teacher/1"} and got["teacher/0"]["checkpoint"] == str(ckpts[0])
    assert not kd_grid._tasks(small, got, [], tmp_path)  # nothing to train again
    assert kd_grid.shared_teachers({**small, "teacher_epochs": 5}, [main]) == {}  # trained otherwise: not the same
    ckpts[1].unlink()
    assert kd_grid.shared_teachers(small, [main]) == {}  # a checkpoint gone from disk: trained again


def test_the_markdown_describes_only_the_methods_the_cell_ran(kd_grid: Any) -> None:
    rows = {f"{s}/{m}": _row(s, m, 90.0 + s, 89.5 + s) for s in range(2) for m in ("no_kd", "kd_single")}
    rows["teacher/0"] = {"arch": "t0", "epochs": 15, "float_acc": 93.5, "int8_acc": 93.4, "seconds": 1.0}
    v = kd_grid.aggregate({**PARAMS, "teachers": ["t0"]}, rows, 1.0)
    md = kd_grid.markdown({**v, "methods": ["no_kd", "kd_single"]}, False, "2 of 5 seeds")
    assert "soup" not in md and "label_mix" not in md and "`t0` 15 epochs, float 93.50 %" in md
    md_all = kd_grid.markdown(v, False, "2 of 5 seeds")  # a study stored before cells named their methods
    assert "soup: 3 fine-tuned runs" in md_all and "label_mix: the `auto` schedule" in md_all
