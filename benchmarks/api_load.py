"""REST API under load on 127.0.0.1: 50 concurrent job submissions + status reads at a steady rate.

Starts the real server (`automcu serve`: uvicorn + worker processes) on a temp SQLite database,
then, for ``--duration`` seconds:
- fires ``--jobs`` POST /api/v1/jobs at once (concurrently), each with a distinct seed;
- reads job status (GET /api/v1/jobs/{id}, a random accepted job; GET /api/v1/jobs before any is
  accepted) open-loop at ``--rate`` requests/s, so slow answers don't lower the offered load;
- afterwards, a closed-loop phase (``--sat-concurrency`` clients for ``--sat-seconds``) measures the
  read throughput the server sustains while nothing else runs.
- the ceiling comparison: closed-loop ``--ceiling-clients`` clients for ``--ceiling-seconds`` each on GET of a
  finished job, GET of the job list (50 jobs) and a hello-world FastAPI route served by uvicorn with the same
  settings (same process count, keep-alive, log level); then the same while 2 workers run 20 searches;
- ``--sse-clients`` SSE clients spread over ``--sse-jobs`` running jobs for at most ``--sse-seconds``: each
  must receive every event of its job (the DB's count) and the `end` event; server memory growth reported.
Checks: every submission accepted (202) exactly once (the DB holds exactly those ids, each seed
once), every job finished (succeeded), zero 5xx. Reports p50/p99 latency of reads and writes and
reads/s, with the CPU count the server had.

    python benchmarks/api_load.py [--jobs 50] [--duration 30] [--rate 100] [--workers 2] [--api-processes 2]
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


async def closed_loop(base: str, token: str, paths: list[str], clients: int, seconds: float) -> dict[str, Any]:
    rec = Recorder()
    rng = random.Random(2)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30,
                                 limits=limits) as client:
        stop = time.perf_counter() + seconds

        async def reader() -> None:
            while time.perf_counter() < stop:
                await timed(rec, client.get(rng.choice(paths)))

        t0 = time.perf_counter()
        await asyncio.gather(*(reader() for _ in range(clients)))
        return rec.summary(time.perf_counter() - t0)


async def ceiling_phase(base: str, hello: str, token: str, job_ids: list[str], args: argparse.Namespace
                        ) -> dict[str, Any]:
    """Job read, job list (50) and hello-world, one after the other with the same client settings."""
    n, sec = args.ceiling_clients, args.ceiling_seconds
    await closed_loop(base, token, [f"/api/v1/jobs/{j}" for j in job_ids[:5]], n, 1.0)  # warm-up, not counted
    await closed_loop(hello, token, ["/hello"], n, 1.0)
    out = {"hello_world": await closed_loop(hello, token, ["/hello"], n, sec),
           "job_read": await closed_loop(base, token, [f"/api/v1/jobs/{j}" for j in job_ids], n, sec),
           "job_list_50": await closed_loop(base, token, ["/api/v1/jobs?limit=50"], n, sec)}
    ceiling = out["hello_world"].get("per_second") or 1.0
    for key in ("job_read", "job_list_50"):
        out[key]["ratio_to_hello"] = round((out[key].get("per_second") or 0.0) / ceiling, 3)
    return out


async def submit_jobs(base: str, token: str, n: int, budget: int, board: str, seed0: int) -> list[str]:
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        async def one(i: int) -> str:
            body = {"dataset": "cifar10", "board": board, "budget": budget, "proposer": "evolution", "seed": seed0 + i}
            r = await client.post("/api/v1/jobs", json=body)
            r.raise_for_status()
            return str(r.json()["id"])

        return list(await asyncio.gather(*(one(i) for i in range(n))))


async def wait_finished(base: str, token: str, ids: list[str], timeout: float) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        deadline = time.perf_counter() + timeout
        statuses: dict[str, str] = {}
        while time.perf_counter() < deadline:
            statuses = {j: (await client.get(f"/api/v1/jobs/{j}")).json()["status"] for j in ids}
            if all(s in ("succeeded", "failed", "cancelled") for s in statuses.values()):
                break
            await asyncio.sleep(1.0)
        return statuses


async def sse_phase(base: str, token: str, job_ids: list[str], args: argparse.Namespace,
                    rss: Any) -> dict[str, Any]:
    """``--sse-clients`` followers spread over the jobs; each collects event ids until `end` or the time limit."""
    got: list[tuple[str, list[int], bool, str | None]] = []
    timeout = httpx.Timeout(30, read=args.sse_seconds + 30)
    limits = httpx.Limits(max_connections=args.sse_clients + 8)
    rss_before = rss()
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=timeout,
                                 limits=limits) as client:
        stop = time.perf_counter() + args.sse_seconds

        async def follow(job_id: str) -> None:
            ids: list[int] = []
            ended, error = False, None
            try:
                async with client.stream("GET", f"/api/v1/jobs/{job_id}/events") as r:
                    async for line in r.aiter_lines():
                        if line.startswith("id: "):
                            ids.append(int(line[4:]))
                        elif line == "event: end":
                            ended = True
                            break
                        if time.perf_counter() > stop:
                            break
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            got.append((job_id, ids, ended, error))

        await asyncio.gather(*(follow(job_ids[i % len(job_ids)]) for i in range(args.sse_clients)))
    rss_after = rss()
    return {"clients": args.sse_clients, "jobs": len(job_ids), "results": got,
            "rss_before_kb": rss_before, "rss_after_kb": rss_after}


def tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and its children (Linux /proc), in KB."""
    total = 0
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            for task in Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                pids.extend(int(c) for c in children)
        except (OSError, StopIteration):
            continue
    return total


HELLO_APP = """
from fastapi import FastAPI
app = FastAPI()
@app.get("/hello")
def hello() -> dict[str, str]:
    return {"hello": "world"}
"""


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
    ap.add_argument("--api-processes", type=int, default=2, help="uvicorn processes (the hello app gets the same)")
    ap.add_argument("--ceiling-clients", type=int, default=50)
    ap.add_argument("--ceiling-seconds", type=float, default=10.0)
    ap.add_argument("--busy-jobs", type=int, default=20, help="searches the workers run during the second ceiling")
    ap.add_argument("--busy-budget", type=int, default=60)
    ap.add_argument("--sse-clients", type=int, default=200)
    ap.add_argument("--sse-jobs", type=int, default=10)
    ap.add_argument("--sse-seconds", type=float, default=60.0)
    ap.add_argument("--sse-budget", type=int, default=40)
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
                               str(args.workers), "--poll", "0.2", "--log-level", "warning",
                               "--api-processes", str(args.api_processes)],
                              env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    (tmp / "hello_app.py").write_text(HELLO_APP)
    hello_port = free_port()
    hello_server = subprocess.Popen([sys.executable, "-m", "uvicorn", "hello_app:app", "--port", str(hello_port),
                                     "--workers", str(args.api_processes), "--log-level", "warning",
                                     "--timeout-keep-alive", "30"], cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
    hello = f"http://127.0.0.1:{hello_port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise SystemExit("server did not start: " + (tmp / "server.log").read_text())
        for _ in range(150):
            try:
                if httpx.get(f"{hello}/hello", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        load_before = os.getloadavg()
        load = asyncio.run(load_phase(base, token, args))
        sat = asyncio.run(saturation_phase(base, token, load["accepted"] or ["none"], args))
        finished = load["accepted"] or ["none"]
        ceiling_idle = asyncio.run(ceiling_phase(base, hello, token, finished, args))
        busy_ids = asyncio.run(submit_jobs(base, token, args.busy_jobs, args.busy_budget, args.board, 10_000))
        ceiling_busy = asyncio.run(ceiling_phase(base, hello, token, finished, args))
        busy_running_after = asyncio.run(wait_finished(base, token, busy_ids, 0.0))
        busy_statuses = asyncio.run(wait_finished(base, token, busy_ids, args.finish_timeout * 3))
        sse_ids = asyncio.run(submit_jobs(base, token, args.sse_jobs, args.sse_budget, args.board, 20_000))
        sse = asyncio.run(sse_phase(base, token, sse_ids, args, lambda: tree_rss_kb(server.pid)))
        sse_statuses = asyncio.run(wait_finished(base, token, sse_ids, args.finish_timeout))
    finally:
        for proc in (server, hello_server):
            proc.terminate()
            proc.wait(30)
        log.close()

    from sqlalchemy import select

    from automcu.storage.models import Event, Job

    with open_database(db_url).read_session() as s:
        rows = [r for r in s.execute(select(Job.id, Job.seed, Job.status)) if r.seed < 10_000]
        event_ids = {j: [e for (e,) in s.execute(select(Event.id).where(Event.job_id == j).order_by(Event.id))]
                     for j in sse_ids}
    # a client that saw `end` must hold all of its job's events; one cut by the time limit every event up to its last
    sse_complete = [error is None and bool(ids) and ids == [e for e in event_ids[j] if ended or e <= ids[-1]]
                    for j, ids, ended, error in sse["results"]]
    sse_summary = {"clients": sse["clients"], "jobs": sse["jobs"], "seconds_limit": args.sse_seconds,
                   "clients_with_every_event": sum(sse_complete),
                   "clients_that_saw_end": sum(1 for r in sse["results"] if r[2]),
                   "clients_with_errors": sum(1 for r in sse["results"] if r[3] is not None),
                   "events_per_job": {j: len(v) for j, v in event_ids.items()},
                   "server_rss_before_kb": sse["rss_before_kb"], "server_rss_after_kb": sse["rss_after_kb"],
                   "server_rss_growth_kb": sse["rss_after_kb"] - sse["rss_before_kb"],
                   "job_statuses": dict(Counter(sse_statuses.values()))}
    busy_running = sum(1 for v in busy_running_after.values() if v in ("queued", "running"))
    seeds = Counter(r.seed for r in rows)
    checks = {
        "all_accepted": len(load["accepted"]) == args.jobs,
        "accepted_exactly_once": sorted(load["accepted"]) == sorted(r.id for r in rows)
        and len(rows) == args.jobs and all(seeds[i] == 1 for i in range(args.jobs)),
        "all_finished": all(r.status == "succeeded" for r in rows),
        "zero_5xx": load["writes"]["n_5xx"] + load["reads"]["n_5xx"] + sat["n_5xx"] == 0,
        "zero_transport_errors": load["writes"]["n_errors"] + load["reads"]["n_errors"] + sat["n_errors"] == 0,
        "ceiling_zero_errors": all(v["n_5xx"] + v["n_errors"] == 0 and set(v["status_codes"]) == {"200"}
                                   for c in (ceiling_idle, ceiling_busy) for v in c.values()),
        "job_read_at_least_half_of_hello": ceiling_idle["job_read"]["ratio_to_hello"] >= 0.5,
        "job_list_at_least_30pct_of_hello": ceiling_idle["job_list_50"]["ratio_to_hello"] >= 0.3,
        "reads_p99_under_250ms_while_workers_run": max(ceiling_busy[k]["p99_ms"] or 1e9
                                                       for k in ("job_read", "job_list_50")) < 250,
        "busy_searches_all_finished": all(v == "succeeded" for v in busy_statuses.values()),
        "sse_every_client_every_event": sum(sse_complete) == args.sse_clients,
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
        "ceiling_idle": ceiling_idle, "ceiling_while_workers_run": ceiling_busy,
        "busy_searches_still_running_when_ceiling_ended": busy_running,
        "busy_search_statuses": dict(Counter(busy_statuses.values())), "sse": sse_summary,
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
        "",
        f"Ceiling comparison: {c['ceiling_clients']} closed-loop clients, {c['ceiling_seconds']:.0f} s per route, "
        f"{c['api_processes']} uvicorn process(es) for both servers.",
        "",
        "| phase | route | requests | req/s | p50 ms | p99 ms | ratio to hello | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *[f"| {phase} | {route} | {v['n']} | {v['per_second']} | {v['p50_ms']} | {v['p99_ms']} | "
          f"{v.get('ratio_to_hello', 1.0)} | {v['n_5xx'] + v['n_errors']} |"
          for phase, key in (("idle", "ceiling_idle"), (f"{c['workers']} workers running {c['busy_jobs']} searches",
                                                          "ceiling_while_workers_run"))
          for route, v in r[key].items()],
        "",
        f"Searches still queued/running when the busy ceiling phase ended: "
        f"{r['busy_searches_still_running_when_ceiling_ended']} of {c['busy_jobs']} (budget {c['busy_budget']}).",
        "",
        f"SSE: {r['sse']['clients']} clients on {r['sse']['jobs']} running jobs (at most {c['sse_seconds']:.0f} s): "
        f"{r['sse']['clients_with_every_event']} received every event of their job (in order, no gap; "
        f"{r['sse']['clients_that_saw_end']} saw the job end within the time), "
        f"{r['sse']['clients_with_errors']} errors; server RSS (all processes) {r['sse']['server_rss_before_kb']} KB "
        f"-> {r['sse']['server_rss_after_kb']} KB ({r['sse']['server_rss_growth_kb']:+d} KB).",
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
