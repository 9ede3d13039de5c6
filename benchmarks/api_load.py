"""REST API under load on 127.0.0.1: 50 concurrent job submissions + status reads at a steady rate.

Starts the real server (`automcu serve`: uvicorn + worker processes) on a temp SQLite database,
then, for ``--duration`` seconds:
- fires ``--jobs`` POST /api/v1/jobs at once (concurrently), each with a distinct seed;
- reads job status (GET /api/v1/jobs/{id}, a random accepted job; GET /api/v1/jobs before any is
  accepted) open-loop at ``--rate`` requests/s, so slow answers don't lower the offered load;
- afterwards, a closed-loop phase (``--sat-concurrency`` clients for ``--sat-seconds``) measures the
  read throughput the server sustains while nothing else runs.
Checks: every submission accepted (202) exactly once (the DB holds exactly those ids, each seed
once), every job finished (succeeded), zero 5xx. Reports p50/p99 latency of reads and writes and
reads/s, with the CPU count the server had.

    python benchmarks/api_load.py [--jobs 50] [--duration 30] [--rate 100] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))] * 1000, 2)


class Recorder:
    def __init__(self) -> None:
        self.lat: list[float] = []
        self.codes: Counter[str] = Counter()

    def add(self, seconds: float, code: int | str) -> None:
        self.lat.append(seconds)
        self.codes[str(code)] += 1

    def summary(self, duration: float | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"n": len(self.lat), "p50_ms": pct(self.lat, 0.50), "p99_ms": pct(self.lat, 0.99),
                               "max_ms": pct(self.lat, 1.0), "status_codes": dict(self.codes),
                               "n_5xx": sum(v for k, v in self.codes.items() if k.startswith("5")),
                               "n_errors": sum(v for k, v in self.codes.items() if not k.isdigit())}
        if duration:
            out["per_second"] = round(len(self.lat) / duration, 1)
        return out


async def timed(rec: Recorder, coro: Any) -> httpx.Response | None:
    t0 = time.perf_counter()
    try:
        r = await coro
    except httpx.HTTPError as exc:
        rec.add(time.perf_counter() - t0, type(exc).__name__)
        return None
    rec.add(time.perf_counter() - t0, r.status_code)
    return r


async def load_phase(base: str, token: str, args: argparse.Namespace) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=args.jobs + 64, max_keepalive_connections=args.jobs + 64)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30, limits=limits) as client:
        writes, reads = Recorder(), Recorder()
        accepted: list[str] = []
        rng = random.Random(0)

        async def submit(i: int) -> None:
            body = {"dataset": "cifar10", "board": args.board, "budget": args.budget, "proposer": "evolution",
                    "seed": i, "task": f"load test job {i}"}
            r = await timed(writes, client.post("/api/v1/jobs", json=body))
            if r is not None and r.status_code == 202:
                accepted.append(r.json()["id"])

        async def read() -> None:
            if accepted:
                await timed(reads, client.get(f"/api/v1/jobs/{rng.choice(accepted)}"))
            else:
                await timed(reads, client.get("/api/v1/jobs", params={"limit": 10}))

        start = time.perf_counter()
        submissions = asyncio.gather(*(submit(i) for i in range(args.jobs)))
        in_flight: set[asyncio.Task[None]] = set()
        n = 0
        while (now := time.perf_counter() - start) < args.duration:
            due = n / args.rate
            if due > now:
                await asyncio.sleep(due - now)
            task = asyncio.create_task(read())
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            n += 1
        await submissions
        await asyncio.gather(*in_flight)
        elapsed = time.perf_counter() - start

        # every job must finish (bounded wait)
        deadline = time.perf_counter() + args.finish_timeout
        statuses: dict[str, str] = {}
        while time.perf_counter() < deadline:
            page = (await client.get("/api/v1/jobs", params={"limit": 500})).json()
            statuses = {j["id"]: j["status"] for j in page["items"]}
            if all(s in ("succeeded", "failed", "cancelled") for s in statuses.values()):
                break
            await asyncio.sleep(0.5)
        finished_after = time.perf_counter() - start
        jobs = (await client.get("/api/v1/jobs", params={"limit": 500})).json()
        return {"writes": writes.summary(), "reads": reads.summary(elapsed), "offered_read_rate": args.rate,
                "window_seconds": round(elapsed, 2), "accepted": accepted, "statuses": statuses,
                "jobs_in_db": jobs["total"], "all_finished_after_s": round(finished_after, 1)}


async def saturation_phase(base: str, token: str, job_ids: list[str], args: argparse.Namespace) -> dict[str, Any]:
    rec = Recorder()
    rng = random.Random(1)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        stop = time.perf_counter() + args.sat_seconds

        async def reader() -> None:
            while time.perf_counter() < stop:
                await timed(rec, client.get(f"/api/v1/jobs/{rng.choice(job_ids)}"))

        t0 = time.perf_counter()
        await asyncio.gather(*(reader() for _ in range(args.sat_concurrency)))
        return rec.summary(time.perf_counter() - t0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=50)
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of steady reads")
    ap.add_argument("--rate", type=float, default=100.0, help="offered status reads per second")
    ap.add_argument("--workers", type=int, default=2, help="worker processes of `automcu serve`")
    ap.add_argument("--budget", type=int, default=5, help="evaluations per job")
    ap.add_argument("--board", default="STM32F746")
    ap.add_argument("--finish-timeout", type=float, default=120.0)
    ap.add_argument("--sat-seconds", type=float, default=10.0)
    ap.add_argument("--sat-concurrency", type=int, default=16)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args()

    from api.core.security import create_token
    from automcu.storage.db import open_database

    tmp = Path(tempfile.mkdtemp(prefix="automcu-load-"))
    db_url = f"sqlite:///{tmp / 'load.db'}"
    token = create_token(open_database(db_url), "load")
    port = free_port()
    env = {**os.environ, "AUTOMCU_DB_URL": db_url, "AUTOMCU_DATA_DIR": str(tmp)}
    env.pop("AUTOMCU_LLM_BASE_URL", None)
    log = (tmp / "server.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "automcu.cli.app", "serve", "--port", str(port), "--workers",
                               str(args.workers), "--poll", "0.2", "--log-level", "warning"],
                              env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise SystemExit("server did not start: " + (tmp / "server.log").read_text())
        load_before = os.getloadavg()
        load = asyncio.run(load_phase(base, token, args))
        sat = asyncio.run(saturation_phase(base, token, load["accepted"] or ["none"], args))
    finally:
        server.terminate()
        server.wait(30)
        log.close()

    from sqlalchemy import select

    from automcu.storage.models import Job

    with open_database(db_url).sessions() as s:
        rows = list(s.execute(select(Job.id, Job.seed, Job.status)))
    seeds = Counter(r.seed for r in rows)
    checks = {
        "all_accepted": len(load["accepted"]) == args.jobs,
        "accepted_exactly_once": sorted(load["accepted"]) == sorted(r.id for r in rows)
        and len(rows) == args.jobs and all(seeds[i] == 1 for i in range(args.jobs)),
        "all_finished": all(r.status == "succeeded" for r in rows),
        "zero_5xx": load["writes"]["n_5xx"] + load["reads"]["n_5xx"] + sat["n_5xx"] == 0,
        "zero_transport_errors": load["writes"]["n_errors"] + load["reads"]["n_errors"] + sat["n_errors"] == 0,
    }
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 0
    result = {
        "benchmark": "api_load", "host": "127.0.0.1", "cpus": cpus, "python": platform.python_version(),
        "database": "sqlite (WAL)",
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "out"},
        "checks": checks, "passed": all(checks.values()),
        "writes": load["writes"], "reads_during_load": load["reads"], "reads_saturation": sat,
        "window_seconds": load["window_seconds"], "all_finished_after_s": load["all_finished_after_s"],
        "jobs_in_db": len(rows), "job_statuses": dict(Counter(r.status for r in rows)),
        "loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "api_load.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "api_load.md").write_text(render_md(result))
    print(render_md(result))
    if not result["passed"]:
        raise SystemExit(1)


def render_md(r: dict[str, Any]) -> str:
    c = r["config"]
    w, rd, sat = r["writes"], r["reads_during_load"], r["reads_saturation"]
    lines = [
        "# API load (`benchmarks/api_load.py`)",
        "",
        f"`automcu serve` on 127.0.0.1 with {c['workers']} worker processes, SQLite (WAL), {r['cpus']} CPU cores "
        f"shared by the server, the workers and this load generator. {c['jobs']} job submissions fired at once "
        f"(budget {c['budget']} evaluations each, board {c['board']}) while job status is read open-loop at "
        f"{c['rate']:.0f} req/s for {c['duration']:.0f} s; then {c['sat_concurrency']} closed-loop readers for "
        f"{c['sat_seconds']:.0f} s.",
        "",
        "| phase | requests | p50 ms | p99 ms | max ms | req/s | 5xx |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| writes: POST /jobs (50 concurrent) | {w['n']} | {w['p50_ms']} | {w['p99_ms']} | {w['max_ms']} | – | "
        f"{w['n_5xx']} |",
        f"| reads during load: GET /jobs/{{id}} | {rd['n']} | {rd['p50_ms']} | {rd['p99_ms']} | {rd['max_ms']} | "
        f"{rd['per_second']} | {rd['n_5xx']} |",
        f"| reads, saturated ({c['sat_concurrency']} clients) | {sat['n']} | {sat['p50_ms']} | {sat['p99_ms']} | "
        f"{sat['max_ms']} | {sat['per_second']} | {sat['n_5xx']} |",
        "",
        f"Jobs in the database: {r['jobs_in_db']} ({', '.join(f'{k}: {v}' for k, v in r['job_statuses'].items())}); "
        f"all finished {r['all_finished_after_s']} s after the submissions.",
        "",
        f"The machine's load average (1/5/15 min) was {r['loadavg_before']} before and {r['loadavg_after']} after: "
        "other processes shared these cores, so the figures are a floor, not the server's capacity.",
        "",
        "| check | result |",
        "| --- | --- |",
        *[f"| {k.replace('_', ' ')} | {'pass' if v else 'FAIL'} |" for k, v in r["checks"].items()],
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
