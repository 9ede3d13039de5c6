"""benchmarks/search_quality.py: scenarios, the in-process search loop, scoring and the target check."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from search_spaces.nb201.table import load_table


def _load() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "search_quality.py"
    spec = importlib.util.spec_from_file_location("search_quality", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["search_quality"] = module
    spec.loader.exec_module(module)
    return module


sq = _load()


def test_scenarios_cover_every_dataset_with_a_mostly_infeasible_target() -> None:
    scs = sq.scenarios(["cifar10", "cifar100", "ImageNet16-120"])
    assert len(scs) == 12
    for ds in ("cifar10", "cifar100", "ImageNet16-120"):
        mine = [s for s in scs if s.dataset == ds]
        assert any(s.board is None for s in mine)
        assert len({s.board for s in mine if s.board}) >= 2
        assert min(float(sq._mask(s).mean()) for s in mine) < 0.5  # most of the space infeasible
    imagenet = next(s for s in scs if s.dataset == "ImageNet16-120" and s.latency_ms_at_32px == 200.0)
    assert imagenet.max_latency_ms == 50.0 and imagenet.name == "ImageNet16-120/STM32F746@50ms"


def test_feasibility_first_search_pays_only_for_archs_that_fit() -> None:
    sc = sq.Scenario("cifar10", "STM32F746", 200.0)
    mask = sq._mask(sc)
    trace = sq.run_one(sq.method_by_name("automcu-evolution"), sc, seed=1, budget=30)
    assert len(trace) == 30
    assert trace[-1]["infeasible_evals"] == 0 and mask[trace[-1]["best_idx"]]
    assert trace[-1]["sim_s"] > trace[0]["sim_s"] > 0


def test_unaware_search_pays_for_infeasible_archs() -> None:
    sc = sq.Scenario("cifar10", "STM32F411", 500.0)  # about two thirds of the space does not fit
    trace = sq.run_one(sq.method_by_name("random"), sc, seed=0, budget=30)
    assert len(trace) == 30
    assert 5 <= trace[-1]["infeasible_evals"] <= 29
    assert trace[-1]["n_rejected"] == 0


def test_feasibility_agent_agrees_with_the_whole_space_mask() -> None:
    assert sq.agent_agreement(sq.Scenario("cifar10", "STM32F746", 200.0), n=6) == 0


def test_summarize_counts_infeasible_winners_as_failures() -> None:
    test = load_table().columns["cifar10_test"]
    mask = np.zeros_like(test, dtype=bool)
    mask[[10, 20]] = True
    opt = float(test[mask].max())
    step = {"sim_s": 3600.0, "infeasible_evals": 1, "wall_s": 0.5, "n_rejected": 2}
    traces = [[{**step, "best_idx": 10}], [{**step, "best_idx": 20}], [{**step, "best_idx": 30}]]
    r = sq.summarize(traces, 10, test, mask, opt)
    assert r["success"] == pytest.approx(2 / 3)
    assert r["test_acc_mean"] == pytest.approx((test[10] + test[20]) / 2)
    assert r["regret_mean"] == pytest.approx(opt - (test[10] + test[20]) / 2)
    assert r["infeasible_eval_frac"] == 1.0 and r["sim_gpu_hours"] == 1.0 and r["evaluations_mean"] == 1


def test_beats_needs_accuracy_and_as_many_deployable_winners() -> None:
    ours = {"test_acc_mean": 94.0, "success": 1.0}
    assert sq.beats(ours, {"test_acc_mean": 93.9, "success": 1.0})
    assert sq.beats(ours, {"test_acc_mean": None, "success": 0.0})
    assert not sq.beats(ours, {"test_acc_mean": 94.1, "success": 0.5})
    assert not sq.beats({"test_acc_mean": 94.0, "success": 0.9}, {"test_acc_mean": 93.0, "success": 1.0})


def test_methods_say_which_cheap_signals_they_use() -> None:
    ms = {m.name: m for m in sq.methods()}
    assert set(ms) == {"random", "rea", "random+feas", "automcu-evolution", "automcu-local",
                       "automcu-predictor"}  # no LLM endpoint in tests
    assert "feasible set" in ms["automcu-local"].signals and ms["automcu-local"].feasibility_first
    assert "FLOPs" in ms["automcu-evolution"].signals and ms["automcu-evolution"].feasibility_first
    assert not ms["rea"].feasibility_first and not ms["random"].feasibility_first
