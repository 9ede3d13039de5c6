"""Search quality at equal evaluation budgets: AutoMCU feasibility-first evolution vs classic NAS.

Scenarios: CIFAR-10, CIFAR-100, ImageNet16-120, each unconstrained and under board limits
(estimated with the product's estimator at the benchmark macro). Ground truth per scenario =
the best *test* accuracy among archs the estimator says fit. Every method selects on
validation accuracy (one training seed's, seeded noise, as the product's evaluator does) and
is scored on the test accuracy of its choice.

Methods (all run through the product's agents: proposers, feasibility agent arrays, evaluator):
- ``random``: uniform random search, feasibility-unaware: pays for every sample.
- ``rea``: regularized evolution (population 10, tournament 3, one random mutation per child),
  feasibility-unaware.
- ``random+feas``: AutoMCU's ``random`` proposer behind the feasibility agent (rejects before paying).
- ``automcu-evolution``: AutoMCU's default proposer (constraint-aware mutations, ranked by the
  cheap live-conv-FLOPs signal) behind the feasibility agent.
A feasibility-unaware run whose winner does not fit the board has no deployable model: it
counts as a failure (``success`` < 1) and is left out of the accuracy/regret means.

    python benchmarks/search_quality.py [--seeds 20] [--quick]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agents.evaluator import LookupEvaluator
from agents.feasibility import feasible_mask
from agents.proposers.evolution import EvolutionProposer
from agents.proposers.random_search import RandomProposer
from automcu.hardware.catalog import get_board
from automcu.hardware.spec import HardwareSpec
from automcu.messages import EvaluatedCandidate, EvaluationRequest, ProposalRequest, RejectedCandidate
from search_spaces.nb201.index import index_of
from search_spaces.nb201.space import Arch
from search_spaces.nb201.table import DATASETS, load_table

BUDGETS = (10, 25, 50, 100, 200)
RESULTS = Path(__file__).resolve().parent / "results"
GENIUS_GPT4_AT_10 = {"cifar10": (93.84, 0.33), "cifar100": (70.58, 0.33), "ImageNet16-120": (44.85, 0.57)}


@dataclass(frozen=True)
class Scenario:
    dataset: str
    board: str | None
    max_latency_ms: float | None = None

    @property
    def name(self) -> str:
        lat = f"@{self.max_latency_ms:g}ms" if self.max_latency_ms else ""
        return f"{self.dataset}/{self.board or 'unconstrained'}{lat}"

    def hardware(self) -> HardwareSpec | None:
        return get_board(self.board) if self.board else None


@dataclass(frozen=True)
class Method:
    name: str
    make: Callable[[], object]
    feasibility_first: bool  # rejects infeasible proposals before paying for them


METHODS = (
    Method("random", RandomProposer, feasibility_first=False),
    Method("rea", lambda: EvolutionProposer(population_size=10, sample_size=3, n_mutations=1, n_initial_samples=1,
                                            use_signal=False, feasibility_aware=False), feasibility_first=False),
    Method("random+feas", RandomProposer, feasibility_first=True),
    Method("automcu-evolution", EvolutionProposer, feasibility_first=True),
)


def run_one(method: Method, sc: Scenario, seed: int, mask: np.ndarray, evaluator: LookupEvaluator,
            budget: int) -> list[dict]:
    """One search to ``budget`` evaluations; returns the state after each evaluation."""
    proposer = method.make()
    hw = sc.hardware() if method.feasibility_first else None
    lat = sc.max_latency_ms if method.feasibility_first else None
    evaluated: list[EvaluatedCandidate] = []
    rejected: list[RejectedCandidate] = []
    seen: list[str] = []
    trace: list[dict] = []
    best_val, best_idx, sim_s, infeasible_evals = -1.0, -1, 0.0, 0
    t0 = time.perf_counter()
    step = 0
    while len(evaluated) < budget:
        req = ProposalRequest.model_construct(
            task=None, dataset=sc.dataset, hardware=hw, max_latency_ms=lat, n=1, seed=seed, step=step,
            evaluated=evaluated, rejected=rejected[-20:], seen=seen)
        step += 1
        batch = proposer.propose(req)  # type: ignore[attr-defined]
        if not batch.proposals:
            break
        for p in batch.proposals:
            seen.append(p.arch)
            idx = index_of(Arch.from_string(p.arch))
            fits = bool(mask[idx])
            if method.feasibility_first and not fits:
                rejected.append(RejectedCandidate.model_construct(arch=p.arch, violations=[]))
                continue
            r = evaluator.evaluate(EvaluationRequest(arch=p.arch, dataset=sc.dataset, seed=seed))
            evaluated.append(EvaluatedCandidate.model_construct(arch=p.arch, val_acc=r.val_acc, margins={}))
            sim_s += r.train_seconds
            infeasible_evals += not fits
            if r.val_acc > best_val:
                best_val, best_idx = r.val_acc, idx
            trace.append({"best_idx": best_idx, "sim_s": sim_s, "infeasible_evals": infeasible_evals,
                          "wall_s": time.perf_counter() - t0, "n_rejected": len(rejected)})
    return trace


def summarize(traces: list[list[dict]], budget: int, test: np.ndarray, mask: np.ndarray, opt: float) -> dict:
    accs, regrets, wins_fit, inf_frac, gpu_h, wall = [], [], [], [], [], []
    for tr in traces:
        st = tr[min(budget, len(tr)) - 1]
        fit = bool(mask[st["best_idx"]])
        wins_fit.append(fit)
        if fit:
            accs.append(float(test[st["best_idx"]]))
            regrets.append(opt - float(test[st["best_idx"]]))
        n = min(budget, len(tr))
        inf_frac.append(st["infeasible_evals"] / n)
        gpu_h.append(st["sim_s"] / 3600)
        wall.append(st["wall_s"])
    return {
        "budget": budget, "runs": len(traces), "success": float(np.mean(wins_fit)),
        "test_acc_mean": float(np.mean(accs)) if accs else None, "test_acc_std": float(np.std(accs)) if accs else None,
        "regret_mean": float(np.mean(regrets)) if regrets else None,
        "infeasible_eval_frac": float(np.mean(inf_frac)), "sim_gpu_hours": float(np.mean(gpu_h)),
        "wall_s": float(np.mean(wall)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--targets", nargs="+", default=["STM32F746", "STM32F746@200", "STM32F411@500"],
                    help="BOARD or BOARD@MAX_LATENCY_MS")
    ap.add_argument("--quick", action="store_true", help="3 seeds, CIFAR-10 only (a smoke run)")
    args = ap.parse_args()
    datasets = ["cifar10"] if args.quick else list(DATASETS)
    seeds = range(3 if args.quick else args.seeds)
    table = load_table().columns
    evaluator = LookupEvaluator("table")
    targets = [(t.split("@")[0], float(t.split("@")[1]) if "@" in t else None) for t in args.targets]
    scenarios: list[Scenario] = []
    for ds in datasets:
        scenarios.append(Scenario(ds, None))
        scenarios += [Scenario(ds, b, lat) for b, lat in targets]
    out: dict = {"budgets": BUDGETS, "seeds": len(seeds), "scenarios": []}
    t_all = time.perf_counter()
    for sc in scenarios:
        mask = feasible_mask(sc.hardware(), sc.max_latency_ms, sc.dataset)
        test = table[f"{DATASETS[sc.dataset]}_test"]
        opt = float(test[mask].max())
        entry = {"scenario": sc.name, "dataset": sc.dataset, "board": sc.board, "max_latency_ms": sc.max_latency_ms,
                 "feasible_frac": float(mask.mean()),
                 "optimum_test_acc": opt, "optimum_index": int(np.flatnonzero(mask)[test[mask].argmax()]),
                 "methods": {}}
        for m in METHODS:
            if m.name == "random+feas" and sc.board is None:
                continue  # identical to random when nothing is infeasible
            traces = [run_one(m, sc, s, mask, evaluator, max(BUDGETS)) for s in seeds]
            entry["methods"][m.name] = [summarize(traces, b, test, mask, opt) for b in BUDGETS]
            print(f"{sc.name:32s} {m.name:18s} " + " ".join(
                f"{r['budget']}:{(r['test_acc_mean'] or 0):.2f}/{r['success']:.2f}" for r in entry["methods"][m.name]),
                flush=True)
        out["scenarios"].append(entry)
    out["total_wall_s"] = time.perf_counter() - t_all
    out["genius_gpt4_at_10"] = GENIUS_GPT4_AT_10
    RESULTS.mkdir(exist_ok=True)
    name = "search_quality_quick" if args.quick else "search_quality"
    (RESULTS / f"{name}.json").write_text(json.dumps(out, indent=2))
    (RESULTS / f"{name}.md").write_text(render_markdown(out))
    print(f"wrote {RESULTS / name}.json/.md in {out['total_wall_s']:.0f} s")


def render_markdown(out: dict) -> str:
    lines = [
        "# Search quality at equal evaluation budgets",
        "",
        f"{out['seeds']} seeds per cell; selection on validation accuracy (seeded per-seed noise), score = test "
        "accuracy of the chosen arch; regret = scenario optimum (best test accuracy among archs that fit, by the "
        "estimator) − chosen test accuracy, over successful runs; success = fraction of runs whose winner fits; "
        "infeasible evals = fraction of paid evaluations spent on archs that do not fit; GPU-h = NAS-Bench-201 "
        "training time of the evaluated archs. Cheap signal used by automcu-evolution: live-edge conv FLOPs (no "
        "evaluation cost); `rea` and `random` use none. Produced by `python benchmarks/search_quality.py`.",
        "",
    ]
    for sc in out["scenarios"]:
        lines += [f"## {sc['scenario']}  (optimum {sc['optimum_test_acc']:.2f} at index {sc['optimum_index']}; "
                  f"{100 * sc['feasible_frac']:.1f} % of the space fits)", "",
                  "| method | budget | test acc (mean ± std) | regret (pp) | success | infeasible evals | GPU-h "
                  "| wall s |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, rows in sc["methods"].items():
            for r in rows:
                acc = "-" if r["test_acc_mean"] is None else f"{r['test_acc_mean']:.2f} ± {r['test_acc_std']:.2f}"
                reg = "-" if r["regret_mean"] is None else f"{r['regret_mean']:.2f}"
                lines.append(f"| {name} | {r['budget']} | {acc} | {reg} | {r['success']:.2f} | "
                             f"{r['infeasible_eval_frac']:.2f} | {r['sim_gpu_hours']:.1f} | {r['wall_s']:.2f} |")
        lines.append("")
    lines += ["## At 10 evaluations, unconstrained, vs GENIUS (GPT-4, published)", "",
              "| dataset | GENIUS GPT-4 | automcu-evolution (no LLM) |", "|---|---|---|"]
    for sc in out["scenarios"]:
        if sc["board"] is None:
            r = sc["methods"]["automcu-evolution"][0]
            g = out["genius_gpt4_at_10"][sc["dataset"]]
            ours = f"{r['test_acc_mean']:.2f} ± {r['test_acc_std']:.2f}"
            lines.append(f"| {sc['dataset']} | {g[0]:.2f} ± {g[1]:.2f} | {ours} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
