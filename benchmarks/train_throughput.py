#!/usr/bin/env python
"""Training throughput of the product's training loop (``automcu.train.loop.train_model``) in the two memory
layouts: NHWC (``TrainConfig.channels_last``, the default) against NCHW, run in the same process.

Cases: mcu-space winners of the real-data benchmark and the DS-CNN baseline (64 KB / 256 KB) on Fashion-MNIST
training images (Debian's ``dataset-fashion-mnist`` IDX files, or ``--data``) with the product's shift
augmentation and without it, and an NB201 cell and an mcu net on 3-channel 32x32 input (the CIFAR macro: the
same images stacked to 3 channels and padded, since no RGB dataset is installed here; the speed depends on the
tensor shapes, not on the pixels). Each repeat trains one epoch of ``--images`` images in each layout, in
alternating order; the figure is the per-repeat ratio of CPU seconds (the box's 2 cores are shared, so CPU time
is the figure that does not depend on what else runs), mean and 95 % interval over ``--repeats``.

A 1-channel batch that the shift augmentation has rebuilt has strides that torch reads as NHWC, so grayscale
training with augmentation ran NHWC before ``channels_last`` existed; the option makes the layout explicit for
every input (RGB, and grayscale without augmentation).

    python benchmarks/train_throughput.py [--data DIR] [--images 4096] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from intervals import t_interval  # benchmarks/intervals.py (this script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
NAME = "train_throughput"
FASHION = Path("/usr/share/datasets/fashion-mnist")
MCU64 = "C16-N1-S1:|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|nor_conv_1x1~0|skip_connect~1|nor_conv_3x3~2|"
MCU16 = "C12-N1-S2:|none~0|+|skip_connect~0|avg_pool_3x3~1|+|dw_sep_conv_3x3~0|nor_conv_3x3~1|none~2|"
DWSEP = "C24-N1-S2:|none~0|+|nor_conv_1x1~0|dw_sep_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_3x3~1|avg_pool_3x3~2|"
NB201 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
#: (case, network, input: "gray" 1x28x28 | "rgb" 3x32x32, shift pixels, horizontal flips)
CASES = [
    ("mcu 64K winner (C16, stride 1), gray, shift", MCU64, "gray", 2, False),
    ("mcu 64K winner (C16, stride 1), gray, no augmentation", MCU64, "gray", 0, False),
    ("mcu dw-sep (C24, stride 2), gray, shift", DWSEP, "gray", 2, False),
    ("mcu 16K winner (C12, stride 2), gray, shift", MCU16, "gray", 2, False),
    ("DS-CNN baseline 64K/256K, gray, shift", "dscnn", "gray", 2, False),
    ("NB201 cell C16 N1 (CIFAR macro), rgb, shift + flip", NB201, "rgb", 2, True),
    ("mcu dw-sep (C24, stride 2), rgb, shift + flip", DWSEP, "rgb", 2, True),
]


def _ci95(vals: list[float]) -> list[float]:
    return list(t_interval(vals)[1:])


def _network(arch: str, in_ch: int) -> Any:
    from automcu.hardware.spec import HardwareSpec
    from automcu.train.baseline import build_baseline
    from search_spaces.mcu.torch_model import build_mcu_model
    from search_spaces.nb201.torch_model import build_model

    if arch == "dscnn":
        hw = HardwareSpec(name="F411-class 64K/256K", sram_kb=64, flash_kb=256, clock_mhz=100, core="cortex-m4f")
        return build_baseline(hw, in_ch=in_ch)[0]
    if arch.startswith("C"):
        return build_mcu_model(arch, in_ch=in_ch, classes=10)
    return build_model(arch, C=16, N=1, in_ch=in_ch, classes=10)


def _epoch_cpu_seconds(case: tuple[str, str, str, int, bool], x: Any, y: Any, channels_last: bool,
                       seed: int) -> float:
    import torch

    from automcu.train.config import TrainConfig
    from automcu.train.loop import train_model

    _, arch, _, shift, hflip = case
    torch.manual_seed(seed)
    model = _network(arch, x.shape[1])
    cfg = TrainConfig(epochs=1, seed=seed, threads=1, shift=shift, hflip=hflip, channels_last=channels_last)
    c0 = time.process_time()
    train_model(model, x, y, cfg, progress=False)
    return time.process_time() - c0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=FASHION, help="Fashion-MNIST IDX folder")
    ap.add_argument("--images", type=int, default=4096)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    from automcu.data import load_dataset

    try:
        ds, source = load_dataset("fashion-mnist", path=args.data), "Fashion-MNIST"
    except (FileNotFoundError, ValueError) as err:
        print(f"train_throughput: {err}", file=sys.stderr)
        return 2
    norm = ds.normalization()
    import numpy as np

    gray = np.ascontiguousarray(norm.apply(ds.x_train[:args.images]), dtype=np.float32)
    rgb = np.ascontiguousarray(np.pad(np.repeat(gray, 3, axis=1), ((0, 0), (0, 0), (2, 2), (2, 2))))
    y = ds.y_train[:args.images]
    t0 = time.perf_counter()
    rows = []
    for case in CASES:
        name, arch, kind = case[0], case[1], case[2]
        x = gray if kind == "gray" else rgb
        nhwc, nchw, ratio = [], [], []
        _epoch_cpu_seconds(case, x[:256], y[:256], True, 0)  # warm-up (allocator, kernels)
        for r in range(args.repeats):
            order = (True, False) if r % 2 == 0 else (False, True)
            sec = {cl: _epoch_cpu_seconds(case, x, y, cl, r) for cl in order}
            nhwc.append(len(x) / sec[True])
            nchw.append(len(x) / sec[False])
            ratio.append(sec[False] / sec[True])
        rows.append({"case": name, "arch": arch, "input": list(x.shape[1:]), "shift": case[3], "hflip": case[4],
                     "nhwc_img_per_cpu_s": statistics.fmean(nhwc),
                     "nchw_img_per_cpu_s": statistics.fmean(nchw), "speedup_mean": statistics.fmean(ratio),
                     "speedup_ci95": _ci95(ratio), "speedups": ratio})
        print(f"{name}: NHWC {rows[-1]['nhwc_img_per_cpu_s']:.0f} img/s, NCHW {rows[-1]['nchw_img_per_cpu_s']:.0f} "
              f"img/s, x{rows[-1]['speedup_mean']:.2f}", flush=True)
    import torch

    res = {"benchmark": NAME, "data": source, "images": len(y), "repeats": args.repeats,
           "torch": torch.__version__, "threads": 1, "machine": f"{platform.machine()}, shared 2-core box",
           "cases": rows, "seconds": round(time.perf_counter() - t0, 1),
           "command": "python benchmarks/train_throughput.py " + shlex.join(sys.argv[1:])}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{NAME}.json").write_text(json.dumps(res, indent=2) + "\n")
    lines = ["# Training throughput: NHWC (channels_last, the default) vs NCHW", "",
             f"One epoch of {len(y):,} {source} images through `train_model` (batch 128, "
             f"1 torch thread, torch {torch.__version__}), {args.repeats} repeats in alternating order; images per "
             "CPU second and the NCHW/NHWC CPU-time ratio with its 95 % interval.", "",
             "| case | NHWC img/s | NCHW img/s | speedup | 95 % CI |", "|---|---|---|---|---|"]
    lines += [f"| {r['case']} | {r['nhwc_img_per_cpu_s']:.0f} | {r['nchw_img_per_cpu_s']:.0f} | "
              f"×{r['speedup_mean']:.2f} | [{r['speedup_ci95'][0]:.2f}, {r['speedup_ci95'][1]:.2f}] |" for r in rows]
    lines += ["", "A 1-channel batch rebuilt by the shift augmentation already has strides that torch reads as NHWC, "
              "so augmented grayscale training ran NHWC before the option existed (speedup ≈ 1 there); RGB 32×32 "
              "rows use the Fashion-MNIST images stacked to 3 channels and padded (no RGB dataset is installed "
              "here; the speed depends on the shapes, not the pixels).",
              "", f"Machine: {res['machine']}. Total {res['seconds']:.0f} s. Reproduce: `{res['command']}`"]
    (args.out / f"{NAME}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
