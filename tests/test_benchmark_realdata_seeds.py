"""realdata_quality's seed bookkeeping: seeds added by a later invocation join the earlier run's, a seed run again
replaces its row only when asked (the old row kept with the reason), and a different protocol is refused. No
training here: the rows are written by hand."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture()
def rq(benchmark_module: Callable[[str], Any]) -> Any:
    return benchmark_module("realdata_quality")


def _args(first_seed: int = 0, replace: str | None = None, **kw: Any) -> argparse.Namespace:
    base = {"train_limit": None, "test_limit": None, "search_budget": 20, "search_epochs": 3, "final_epochs": 15,
            "min_epochs": 1, "reduction_factor": 3, "min_data_fraction": 0.25, "label_smoothing": 0.1,
            "first_seed": first_seed, "replace_seeds": replace}
    return argparse.Namespace(**{**base, **kw})


def _run(acc: float, base_acc: float, wall: float) -> dict[str, dict[str, Any]]:
    row = {"arch": "a", "int8_acc": acc, "arena_bytes": 100, "flash_bytes": 200, "fits": True, "wall_seconds": wall,
           "seconds": {"search": wall / 2, "train_compress": wall / 2}}
    return {"searched": row, "baseline": {**row, "int8_acc": base_acc, "seconds": {"train_compress": 1.0}}}


def test_added_seeds_join_and_a_rerun_replaces_only_when_asked(rq: Any) -> None:
    first = rq._budget_result(None, [_run(93.0, 92.0, 4800), _run(93.5, 92.0, 2500)], _args())
    assert first["searched"]["seeds"] == 2 and first["searched"]["wall_seconds_max"] == 4800
    more = rq._budget_result(first, [_run(92.9, 91.8, 1200)], _args(first_seed=2))
    assert [r["seed"] for r in more["searched"]["per_seed"]] == [0, 1, 2] and more["protocol"]["seeds"] == 3
    with pytest.raises(SystemExit, match="already in the results"):
        rq._budget_result(more, [_run(94.0, 92.0, 2000)], _args(first_seed=1))
    again = rq._budget_result(more, [_run(93.2, 91.9, 2000)], _args(replace="default workers"))
    per_seed = again["searched"]["per_seed"]
    assert [r["seed"] for r in per_seed] == [0, 1, 2]
    assert per_seed[0]["int8_acc"] == 93.2 and again["baseline"]["per_seed"][0]["int8_acc"] == 91.9
    assert again["searched"]["wall_seconds_max"] == 2500
    assert [(r["seed"], r["reason"], r["searched"]["int8_acc"]) for r in again["replaced_seeds"]] == \
        [(0, "default workers", 93.0)]
    assert len(again["protocol"]["commands"]) == 3
    md = rq.markdown({"sram64k_flash256k": again, "dataset": "fashion-mnist", "full_protocol": False, "reduced": "r",
                       "machine": "m", "total_seconds": 1.0, "command": "c"})
    assert "3 of 3 seeds within 60 min" in md and "Seed 0 was run again (default workers)" in md


def test_a_different_protocol_is_refused(rq: Any) -> None:
    first = rq._budget_result(None, [_run(93.0, 92.0, 100)], _args())
    with pytest.raises(SystemExit, match="no earlier run of this protocol"):
        rq._budget_result(first, [_run(93.0, 92.0, 100)], _args(first_seed=1, final_epochs=5))
