"""Scale-out: real-training evaluations on 1 vs 2 Ray workers; 20 concurrent jobs on PostgreSQL, 2 worker processes.

Part 1 — Ray throughput. For N in (1, 2), a fresh local Ray with N CPUs (one evaluation per CPU) runs the
same K real-training evaluations (``agents.training_evaluator.TrainingEvaluator``: the NB201 cell built by
``search_spaces.nb201.torch_model.build_model``, small macro C=8 N=1, trained on scikit-learn's digits)
through the planner's dispatch loop (``automcu.executors.run_evaluations``). Each Ray worker is warmed up
first (torch import, data load), so the timed part is evaluations only. Reports evaluations/min and the ratio.

Part 2 — shared PostgreSQL. A throwaway PostgreSQL (Debian's binaries, 127.0.0.1) gets 20 jobs submitted
concurrently (20 threads), then 2 ``automcu worker`` processes run them. Checks: every job succeeded, each
was started exactly once (no double-run), each spent exactly its budget with eval orders 1..budget.

    python benchmarks/scale.py [--evals 8] [--epochs 6] [--jobs 20] [--budget 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
TRAINING = "agents.training_evaluator:TrainingEvaluator"
ARCH_INDICES = (1, 77, 321, 999, 4321, 7000, 10000, 15000, 2222, 5555, 8888, 12345)


# ----- part 1: Ray throughput -------------------------------------------------------------------------
def ray_phase(n_cpus: int, n_evals: int, epochs: int) -> dict[str, Any]:
    """In this (child) process: a local Ray with ``n_cpus``; warm each worker, then time ``n_evals`` evaluations."""
    from agents.messages import EvaluationRequest
    from automcu.executors import EvaluatorSpec, Item, run_evaluations
    from automcu.executors.ray_executor import RayExecutor
    from search_spaces.nb201.index import arch_of_index

    spec = EvaluatorSpec(factory=TRAINING, kwargs={"dataset": "digits", "epochs": epochs, "C": 8, "N": 1,
                                                   "threads": 1})
    ex = RayExecutor(num_cpus=n_cpus, task_retries=0)
    archs = [arch_of_index(i).to_string() for i in ARCH_INDICES]

    def run(indices: list[str], seed: int) -> tuple[dict[str, float], dict[str, str], float]:
        results: dict[str, float] = {}
        failures: dict[str, str] = {}
        started = time.perf_counter()
        items = [Item(a, EvaluationRequest(arch=a, dataset="digits", seed=seed)) for a in indices]
        run_evaluations(ex, spec, items, begin_attempt=lambda _k: 1,
                        on_result=lambda it, r: results.__setitem__(it.key, r.train_seconds),
                        on_failure=lambda it, e: failures.__setitem__(it.key, e), poll_seconds=0.05)
        return results, failures, time.perf_counter() - started

    _, warm_fail, warm_s = run(archs[-n_cpus:], seed=99)  # one per worker: torch import + data load
    results, failures, wall = run(archs[:min(n_evals, len(archs) - n_cpus)], seed=0)
    return {"ray_cpus": n_cpus, "evaluations": len(results), "failures": {**warm_fail, **failures},
            "warmup_s": round(warm_s, 2), "wall_s": round(wall, 2),
            "evals_per_min": round(60 * len(results) / wall, 2),
            "mean_train_s": round(sum(results.values()) / max(1, len(results)), 3)}


def ray_throughput(n_evals: int, epochs: int) -> dict[str, Any]:
    runs = []
    for n in (1, 2):
        print(f"[ray] {n} worker(s): {n_evals} real-training evaluations …", file=sys.stderr, flush=True)
        out = subprocess.run([sys.executable, __file__, "--ray-phase", str(n), "--evals", str(n_evals),
                              "--epochs", str(epochs)], capture_output=True, text=True, timeout=1800,
                             env={**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "token"),
                                  "RAY_USAGE_STATS_ENABLED": "0"})
        if out.returncode != 0:
            raise RuntimeError(f"ray phase {n} failed: {out.stderr[-2000:]}")
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"[ray]   {runs[-1]}", file=sys.stderr, flush=True)
    return {"workload": {"evaluator": TRAINING, "dataset": "digits", "macro": "C=8 N=1", "epochs": epochs,
                         "evaluations": n_evals, "torch_threads_per_eval": 1},
            "runs": runs, "throughput_ratio_2_vs_1": round(runs[1]["evals_per_min"] / runs[0]["evals_per_min"], 3)}


# ----- part 2: 20 concurrent jobs on PostgreSQL ----------------------------------------------------------
def postgres_jobs(n_jobs: int, budget: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "tests"))
    from pg_server import PostgresServer, find_bindir
    from sqlalchemy import func, select

    from automcu.jobs.spec import JobSpec
    from automcu.storage.db import open_database
    from automcu.storage.models import Event
    from automcu.storage.repository import candidates_of, create_job, get_job

    bindir = find_bindir()
    if bindir is None:
        return {"skipped": "PostgreSQL binaries not found (apt-get install postgresql)"}
    server = PostgresServer(bindir).start()
    try:
        url = server.new_database_url()
        db = open_database(url)
        ids: list[str] = []
        lock = threading.Lock()

        def submit(seed: int) -> None:
            job = create_job(db, JobSpec(dataset="cifar10", board="stm32f746", budget=budget, proposer="evolution",
                                         seed=seed), None)
            with lock:
                ids.append(job.id)

        threads = [threading.Thread(target=submit, args=(i,)) for i in range(n_jobs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(f"[pg] {len(ids)} jobs submitted; 2 workers …", file=sys.stderr, flush=True)
        env = {**os.environ, "AUTOMCU_SIMULATED_TIME_SCALE": "5e-5"}  # ~0.1 s per evaluation
        cmd = [sys.executable, "-m", "automcu.cli.app", "worker", "--db", url, "--poll", "0.2", "--exit-when-idle",
               "--json"]
        started = time.perf_counter()
        procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                 for _ in range(2)]
        jobs_run = [json.loads(p.communicate(900)[0])["jobs_run"] for p in procs]
        wall = time.perf_counter() - started
        with db.read_session() as s:
            starts = Counter(dict(s.execute(select(Event.job_id, func.count()).where(Event.kind == "started")
                                            .group_by(Event.job_id)).all()))
        statuses = Counter(get_job(db, j).status for j in ids)
        exact = sum(sorted(c.eval_order for c in candidates_of(db, j, "evaluated")) == list(range(1, budget + 1))
                    for j in ids)
        owners = Counter(get_job(db, j).lease_owner.split(":")[1] for j in ids)  # pid of the worker that ran it
        db.dispose()
    finally:
        server.stop()
    return {"jobs": n_jobs, "budget_each": budget, "worker_processes": 2, "jobs_run_per_worker": jobs_run,
            "jobs_per_worker_pid": sorted(owners.values()), "statuses": dict(statuses),
            "started_once": sum(starts.get(j, 0) == 1 for j in ids),
            "ran_twice": sum(starts.get(j, 0) > 1 for j in ids),
            "exact_budget": exact, "wall_s": round(wall, 2),
            "all_finished": statuses.get("succeeded", 0) == n_jobs,
            "none_twice": all(starts.get(j, 0) == 1 for j in ids)}


def write_markdown(res: dict[str, Any]) -> str:
    ray, pg = res["ray"], res["postgres"]
    lines = ["# Scale-out", "", f"Machine: {res['machine']['cpus']} CPUs, load average before the run "
             f"{res['machine']['loadavg_before']}; Python {res['machine']['python']}. Command: `{res['command']}`.",
             "", "## Real-training evaluations on 1 vs 2 local Ray workers", "",
             f"Workload: {ray['workload']['evaluations']} evaluations, `{ray['workload']['evaluator']}` on digits, "
             f"macro {ray['workload']['macro']}, {ray['workload']['epochs']} epochs, 1 torch thread each; "
             "timed after one warm-up evaluation per worker.", "",
             "| Ray workers (CPUs) | evaluations | wall (s) | evaluations/min | mean train time (s) |",
             "|---|---|---|---|---|"]
    for r in ray["runs"]:
        lines.append(f"| {r['ray_cpus']} | {r['evaluations']} | {r['wall_s']} | {r['evals_per_min']} | "
                     f"{r['mean_train_s']} |")
    lines += ["", f"**Throughput ratio 2 vs 1 workers: {ray['throughput_ratio_2_vs_1']}×**", ""]
    busy = res["machine"]["loadavg_before"][0] / max(1, res["machine"]["cpus"] or 1)
    if busy >= 1.0:
        lines += [f"Note: the machine was already {busy:.1f}× oversubscribed by other work before the run (load "
                  f"{res['machine']['loadavg_before'][0]} on {res['machine']['cpus']} CPUs), so a second worker "
                  "had no idle core to use: compare the mean train time per evaluation across rows. "
                  "Re-run on an idle multi-core machine for the scaling figure.", ""]
    lines += ["## 20 concurrent jobs on PostgreSQL, 2 worker processes", ""]
    if "skipped" in pg:
        lines.append(f"Skipped: {pg['skipped']}")
    else:
        lines += ["| jobs | budget each | finished | started exactly once | ran twice | exact budget | "
                  "jobs per worker | wall (s) |", "|---|---|---|---|---|---|---|---|",
                  f"| {pg['jobs']} | {pg['budget_each']} | {pg['statuses'].get('succeeded', 0)} | "
                  f"{pg['started_once']} | {pg['ran_twice']} | {pg['exact_budget']} | "
                  f"{pg['jobs_per_worker_pid']} | {pg['wall_s']} |"]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--evals", type=int, default=8, help="timed real-training evaluations per Ray setting (≤ 10)")
    ap.add_argument("--epochs", type=int, default=6, help="training epochs per evaluation")
    ap.add_argument("--jobs", type=int, default=20)
    ap.add_argument("--budget", type=int, default=10, help="evaluations per job in the PostgreSQL part")
    ap.add_argument("--ray-phase", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.ray_phase:
        print(json.dumps(ray_phase(args.ray_phase, args.evals, args.epochs)))
        return 0
    res: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "loadavg_before": [round(x, 2) for x in os.getloadavg()],
                    "python": platform.python_version()},
        "command": "python benchmarks/scale.py " + shlex.join(sys.argv[1:]),
    }
    res["ray"] = ray_throughput(args.evals, args.epochs)
    res["postgres"] = postgres_jobs(args.jobs, args.budget)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(res, indent=2) + "\n")
    (RESULTS / "scale.md").write_text(write_markdown(res))
    print(write_markdown(res))
    pg = res["postgres"]
    return 0 if ("skipped" in pg or (pg["all_finished"] and pg["none_twice"])) else 1


if __name__ == "__main__":
    sys.exit(main())
