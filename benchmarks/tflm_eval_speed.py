#!/usr/bin/env python
"""Wall time of the product's TFLite Micro accuracy run (``automcu.compress.tflm_eval.tflm_logits``) with its
images split over worker processes (``automcu.deploy.tflm_pool``) against one in-process interpreter, run in
the same process, on the same images, alternating which goes first.

Cases: the networks the compress benchmark deploys, int8 at Fashion-MNIST's 28x28x1: the NB201 KD-grid student
(C=8, N=1) and the 64 KB mcu network of the mixed-precision study (whose choice runs ~50 such evaluations of
500 images). The weights are untrained: TFLM's run time depends on the shapes, not the values. Every repeat
checks that both give the same outputs. The pool is started before timing (the product keeps it for the
process's life); its start-up is reported on its own.

Wall time is the figure (the point is to use the idle cores), so run it on an otherwise idle machine.

    python benchmarks/tflm_eval_speed.py [--images 2000] [--repeats 5] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from intervals import t_interval

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CASES = {
    "nb201_student_C8_N1": ("|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_1x1~2|",
                            8, 1),
    "mcu_64KB_C16": ("C16-N1-S1:|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|",
                     0, 0),
}
SHAPE = (1, 28, 28)


def _int8_model(arch: str, C: int, N: int) -> bytes:
    import torch

    from automcu.compress.networks import build_network
    from automcu.deploy.exporter import export_int8, random_calibration

    torch.manual_seed(0)
    model = build_network(arch, C, N, 1, 10).eval()
    return export_int8(model, SHAPE, calibration=random_calibration(SHAPE, 8, 0)).tflite


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "tflm_eval_speed")
    args = ap.parse_args()

    from automcu.compress.tflm_eval import tflm_logits
    from automcu.deploy import tflm_pool

    x = np.random.default_rng(0).standard_normal((args.images, *SHAPE)).astype(np.float32)
    t = time.perf_counter()
    tflm_pool._executor(args.workers).submit(int, 0).result()
    pool_start = time.perf_counter() - t
    cases: dict[str, Any] = {}
    for name, (arch, C, N) in CASES.items():
        data = _int8_model(arch, C, N)
        tflm_logits(data, x[: args.workers * tflm_pool.MIN_CHUNK * 2], workers=args.workers)  # workers load it
        one, split, ratios = [], [], []
        for r in range(args.repeats):
            order = ((1, one), (args.workers, split)) if r % 2 == 0 else ((args.workers, split), (1, one))
            outs = []
            for w, times in order:
                t = time.perf_counter()
                outs.append(tflm_logits(data, x, workers=w))
                times.append(time.perf_counter() - t)
            if not np.array_equal(outs[0], outs[1]):
                raise SystemExit(f"{name}: the split run's outputs differ from the in-process run's")
            ratios.append(one[-1] / split[-1])
            print(f"{name} repeat {r + 1}: 1 worker {one[-1]:.1f} s, {args.workers} workers {split[-1]:.1f} s",
                  flush=True)
        m, lo, hi = t_interval(ratios)
        cases[name] = {"arch": arch, "C": C or None, "N": N or None, "flash_bytes": len(data),
                       "one_worker_s": round(float(np.mean(one)), 2), "split_s": round(float(np.mean(split)), 2),
                       "ms_per_image_one_worker": round(1e3 * float(np.mean(one)) / args.images, 2),
                       "speedup_mean": round(m, 3), "speedup_ci95": [round(lo, 3), round(hi, 3)],
                       "per_repeat_speedup": [round(v, 3) for v in ratios]}
    tflm_pool.shutdown()
    res = {"benchmark": "tflm_eval_speed", "images": args.images, "repeats": args.repeats, "workers": args.workers,
           "pool_start_s": round(pool_start, 2), "cases": cases,
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
           "command": "python benchmarks/tflm_eval_speed.py " + shlex.join(sys.argv[1:])}
    args.out.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
    lines = ["# TFLite Micro accuracy runs split over worker processes", "",
             f"`{res['command']}` — {args.images} Fashion-MNIST-shaped images, {args.repeats} repeats alternating "
             f"the order, {args.workers} workers on a {os.cpu_count()}-CPU machine; the outputs are checked equal "
             f"every repeat. Pool start-up (once per process): {pool_start:.2f} s.", "",
             "| network | Flash | 1 worker | ms/image | split | speed-up (95 % CI) |", "|---|---|---|---|---|---|"]
    for name, c in cases.items():
        lines.append(f"| {name} | {c['flash_bytes']:,} B | {c['one_worker_s']} s | {c['ms_per_image_one_worker']} | "
                     f"{c['split_s']} s | {c['speedup_mean']:.2f}x [{c['speedup_ci95'][0]:.2f}, "
                     f"{c['speedup_ci95'][1]:.2f}] |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
