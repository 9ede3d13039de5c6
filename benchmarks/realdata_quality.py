"""The user's own data end to end (issue 16): screening fidelity, then search → train → int8 → TFLite Micro
against the hand-designed DS-CNN baseline at the same limits.

1. **Proxy fidelity** (``--part proxy``): ``--proxy-archs`` mcu-space archs that fit the 64 KB / 256 KB
   budget (seeded draws, the product's estimator decides) are trained by the product's
   ``TrainingEvaluator`` at every rung of the asha ladder (``automcu.core.fidelity.rung_schedule``) and
   at the top fidelity; Spearman correlation of each rung's validation accuracy with the top one's.
2. **End to end** (``--part e2e``), per budget and seed: a real job (``JobSpec`` → ``create_job`` →
   ``run_job``: the planner, feasibility agent, asha screening, training evaluator) on the mcu space;
   its winner compressed by ``run_compress`` (QAT, int8, TFLite Micro on the test set, measured arena and
   Flash); the DS-CNN baseline by ``run_baseline`` with the same epochs, data and quantization. Wall
   time per stage.

No NB201 CIFAR prior is used by any method here (the mcu proposers do not read the lookup table).
Results: ``benchmarks/results/realdata_quality.{json,md}`` (keys ``sram64k_flash256k``,
``sram16k_flash64k``, each with ``searched`` and ``baseline``). Reduced settings (training images, epochs,
seeds) are written into the results and the markdown says so.

    python benchmarks/realdata_quality.py [--data /usr/share/datasets/fashion-mnist] [--part proxy|e2e|all]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from intervals import t_interval  # benchmarks/intervals.py (this script's folder is on sys.path)

RESULTS = Path(__file__).resolve().parent / "results"
NAME = "realdata_quality"
BUDGETS = {"sram64k_flash256k": (64, 256), "sram16k_flash64k": (16, 64)}
CLOCK_MHZ, CORE = 100, "cortex-m4f"  # STM32F411-class
PROXY_ARCH_SEED = 11
FULL_EPOCHS = 15  # the final recipe's epochs: "full training"


def _hardware(sram_kb: float, flash_kb: float) -> Any:
    from automcu.hardware.spec import HardwareSpec

    return HardwareSpec(name=f"F411-class {sram_kb:g}K/{flash_kb:g}K", sram_kb=sram_kb, flash_kb=flash_kb,
                        clock_mhz=CLOCK_MHZ, core=CORE)


def ci95(vals: list[float]) -> list[float]:
    """[low, high] of the Student-t 95 % interval of the mean."""
    return list(t_interval(vals)[1:])


def fitting_archs(n: int, hardware: Any, seed: int) -> list[str]:
    """``n`` distinct mcu archs that the feasibility agent says fit ``hardware`` (seeded draws)."""
    import random

    from agents.feasibility import FeasibilityAgent
    from agents.messages import FeasibilityRequest
    from search_spaces.mcu.space import MCUArch

    agent, rng, out = FeasibilityAgent(), random.Random(seed), []
    tried = 0
    while len(out) < n and tried < 200 * n:
        tried += 1
        arch = MCUArch.sample(rng).to_string()
        if arch in out:
            continue
        if agent.check(FeasibilityRequest(arch=arch, dataset="fashion-mnist", hardware=hardware)).feasible:
            out.append(arch)
    return out


#: full-training validation accuracy below which an arch learned nothing (10 classes: chance is 10 %), e.g. a cell
#: whose output node has only ``none`` inputs
LEARNED_ACC = 20.0


def _spearman_ci(rows: list[dict[str, Any]], k: int, boots: int = 2000) -> tuple[float, list[float] | None]:
    """Spearman ρ of fidelity ``k`` against full training over ``rows``, and a 95 % percentile bootstrap interval
    (archs resampled with replacement, seeded; resamples with a constant side are skipped)."""
    import numpy as np
    from scipy.stats import spearmanr

    low = np.array([r["val_acc"][k] for r in rows])
    top = np.array([r["val_acc"][-1] for r in rows])
    rho = float(spearmanr(low, top).statistic)
    rng, got = np.random.default_rng(0), []
    for _ in range(boots):
        i = rng.integers(0, len(rows), len(rows))
        if np.ptp(low[i]) > 0 and np.ptp(top[i]) > 0:
            got.append(float(spearmanr(low[i], top[i]).statistic))
    if len(got) < boots // 2:
        return rho, None
    return rho, [float(np.percentile(got, 2.5)), float(np.percentile(got, 97.5))]


def proxy_fidelities(done: list[dict[str, Any]], rungs: list[dict[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
    """(archs that learned, each rung's Spearman ρ against full training with its bootstrap 95 % interval, over
    all finished archs and over those that learned) from the finished archs' rows."""
    learned = [row for row in done if row["val_acc"][-1] >= LEARNED_ACC]
    out = []
    if len(done) >= 3:
        for k, r in enumerate(rungs):
            rho, ci = _spearman_ci(done, k)
            f = {**r, "spearman_vs_top": rho, "spearman_ci95": ci,
                 "seconds_per_arch": statistics.fmean(row["seconds"][k] for row in done)}
            if 3 <= len(learned) < len(done):  # without the archs that learn nothing (their ties are easy)
                f["spearman_learned"], f["spearman_learned_ci95"] = _spearman_ci(learned, k)
            out.append(f)
    return len(learned), out


def _proxy_protocol(args: argparse.Namespace, rungs: list[Any]) -> dict[str, Any]:
    """What makes two proxy runs' archs comparable: the arch draw, the fidelities, full training, the data."""
    return {"arch_seed": PROXY_ARCH_SEED, "fidelities": [r.as_dict() for r in rungs],
            "top_epochs": args.proxy_top_epochs, "train_limit": args.proxy_train_limit, "test_limit": args.test_limit}


def proxy_study(args: argparse.Namespace, earlier: dict[str, Any] | None,
                save: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Each fidelity of the search's asha ladder (``--search-epochs`` and the ladder options: what the e2e search
    screens with) against full training (``--proxy-top-epochs`` on every training image), over the first
    ``--proxy-archs`` of a seeded draw of archs that fit 64 KB / 256 KB. Resumable: archs an earlier run of the
    same protocol finished are kept, at most ``--proxy-max-new`` more are trained, and the results are written
    after every arch (a killed run loses only the archs in flight). Evaluations run on the product's process pool
    (``--workers``), each a 1-thread ``TrainingEvaluator``."""
    from agents.messages import EvaluationRequest
    from automcu.core.fidelity import rung_schedule
    from automcu.executors import Item, run_evaluations
    from automcu.executors.evaluators import TRAINING_FACTORY, EvaluatorSpec
    from automcu.executors.process_pool import LocalProcessExecutor

    hw = _hardware(*BUDGETS["sram64k_flash256k"])
    archs = fitting_archs(args.proxy_archs, hw, PROXY_ARCH_SEED)
    rungs = rung_schedule(args.search_epochs, args.min_epochs, args.reduction_factor, args.min_data_fraction)
    proto = _proxy_protocol(args, rungs)
    kept = (earlier or {}).get("per_arch", []) if (earlier or {}).get("protocol") == proto else []
    rows: dict[str, dict[str, Any]] = {r["arch"]: r for r in kept if r["arch"] in archs}
    todo = [a for a in archs if a not in rows][:args.proxy_max_new]
    # (fidelity k, epochs, data fraction): the search's rungs, then full training
    levels = [(r.rung, r.epochs, r.data_fraction) for r in rungs] + [(len(rungs), args.proxy_top_epochs, 1.0)]
    spec = EvaluatorSpec(factory=TRAINING_FACTORY, kwargs={
        "dataset": "fashion-mnist", "data_path": args.data, "epochs": args.proxy_top_epochs,
        "train_limit": args.proxy_train_limit, "test_limit": args.test_limit})
    # a rung's request trains its epochs on its share of the images; the top one (no rung) the evaluator's epochs
    # on all of them, as a full-fidelity search evaluation does
    items = [Item((a, k), EvaluationRequest(arch=a, dataset="fashion-mnist", seed=0, epochs=e, data_fraction=f,
                                            rung=k if k < len(rungs) else None))
             for a in todo for k, e, f in sorted(levels, key=lambda t: -t[1])]  # longest first: less tail
    partial: dict[str, dict[int, tuple[float, float]]] = {a: {} for a in todo}
    t0 = time.perf_counter()

    def summary() -> dict[str, Any]:
        done = [rows[a] for a in archs if a in rows]
        out: dict[str, Any] = {"protocol": proto, "archs": len(done), "archs_target": len(archs),
                               "train_images": round((args.proxy_train_limit or 60000) * 0.9),
                               "top": {"epochs": args.proxy_top_epochs, "data_fraction": 1.0}, "fidelities": [],
                               "per_arch": done, "seconds": round(time.perf_counter() - t0, 1)
                               + float((earlier or {}).get("seconds", 0.0) if kept else 0.0)}
        if done:
            out["top_seconds_per_arch"] = statistics.fmean(row["seconds"][-1] for row in done)
        out["archs_learned"], out["fidelities"] = proxy_fidelities(done, [r.as_dict() for r in rungs])
        return out

    def on_result(item: Item, result: Any) -> None:
        arch, k = item.key
        partial[arch][k] = (result.val_acc, result.train_seconds)
        if len(partial[arch]) == len(levels):
            got = [partial[arch][i] for i in range(len(levels))]
            rows[arch] = {"arch": arch, "val_acc": [v for v, _ in got], "seconds": [s for _, s in got]}
            print(f"proxy {len(rows)}/{len(archs)}: {arch} " + " ".join(f"{v:.2f}" for v, _ in got), flush=True)
            save(summary())

    def on_failure(item: Item, error: str) -> None:
        raise RuntimeError(f"proxy: {item.key} failed: {error}")

    executor = LocalProcessExecutor(args.workers)
    try:
        run_evaluations(executor, spec, items, begin_attempt=lambda _key: 1, on_result=on_result,
                        on_failure=on_failure)
    finally:
        executor.close()
    return summary()


def _model_row(report: dict[str, Any], seconds: dict[str, float]) -> dict[str, Any]:
    return {"arch": report.get("arch"), "int8_acc": report["int8_acc"], "float_acc": report["float_acc"],
            "int8_acc_source": report.get("int8_acc_source"), "arena_bytes": report["arena_bytes"],
            "flash_bytes": report["flash_bytes"], "fits": report["fits"], "test_images": report.get("samples", {}),
            "seconds": seconds}


def _search_pool(workers: int) -> None:
    """The search's evaluations on the product's executor: ``workers`` > 1 is the local process pool
    (asynchronous asha: every worker kept busy), 1 the in-process executor."""
    import os

    from automcu.core.config import get_settings
    from automcu.executors.factory import close_shared

    close_shared()
    os.environ["AUTOMCU_EXECUTOR"] = "process" if workers > 1 else "inprocess"
    os.environ["AUTOMCU_EXECUTOR_WORKERS"] = str(workers)
    get_settings.cache_clear()


def e2e_run(key: str, seed: int, args: argparse.Namespace, work: Path) -> dict[str, dict[str, Any]]:
    from automcu.compress.baseline import run_baseline
    from automcu.compress.pipeline import run_compress
    from automcu.compress.request import CompressRequest
    from automcu.engine.planner import run_job
    from automcu.jobs.spec import JobSpec
    from automcu.storage.db import open_database
    from automcu.storage.repository import best_candidate, candidates_of, create_job

    sram, flash = BUDGETS[key]
    hw = _hardware(sram, flash)
    _search_pool(args.workers)
    t0 = time.perf_counter()
    spec = JobSpec(dataset="fashion-mnist", data_path=args.data, space="mcu", proposer="auto",
                   hardware={"sram_kb": sram, "flash_kb": flash, "clock_mhz": CLOCK_MHZ, "core": CORE},
                   budget=args.search_budget, epochs=args.search_epochs, seed=seed, fidelity="asha",
                   min_epochs=args.min_epochs, reduction_factor=args.reduction_factor,
                   min_data_fraction=args.min_data_fraction)
    db = open_database(f"sqlite:///{work / f'{key}_{seed}.db'}")
    job = create_job(db, spec, spec.resolve_hardware())
    done = run_job(db, job.id)
    cands = candidates_of(db, job.id)
    best = best_candidate(cands)
    if best is None:
        raise RuntimeError(f"{key} seed {seed}: the search found no winner ({done.stop_reason})")
    t_search = time.perf_counter() - t0

    common = {"dataset": "fashion-mnist", "data_path": args.data, "hardware": hw, "epochs": args.final_epochs,
              "qat": True, "seed": seed, "train_limit": args.train_limit, "test_limit": args.test_limit,
              "threads": args.threads, "progress": False, "label_smoothing": args.label_smoothing}
    t1 = time.perf_counter()
    searched = run_compress(CompressRequest(arch=best.arch, out_dir=work / f"{key}_{seed}_searched", **common))
    t_compress = time.perf_counter() - t1
    t2 = time.perf_counter()
    base = run_baseline(CompressRequest(arch="dscnn-baseline", out_dir=work / f"{key}_{seed}_baseline", **common))
    t_base = time.perf_counter() - t2
    s_row = _model_row(searched, {"search": round(t_search, 1), "train_compress": round(t_compress, 1)})
    s_row.update(arch=best.arch, search_val_acc=best.val_acc, n_evaluated=sum(c.status in ("evaluated", "pruned")
                                                                             for c in cands),
                 n_pruned=sum(c.status == "pruned" for c in cands), stop_reason=done.stop_reason,
                 wall_seconds=round(t_search + t_compress, 1), execution=_execution(args),
                 stages=searched.get("seconds"))
    b_row = _model_row(base, {"train_compress": round(t_base, 1)})
    b_row.update(arch=base.get("arch", "dscnn-baseline"), wall_seconds=round(t_base, 1), execution=_execution(args),
                 stages=base.get("seconds"))
    print(f"{key} seed {seed}: searched {s_row['int8_acc']:.2f} % ({s_row['wall_seconds']:.0f} s), baseline "
          f"{b_row['int8_acc']:.2f} % ({b_row['wall_seconds']:.0f} s)", flush=True)
    return {"searched": s_row, "baseline": b_row}


def _execution(args: argparse.Namespace) -> dict[str, int]:
    """How a seed ran (not part of the protocol: the same search and recipe on more cores)."""
    return {"search_workers": args.workers, "train_threads": args.threads}


def _agg(rows: list[dict[str, Any]]) -> dict[str, Any]:
    acc = [r["int8_acc"] for r in rows]
    return {"int8_acc": statistics.fmean(acc), "int8_acc_ci95": ci95(acc),
            "arena_bytes": max(r["arena_bytes"] for r in rows), "flash_bytes": max(r["flash_bytes"] for r in rows),
            "fits": all(r["fits"] for r in rows), "wall_seconds": statistics.fmean(r["wall_seconds"] for r in rows),
            "wall_seconds_max": max(r["wall_seconds"] for r in rows),
            "seeds": len(rows), "per_seed": rows}


def _protocol(args: argparse.Namespace) -> dict[str, Any]:
    """What makes two runs' seeds comparable (everything but which seeds ran)."""
    return {"train_images": args.train_limit or 60000, "test_images": args.test_limit or 10000,
            "search_budget": args.search_budget, "search_epochs": args.search_epochs,
            "final_epochs": args.final_epochs, "min_epochs": args.min_epochs,
            "reduction_factor": args.reduction_factor, "min_data_fraction": args.min_data_fraction,
            "label_smoothing": args.label_smoothing}


def _budget_result(earlier: dict[str, Any] | None, runs: list[dict[str, dict[str, Any]]],
                   args: argparse.Namespace) -> dict[str, Any]:
    """One budget's aggregate. With ``--first-seed`` > 0 the seeds join an earlier run's of the same protocol
    (a long protocol split over several invocations); a different protocol or overlapping seeds is an error."""
    proto = _protocol(args)
    cmd = "python benchmarks/realdata_quality.py " + shlex.join(sys.argv[1:])
    searched, baseline = [r["searched"] for r in runs], [r["baseline"] for r in runs]
    for seed, (s_row, b_row) in enumerate(zip(searched, baseline, strict=True), start=args.first_seed):
        s_row["seed"] = b_row["seed"] = seed
    commands = [cmd]
    replaced: list[dict[str, Any]] = []
    if args.first_seed > 0 or args.replace_seeds:
        replaced = list((earlier or {}).get("replaced_seeds", []))
        before = (earlier or {}).get("protocol", {})
        if {k: before.get(k) for k in proto} != proto:
            raise SystemExit(f"--first-seed {args.first_seed}: the results hold no earlier run of this protocol "
                             f"to add seeds to ({ {k: before.get(k) for k in proto} } vs {proto})")
        old_s, old_b = earlier["searched"]["per_seed"], earlier["baseline"]["per_seed"]  # type: ignore[index]
        for i, r in enumerate(old_s):
            r.setdefault("seed", i)
            old_b[i].setdefault("seed", i)
        new_seeds = {r["seed"] for r in searched}
        overlap = sorted({r["seed"] for r in old_s} & new_seeds)
        if overlap and not args.replace_seeds:
            raise SystemExit(f"--first-seed {args.first_seed}: seeds {overlap} are already in the results "
                             "(--replace-seeds runs them again in their place)")
        replaced += [{"seed": s_old["seed"], "reason": args.replace_seeds, "searched": s_old, "baseline": b_old}
                     for s_old, b_old in zip(old_s, old_b, strict=True) if s_old["seed"] in new_seeds]
        keep = [i for i, r in enumerate(old_s) if r["seed"] not in new_seeds]
        searched = sorted([old_s[i] for i in keep] + searched, key=lambda r: r["seed"])
        baseline = sorted([old_b[i] for i in keep] + baseline, key=lambda r: r["seed"])
        commands = list(before.get("commands", [before.get("command")])) + commands
    n = len(searched)
    out = {"searched": _agg(searched), "baseline": _agg(baseline),
           "protocol": {**proto, "full": not args.train_limit and not args.test_limit and n >= 3, "seeds": n,
                        "command": "; ".join(c for c in commands if c), "commands": [c for c in commands if c]}}
    if replaced:  # kept, with why they were run again, so nothing measured disappears
        out["replaced_seeds"] = replaced
    return out


def _reductions(res: dict[str, Any]) -> list[str]:
    """How each part of the results falls short of the full protocol (nothing when it does not)."""
    out = []
    p = res.get("proxy")
    if p and (p["archs"] < 30 or p["train_images"] < 54000 or p["top"]["epochs"] < FULL_EPOCHS):
        out.append(f"proxy: {p['archs']} archs, top rung {p['top']['epochs']} epochs on {p['train_images']:,.0f} "
                   "training images")
    for key in BUDGETS:
        proto = res.get(key, {}).get("protocol")
        if proto and not proto.get("full"):
            short = [f"{proto['train_images']:,} of 60,000 training images" if proto["train_images"] < 60000 else "",
                     f"{proto['test_images']:,} of 10,000 test images" if proto["test_images"] < 10000 else "",
                     f"{proto['seeds']} seed{'s' if proto['seeds'] != 1 else ''} (of 3)" if proto["seeds"] < 3 else "",
                     f"{proto['final_epochs']} final epochs" if proto["final_epochs"] < 15 else ""]
            out.append(f"e2e {key}: " + ", ".join(p for p in short if p))
    return out


def _cell(text: str) -> str:
    """``text`` inside a markdown table cell (an arch's ``|`` would end the cell)."""
    return text.replace("|", "\\|")


def _ci_text(ci: list[float] | None) -> str:
    return f"[{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "n/a"


def _full_seconds(proxy: dict[str, Any]) -> float:
    rows = proxy.get("per_arch") or []
    return statistics.fmean(r["seconds"][-1] for r in rows) if rows else float("nan")


def _steps(train_images: float, fidelity: dict[str, Any], batch: int = 128) -> int:
    """SGD steps of one fidelity: epochs × batches in its share of the training images."""
    import math

    return int(fidelity["epochs"] * math.ceil(train_images * fidelity["data_fraction"] / batch))


def markdown(res: dict[str, Any]) -> str:
    lines = [f"# Real data end to end: {res['dataset']} on STM32F411-class limits", "",
             ("Full protocol." if res["full_protocol"] else f"**Reduced run, not the full protocol**: "
              f"{res['reduced']}."), ""]
    p = res.get("proxy")
    if p:
        lines += ["## Proxy fidelity (Spearman vs the top rung)", "",
                  f"{p['archs']} (of {p.get('archs_target', p['archs'])}) mcu archs that fit 64 KB / 256 KB; top: "
                  f"{p['top']['epochs']} epochs on {p['train_images']:,.0f} training images, accuracy on the 10 % "
                  f"held out for validation ({_full_seconds(p):.0f} s/arch); the "
                  "fidelities are the rungs of the e2e search's ladder.", "",
                  f"| rung | epochs | data | Spearman ρ (all {p['archs']}) | 95 % CI | ρ "
                  f"({p.get('archs_learned', '?')} that learned, full ≥ {LEARNED_ACC:.0f} %) | 95 % CI | s/arch |",
                  "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {f['rung']} | {f['epochs']} | {f['data_fraction']:.0%} | {f['spearman_vs_top']:+.3f} | "
                  f"{_ci_text(f.get('spearman_ci95'))} | "
                  + (f"{f['spearman_learned']:+.3f} | {_ci_text(f.get('spearman_learned_ci95'))}"
                     if "spearman_learned" in f else "(same archs) | ")
                  + f" | {f['seconds_per_arch']:.1f} |" for f in p["fidelities"]]
        if not p["fidelities"]:
            lines.append("| (Spearman needs 3 archs) | | | | | | | |")
        lines += ["", "95 % intervals: percentile bootstrap over the archs (2,000 resamples, seed 0)."]
        levels = p.get("protocol", {}).get("fidelities", [])
        if levels and p.get("per_arch"):
            lines += ["", "| arch | " + " | ".join(f"{f['epochs']} ep, {f['data_fraction']:.0%}" for f in levels)
                      + f" | full ({p['top']['epochs']} ep) | s (full) |", "|---" * (len(levels) + 3) + "|"]
            lines += [f"| `{_cell(r['arch'])}` | " + " | ".join(f"{v:.2f}" for v in r["val_acc"])
                      + f" | {r['seconds'][-1]:.0f} |" for r in p["per_arch"]]
        lines.append("")
        e = res.get("proxy_earlier")
        if e:
            lines += [f"Earlier, reduced study ({e['archs']} archs, top {e['top']['epochs']} epochs on "
                      f"{e['train_images']:,.0f} training images, rungs on shares of those): "
                      + "; ".join(f"rung {f['rung']} ({f['epochs']} ep, {f['data_fraction']:.0%}) ρ "
                                  f"{f['spearman_vs_top']:+.3f}" for f in e["fidelities"])
                      + f". Its rung 0 trained {_steps(e['train_images'], e['fidelities'][0])} SGD steps of "
                      f"batch 128; the e2e search's rung 0 trains {_steps(54000, e['fidelities'][0])}.", ""]
    for key in BUDGETS:
        if key not in res:
            continue
        s, b = res[key]["searched"], res[key]["baseline"]
        lines += [f"## {key}", ""]
        proto = res[key].get("protocol")
        if proto:
            lines += [f"{'Full protocol' if proto['full'] else '**Reduced**'}: final training on "
                      f"{proto['train_images']:,} training images for {proto['final_epochs']} epochs, int8 accuracy "
                      f"on {proto['test_images']:,} test images, {proto['seeds']} seeds; search: "
                      f"{proto['search_budget']} candidates (asha, top rung {proto['search_epochs']} epochs on all "
                      f"training images but the validation split). `{proto['command']}`", ""]
        lines += ["| model | int8 acc (TFLM) | 95 % CI | arena (max) | Flash (max) | fits | wall s |",
                  "|---|---|---|---|---|---|---|"]
        for name, r in (("searched (asha, mcu space)", s), ("DS-CNN baseline", b)):
            lo, hi = r["int8_acc_ci95"]
            lines.append(f"| {name} | {r['int8_acc']:.2f} % | [{lo:.2f}, {hi:.2f}] | {r['arena_bytes']:,} B | "
                         f"{r['flash_bytes']:,} B | {r['fits']} | {r['wall_seconds']:.0f} |")
        lines += [""] + [f"Note: {n}" for n in res[key].get("notes", [])]
        lines += ["", "Searched winners: " + "; ".join(f"seed {r.get('seed', i)}: `{r['arch']}` {r['int8_acc']:.2f} %"
                                                        for i, r in enumerate(s["per_seed"])), ""]
        lines += ["| seed | searched int8 | baseline int8 | gain | search s | train + compress s | searched wall s "
                  "| baseline wall s | search workers | torch threads |", "|---|---|---|---|---|---|---|---|---|---|"]
        for i, (rs, rb) in enumerate(zip(s["per_seed"], b["per_seed"], strict=True)):
            ex = rs.get("execution") or {"search_workers": 1, "train_threads": 1}
            lines.append(f"| {rs.get('seed', i)} | {rs['int8_acc']:.2f} % | {rb['int8_acc']:.2f} % | "
                         f"{rs['int8_acc'] - rb['int8_acc']:+.2f} pp | {rs['seconds'].get('search', 0):.0f} | "
                         f"{rs['seconds'].get('train_compress', 0):.0f} | {rs['wall_seconds']:.0f} | "
                         f"{rb['wall_seconds']:.0f} | {ex['search_workers']} | {ex['train_threads']} |")
        gains = [rs["int8_acc"] - rb["int8_acc"] for rs, rb in zip(s["per_seed"], b["per_seed"], strict=True)]
        if len(gains) >= 2:
            lo, hi = ci95(gains)
            lines += ["", f"Gain over the baseline, paired by seed: {statistics.fmean(gains):+.2f} pp "
                          f"[{lo:+.2f}, {hi:+.2f}] (95 % t interval, {len(gains)} seeds)."]
        walls = [r["wall_seconds"] for r in s["per_seed"]]
        lines += ["", f"Searched wall time (search + final training + compression): at most {max(walls) / 60:.1f} "
                      f"min, {sum(w <= 3600 for w in walls)} of {len(walls)} seeds within 60 min."]
        for r in res[key].get("replaced_seeds", []):
            old_s, old_b = r["searched"], r["baseline"]
            ex = old_s.get("execution") or {"search_workers": 1, "train_threads": 1}
            lines += ["", f"Seed {r['seed']} was run again ({r['reason']}). The earlier run, kept in the JSON: "
                          f"searched {old_s['int8_acc']:.2f} %, baseline {old_b['int8_acc']:.2f} %, searched wall "
                          f"{old_s['wall_seconds']:.0f} s on {ex['search_workers']} search worker(s) and "
                          f"{ex['train_threads']} torch thread(s)."]
        lines.append("")
    lines += [f"Machine: {res['machine']}. Total {res['total_seconds']:.0f} s.", "",
              f"Reproduce: `{res['command']}`"]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--part", choices=("proxy", "e2e", "all"), default="all")
    ap.add_argument("--budgets", default=",".join(BUDGETS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--replace-seeds", default=None, metavar="REASON",
                    help="e2e: run seeds already in the results again in their place (the old rows are kept under "
                         "replaced_seeds with REASON)")
    ap.add_argument("--first-seed", type=int, default=0,
                    help="> 0: run seeds from here and add them to the results' earlier seeds of the same protocol")
    ap.add_argument("--proxy-archs", type=int, default=30)
    ap.add_argument("--proxy-top-epochs", type=int, default=FULL_EPOCHS, help="full training's epochs")
    ap.add_argument("--proxy-train-limit", type=int, default=None)
    ap.add_argument("--proxy-max-new", type=int, default=None,
                    help="train at most this many archs not yet in the results (the study resumes across runs)")
    ap.add_argument("--search-budget", type=int, default=30)
    ap.add_argument("--search-epochs", type=int, default=3, help="the asha top rung's epochs")
    ap.add_argument("--min-epochs", type=int, default=1)
    ap.add_argument("--reduction-factor", type=int, default=3)
    ap.add_argument("--min-data-fraction", type=float, default=0.25)
    ap.add_argument("--final-epochs", type=int, default=15)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--train-limit", type=int, default=None, help="default: all 60,000")
    ap.add_argument("--test-limit", type=int, default=None, help="default: all 10,000")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="search evaluations at once (the product's process pool; 1: in-process)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="torch threads of the final training and compression (searched and baseline alike)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    t0 = time.perf_counter()
    work = Path("/tmp") / f"automcu_{NAME}"
    work.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{NAME}.json"
    # one part alone updates that part of an earlier run's results (the other part stays as it was)
    res: dict[str, Any] = json.loads(path.read_text()) if args.part != "all" and path.exists() else {}
    res.update({"benchmark": NAME, "dataset": "fashion-mnist", "nb201_prior_used": False})
    res.setdefault("options", {})[args.part] = {k: (str(v) if isinstance(v, Path) else v)
                                                for k, v in vars(args).items()}
    if args.part in ("proxy", "all"):
        old = res.get("proxy")
        if old and old.get("protocol") is None:  # the study before it was resumable: kept beside, for reference
            res["proxy_earlier"] = old

        def save_proxy(proxy: dict[str, Any]) -> None:
            res["proxy"] = proxy
            _write(res, args, t0)

        res["proxy"] = proxy_study(args, res.get("proxy"), save_proxy)
    if args.part in ("e2e", "all"):
        for key in args.budgets.split(","):
            runs = [e2e_run(key, seed, args, work) for seed in range(args.first_seed, args.first_seed + args.seeds)]
            res[key] = _budget_result(res.get(key), runs, args)
    _write(res, args, t0)
    print(markdown(res))


def _write(res: dict[str, Any], args: argparse.Namespace, t0: float) -> None:
    res["reduced"] = "; ".join(_reductions(res))
    res["full_protocol"] = not res["reduced"] and "proxy" in res and all(k in res for k in BUDGETS)
    res["machine"] = (f"{platform.machine()}, {os.cpu_count()} CPU cores; this run: search on {args.workers} "
                      f"process-pool worker(s) of 1 torch thread, final training on {args.threads} torch thread(s)")
    res["total_seconds"] = round(time.perf_counter() - t0, 1)
    cmd = "python benchmarks/realdata_quality.py " + shlex.join(sys.argv[1:])
    if cmd not in str(res.get("command")):
        res["command"] = cmd if args.part == "all" else "; ".join(
            c for c in (res.get("command") if "--part" in str(res.get("command")) else None, cmd) if c)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{NAME}.json").write_text(json.dumps(res, indent=2, default=str) + "\n")
    (args.out / f"{NAME}.md").write_text(markdown(res))


if __name__ == "__main__":
    main()
