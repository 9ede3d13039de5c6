"""Search-engine speed: evaluations per second of a lookup search by budget, on SQLite and PostgreSQL.

Measures, through the product's own job loop (``automcu.engine.planner.run_job`` on a job made the way the
CLI makes one):
- evaluations/s and ms per evaluation of a lookup search (cifar100, no hardware limit) for each proposer at
  each budget, several seeds, mean and 95 % interval; the ratio of the cost per evaluation at the largest
  non-exhaustive budget to that at the smallest;
- the floor, in the same run and on the same database: per evaluation, the lookup, the feasibility estimate
  and one durable single-row insert, without the planner;
- database bytes per evaluation at each budget;
- the crash test: a 10,000-evaluation ``automcu search`` killed with SIGKILL at 5 random points, each time
  resumed at once with ``automcu resume`` (no wait for the lease), checked against the uninterrupted run;
- worker throughput: 100 queued jobs (budget 50) drained by 2 ``automcu worker`` processes, against the same
  jobs run back to back in one process.

Usage: python benchmarks/planner_speed.py [--budgets 100,1000,10000,15625] [--proposers random,evolution]
       [--seeds 3] [--databases sqlite,postgresql] [--skip-crash] [--skip-workers]
Writes benchmarks/results/planner_speed.{json,md}. PostgreSQL runs on a throwaway server (Debian's binaries,
127.0.0.1, fsync off as in the tests); it is left out, saying so, when the binaries are absent.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
sys.path.insert(0, str(ROOT))

T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def mean_ci(values: list[float]) -> dict[str, Any]:
    """Mean and 95 % interval (Student t) of repeated measurements."""
    m = statistics.fmean(values)
    if len(values) < 2:
        return {"mean": round(m, 4), "ci95": [round(m, 4), round(m, 4)], "n": len(values)}
    half = T975.get(len(values) - 1, 1.96) * statistics.stdev(values) / math.sqrt(len(values))
    return {"mean": round(m, 4), "ci95": [round(m - half, 4), round(m + half, 4)], "n": len(values)}


# ----- databases ---------------------------------------------------------------------------------
@contextmanager
def databases(kinds: list[str], tmp: Path) -> Iterator[dict[str, Callable[[str], str]]]:
    """kind → a function giving a fresh database URL for a name."""
    out: dict[str, Callable[[str], str]] = {}
    server = None
    if "sqlite" in kinds:
        out["sqlite"] = lambda name: f"sqlite:///{tmp}/{name}.db"
    if "postgresql" in kinds:
        from tests.pg_server import PostgresServer, find_bindir

        bindir = find_bindir()
        if bindir is None:
            print("PostgreSQL binaries not found: the PostgreSQL rows are left out", flush=True)
        else:
            server = PostgresServer(bindir).start()
            out["postgresql"] = lambda _name: server.new_database_url()  # type: ignore[union-attr]
    try:
        yield out
    finally:
        if server is not None:
            server.stop()


def db_bytes(url: str) -> int:
    from sqlalchemy import text

    from automcu.storage.db import open_database

    db = open_database(url)
    if db.is_sqlite:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return Path(url.removeprefix("sqlite:///")).stat().st_size
    with db.engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar() or 0)


# ----- one search --------------------------------------------------------------------------------
def make_job(url: str, proposer: str, budget: int, seed: int) -> str:
    from automcu.jobs.spec import JobSpec
    from automcu.storage.db import open_database
    from automcu.storage.repository import create_job

    spec = JobSpec(dataset="cifar100", budget=budget, proposer=proposer, seed=seed)
    return create_job(open_database(url), spec, spec.resolve_hardware()).id


def run_search(url: str, proposer: str, budget: int, seed: int) -> dict[str, Any]:
    from automcu.engine.planner import run_job
    from automcu.storage.db import open_database

    db = open_database(url)
    before = db_bytes(url)
    job_id = make_job(url, proposer, budget, seed)
    t0 = time.perf_counter()
    done = run_job(db, job_id)
    wall = time.perf_counter() - t0
    counts = job_counts(db, job_id)
    n = counts["n_evaluated"]
    return {"proposer": proposer, "budget": budget, "seed": seed, "status": done.status, "n_evaluated": n,
            "wall_s": round(wall, 4), "evals_per_s": round(n / wall, 1), "ms_per_eval": round(1000 * wall / n, 4),
            "db_bytes_per_eval": round((db_bytes(url) - before) / n, 1)}


def warm_up(url: str) -> None:
    """Load the table, the estimator arrays and the executor once, as a long-running worker has them."""
    run_search(url, "random", 20, 999)


def job_counts(db: Any, job_id: str) -> dict[str, int]:
    from sqlalchemy import distinct, func, select

    from automcu.storage.models import Candidate

    with db.read_session() as s:
        n_cand, n_distinct = s.execute(select(func.count(), func.count(distinct(Candidate.arch)))
                                       .where(Candidate.job_id == job_id)).one()
        n_eval = s.scalar(select(func.count()).where(Candidate.job_id == job_id, Candidate.status == "evaluated"))
    return {"n_candidates": int(n_cand), "n_distinct_archs": int(n_distinct), "n_evaluated": int(n_eval or 0)}


def evaluated_sequence(db: Any, job_id: str) -> list[str]:
    from sqlalchemy import select

    from automcu.storage.models import Candidate

    with db.read_session() as s:
        return list(s.scalars(select(Candidate.arch).where(Candidate.job_id == job_id, Candidate.status == "evaluated")
                              .order_by(Candidate.eval_order)))


def job_winner(db: Any, job_id: str) -> str | None:
    from sqlalchemy import select

    from automcu.storage.models import Candidate

    with db.read_session() as s:
        return s.scalar(select(Candidate.arch).where(Candidate.job_id == job_id, Candidate.status == "evaluated")
                        .order_by(Candidate.val_acc.desc(), Candidate.eval_order).limit(1))


# ----- the floor ---------------------------------------------------------------------------------
def floor(url: str, n: int = 2000) -> dict[str, Any]:
    """Per evaluation without the planner: lookup + feasibility estimate + one durable single-row insert."""
    from sqlalchemy import insert

    from agents.evaluator import LookupEvaluator
    from agents.feasibility import FeasibilityAgent
    from agents.messages import EvaluationRequest, FeasibilityRequest
    from automcu.storage.db import open_database
    from automcu.storage.models import Candidate
    from search_spaces.nb201.index import arch_of_index

    db = open_database(url)
    job_id = make_job(url, "random", 1, 0)
    lookup, agent = LookupEvaluator(), FeasibilityAgent()
    archs = [arch_of_index(i).to_string() for i in random.Random(0).sample(range(15625), n)]
    stmt = insert(Candidate.__table__)
    t0 = time.perf_counter()
    for k, arch in enumerate(archs):
        report = agent.check(FeasibilityRequest(arch=arch, dataset="cifar100"))
        result = lookup.evaluate(EvaluationRequest(arch=arch, dataset="cifar100", epochs=200, seed=0))
        with db.engine.begin() as conn:
            conn.execute(stmt, {"job_id": job_id, "arch": arch, "index": report.index, "iso_key": str(k),
                                "status": "evaluated", "step": k, "proposer": "floor", "val_acc": result.val_acc})
    wall = time.perf_counter() - t0
    return {"n": n, "ms_per_eval": round(1000 * wall / n, 4), "evals_per_s": round(n / wall, 1)}


# ----- crash test --------------------------------------------------------------------------------
def _cli(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "automcu.cli.app", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def crash_test(url: str, budget: int = 10_000, kills: int = 5, seed: int = 7) -> dict[str, Any]:
    """Kill -9 a CLI search at ``kills`` random points (by evaluations stored), resume at once each time."""
    from automcu.engine.planner import run_job
    from automcu.storage.db import open_database

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    reference = make_job(url, "random", budget, seed)
    run_job(open_database(url), reference)
    want = job_winner(open_database(url), reference)
    points = sorted(random.Random(seed).sample(range(200, budget - 200), kills))
    search = _cli("search", "--dataset", "cifar100", "--budget", str(budget), "--proposer", "random",
                  "--seed", str(seed), "--db", url, "--json", env=env)
    db = open_database(url)
    job_id = None
    killed_at: list[int] = []
    resume_waits: list[float] = []
    proc = search
    t0 = time.perf_counter()
    for point in points:
        while True:
            if job_id is None:
                job_id = _newest_other_job(db, reference)
            n = job_counts(db, job_id)["n_evaluated"] if job_id else 0
            if n >= point or proc.poll() is not None:
                break
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert job_id is not None
        killed_at.append(job_counts(db, job_id)["n_evaluated"])
        t_resume = time.perf_counter()
        proc = _cli("resume", job_id, "--db", url, "--json", env=env)
        while job_counts(db, job_id)["n_evaluated"] <= killed_at[-1] and proc.poll() is None:
            time.sleep(0.005)
        resume_waits.append(time.perf_counter() - t_resume)
    _, err = proc.communicate(timeout=600)
    wall = time.perf_counter() - t0
    assert job_id is not None
    counts, got = job_counts(db, job_id), job_winner(db, job_id)
    return {"budget": budget, "kills": kills, "killed_at_evaluations": killed_at, "final_rc": proc.returncode,
            "stderr_tail": err.decode()[-300:] if proc.returncode else "",
            "seconds_from_resume_to_next_evaluation": [round(w, 2) for w in resume_waits],
            "n_evaluated": counts["n_evaluated"], "n_candidates": counts["n_candidates"],
            "n_distinct_archs": counts["n_distinct_archs"], "budget_exact": counts["n_evaluated"] == budget,
            "stored_once": counts["n_candidates"] == counts["n_distinct_archs"],
            "winner": got, "uninterrupted_winner": want, "same_winner": got == want,
            "same_evaluation_sequence": evaluated_sequence(db, job_id) == evaluated_sequence(db, reference),
            "wall_s": round(wall, 2)}


def _newest_other_job(db: Any, other: str) -> str | None:
    from sqlalchemy import select

    from automcu.storage.models import Job

    with db.read_session() as s:
        return s.scalar(select(Job.id).where(Job.id != other).order_by(Job.created_at.desc()).limit(1))


# ----- worker throughput -------------------------------------------------------------------------
def worker_throughput(make_url: Callable[[str], str], n_jobs: int = 100, budget: int = 50,
                      workers: int = 2) -> dict[str, Any]:
    from automcu.engine.planner import run_job
    from automcu.storage.db import open_database

    one = make_url("workers_one_process")
    ids = [make_job(one, "random", budget, s) for s in range(n_jobs)]
    t0 = time.perf_counter()
    for job_id in ids:
        run_job(open_database(one), job_id)
    serial = time.perf_counter() - t0

    pool_url = make_url("workers_pool")
    ids = [make_job(pool_url, "random", budget, s) for s in range(n_jobs)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    procs = [_cli("worker", "--db", pool_url, "--exit-when-idle", "--poll", "0.1", env=env) for _ in range(workers)]
    for p in procs:
        p.communicate(timeout=1200)
    pooled = time.perf_counter() - t0
    db = open_database(pool_url)
    done = sum(job_counts(db, i)["n_evaluated"] == budget for i in ids)
    return {"jobs": n_jobs, "budget": budget, "workers": workers, "jobs_done_by_workers": done,
            "one_process_s": round(serial, 2), "workers_s": round(pooled, 2),
            "one_process_jobs_per_min": round(60 * n_jobs / serial, 1),
            "workers_jobs_per_min": round(60 * n_jobs / pooled, 1), "speedup": round(serial / pooled, 2),
            "note": "the workers' time includes starting their processes (imports, table load)"}


# ----- report ------------------------------------------------------------------------------------
def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    keys = sorted({(r["database"], r["proposer"], r["budget"]) for r in rows}, key=lambda k: (k[0], k[1], k[2]))
    for db, prop, budget in keys:
        mine = [r for r in rows if (r["database"], r["proposer"], r["budget"]) == (db, prop, budget)]
        out.append({"database": db, "proposer": prop, "budget": budget, "seeds": [r["seed"] for r in mine],
                    "all_succeeded": all(r["status"] == "succeeded" and r["n_evaluated"] == budget for r in mine),
                    "evals_per_s": mean_ci([r["evals_per_s"] for r in mine]),
                    "ms_per_eval": mean_ci([r["ms_per_eval"] for r in mine]),
                    "wall_s": mean_ci([r["wall_s"] for r in mine]),
                    "db_bytes_per_eval": mean_ci([r["db_bytes_per_eval"] for r in mine])})
    return out


def ratios(summary: list[dict[str, Any]], budgets: list[int]) -> dict[str, float]:
    """ms/eval at the largest non-exhaustive budget ÷ at the smallest, per database and proposer."""
    small, large = min(budgets), max(b for b in budgets if b < 15625) if any(b < 15625 for b in budgets) else None
    out = {}
    for s in summary:
        if s["budget"] == large:
            base = next(x for x in summary if (x["database"], x["proposer"], x["budget"]) ==
                        (s["database"], s["proposer"], small))
            out[f"{s['database']}/{s['proposer']}"] = round(s["ms_per_eval"]["mean"] / base["ms_per_eval"]["mean"], 3)
    return out


def marginal(summary: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """ms per evaluation between consecutive budgets (Δ wall ÷ Δ evaluations): the cost of an evaluation
    without the job's fixed cost (claim, set-up, finish), which dominates ms/eval at small budgets."""
    out: dict[str, list[dict[str, Any]]] = {}
    for key in sorted({(s["database"], s["proposer"]) for s in summary}):
        mine = sorted((s for s in summary if (s["database"], s["proposer"]) == key), key=lambda s: s["budget"])
        out["/".join(key)] = [{"from": a["budget"], "to": b["budget"], "ms_per_eval": round(
            1000 * (b["wall_s"]["mean"] - a["wall_s"]["mean"]) / (b["budget"] - a["budget"]), 4)}
            for a, b in itertools.pairwise(mine)]
    return out


def _fmt(ci: dict[str, Any], nd: int = 1) -> str:
    return f"{ci['mean']:.{nd}f} [{ci['ci95'][0]:.{nd}f}, {ci['ci95'][1]:.{nd}f}]"


def write_report(out: dict[str, Any], command: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "planner_speed.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = ["# Search-engine speed (lookup search, cifar100, no hardware limit)", "",
             f"Machine: {out['machine']}. Mean and 95 % interval over seeds {out['seeds']} (Student t).", "",
             "| database | proposer | budget | evals/s | ms/eval | wall s | DB bytes/eval | all succeeded |",
             "|---|---|---|---|---|---|---|---|"]
    for s in out["summary"]:
        lines.append(f"| {s['database']} | {s['proposer']} | {s['budget']:,} | {_fmt(s['evals_per_s'])} | "
                     f"{_fmt(s['ms_per_eval'], 3)} | {_fmt(s['wall_s'], 2)} | {_fmt(s['db_bytes_per_eval'], 0)} | "
                     f"{s['all_succeeded']} |")
    lines += ["", "Floor (same run, same database, no planner: lookup + feasibility estimate + one durable "
              "single-row insert per evaluation):", ""]
    for db, f in out["floor"].items():
        lines.append(f"- {db}: {f['ms_per_eval']:.3f} ms/eval ({f['evals_per_s']:.0f} evals/s)")
    lines += ["", f"Cost per evaluation at the largest budget below 15,625 ÷ at the smallest: {out['ratios']}", "",
              "Marginal cost (Δ wall ÷ Δ evaluations between consecutive budgets, so without the job's fixed "
              "cost), ms per evaluation:", ""]
    for key, steps in out["marginal"].items():
        lines.append(f"- {key}: " + ", ".join(f"{s['from']:,}→{s['to']:,}: {s['ms_per_eval']:.3f}" for s in steps))
    lines.append("")
    if out.get("crash"):
        c = out["crash"]
        lines += ["## Crash test", "",
                  f"A {c['budget']:,}-evaluation `automcu search` killed with SIGKILL at {c['kills']} points "
                  f"(after {c['killed_at_evaluations']} evaluations), each resumed at once with `automcu resume`:",
                  f"- seconds from each resume to its next stored evaluation (process start included): "
                  f"{c['seconds_from_resume_to_next_evaluation']}",
                  f"- evaluated {c['n_evaluated']:,} (budget exact: {c['budget_exact']}); candidates "
                  f"{c['n_candidates']:,}, distinct archs {c['n_distinct_archs']:,} (stored once: {c['stored_once']})",
                  f"- winner equals the uninterrupted run's: {c['same_winner']} ({c['winner']}); the whole "
                  f"sequence of evaluated archs too: {c['same_evaluation_sequence']}", ""]
    if out.get("workers"):
        w = out["workers"]
        lines += ["## Worker throughput", "",
                  f"{w['jobs']} queued jobs (budget {w['budget']}): {w['workers']} `automcu worker` processes "
                  f"{w['workers_jobs_per_min']} jobs/min ({w['workers_s']} s, {w['jobs_done_by_workers']} done) vs "
                  f"one process back to back {w['one_process_jobs_per_min']} jobs/min ({w['one_process_s']} s): "
                  f"{w['speedup']}x. {w['note']}.", ""]
    lines += [f"Command: `{command}`", ""]
    (RESULTS / "planner_speed.md").write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budgets", default="100,1000,10000,15625")
    ap.add_argument("--proposers", default="random,evolution")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--databases", default="sqlite,postgresql")
    ap.add_argument("--skip-crash", action="store_true")
    ap.add_argument("--skip-workers", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("AUTOMCU_SIMULATED_TIME_SCALE", "0")
    budgets = [int(b) for b in args.budgets.split(",")]
    seeds = list(range(args.seeds))
    tmp = Path(tempfile.mkdtemp(prefix="planner_speed_"))
    rows: list[dict[str, Any]] = []
    floors: dict[str, Any] = {}
    out: dict[str, Any] = {"machine": f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start",
                           "seeds": seeds}
    with databases(args.databases.split(","), tmp) as makers:
        for kind, make_url in makers.items():
            warm_up(make_url("warmup"))
            floors[kind] = floor(make_url("floor"))
            print(kind, "floor", floors[kind], flush=True)
            for proposer in args.proposers.split(","):
                for budget in budgets:
                    for seed in seeds:
                        row = {"database": kind, **run_search(make_url(f"{proposer}_{budget}_{seed}"), proposer,
                                                              budget, seed)}
                        rows.append(row)
                        print(json.dumps(row), flush=True)
        first = makers.get("sqlite") or next(iter(makers.values()))
        if not args.skip_crash:
            out["crash"] = crash_test(first("crash"))
            print("crash", out["crash"], flush=True)
        if not args.skip_workers:
            out["workers"] = worker_throughput(first)
            print("workers", out["workers"], flush=True)
    summary = summarize(rows)
    out.update({"rows": rows, "summary": summary, "floor": floors, "ratios": ratios(summary, budgets),
                "marginal": marginal(summary)})
    out["machine"] += f", {os.getloadavg()[0]:.1f} at end"
    write_report(out, "python benchmarks/planner_speed.py " + shlex.join(sys.argv[1:]))


if __name__ == "__main__":
    main()
