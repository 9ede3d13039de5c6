"""Search quality at equal evaluation budgets: AutoMCU feasibility-first evolution vs classic NAS.

Scenarios, per dataset (CIFAR-10, CIFAR-100, ImageNet16-120): unconstrained; the STM32F746's
memory (Flash + SRAM); the STM32F746 with a latency limit; the STM32F411 with a latency limit.
Latency limits are per 32×32 input (200 ms on the F746, 500 ms on the F411) and scale with
the input's pixels (ImageNet16-120's 16×16 input: a quarter), so the last two leave most of the
space infeasible on every dataset. Ground truth per scenario = the best *test* accuracy among
the archs the estimator says fit, over the whole space.

Every search runs in-process through the product's own agents, the way the planner drives them
(one proposal per round, batch size 1 as the product's default): the proposer classes
(``RandomProposer``, ``EvolutionProposer``, ``LLMProposer`` when ``AUTOMCU_LLM_BASE_URL`` is set),
the feasibility verdicts and margins of the product's estimator (``feasible_mask`` — the
vectorized twin of ``FeasibilityAgent``; each scenario checks that the two agree on a sample),
and ``LookupEvaluator`` (the search sees one training seed's validation accuracy; test accuracy
is only scored). The winner is the evaluated arch with the best validation accuracy, as in the
product. Feasibility-unaware methods pay for every proposal; a run whose winner does not fit has
no deployable model and counts as a failure (``success`` < 1; left out of the accuracy means).

Methods and the cheap signals they use: see ``METHODS`` (written into the results too).

    python benchmarks/search_quality.py [--seeds 20] [--first-seed 0] [--quick] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agents.evaluator import LookupEvaluator
from agents.feasibility import FeasibilityAgent, feasible_mask
from agents.messages import (
    EvaluatedCandidate,
    EvaluationRequest,
    FeasibilityRequest,
    ProposalRequest,
    RejectedCandidate,
    Violation,
)
from agents.proposers.evolution import EvolutionProposer
from agents.proposers.hardware_screen import HardwareScreen
from agents.proposers.local_search import LocalSearchProposer
from agents.proposers.predictor import PredictorProposer
from agents.proposers.random_search import RandomProposer
from automcu.core.config import get_settings
from automcu.hardware.catalog import get_board
from automcu.hardware.spec import HardwareSpec
from search_spaces.nb201.index import arch_of_index, index_of
from search_spaces.nb201.space import Arch
from search_spaces.nb201.table import DATASETS, INPUT_HW, load_table

BUDGETS = (10, 25, 50, 100, 200)
RESULTS = Path(__file__).resolve().parent / "results"
RECENT_REJECTED = 20  # as the planner passes them
AGREEMENT_SAMPLE = 40  # archs per scenario on which FeasibilityAgent must agree with feasible_mask
GENIUS_GPT4_AT_10 = {"cifar10": (93.84, 0.33), "cifar100": (70.58, 0.33), "ImageNet16-120": (44.85, 0.57)}
TARGET = {"scenario": "cifar10/STM32F746", "budget": 100, "max_regret": 0.3}
#: how the defaults of EvolutionProposer were chosen (reported with the results)
TUNING = ("EvolutionProposer's defaults (children ranked by the live-conv-FLOPs signal, 16 mutations per child, "
          "population 5, tournament 3, half the proposals re-measure an incumbent unbeaten for 15 evaluations) "
          "were chosen by running about fifteen settings on these scenarios with seeds 100-139 (a ridge "
          "surrogate of the job's validation accuracies as the ranking was tried and was worse); the reported "
          "runs use seeds 0-19. The search itself never sees test accuracy.")


@dataclass(frozen=True)
class Scenario:
    dataset: str
    board: str | None
    latency_ms_at_32px: float | None = None

    @property
    def max_latency_ms(self) -> float | None:
        if self.latency_ms_at_32px is None:
            return None
        return self.latency_ms_at_32px * (INPUT_HW[self.dataset] / 32) ** 2

    @property
    def name(self) -> str:
        lat = f"@{self.max_latency_ms:g}ms" if self.max_latency_ms else ""
        return f"{self.dataset}/{self.board or 'unconstrained'}{lat}"

    def hardware(self) -> HardwareSpec | None:
        return get_board(self.board) if self.board else None


def scenarios(datasets: list[str]) -> list[Scenario]:
    out = []
    for ds in datasets:
        out += [Scenario(ds, None), Scenario(ds, "STM32F746"), Scenario(ds, "STM32F746", 200.0),
                Scenario(ds, "STM32F411", 500.0)]
    return out


@dataclass(frozen=True)
class Method:
    name: str
    make: Callable[[], Any]
    feasibility_first: bool  # the feasibility agent rejects proposals before they are paid for
    signals: str  # cheap signals (no evaluation cost) it ranks or screens proposals by


def _llm() -> Any:
    from agents.proposers.llm import LLMProposer

    return LLMProposer(get_settings())


def methods() -> list[Method]:
    out = [
        Method("random", RandomProposer, False, "none (uniform over the space, pays for every sample)"),
        Method("rea", lambda: EvolutionProposer(population_size=10, sample_size=3, n_mutations=1,
                                                n_initial_samples=1, ranking="random", feasibility_aware=False),
               False, "none (regularized evolution: population 10, tournament 3, one random mutation)"),
        Method("random+feas", RandomProposer, True, "feasibility agent only (AutoMCU's `random` proposer)"),
        Method("automcu-evolution", EvolutionProposer, True, EvolutionProposer().signals),
        Method("automcu-local", LocalSearchProposer, True,
               "exact feasible set (FeasibilityAgent.feasible_set), live-edge conv FLOPs (rank neighbours)"),
        Method("automcu-predictor", PredictorProposer, True,
               "exact feasible set, Gaussian-process surrogate (EI) on live ops + log MACs/params + conv FLOPs"),
    ]
    if get_settings().llm_configured:
        out.append(Method("llm", _llm, True, "whatever the LLM infers from the prompt (task, budget, history)"))
    return out


def method_by_name(name: str) -> Method:
    return next(m for m in methods() if m.name == name)


@lru_cache(maxsize=4)
def _mask(sc: Scenario) -> np.ndarray:
    return feasible_mask(sc.hardware(), sc.max_latency_ms, sc.dataset)


@lru_cache(maxsize=4)
def _screen(sc: Scenario) -> HardwareScreen:
    return HardwareScreen(sc.hardware(), sc.max_latency_ms, sc.dataset)


@lru_cache(maxsize=1)
def _evaluator() -> LookupEvaluator:
    return LookupEvaluator("table")


def agent_agreement(sc: Scenario, n: int = AGREEMENT_SAMPLE, seed: int = 0) -> int:
    """How many of ``n`` sampled archs get a different verdict from FeasibilityAgent than from the mask."""
    mask = _mask(sc)
    agent = FeasibilityAgent()
    rng = np.random.default_rng(seed)
    # half from each side of the limit, so both verdicts are exercised where both exist
    picks = [*rng.choice(np.flatnonzero(mask), n // 2)]
    if (~mask).any():
        picks += [*rng.choice(np.flatnonzero(~mask), n - n // 2)]
    wrong = 0
    for i in picks:
        report = agent.check(FeasibilityRequest(arch=arch_of_index(int(i)).to_string(), dataset=sc.dataset,
                                                hardware=sc.hardware(), max_latency_ms=sc.max_latency_ms))
        wrong += report.feasible != bool(mask[i])
    return wrong


def _violations(sc: Scenario, margins: dict[str, float]) -> list[Violation]:
    return [Violation.model_construct(resource=r, value=1.0 - m, limit=1.0, excess=-m, unit="fraction of limit")
            for r, m in margins.items() if m < 0]


def run_one(method: Method, sc: Scenario, seed: int, budget: int) -> list[dict[str, Any]]:
    """One search to ``budget`` evaluations; the state after each evaluation."""
    proposer = method.make()
    mask, screen, evaluator = _mask(sc), _screen(sc), _evaluator()
    hw = sc.hardware() if method.feasibility_first else None
    lat = sc.max_latency_ms if method.feasibility_first else None
    evaluated: list[EvaluatedCandidate] = []
    rejected: list[RejectedCandidate] = []
    seen: list[str] = []
    trace: list[dict[str, Any]] = []
    best_val, best_idx, sim_s, infeasible_evals, stalled = -1.0, -1, 0.0, 0, 0
    t0 = time.perf_counter()
    step = 0
    while len(evaluated) < budget and stalled < 20:  # the planner's idle-round stop rule
        req = ProposalRequest.model_construct(
            task=None, dataset=sc.dataset, hardware=hw, max_latency_ms=lat, n=1, seed=seed, step=step,
            evaluated=evaluated, rejected=rejected[-RECENT_REJECTED:], seen=seen)
        step += 1
        batch = proposer.propose(req)
        added = 0
        for p in batch.proposals:
            if p.arch in seen:
                continue
            seen.append(p.arch)
            idx = index_of(Arch.from_string(p.arch))
            fits = bool(mask[idx])
            margins = screen.margins(Arch.from_string(p.arch))
            if method.feasibility_first and not fits:
                rejected.append(RejectedCandidate.model_construct(arch=p.arch, violations=_violations(sc, margins)))
                continue
            added += 1
            r = evaluator.evaluate(EvaluationRequest(arch=p.arch, dataset=sc.dataset, seed=seed))
            evaluated.append(EvaluatedCandidate.model_construct(
                arch=p.arch, val_acc=r.val_acc, flash_bytes=None, peak_sram_bytes=None, latency_ms=None,
                margins=margins if method.feasibility_first else {}))
            sim_s += r.train_seconds
            infeasible_evals += not fits
            if r.val_acc > best_val:
                best_val, best_idx = r.val_acc, idx
            trace.append({"best_idx": best_idx, "sim_s": sim_s, "infeasible_evals": infeasible_evals,
                          "wall_s": time.perf_counter() - t0, "n_rejected": len(rejected)})
        stalled = 0 if added else stalled + 1
    return trace


def _task(args: tuple[str, Scenario, int, int]) -> tuple[str, str, int, list[dict[str, Any]]]:
    name, sc, seed, budget = args
    return name, sc.name, seed, run_one(method_by_name(name), sc, seed, budget)


def summarize(traces: list[list[dict[str, Any]]], budget: int, test: np.ndarray, mask: np.ndarray,
              opt: float) -> dict[str, Any]:
    accs, regrets, wins_fit, inf_frac, gpu_h, wall, rejected, spent = [], [], [], [], [], [], [], []
    for tr in traces:
        n = min(budget, len(tr))
        st = tr[n - 1]
        fit = bool(mask[st["best_idx"]])
        wins_fit.append(fit)
        if fit:
            accs.append(float(test[st["best_idx"]]))
            regrets.append(opt - float(test[st["best_idx"]]))
        inf_frac.append(st["infeasible_evals"] / n)
        gpu_h.append(st["sim_s"] / 3600)
        wall.append(st["wall_s"])
        rejected.append(st["n_rejected"])
        spent.append(n)
    return {
        "budget": budget, "runs": len(traces), "evaluations_mean": float(np.mean(spent)),
        "success": float(np.mean(wins_fit)),
        "test_acc_mean": float(np.mean(accs)) if accs else None, "test_acc_std": float(np.std(accs)) if accs else None,
        "regret_mean": float(np.mean(regrets)) if regrets else None,
        "infeasible_eval_frac": float(np.mean(inf_frac)), "rejected_before_paying": float(np.mean(rejected)),
        "sim_gpu_hours": float(np.mean(gpu_h)), "wall_s": float(np.mean(wall)),
    }


def val_selection_floor(sc: Scenario, table: dict[str, np.ndarray]) -> float:
    """Regret of the arch a search would pick if it evaluated every arch that fits: the best by the table's
    validation accuracy (mean over training seeds). Selection by validation cannot do better than this."""
    mask = _mask(sc)
    val = np.where(mask, table[f"{DATASETS[sc.dataset]}_valid"], -np.inf)
    test = table[f"{DATASETS[sc.dataset]}_test"]
    return float(test[mask].max() - test[int(np.argmax(val))])


def beats(ours: dict[str, Any], other: dict[str, Any]) -> bool:
    """Better chosen-arch test accuracy and at least as many deployable winners."""
    if ours["test_acc_mean"] is None or ours["success"] < other["success"]:
        return False
    return other["test_acc_mean"] is None or ours["test_acc_mean"] > other["test_acc_mean"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds first..first+n-1 (tuning used 100-139)")
    ap.add_argument("--workers", type=int, default=2, help="processes (at most 2 on the shared box)")
    ap.add_argument("--quick", action="store_true", help="3 seeds, CIFAR-10 only (a smoke run)")
    ap.add_argument("--datasets", default=None, help="comma-separated subset of " + ", ".join(DATASETS))
    ap.add_argument("--out", default=None, help="results file stem under benchmarks/results (default search_quality)")
    args = ap.parse_args()
    if not 1 <= args.workers <= 2:
        ap.error("--workers must be 1 or 2")
    datasets = ["cifar10"] if args.quick else list(DATASETS)
    if args.datasets:
        datasets = [d.strip() for d in args.datasets.split(",")]
        unknown = [d for d in datasets if d not in DATASETS]
        if unknown:
            ap.error(f"unknown dataset(s) {', '.join(unknown)}; choose from {', '.join(DATASETS)}")
    seeds = list(range(args.first_seed, args.first_seed + (3 if args.quick else args.seeds)))
    budget = max(BUDGETS)
    scs = scenarios(datasets)
    ms = methods()
    table = load_table().columns
    tasks = [(m.name, sc, s, budget) for sc in scs for m in ms for s in seeds
             if not (m.name == "random+feas" and sc.board is None)]  # identical to random when all fits
    t_all = time.perf_counter()
    traces: dict[tuple[str, str], list[list[dict[str, Any]]]] = {}
    with Progress(TextColumn("[bold]search quality"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}")) as progress:
        bar = progress.add_task("", total=len(tasks))
        with Pool(args.workers) as pool:
            for name, sc_name, _seed, tr in pool.imap_unordered(_task, tasks, chunksize=4):
                traces.setdefault((sc_name, name), []).append(tr)
                progress.update(bar, advance=1, description=f"{sc_name} {name}")
    out: dict[str, Any] = {
        "budgets": BUDGETS, "seeds": seeds, "tuning": TUNING, "target": TARGET,
        "methods": {m.name: {"feasibility_first": m.feasibility_first, "cheap_signals": m.signals} for m in ms},
        "scenarios": [],
    }
    for sc in scs:
        mask = _mask(sc)
        test = table[f"{DATASETS[sc.dataset]}_test"]
        opt = float(test[mask].max())
        entry: dict[str, Any] = {
            "scenario": sc.name, "dataset": sc.dataset, "board": sc.board, "max_latency_ms": sc.max_latency_ms,
            "feasible_frac": float(mask.mean()), "optimum_test_acc": opt,
            "optimum_index": int(np.flatnonzero(mask)[test[mask].argmax()]),
            "agent_disagreements": agent_agreement(sc), "agent_checked": AGREEMENT_SAMPLE,
            "val_selection_floor_regret": val_selection_floor(sc, table), "methods": {},
        }
        for m in ms:
            if (sc.name, m.name) in traces:
                entry["methods"][m.name] = [summarize(traces[(sc.name, m.name)], b, test, mask, opt) for b in BUDGETS]
        out["scenarios"].append(entry)
    out["total_wall_s"] = time.perf_counter() - t_all
    out["genius_gpt4_at_10"] = GENIUS_GPT4_AT_10
    out["target_check"] = target_check(out)
    RESULTS.mkdir(exist_ok=True)
    name = args.out or ("search_quality_quick" if args.quick else "search_quality")
    (RESULTS / f"{name}.json").write_text(json.dumps(out, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(render_markdown(out))
    print(f"wrote {RESULTS / name}.json/.md in {out['total_wall_s']:.0f} s")


def target_check(out: dict[str, Any]) -> dict[str, Any]:
    """The issue's target on ``TARGET['scenario']`` (None where that scenario was not run)."""
    sc = next((s for s in out["scenarios"] if s["scenario"] == TARGET["scenario"]), None)
    if sc is None:
        return {}
    ours = sc["methods"]["automcu-evolution"]
    at = next(r for r in ours if r["budget"] == TARGET["budget"])
    beaten = {r["budget"]: all(beats(r, sc["methods"][base][i]) for base in ("random", "rea"))
              for i, r in enumerate(ours)}
    return {
        "regret_at_budget": at["regret_mean"],
        "regret_met": at["regret_mean"] is not None and at["regret_mean"] <= TARGET["max_regret"],
        "beats_random_and_rea_at_budget": beaten,
        "zero_infeasible_winners": all(r["success"] == 1.0 for s in out["scenarios"]
                                       for r in s["methods"]["automcu-evolution"]),
    }


def _fmt_row(name: str, r: dict[str, Any]) -> str:
    acc = "-" if r["test_acc_mean"] is None else f"{r['test_acc_mean']:.2f} ± {r['test_acc_std']:.2f}"
    reg = "-" if r["regret_mean"] is None else f"{r['regret_mean']:.2f}"
    return (f"| {name} | {r['budget']} | {acc} | {reg} | {r['success']:.2f} | {r['infeasible_eval_frac']:.2f} | "
            f"{r['rejected_before_paying']:.1f} | {r['sim_gpu_hours']:.1f} | {r['wall_s']:.2f} |")


def render_markdown(out: dict[str, Any]) -> str:
    seeds = out["seeds"]
    lines = [
        "# Search quality at equal evaluation budgets",
        "",
        f"{len(seeds)} seeds per cell (seeds {seeds[0]}-{seeds[-1]}). Selection on validation accuracy (one "
        "training seed's, per search seed), score = test accuracy of the chosen arch. regret = scenario optimum "
        "(best test accuracy among the archs that fit, by the estimator, over the whole space) − chosen test "
        "accuracy, over successful runs; success = fraction of runs whose winner fits; infeasible evals = fraction "
        "of paid evaluations spent on archs that do not fit; rejected = proposals the feasibility agent turned "
        "down before paying (feasibility-first methods); GPU-h = NAS-Bench-201 training time of the evaluated "
        "archs (simulated); wall s = time the search itself took here. Produced by "
        "`python benchmarks/search_quality.py`.",
        "",
        f"Tuning: {out['tuning']}",
        "",
        "| method | feasibility-first | cheap signals used |",
        "|---|---|---|",
    ]
    lines += [f"| {n} | {'yes' if m['feasibility_first'] else 'no'} | {m['cheap_signals']} |"
              for n, m in out["methods"].items()]
    tc = out.get("target_check")
    if tc:
        t = out["target"]
        beaten = ", ".join(f"{b}: {'yes' if ok else 'no'}" for b, ok in tc["beats_random_and_rea_at_budget"].items())
        lines += ["", f"## Target ({t['scenario']})", "",
                  f"- regret at {t['budget']} evaluations: {tc['regret_at_budget']:.3f} pp "
                  f"(target ≤ {t['max_regret']}): {'met' if tc['regret_met'] else 'NOT met'}",
                  f"- beats random and rea (higher test acc, at least as many deployable winners) per budget: {beaten}",
                  "- zero infeasible winners (all scenarios, all budgets): "
                  f"{'yes' if tc['zero_infeasible_winners'] else 'NO'}"]
    for sc in out["scenarios"]:
        lines += ["", f"## {sc['scenario']}", "",
                  f"optimum {sc['optimum_test_acc']:.2f} (index {sc['optimum_index']}); "
                  f"{100 * sc['feasible_frac']:.1f} % of the space fits; FeasibilityAgent disagreed with the "
                  f"whole-space mask on {sc['agent_disagreements']} of {sc['agent_checked']} sampled archs. "
                  "Floor for selection by validation (the best-validation arch of all that fit): regret "
                  f"{sc.get('val_selection_floor_regret', float('nan')):.2f} pp.", "",
                  "| method | budget | test acc (mean ± std) | regret (pp) | success | infeasible evals | rejected "
                  "| GPU-h | wall s |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for name, rows in sc["methods"].items():
            lines += [_fmt_row(name, r) for r in rows]
    lines += ["", "## At 10 evaluations, unconstrained, vs GENIUS (GPT-4, published)", "",
              "| dataset | GENIUS GPT-4 | automcu-evolution (no LLM) |", "|---|---|---|"]
    for sc in out["scenarios"]:
        if sc["board"] is None:
            r = sc["methods"]["automcu-evolution"][0]
            g = out["genius_gpt4_at_10"][sc["dataset"]]
            lines.append(f"| {sc['dataset']} | {g[0]:.2f} ± {g[1]:.2f} | {r['test_acc_mean']:.2f} ± "
                         f"{r['test_acc_std']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
