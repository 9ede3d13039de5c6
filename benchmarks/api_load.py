"""REST API under load on 127.0.0.1: submissions under read load, read ceilings against hello-world, SSE fan-out.

One server, built as ``automcu serve`` builds it (uvicorn ``api.main:create_app`` factory, ``--api-processes``
processes, 30 s keep-alive) with one extra route, ``GET /hello`` (a hello-world FastAPI route in the same app and
the same processes), on a temp SQLite database (WAL); ``--workers`` ``automcu worker`` processes (nice 10, as
``serve`` starts them) run the jobs. Phases:

1. ``--jobs`` POST /api/v1/jobs fired at once (httpx) while wrk reads the job list (``--load-clients``
   connections, ``--duration`` s); every submission must be accepted exactly once and every job must finish.
2. Read ceilings, idle: ``--rounds`` rounds, each running wrk (``--clients`` connections, one wrk thread,
   ``--seconds`` s) on the hello route, GET of a finished job (cycling over the finished jobs) and GET of the job
   list (50 jobs), one after the other; each round gives each route's ratio to that round's hello-world req/s.
   Reported: mean per route and a 95 % t-interval over the rounds.
3. The same while the workers run ``--busy-jobs`` searches (their count is checked at each round; what is left is
   cancelled afterwards).
4. ``--sse-clients`` SSE clients on ``--sse-jobs`` running jobs for at most ``--sse-seconds``: each must get every
   event of its job (the DB's list) and the `end` event; server memory (all its processes) before and after.

Needs ``wrk`` (Debian: ``apt-get install wrk``).

    python benchmarks/api_load.py [--rounds 5] [--seconds 5] [--clients 50] [--api-processes 2] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
API = "/api/v1"
TERMINAL = ("succeeded", "failed", "cancelled")

#: the benchmark's app: the real one plus a hello-world route, served by the same processes
BENCH_APP = '''
from api.main import create_app


def app():
    application = create_app()

    @application.get("/hello", include_in_schema=False)
    def hello() -> dict[str, str]:
        return {"hello": "world"}

    return application
'''

#: wrk script: cycles over the paths given after ``--``, prints one JSON line of figures at the end
WRK_LUA = r'''
local paths = {}
local i = 0
function init(args)
  for _, p in ipairs(args) do paths[#paths + 1] = p end
end
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
'''

#: two-sided 95 % Student t quantiles by degrees of freedom (1..30); beyond, the normal 1.96
_T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def mean_ci95(values: list[float]) -> dict[str, Any]:
    """Mean and 95 % t-interval of ``values`` (one per round)."""
    m = statistics.fmean(values)
    if len(values) < 2:
        return {"mean": round(m, 3), "ci95": None, "n": len(values)}
    half = (_T95[len(values) - 2] if len(values) - 1 <= len(_T95) else 1.96) * statistics.stdev(values) \
        / math.sqrt(len(values))
    return {"mean": round(m, 3), "ci95": [round(m - half, 3), round(m + half, 3)], "n": len(values)}


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))] * 1000, 2)


class Recorder:
    """Latencies and status codes of httpx requests (transport errors by exception name)."""

    def __init__(self) -> None:
        self.lat: list[float] = []
        self.codes: Counter[str] = Counter()

    async def timed(self, coro: Any) -> httpx.Response | None:
        t0 = time.perf_counter()
        try:
            r = await coro
        except httpx.HTTPError as exc:
            self.lat.append(time.perf_counter() - t0)
            self.codes[type(exc).__name__] += 1
            return None
        self.lat.append(time.perf_counter() - t0)
        self.codes[str(r.status_code)] += 1
        return r

    def summary(self) -> dict[str, Any]:
        return {"n": len(self.lat), "p50_ms": pct(self.lat, 0.50), "p99_ms": pct(self.lat, 0.99),
                               "max_ms": pct(self.lat, 1.0), "status_codes": dict(self.codes),
                               "n_5xx": sum(v for k, v in self.codes.items() if k.startswith("5")),
                               "n_errors": sum(v for k, v in self.codes.items() if not k.isdigit())}


def client(base: str, token: str, connections: int = 100, read_timeout: float = 30.0) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, limits=limits,
                             timeout=httpx.Timeout(30, read=read_timeout))


async def submit_jobs(c: httpx.AsyncClient, n: int, budget: int, board: str, seed0: int,
                      rec: Recorder | None = None) -> list[str]:
    """``n`` concurrent POST /jobs (seeds ``seed0``...); the accepted ids (all must be 202 unless ``rec`` counts)."""
    rec = rec or Recorder()

    async def one(i: int) -> str | None:
        body = {"dataset": "cifar10", "board": board, "budget": budget, "proposer": "evolution", "seed": seed0 + i,
                "task": f"load test job {seed0 + i}"}
        r = await rec.timed(c.post(f"{API}/jobs", json=body))
        return str(r.json()["id"]) if r is not None and r.status_code == 202 else None

    return [j for j in await asyncio.gather(*(one(i) for i in range(n))) if j is not None]


async def wait_finished(c: httpx.AsyncClient, ids: list[str], timeout: float) -> dict[str, str]:
    """Poll the jobs until all are terminal or ``timeout`` s passed; their last statuses."""
    deadline = time.perf_counter() + timeout
    while True:
        statuses = {j: (await c.get(f"{API}/jobs/{j}")).json()["status"] for j in ids}
        if all(s in TERMINAL for s in statuses.values()) or time.perf_counter() >= deadline:
            return statuses
        await asyncio.sleep(0.5)


def wrk_command(url: str, paths: list[str], token: str, clients: int, seconds: int, lua: Path) -> list[str]:
    return ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s", "-H", f"Authorization: Bearer {token}",
            "-s", str(lua), url, "--", *paths]


def wrk_figures(stdout: str) -> dict[str, Any]:
    """req/s, p50/p90/p99/max in ms and errors (non-2xx included) from the script's JSON line."""
    line = next(x for x in stdout.splitlines() if x.startswith("WRK_JSON "))
    w = json.loads(line.removeprefix("WRK_JSON "))
    errors = sum(w[k] for k in ("connect", "read", "write", "status", "timeout"))
    return {"requests": w["requests"], "per_second": round(w["requests"] / (w["duration_us"] / 1e6), 1),
            "p50_ms": round(w["p50_us"] / 1000, 2), "p90_ms": round(w["p90_us"] / 1000, 2),
            "p99_ms": round(w["p99_us"] / 1000, 2), "max_ms": round(w["max_us"] / 1000, 2), "errors": errors,
            "error_kinds": {k: w[k] for k in ("connect", "read", "write", "status", "timeout") if w[k]}}


def wrk(url: str, paths: list[str], token: str, clients: int, seconds: int, lua: Path) -> dict[str, Any]:
    """One wrk run over ``paths`` (cycled)."""
    cmd = wrk_command(url, paths, token, clients, seconds, lua)
    return wrk_figures(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


async def load_phase(base: str, token: str, args: argparse.Namespace, lua: Path) -> dict[str, Any]:
    """Phase 1: the submissions, fired at once, while wrk reads the job list (the jobs being submitted and run)."""
    cmd = wrk_command(base, [f"{API}/jobs?limit=50"], token, args.load_clients, args.duration, lua)
    reader = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE)
    async with client(base, token, args.jobs + 8) as c:
        writes = Recorder()
        start = time.perf_counter()
        accepted = await submit_jobs(c, args.jobs, args.budget, args.board, 0, writes)
        submitted_after = time.perf_counter() - start
        out, _ = await reader.communicate()
        reads = wrk_figures(out.decode())
        statuses = await wait_finished(c, accepted, args.finish_timeout)
        return {"writes": writes.summary(), "reads": reads, "submitted_after_s": round(submitted_after, 2),
                "accepted": accepted, "statuses": statuses,
                "all_finished_after_s": round(time.perf_counter() - start, 1)}


def ceiling_phase(base: str, token: str, finished: list[str], args: argparse.Namespace, lua: Path,
                  running: Callable[[], int] | None = None) -> dict[str, Any]:
    """Phases 2 and 3: ``--rounds`` rounds of hello / job read / job list; per-round ratios; mean and 95 % CI."""
    routes = {"hello_world": ["/hello"], "job_read": [f"{API}/jobs/{j}" for j in finished],
              "job_list_50": [f"{API}/jobs?limit=50"]}
    for paths in routes.values():  # warm-up (connections, caches, imports), not counted
        wrk(base, paths, token, args.clients, 2, lua)
    rounds: list[dict[str, Any]] = []
    for _ in range(args.rounds):
        before = running() if running else None
        r: dict[str, Any] = {k: wrk(base, p, token, args.clients, args.seconds, lua) for k, p in routes.items()}
        for k in ("job_read", "job_list_50"):
            r[k]["ratio_to_hello"] = round(r[k]["per_second"] / max(r["hello_world"]["per_second"], 1e-9), 3)
        if running:
            r["searches_running"] = [before, running()]
        rounds.append(r)
    summary = {}
    for k in routes:
        summary[k] = {"per_second": mean_ci95([r[k]["per_second"] for r in rounds]),
                      "p50_ms": mean_ci95([r[k]["p50_ms"] for r in rounds]),
                      "p99_ms": mean_ci95([r[k]["p99_ms"] for r in rounds]),
                      "p99_ms_worst_round": max(r[k]["p99_ms"] for r in rounds),
                      "errors": sum(r[k]["errors"] for r in rounds),
                      "requests": sum(r[k]["requests"] for r in rounds)}
        if k != "hello_world":
            summary[k]["ratio_to_hello"] = mean_ci95([r[k]["ratio_to_hello"] for r in rounds])
    return {"rounds": rounds, "summary": summary}


async def sse_phase(base: str, token: str, job_ids: list[str], args: argparse.Namespace,
                    rss: Callable[[], int]) -> dict[str, Any]:
    """Phase 4: followers spread over the jobs; each collects event ids until `end` or the time limit."""
    got: list[tuple[str, list[int], bool, str | None]] = []
    rss_before = rss()
    async with client(base, token, args.sse_clients + 8, read_timeout=args.sse_seconds + 30) as c:
        stop = time.perf_counter() + args.sse_seconds

        async def follow(job_id: str) -> None:
            ids: list[int] = []
            ended, error = False, None
            try:
                async with c.stream("GET", f"{API}/jobs/{job_id}/events") as r:
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
    return {"clients": args.sse_clients, "jobs": len(job_ids), "results": got,
            "rss_before_kb": rss_before, "rss_after_kb": rss()}


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
                pids.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, StopIteration):
            continue
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, log: Path) -> None:
    for _ in range(300):
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server did not start: {log.read_text()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=50, help="concurrent submissions (and the finished jobs read later)")
    ap.add_argument("--duration", type=int, default=30, help="seconds of job-list reads (wrk) from the submissions on")
    ap.add_argument("--load-clients", type=int, default=16, help="wrk connections reading during the submissions")
    ap.add_argument("--workers", type=int, default=2, help="`automcu worker` processes")
    ap.add_argument("--budget", type=int, default=5, help="evaluations per submitted job")
    ap.add_argument("--board", default="STM32F746")
    ap.add_argument("--finish-timeout", type=float, default=180.0)
    ap.add_argument("--api-processes", type=int, default=2, help="uvicorn processes")
    ap.add_argument("--clients", type=int, default=50, help="wrk connections in the ceiling phases")
    ap.add_argument("--seconds", type=int, default=5, help="wrk seconds per route and round")
    ap.add_argument("--rounds", type=int, default=5, help="rounds per ceiling phase (for the 95 %% interval)")
    ap.add_argument("--busy-jobs", type=int, default=20, help="searches the workers run during the busy ceiling")
    ap.add_argument("--busy-budget", type=int, default=3000, help="their budget (what is left is cancelled)")
    ap.add_argument("--sse-clients", type=int, default=200)
    ap.add_argument("--sse-jobs", type=int, default=10)
    ap.add_argument("--sse-seconds", type=float, default=60.0)
    ap.add_argument("--sse-budget", type=int, default=40)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--compare", type=Path, help="an earlier api_load JSON (e.g. of the code before a change): its "
                    "read ceilings are shown beside this run's")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found (Debian: apt-get install wrk)")

    from api.core.security import create_token
    from automcu.storage.db import open_database

    tmp = Path(tempfile.mkdtemp(prefix="automcu-load-"))
    db_file = tmp / "load.db"
    db_url = f"sqlite:///{db_file}"
    token = create_token(open_database(db_url), "load")
    (tmp / "bench_app.py").write_text(BENCH_APP)
    lua = tmp / "paths.lua"
    lua.write_text(WRK_LUA)
    env = {**os.environ, "AUTOMCU_DB_URL": db_url, "AUTOMCU_DATA_DIR": str(tmp),
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp)])}
    env.pop("AUTOMCU_LLM_BASE_URL", None)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp / "server.log"
    log = log_path.open("wb")
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench_app:app", "--factory", "--host", "127.0.0.1",
                               "--port", str(port), "--workers", str(args.api_processes), "--log-level", "warning",
                               "--timeout-keep-alive", "30"], env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
    workers = [subprocess.Popen([sys.executable, "-m", "automcu.cli.app", "worker", "--poll", "0.2", "--nice", "10"],
                                env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT) for _ in range(args.workers)]

    def running() -> int:
        with sqlite3.connect(db_file, timeout=30) as con:
            return int(con.execute("SELECT count(*) FROM jobs WHERE status = 'running'").fetchone()[0])

    try:
        wait_up(f"{base}/hello", log_path)
        load_before = os.getloadavg()
        load = asyncio.run(load_phase(base, token, args, lua))
        finished = load["accepted"] or ["none"]
        ceiling_idle = ceiling_phase(base, token, finished, args, lua)

        async def start_busy() -> list[str]:
            async with client(base, token) as c:
                return await submit_jobs(c, args.busy_jobs, args.busy_budget, args.board, 10_000)

        busy_ids = asyncio.run(start_busy())
        for _ in range(100):  # the workers have claimed their first searches
            if running() >= min(args.workers, args.busy_jobs):
                break
            time.sleep(0.1)
        ceiling_busy = ceiling_phase(base, token, finished, args, lua, running)

        async def end_busy() -> dict[str, str]:
            async with client(base, token) as c:
                for j in busy_ids:
                    await c.post(f"{API}/jobs/{j}/cancel")  # 409 for those that ended: fine
                return await wait_finished(c, busy_ids, args.finish_timeout)

        busy_statuses = asyncio.run(end_busy())

        async def sse_run() -> tuple[list[str], dict[str, Any], dict[str, str]]:
            async with client(base, token) as c:
                ids = await submit_jobs(c, args.sse_jobs, args.sse_budget, args.board, 20_000)
            sse = await sse_phase(base, token, ids, args, lambda: tree_rss_kb(server.pid))
            async with client(base, token) as c:
                return ids, sse, await wait_finished(c, ids, args.finish_timeout)

        sse_ids, sse, sse_statuses = asyncio.run(sse_run())
    finally:
        for proc in (server, *workers):
            proc.terminate()
        for proc in (server, *workers):
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
    seeds = Counter(r.seed for r in rows)
    idle, busy = ceiling_idle["summary"], ceiling_busy["summary"]
    w, rd = load["writes"], load["reads"]
    checks = {
        "all_accepted": len(load["accepted"]) == args.jobs,
        "accepted_exactly_once": sorted(load["accepted"]) == sorted(r.id for r in rows)
        and len(rows) == args.jobs and all(seeds[i] == 1 for i in range(args.jobs)),
        "all_finished": all(r.status == "succeeded" for r in rows),
        "zero_errors_during_submissions": w["n_5xx"] + w["n_errors"] + rd["errors"] == 0,
        "ceiling_zero_errors": all(v["errors"] == 0 for c in (idle, busy) for v in c.values()),
        "job_read_at_least_half_of_hello": idle["job_read"]["ratio_to_hello"]["mean"] >= 0.5,
        "job_list_at_least_30pct_of_hello": idle["job_list_50"]["ratio_to_hello"]["mean"] >= 0.3,
        "searches_running_through_the_busy_phase": all(min(r["searches_running"]) >= min(args.workers, args.busy_jobs)
                                                       for r in ceiling_busy["rounds"]),
        "reads_p99_under_250ms_while_workers_run": max(busy[k]["p99_ms"]["mean"]
                                                       for k in ("job_read", "job_list_50")) < 250,
        "busy_searches_none_failed": all(v in ("succeeded", "cancelled") for v in busy_statuses.values()),
        "sse_every_client_every_event": sum(sse_complete) == args.sse_clients,
    }
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 0
    result = {
        "benchmark": "api_load", "host": "127.0.0.1", "cpus": cpus, "python": platform.python_version(),
        "database": "sqlite (WAL)", "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                 text=True).stdout.strip() or None,
        "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0:1],
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "out"},
        "checks": checks, "passed": all(checks.values()),
        "writes": w, "reads_during_submissions": rd, "submitted_after_s": load["submitted_after_s"],
        "all_finished_after_s": load["all_finished_after_s"], "jobs_in_db": len(rows),
        "job_statuses": dict(Counter(r.status for r in rows)),
        "ceiling_idle": ceiling_idle, "ceiling_while_workers_run": ceiling_busy,
        "busy_search_statuses": dict(Counter(busy_statuses.values())), "sse": sse_summary,
        "loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    if args.compare is not None:
        before = json.loads(args.compare.read_text())
        result["compared_with"] = {"file": args.compare.as_posix(), "command": before.get("command"),
                                   "commit": before.get("commit"), "loadavg_before": before.get("loadavg_before"),
                                   "ceiling_idle": before["ceiling_idle"]["summary"],
                                   "ceiling_while_workers_run": before["ceiling_while_workers_run"]["summary"]}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "api_load.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "api_load.md").write_text(render_md(result))
    print(render_md(result))
    if not result["passed"]:
        raise SystemExit(1)


def _ci(v: dict[str, Any]) -> str:
    return f"{v['mean']}" + (f" [{v['ci95'][0]}, {v['ci95'][1]}]" if v.get("ci95") else "")


def _ceiling_rows(c: dict[str, Any], summaries: dict[str, Any], label: str = "") -> list[str]:
    rows = []
    for phase, key in (("idle", "ceiling_idle"), (f"{c['workers']} workers running searches",
                                                   "ceiling_while_workers_run")):
        for route, v in summaries[key].items():
            ratio = _ci(v["ratio_to_hello"]) if "ratio_to_hello" in v else "1"
            rows.append(f"| {label}{phase} | {route} | {v['requests']} | {_ci(v['per_second'])} | {_ci(v['p50_ms'])} | "
                        f"{_ci(v['p99_ms'])} | {v['p99_ms_worst_round']} | {ratio} | {v['errors']} |")
    return rows


def render_md(r: dict[str, Any]) -> str:
    c = r["config"]
    w, rd = r["writes"], r["reads_during_submissions"]
    rows = _ceiling_rows(c, {k: r[k]["summary"] for k in ("ceiling_idle", "ceiling_while_workers_run")})
    before: list[str] = []
    if (cmp := r.get("compared_with")) is not None:
        before = ["", f"Before (`{cmp['file']}`: commit {cmp.get('commit')}, `{cmp.get('command')}`, load average "
                  f"{cmp.get('loadavg_before')} at its start; same server set-up, same wrk client):", "",
                  "| phase | route | requests | req/s | p50 ms | p99 ms | worst p99 ms | ratio to hello | errors |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
                  *_ceiling_rows(c, cmp, "before: ")]
    running = [n for rd_ in r["ceiling_while_workers_run"]["rounds"] for n in rd_["searches_running"]]
    sse = r["sse"]
    lines = [
        "# API load (`benchmarks/api_load.py`)",
        "",
        f"Command: `{r['command']}` ({r['wrk'][0] if r['wrk'] else 'wrk'}).",
        "",
        f"One uvicorn server ({c['api_processes']} processes, `api.main:create_app` as `automcu serve` runs it, plus a "
        f"hello-world route `GET /hello` in the same app and processes), {c['workers']} `automcu worker` processes, "
        f"SQLite (WAL), on {r['cpus']} CPU cores shared by the server, the workers, the load generator (wrk, one "
        "thread) and whatever else ran on the machine.",
        "",
        "**The box is shared and noisy**: other jobs ran on these 2 cores during the measurement (load average "
        f"{r['loadavg_before']} before, {r['loadavg_after']} after). Absolute figures are a floor, not the server's "
        "capacity; the ratios compare routes measured back to back in the same round, which cancels part of the "
        "noise, and the intervals show what is left (within one run: between runs, as the box's load changes, the "
        "ratios moved by more than these intervals).",
        "",
        "Results committed before this version of the script (an httpx client, a separate hello-world app) are not "
        "comparable with these: that client, not the server, capped hello-world there. The `before` rows below are "
        "the old API measured with this script.",
        "",
        f"## Read ceilings: {c['rounds']} rounds x {c['seconds']} s per route, {c['clients']} wrk connections",
        "",
        f"Each round runs hello-world, a finished job's read (cycling over the {c['jobs']} finished jobs) and the "
        "50-job list back to back; the ratio is the route's req/s over that round's hello-world req/s. Figures: mean "
        "over rounds [95 % t-interval].",
        "",
        "| phase | route | requests | req/s | p50 ms | p99 ms | worst p99 ms | ratio to hello | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        *before,
        "",
        f"Searches running (status `running`) at the start and end of each busy round: {running} "
        f"({c['busy_jobs']} submitted with budget {c['busy_budget']}; afterwards cancelled: "
        f"{r['busy_search_statuses']}).",
        "",
        "## Submissions under read load",
        "",
        f"{c['jobs']} POST /jobs fired at once (httpx; budget {c['budget']}, board {c['board']}) while wrk reads the "
        f"job list (`GET /jobs?limit=50`: its page changes as the jobs are submitted and run, so it is rendered "
        f"afresh at each change) with {c['load_clients']} connections for {c['duration']} s; the workers start on "
        "the jobs as they arrive.",
        "",
        "| requests | n | p50 ms | p99 ms | max ms | req/s | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| POST /jobs ({c['jobs']} concurrent, all answered after {r['submitted_after_s']} s) | {w['n']} | "
        f"{w['p50_ms']} | {w['p99_ms']} | {w['max_ms']} | – | {w['n_5xx'] + w['n_errors']} |",
        f"| GET /jobs?limit=50 meanwhile | {rd['requests']} | {rd['p50_ms']} | {rd['p99_ms']} | {rd['max_ms']} | "
        f"{rd['per_second']} | {rd['errors']} |",
        "",
        f"Jobs in the database: {r['jobs_in_db']} ({', '.join(f'{k}: {v}' for k, v in r['job_statuses'].items())}); "
        f"all finished {r['all_finished_after_s']} s after the submissions started.",
        "",
        "## SSE",
        "",
        f"{sse['clients']} clients on {sse['jobs']} running jobs (at most {c['sse_seconds']:.0f} s): "
        f"{sse['clients_with_every_event']} received every event of their job (in order, no gap; "
        f"{sse['clients_that_saw_end']} saw the job end within the time), {sse['clients_with_errors']} errors; "
        f"server RSS (all processes) {sse['server_rss_before_kb']} KB -> {sse['server_rss_after_kb']} KB "
        f"({sse['server_rss_growth_kb']:+d} KB).",
        "",
        "## Checks",
        "",
        "| check | result |",
        "| --- | --- |",
        *[f"| {k.replace('_', ' ')} | {'pass' if v else 'FAIL'} |" for k, v in r["checks"].items()],
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
