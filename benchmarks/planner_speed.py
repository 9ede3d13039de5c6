"""Planner speed: evaluations per second of a lookup search by budget, and stored bytes per evaluation.

Usage: python benchmarks/planner_speed.py [--budgets 100,1000,3000] [--proposers random,evolution] [--db-url URL]
Writes benchmarks/results/planner_speed.{json,md}. A fresh SQLite file per run unless --db-url is given.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

RESULTS = Path(__file__).parent / "results"


def _payload_bytes(db: Any, job_id: str) -> int:
    from automcu.storage.models import AgentMessage, Candidate, Event

    total = 0
    with db.read_session() as s:
        for model in (AgentMessage, Event):
            total += int(s.scalar(select(func.coalesce(func.sum(func.length(func.cast(model.payload, _text()))), 0))
                                  .where(model.job_id == job_id)) or 0)
        total += 200 * int(s.scalar(select(func.count()).select_from(Candidate).where(Candidate.job_id == job_id)) or 0)
    return total


def _text() -> Any:
    from sqlalchemy import Text

    return Text


def run_one(db_url: str, proposer: str, budget: int, seed: int = 0) -> dict[str, Any]:
    from automcu.engine.planner import run_job
    from automcu.jobs.spec import JobSpec
    from automcu.storage.db import open_database
    from automcu.storage.repository import candidates_of, create_job

    db = open_database(db_url)
    spec = JobSpec(dataset="cifar100", budget=budget, proposer=proposer, seed=seed)
    job = create_job(db, spec, spec.resolve_hardware())
    t0 = time.perf_counter()
    done = run_job(db, job.id)
    wall = time.perf_counter() - t0
    n_eval = sum(c.status == "evaluated" for c in candidates_of(db, job.id))
    return {"proposer": proposer, "budget": budget, "n_evaluated": n_eval, "status": done.status,
            "wall_s": round(wall, 3), "evals_per_s": round(n_eval / wall, 1),
            "ms_per_eval": round(1000 * wall / n_eval, 3),
            "payload_bytes_per_eval": round(_payload_bytes(db, job.id) / max(1, n_eval), 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budgets", default="100,1000,3000")
    ap.add_argument("--proposers", default="random,evolution")
    ap.add_argument("--db-url", default=None)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="planner_speed_")
    rows = []
    for proposer in args.proposers.split(","):
        for budget in (int(b) for b in args.budgets.split(",")):
            url = args.db_url or f"sqlite:///{tmp}/{proposer}_{budget}.db"
            rows.append(run_one(url, proposer, budget))
            print(json.dumps(rows[-1]), flush=True)
    ratios = {}
    for proposer in args.proposers.split(","):
        mine = sorted((r for r in rows if r["proposer"] == proposer), key=lambda r: r["budget"])
        ratios[proposer] = round(mine[-1]["ms_per_eval"] / mine[0]["ms_per_eval"], 2)
    out = {"database": "sqlite" if not args.db_url else args.db_url.split(":")[0], "rows": rows,
           "ms_per_eval_ratio_largest_to_smallest": ratios}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "planner_speed.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = ["# Planner speed (lookup search, cifar100, no hardware limit)", "",
             "| proposer | budget | evaluated | wall s | evals/s | ms/eval | stored payload B/eval |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['proposer']} | {r['budget']} | {r['n_evaluated']} | {r['wall_s']} | {r['evals_per_s']} | "
              f"{r['ms_per_eval']} | {r['payload_bytes_per_eval']} |" for r in rows]
    lines += ["", f"ms/eval at the largest budget ÷ at the smallest: {ratios}", "",
              "Command: `nice .venv/bin/python benchmarks/planner_speed.py " f"--budgets {args.budgets} "
              f"--proposers {args.proposers}`", ""]
    (RESULTS / "planner_speed.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
