#!/usr/bin/env python
"""Full-space estimation time per board: all 15,625 NB201 archs (cifar10 macro).

Reports the time with nothing cached (per-cell analysis + sweep), the cold first sweep of a process
with the per-cell table from the disk cache, then per board: the first sweep for that board's kernel
set and a warm repeat, plus the per-arch exact estimate (full graph + greedy planner) for comparison.
Writes ``benchmarks/results/estimator_speed.{json,md}``.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from automcu.hardware.catalog import list_boards  # noqa: E402
from automcu.hardware.estimator import Macro, estimate, estimate_all  # noqa: E402
from search_spaces.nb201.index import arch_of_index  # noqa: E402


def _timed(fn: object) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call: the box's 2 cores are shared, so the CPU
    time is the figure that does not depend on what else runs."""
    w, c = time.perf_counter(), time.process_time()
    fn()  # type: ignore[operator]
    return time.perf_counter() - w, time.process_time() - c


def main() -> int:
    from automcu.hardware import cellstats
    from automcu.hardware.estimator import _space_static
    from search_spaces.nb201.index import all_ops

    macro = Macro()
    ops = all_ops()  # the embedded NB201 table, loaded once per process
    # 1. nothing cached anywhere: per-cell analysis of all 15,625 cells + the vectorized sweep
    def clear() -> None:
        for cached_fn in (cellstats.cell_table, cellstats._stage_slots, _space_static):
            cached_fn.cache_clear()

    os.environ["AUTOMCU_NO_CACHE"] = "1"
    clear()
    table_wall, table_cpu = _timed(cellstats.cell_table)
    sweep_wall, sweep_cpu = _timed(lambda: estimate_all(None, macro))
    del os.environ["AUTOMCU_NO_CACHE"]
    # 2. the usual cold start: the per-cell table read from the user's disk cache, first sweep
    clear()
    cache = cellstats._cache_file(ops)
    cellstats.cell_table()  # writes the disk cache when it is missing
    cellstats.cell_table.cache_clear()
    cached = bool(cache and cache.is_file())
    cold_wall, cold_cpu = _timed(lambda: estimate_all(None, macro))
    rows = []
    for board in list_boards():
        t = time.perf_counter()
        fig = estimate_all(board, macro)
        first = time.perf_counter() - t
        t = time.perf_counter()
        estimate_all(board, macro)
        warm = time.perf_counter() - t
        t = time.perf_counter()
        for i in range(0, 15625, 625):
            estimate(arch_of_index(i), board, macro)
        per_arch = (time.perf_counter() - t) / 25
        rows.append({"board": board.name, "core": board.core, "first_sweep_s": round(first, 4),
                     "warm_sweep_s": round(warm, 5), "exact_per_arch_ms": round(per_arch * 1e3, 2),
                     "n_archs": len(fig["flash_bytes"])})
    payload = {"no_cache": {"cell_table_wall_s": round(table_wall, 3), "cell_table_cpu_s": round(table_cpu, 3),
                            "sweep_wall_s": round(sweep_wall, 3), "sweep_cpu_s": round(sweep_cpu, 3),
                            "total_cpu_s": round(table_cpu + sweep_cpu, 3)},
               "cold_first_sweep_s": round(cold_wall, 3), "cold_first_sweep_cpu_s": round(cold_cpu, 3),
               "cell_table_from_disk_cache": cached,
               "machine": f"{platform.machine()}, {platform.python_version()}, load average "
                          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
               "macro": macro.__dict__, "boards": rows}
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "estimator_speed.json").write_text(json.dumps(payload, indent=2) + "\n")
    lines = ["# Estimator speed: whole NB201 space (15,625 archs), cifar10 macro", "",
             f"Machine: {payload['machine']} (shared; CPU seconds of this process are the stable figure).", "",
             f"* Nothing cached (first use after install or after the estimator code changed): per-cell table "
             f"{table_cpu:.2f} s CPU ({table_wall:.2f} s wall) + vectorized sweep {sweep_cpu:.2f} s CPU "
             f"({sweep_wall:.2f} s wall) = {table_cpu + sweep_cpu:.2f} s CPU. The table is then kept in the user "
             "cache (keyed by the estimator's source).",
             f"* Cold start of a process, table {'read from the disk cache' if cached else 'computed'}: first sweep "
             f"{cold_cpu:.2f} s CPU ({cold_wall:.2f} s wall; the embedded NB201 table was already loaded).",
             "* Per board below: first sweep for the board's kernel set (same macro) and a warm repeat.", "",
             "| board | core | first sweep for the board (s) | warm sweep (s) | exact estimate per arch (ms) |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['board']} | {r['core']} | {r['first_sweep_s']:.3f} | {r['warm_sweep_s']:.4f} | "
              f"{r['exact_per_arch_ms']:.1f} |" for r in rows]
    (out / "estimator_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
