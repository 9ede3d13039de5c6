#!/usr/bin/env python
"""Full-space estimation time per board: all 15,625 NB201 archs (cifar10 macro).

Reports the cold first sweep in a fresh process state (embedded table load + per-cell analysis,
shared by every board and macro), then per board: the first sweep for that board's kernel set and
a warm repeat, plus the per-arch exact estimate (full graph + greedy planner) for comparison.
Writes ``benchmarks/results/estimator_speed.{json,md}``.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from automcu.hardware.catalog import list_boards  # noqa: E402
from automcu.hardware.estimator import Macro, estimate, estimate_all  # noqa: E402
from search_spaces.nb201.index import arch_of_index  # noqa: E402


def main() -> int:
    from automcu.hardware.cellstats import _cache_file
    from search_spaces.nb201.index import all_ops

    macro = Macro()
    cache = _cache_file(all_ops())
    cached = bool(cache and cache.is_file())
    t = time.perf_counter()
    estimate_all(None, macro)
    cold = time.perf_counter() - t
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
    payload = {"cold_first_sweep_s": round(cold, 3), "cell_table_from_disk_cache": cached,
               "machine": f"{platform.machine()}, {platform.python_version()}",
               "macro": macro.__dict__, "boards": rows}
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "estimator_speed.json").write_text(json.dumps(payload, indent=2) + "\n")
    lines = ["# Estimator speed: whole NB201 space (15,625 archs), cifar10 macro", "",
             f"Cold first sweep in this process: {cold:.2f} s (per-cell table "
             f"{'read from the disk cache' if cached else 'computed, then cached on disk'}; the embedded table "
             "(~0.2-0.6 s) was already loaded). Machine: 2 shared cores.", "",
             "| board | core | first sweep for the board (s) | warm sweep (s) | exact estimate per arch (ms) |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['board']} | {r['core']} | {r['first_sweep_s']:.3f} | {r['warm_sweep_s']:.4f} | "
              f"{r['exact_per_arch_ms']:.1f} |" for r in rows]
    (out / "estimator_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
