#!/usr/bin/env python
"""Start-up time of the common ``automcu`` commands against a bare ``python -c pass``, in one run.

Each command runs 10 times as a fresh process, timed by ``hyperfine`` (``--runs 10 --warmup 1 -N``) when it
is installed, else by subprocess wall clock; the median is reported with the bare interpreter's median
of the same run and the ratio. Target: <= 0.5 s or <= 5x the bare
interpreter. ``python -X importtime`` of ``automcu --help`` names the slowest imports (cumulative).
Writes ``benchmarks/results/cli_startup.{json,md}``. The database is a fresh SQLite file in a temp dir
holding one finished 10-evaluation job (for ``show``); HOME and the data dir point into that temp dir.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
REPEATS = 10
TARGET_S = 0.5
TARGET_RATIO = 5.0
CLI = [sys.executable, "-c", "from automcu.cli.app import main; main()"]


def _median_seconds(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Median wall seconds and mean CPU seconds (user + system) of ``argv``."""
    import resource

    times = []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(REPEATS):
        t = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, cwd=ROOT)
        times.append(time.perf_counter() - t)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / REPEATS
    return statistics.median(times), cpu


def _hyperfine_medians(argvs: list[list[str]], env: dict[str, str]) -> list[tuple[float, float]] | None:
    """Median wall seconds and mean CPU seconds (user + system) of each command in one hyperfine run (None when
    hyperfine is not installed). CPU time hardly depends on how busy the machine is; wall time does."""
    exe = shutil.which("hyperfine")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "hf.json"
        subprocess.run([exe, "-N", "--runs", str(REPEATS), "--warmup", "1", "--style", "none",
                        "--export-json", str(out), *[shlex.join(a) for a in argvs]], env=env, cwd=ROOT,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return [(float(r["median"]), float(r["user"]) + float(r["system"]))
                for r in json.loads(out.read_text())["results"]]


def _slowest_imports(env: dict[str, str], args: list[str], n: int = 12) -> list[dict[str, object]]:
    """The ``n`` imports of the top two levels (a module and what it imports directly) with the largest
    cumulative time, so the list names what a command pulls in rather than one chain's links."""
    proc = subprocess.run([*CLI[:1], "-X", "importtime", *CLI[1:], *args], env=env, capture_output=True,
                          text=True, check=True, cwd=ROOT)
    rows: list[dict[str, object]] = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cum_us, name = line.split(":", 1)[1].split("|", 2)
        if len(name) - len(name.lstrip()) > 3:  # nested: importtime indents by two per level
            continue
        rows.append({"module": name.strip(), "cumulative_ms": int(cum_us) / 1000, "self_ms": int(self_us) / 1000})
    return sorted(rows, key=lambda r: -float(str(r["cumulative_ms"])))[:n]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HOME": tmp, "AUTOMCU_DATA_DIR": str(Path(tmp) / "data"),
               "AUTOMCU_DB_URL": f"sqlite:///{Path(tmp) / 'automcu.db'}", "PYTHONPATH": str(ROOT)}
        out = subprocess.run([*CLI, "search", "--dataset", "cifar10", "--board", "STM32F746", "--budget", "10",
                              "--json", "--quiet"], env=env, capture_output=True, text=True, check=True, cwd=ROOT)
        job_id = json.loads(out.stdout)["job_id"]
        commands = {"--help": ["--help"], "boards": ["boards"], "jobs": ["jobs"], "jobs --json": ["jobs", "--json"],
                    "show": ["show", job_id], "show --candidates": ["show", job_id, "--candidates"],
                    "estimate --arch": ["estimate", "--arch", "6111", "--board", "STM32F746", "--json"]}
        argvs = [[sys.executable, "-c", "pass"], *[[*CLI, *args] for args in commands.values()]]
        load_before = os.getloadavg()[0]
        timed = _hyperfine_medians(argvs, env)
        timer = "hyperfine -N --runs 10 --warmup 1" if timed is not None else "subprocess wall clock"
        if timed is None:
            timed = [_median_seconds(a, env) for a in argvs]
        load_after = os.getloadavg()[0]
        bare, bare_cpu = timed[0]
        rows = []
        for label, (med, cpu) in zip(commands, timed[1:], strict=True):
            rows.append({"command": f"automcu {label}", "median_s": round(med, 3),
                         "ratio_to_bare": round(med / bare, 1), "cpu_s": round(cpu, 3),
                         "meets_target": med <= TARGET_S or med <= TARGET_RATIO * bare})
        imports = {label: _slowest_imports(env, commands[label]) for label in ("--help", "boards", "jobs", "show")}
    result = {"command": "python benchmarks/cli_startup.py", "timer": timer,
              "python_c_pass_median_s": round(bare, 4), "python_c_pass_cpu_s": round(bare_cpu, 4),
              "repeats": REPEATS, "target": f"<= {TARGET_S} s or <= "
              f"{TARGET_RATIO:g}x python -c pass", "commands": rows, "slowest_imports_top_two_levels": imports,
              "python": platform.python_version(), "cpus": os.cpu_count(),
              "load_average_1m": round(load_after, 2), "load_average_1m_before": round(load_before, 2)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cli_startup.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# CLI start-up time", "", f"`{result['command']}`, timed by {timer}. Each command is run as "
             "`python -c 'from automcu.cli.app import main; main()' ARGS` (what the `automcu` script runs).", "",
             f"Median of {REPEATS} fresh processes each; `python -c pass` median "
             f"{bare:.3f} s in the same run (1-minute load average {load_before:.2f} before, {load_after:.2f} after, "
             f"on {os.cpu_count()} CPUs, shared). Target: {result['target']}. CPU s: mean user + system time of "
             f"one run (`python -c pass`: {bare_cpu:.3f} s), which depends far less on the load than wall time: on "
             "an idle machine the wall time is about the CPU time.", "",
             "`jobs` and `show` read the SQLite file through the stdlib (`automcu/storage/sqlite_reads.py`) and, "
             "their arguments being plain, run without Typer's parsing (`automcu/cli/direct.py`); `boards` prints "
             "its validated catalog from `<data dir>/cache/boards.json` (warm after hyperfine's warm-up run; the "
             "first run after a board file changes validates the files with pydantic, ~0.2 s more CPU).", "",
             "| command | median s | x bare | CPU s | meets target |", "|---|---|---|---|---|"]
    lines += [f"| `{r['command']}` | {r['median_s']:.3f} | {r['ratio_to_bare']} | {r['cpu_s']:.3f} | "
              f"{'yes' if r['meets_target'] else 'no'} |" for r in rows]
    for label, rows_of in imports.items():
        lines += ["", f"Slowest imports (top two levels) of `automcu {label}` (`python -X importtime`, cumulative ms):",
                  "", "| module | cumulative ms |", "|---|---|"]
        lines += [f"| `{r['module']}` | {r['cumulative_ms']:.0f} |" for r in rows_of]
    (RESULTS / "cli_startup.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
