"""benchmarks/search_quality.py: scenarios, the planner-faithful search loop, both backends, scoring."""

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


def test_scenarios_cover_percentiles_memory_and_roles() -> None:
    scs = sq.scenarios(["cifar10", "cifar100", "ImageNet16-120"])
    assert len(scs) == 3 * 11
    for ds in ("cifar10", "cifar100", "ImageNet16-120"):
        mine = [s for s in scs if s.dataset == ds]
        assert sum(s.board is None for s in mine) == 1
        assert len({s.board for s in mine if s.latency_percentile}) >= 3
        assert {s.latency_percentile for s in mine if s.latency_percentile} == {10, 30, 50}
        mem = [s for s in mine if s.memory_cut]
        assert len(mem) == 1 and 0 < sq._mask(mem[0]).mean() < 0.05
    roles = {s.role for s in scs if s.board in sq.TUNING_BOARDS and not s.memory_cut}
    assert roles == {"tuning"}
    assert all(s.role == "held-out" for s in scs if s.board in sq.HELD_OUT_BOARDS or s.memory_cut)


def test_latency_percentile_limit_leaves_that_share_of_the_memory_fitting_archs() -> None:
    sc = sq.Scenario("cifar10", "STM32F411", 30, role="held-out")
    memory_only = sq._mask(sq.Scenario("cifar10", "STM32F411", None))
    share = sq._mask(sc).sum() / memory_only.sum()
    assert 0.29 <= share <= 0.32


def test_feasibility_first_search_pays_only_for_archs_that_fit_and_never_runs_dry() -> None:
    sc = sq.Scenario("cifar10", "STM32F411", 10, role="held-out")
    mask = sq._mask(sc)
    trace = sq.run_one(sq.method_by_name("automcu-evolution"), sc, seed=1, budget=30)
    assert len(trace) == 30  # the planner's feasible-set fallback takes over when the proposer runs dry
    assert trace[-1]["infeasible_evals"] == 0 and mask[trace[-1]["best_idx"]]
    assert trace[-1]["sim_s"] > trace[0]["sim_s"] > 0


def test_unaware_search_pays_for_infeasible_archs() -> None:
    sc = sq.Scenario("cifar10", "STM32F411", 50, role="held-out")
    trace = sq.run_one(sq.method_by_name("random"), sc, seed=0, budget=30)
    assert len(trace) == 30
    assert 5 <= trace[-1]["infeasible_evals"] <= 29
    assert trace[-1]["n_rejected"] == 0


@pytest.mark.parametrize("method", ["automcu-local", "rea+feas"])
def test_planner_backend_gives_the_same_evaluations_as_the_in_process_loop(method: str, tmp_path: Path) -> None:
    sc = sq.Scenario("cifar10", "STM32F411", 30, role="held-out")
    m = sq.method_by_name(method)
    agents = sq.run_one(m, sc, seed=3, budget=12)
    planner = sq.run_one(m, sc, seed=3, budget=12, backend="planner", workdir=str(tmp_path))
    assert [s["idx"] for s in planner] == [s["idx"] for s in agents]


def test_feasibility_agent_check_agrees_with_its_feasible_set() -> None:
    assert sq.agent_agreement(sq.Scenario("cifar10", "STM32F746", 30), n=6) == 0


def test_summarize_counts_infeasible_winners_as_failures_and_gives_intervals() -> None:
    test = load_table().columns["cifar10_test"]
    mask = np.zeros_like(test, dtype=bool)
    mask[[10, 20]] = True
    opt = float(test[mask].max())
    step = {"sim_s": 3600.0, "infeasible_evals": 1, "wall_s": 0.5, "n_rejected": 2, "dry_at": None}
    traces = [[{**step, "best_idx": 10}], [{**step, "best_idx": 20}], [{**step, "best_idx": 30}]]
    r = sq.summarize(traces, 10, test, mask, opt)
    assert r["success"] == pytest.approx(2 / 3)
    assert r["test_acc_mean"] == pytest.approx((test[10] + test[20]) / 2)
    assert r["regret_mean"] == pytest.approx(opt - (test[10] + test[20]) / 2)
    assert r["regret_ci95"] is not None and r["regret_ci95"] >= 0
    assert r["infeasible_eval_frac"] == 1.0 and r["sim_gpu_hours"] == 1.0 and r["evaluations_mean"] == 1


def test_regret_vs_val_oracle_is_the_oracle_test_acc_minus_the_winners() -> None:
    test = load_table().columns["cifar10_test"]
    mask = np.zeros_like(test, dtype=bool)
    mask[[10, 20]] = True
    step = {"sim_s": 0.0, "infeasible_evals": 0, "wall_s": 0.1, "n_rejected": 0, "dry_at": None}
    traces = [[{**step, "best_idx": 10}], [{**step, "best_idx": 20}]]
    r = sq.summarize(traces, 10, test, mask, float(test[mask].max()), float(test[20]))
    assert r["regret_vs_val_oracle_mean"] == pytest.approx(test[20] - (test[10] + test[20]) / 2)
    assert sq.summarize(traces, 10, test, mask, float(test[mask].max()))["regret_vs_val_oracle_mean"] is None


def test_val_oracle_is_the_best_mean_validation_arch_that_fits() -> None:
    cols = load_table().columns
    sc = next(s for s in sq.scenarios(["cifar10"], ("held-out",)) if "-mem" in s.name)
    mask = sq._mask(sc)
    i = sq.val_oracle_index(sc, cols)
    assert mask[i] and cols["cifar10_valid"][i] == cols["cifar10_valid"][mask].max()
    assert sq.val_selection_floor(sc, cols) == pytest.approx(cols["cifar10_test"][mask].max() - cols["cifar10_test"][i])
    floors = sq.val_selection_floor_per_seed(sc)
    assert len(floors) == 3 and all(f >= 0 for f in floors)


def test_ci95_is_the_t_interval() -> None:
    assert sq.ci95([1.0]) is None
    assert sq.ci95([0.0, 2.0]) == pytest.approx(12.706 * 1.0, rel=1e-3)  # t(0.975, 1) * sd/sqrt(2)


def test_paired_difference_and_default_choice_need_an_interval_above_zero() -> None:
    per_run = {("a", "automcu-evolution"): {s: [0.5] * 5 for s in range(20)},
               ("a", "automcu-local"): {s: [0.5 - 0.01 * (s % 3)] * 5 for s in range(20)}}
    d = sq.paired(per_run, ["a"], "automcu-evolution", "automcu-local", 2)
    assert d is not None and d["pairs"] == 20 and d["mean"] > 0 and d["mean"] - d["ci95"] > 0


def test_beats_needs_lower_regret_and_as_many_deployable_winners() -> None:
    ours = {"regret_mean": 0.1, "success": 1.0}
    assert sq.beats(ours, {"regret_mean": 0.2, "success": 1.0})
    assert sq.beats(ours, {"regret_mean": None, "success": 0.0})
    assert not sq.beats(ours, {"regret_mean": 0.05, "success": 0.5})
    assert not sq.beats({"regret_mean": 0.1, "success": 0.9}, {"regret_mean": 0.2, "success": 1.0})


def test_methods_say_which_cheap_signals_they_use() -> None:
    ms = {m.name: m for m in sq.methods()}
    assert set(ms) == {"random", "rea", "random+feas", "rea+feas", "automcu-evolution", "automcu-local",
                       "automcu-predictor"}  # no LLM endpoint in tests
    assert "feasible set" in ms["automcu-local"].signals and ms["automcu-local"].feasibility_first
    assert "FLOPs" in ms["automcu-evolution"].signals and ms["automcu-evolution"].feasibility_first
    assert not ms["rea"].feasibility_first and not ms["random"].feasibility_first
    assert ms["rea+feas"].feasibility_first and ms["rea+feas"].registry_name == sq.BENCH_REA
