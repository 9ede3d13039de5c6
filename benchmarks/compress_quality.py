"""Compression quality on Fashion-MNIST (28×28×1) under a 64 KB SRAM / 256 KB Flash budget.

1. Winner: the product's estimator sweeps all 15,625 archs at the deployment macro (C=8, N=1,
   1×28×28 input, 10 classes) on an STM32F411 (Cortex-M4F, 100 MHz) limited to 64 KB SRAM and
   256 KB Flash, with a latency limit (default 80 ms); among the archs that fit, the one with the
   best NAS-Bench-201 CIFAR-10 validation accuracy (the lookup the search uses) is the winner.
2. Default recipe (``run_compress``, the same code as ``automcu compress --qat``): train → int8 PTQ
   (256 training images for calibration) → QAT fine-tune → full-int8 ``.tflite``; int8 accuracy
   measured by running the ``.tflite`` in TFLite Micro on the test images, arena and Flash measured
   there too; wall time of the whole recipe on this machine.
3. KD: a teacher (the same cell at C=16, trained 2× the students' epochs) trained once, then the
   student with KD and without KD at equal epochs for each seed; float test accuracy mean ± std.

Training uses seeded subsets (``--train-limit``, ``--kd-train-limit``) and TFLM accuracy a seeded
test subset (``--test-limit``: TFLM's Python interpreter runs one image at a time) so the
benchmark fits a shared 2-core box; the numbers of images are written into the results.

    python benchmarks/compress_quality.py [--data /usr/share/datasets/fashion-mnist] [--quick]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import shlex
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from intervals import t_interval  # benchmarks/intervals.py (this script's folder is on sys.path)

RESULTS = Path(__file__).resolve().parent / "results"
ARCH_NAME = "compress_quality"
#: results of the studies run on their own (``--only variants`` / ``--only mixed``, and the superseded runs kept
#: beside them: every key starting so) and their markdown sections
SEPARATE_STUDIES = ("kd_variants", "mixed_precision")
#: the product's mixed-precision chooser the study measures; a new version starts the study afresh, the stored
#: seeds kept under ``mixed_precision_chooser_v<old>``. v2: each candidate's own arena checked against the board;
#: v3: a layer whose 4-bit unpack scratch does not fit the board alone is left out of the frontier; v4: "within
#: the tolerance" judged paired on the same images (95 % interval), most accurate fitting point when int8 does not fit;
#: v5: 16x8 only on the choice's int8 layers (not undoing a 4-bit layer's saving), kept only if accuracy and KL
#: both improve; the fine-tuned choice also replaces the first at the same Flash when more accurate
MIXED_CHOOSER = 5
SEPARATE_SECTIONS = ("## KD variants (issue 17)", "## Mixed precision (issue 17)")


def pick_winner(max_latency_ms: float, C: int, N: int) -> dict[str, Any]:
    from automcu.hardware.catalog import resolve_hardware
    from automcu.hardware.estimator import Macro, estimate_all
    from search_spaces.nb201.index import arch_of_index
    from search_spaces.nb201.table import load_table

    hw = resolve_hardware("stm32f411", sram_kb=64, flash_kb=256)
    assert hw is not None
    est = estimate_all(hw, Macro(C=C, N=N, in_ch=1, hw=28, classes=10))
    fits = (est["peak_sram_bytes"] <= hw.sram_bytes) & (est["flash_bytes"] <= hw.flash_bytes)
    ok = fits & (est["latency_ms"] <= max_latency_ms)
    acc = load_table().column("cifar10_valid")
    i = int(np.argmax(np.where(ok, acc, -1.0)))
    return {"hardware": hw, "index": i, "arch": arch_of_index(i).to_string(), "n_fit_memory": int(fits.sum()),
            "n_fit_all": int(ok.sum()), "proxy_cifar10_valid": float(acc[i]),
            "estimate": {"peak_sram_bytes": int(est["peak_sram_bytes"][i]), "flash_bytes": int(est["flash_bytes"][i]),
                         "latency_ms": float(est["latency_ms"][i]), "macs": int(est["macs"][i])}}


def kd_study(arch: str, args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from automcu.data import load_dataset
    from automcu.train.config import KDConfig, TrainConfig
    from automcu.train.distill import Distiller, feature_width
    from automcu.train.loop import train_model
    from automcu.train.metrics import evaluate
    from search_spaces.nb201.torch_model import build_model

    torch.set_num_threads(1)
    ds = load_dataset("fashion-mnist", args.data).subset(args.kd_train_limit, args.test_limit, seed=0)
    norm = ds.normalization()
    x, xt = norm.apply(ds.x_train), norm.apply(ds.x_test)

    def cfg(seed: int) -> TrainConfig:
        return TrainConfig(epochs=args.kd_epochs, seed=seed, shift=2, hflip=True, threads=1)

    t0 = time.perf_counter()
    teacher = build_model(arch, C=args.teacher_C, N=args.N, in_ch=1, classes=10)
    teacher_cfg = TrainConfig(epochs=args.teacher_epochs, seed=100, shift=2, hflip=True, threads=1)
    train_model(teacher, x, ds.y_train, teacher_cfg, label=f"teacher C={args.teacher_C}", progress=not args.quiet)
    teacher_acc = evaluate(teacher, xt, ds.y_test)
    teacher_s = time.perf_counter() - t0
    kd_cfg = KDConfig(temperature=4.0, alpha=0.7, beta=0.0)
    rows = []
    for seed in range(args.kd_seeds):
        accs = {}
        for mode in ("kd", "no_kd"):
            torch.manual_seed(seed)
            student = build_model(arch, C=args.C, N=args.N, in_ch=1, classes=10)
            distiller = Distiller(teacher, kd_cfg, feature_width(student), feature_width(teacher)) \
                if mode == "kd" else None
            train_model(student, x, ds.y_train, cfg(seed), distiller=distiller, label=f"seed {seed} {mode}",
                        progress=not args.quiet)
            accs[mode] = evaluate(student, xt, ds.y_test)
        rows.append({"seed": seed, "kd_acc": accs["kd"], "no_kd_acc": accs["no_kd"],
                     "gain_pp": accs["kd"] - accs["no_kd"]})

    def ms(key: str) -> dict[str, float]:
        vals = [r[key] for r in rows]
        return {"mean": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0}

    return {"teacher": {"arch": arch, "C": args.teacher_C, "N": args.N, "test_acc": teacher_acc,
                        "epochs": args.teacher_epochs,
                        "train_seconds": round(teacher_s, 1)},
            "kd": kd_cfg.to_dict(), "epochs": args.kd_epochs, "train_images": len(x), "test_images": len(xt),
            "per_seed": rows, "kd_acc": ms("kd_acc"), "no_kd_acc": ms("no_kd_acc"), "gain_pp": ms("gain_pp"),
            "seconds": round(time.perf_counter() - t0, 1)}




def ci95(vals: list[float]) -> tuple[float, float, float]:
    """(mean, low, high): Student-t 95 % interval of the mean (paired per-seed gains)."""
    return t_interval(vals)



def default_recipe(winner: dict[str, Any], args: argparse.Namespace, out: Path) -> dict[str, Any]:
    from automcu.compress.pipeline import run_compress
    from automcu.compress.request import CompressRequest

    req = CompressRequest(arch=winner["arch"], dataset="fashion-mnist", data_path=args.data, out_dir=out,
                          hardware=winner["hardware"], C=args.C, N=args.N, epochs=args.epochs, qat=True,
                          qat_epochs=args.qat_epochs, train_limit=args.train_limit, test_limit=args.test_limit,
                          seed=0, threads=1, progress=not args.quiet)
    t0 = time.perf_counter()
    report = run_compress(req)
    report["wall_seconds"] = round(time.perf_counter() - t0, 1)
    return report


def markdown(res: dict[str, Any]) -> str:
    w, r, k = res["winner"], res["recipe"], res["kd_study"]
    sram_limit = res["budget"]["sram_bytes"]
    flash_limit = res["budget"]["flash_bytes"]
    lines = [
        "# Compression quality: Fashion-MNIST on a 64 KB SRAM / 256 KB Flash budget", "",
        f"Board: STM32F411 (Cortex-M4F, 100 MHz) limited to 64 KB SRAM / 256 KB Flash; latency ≤ "
        f"{res['max_latency_ms']} ms. Macro C={res['macro']['C']}, N={res['macro']['N']}, 1×28×28, 10 classes.", "",
        f"Winner (estimator sweep, {w['n_fit_memory']:,} archs fit the memory, {w['n_fit_all']:,} also the latency; "
        f"best NB201 CIFAR-10 validation accuracy among them): index {w['index']} `{w['arch']}`", "",
        "## Default recipe (`automcu compress --qat`)", "",
        f"{r['samples']['train']:,} training images, {res['epochs']} epochs + {res['qat_epochs']} QAT epoch(s); "
        f"int8 accuracy measured in TFLite Micro on {r['samples']['test']:,} test images.", "",
        "| model | accuracy | drop vs float |", "|---|---|---|",
        f"| float (torch) | {r['float_acc']:.2f} % | |",
        f"| int8 PTQ, TFLite Micro | {r['ptq']['int8_acc']:.2f} % | {r['ptq']['drop_pp']:+.2f} pp |",
        f"| int8 QAT, TFLite Micro | {r['qat']['int8_acc']:.2f} % | {r['qat']['drop_pp']:+.2f} pp |", "",
        f"- within 1 pp of float: PTQ {'yes' if abs(r['ptq']['drop_pp']) <= 1 else 'NO'}, "
        f"QAT {'yes' if abs(r['qat']['drop_pp']) <= 1 else 'NO'}",
        f"- measured arena {r['arena_bytes']:,} B (+ runtime RAM → limit {sram_limit:,} B); "
        f".tflite {r['flash_bytes']:,} B (+ runtime code → limit {flash_limit:,} B); fits: **{r['fits']}**",
    ]
    lines += [f"- {m}" for m in r["messages"]]
    lines += [
        f"- estimated latency {r['latency_ms']:.1f} ms; estimate: arena {r['estimate']['arena_bytes']:,} B, "
        f"Flash {r['estimate']['flash_bytes']:,} B",
        f"- wall time of the recipe: **{r['wall_seconds']:.0f} s** (target < 600 s) on {res['machine']}; stages: "
        + ", ".join(f"{k2} {v:.0f} s" for k2, v in r["seconds"].items() if k2 != "total"),
        "", "## Knowledge distillation (same student, equal epochs)", "",
        f"Teacher: the same cell at C={k['teacher']['C']} trained {k['teacher']['epochs']} epochs, "
        f"test accuracy {k['teacher']['test_acc']:.2f} %. "
        f"{k['train_images']:,} training images, {k['epochs']} epochs, {k['test_images']:,} test images; "
        f"T={k['kd']['temperature']}, α={k['kd']['alpha']}.", "",
        "| seed | KD | no KD | gain |", "|---|---|---|---|",
    ]
    lines += [f"| {row['seed']} | {row['kd_acc']:.2f} % | {row['no_kd_acc']:.2f} % | {row['gain_pp']:+.2f} pp |"
              for row in k["per_seed"]]
    lines += [f"| mean ± std | {k['kd_acc']['mean']:.2f} ± {k['kd_acc']['std']:.2f} % | "
              f"{k['no_kd_acc']['mean']:.2f} ± {k['no_kd_acc']['std']:.2f} % | "
              f"{k['gain_pp']['mean']:+.2f} ± {k['gain_pp']['std']:.2f} pp |", "",
              f"Benchmark total: {res['total_seconds']:.0f} s.", "",
              f"Reproduce: `{res['command']}`"]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist", help="folder of the four IDX files")
    ap.add_argument("--C", type=int, default=8)
    ap.add_argument("--N", type=int, default=1)
    ap.add_argument("--teacher-C", type=int, default=16)
    ap.add_argument("--max-latency-ms", type=float, default=80.0)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--qat-epochs", type=int, default=1)
    ap.add_argument("--train-limit", type=int, default=30000)
    ap.add_argument("--test-limit", type=int, default=2000)
    ap.add_argument("--kd-seeds", type=int, default=3)
    ap.add_argument("--kd-epochs", type=int, default=4)
    ap.add_argument("--kd-train-limit", type=int, default=10000)
    ap.add_argument("--teacher-epochs", type=int, default=None, help="default 2 × --kd-epochs")
    ap.add_argument("--only", choices=("all", "variants", "mixed"), default="all",
                    help="variants: run only the KD-variant grid and merge it into the existing results")
    ap.add_argument("--var-seeds", type=int, default=5, help="KD grid: seeds 0 .. N-1")
    ap.add_argument("--var-epochs", type=int, default=10)
    ap.add_argument("--var-qat-epochs", type=int, default=1)
    ap.add_argument("--var-soup", type=int, default=3)
    ap.add_argument("--var-teacher", action="append", default=None,
                    help="KD grid teacher arch (repeat; default the two searched 64K winners)")
    ap.add_argument("--var-teacher-epochs", type=int, default=15)
    ap.add_argument("--var-label-smoothing", type=float, default=0.0)
    ap.add_argument("--var-train-limit", type=int, default=None, help="default: the full 60,000")
    ap.add_argument("--var-test-limit", type=int, default=None, help="default: the full 10,000")
    ap.add_argument("--var-cell", default="main",
                    help="KD grid cell: 'main' is kd_variants; another name is a second student stored beside it "
                         "(kd_variants_NAME), distilled from the same teachers")
    ap.add_argument("--var-student-C", type=int, default=None,
                    help="KD grid student width (default --C); the arch stays the 64K winner")
    ap.add_argument("--var-methods", default=None,
                    help="KD grid: comma-separated methods to run (default all; no_kd is always needed)")
    ap.add_argument("--var-max-tasks", type=int, default=None, help="KD grid: run at most this many student tasks")
    ap.add_argument("--var-work", type=Path, default=Path("/tmp/automcu_kd_grid"),
                    help="KD grid bundles and teacher checkpoints (teachers missing here are trained again)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="KD grid: pool processes")
    ap.add_argument("--mixed-seeds", type=int, default=5)
    ap.add_argument("--mixed-epochs", type=int, default=3)
    ap.add_argument("--mixed-train-limit", type=int, default=20000)
    ap.add_argument("--mixed-test-limit", type=int, default=2000)
    ap.add_argument("--mixed-tolerance", type=float, default=0.3)
    ap.add_argument("--mixed-arch", default=None, help="the mixed study's network (default: the NB201 winner)")
    ap.add_argument("--mixed-qat", action="store_true",
                    help="QAT, then the 4-bit-aware fine-tune of --precision mixed --qat")
    ap.add_argument("--mixed-qat-epochs", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="tiny smoke run (not for results)")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.quick:
        args.train_limit, args.test_limit, args.kd_train_limit = 500, 200, 300
        args.epochs, args.kd_epochs, args.kd_seeds = 1, 1, 2
    if args.teacher_epochs is None:
        args.teacher_epochs = 2 * args.kd_epochs
    t0 = time.perf_counter()
    winner = pick_winner(args.max_latency_ms, args.C, args.N)
    if args.only == "variants":
        run_variants(winner, args)
        return
    if args.only == "mixed":
        run_mixed(winner, args)
        return
    bundle = Path("/tmp") / f"automcu_{ARCH_NAME}_bundle"
    recipe = default_recipe(winner, args, bundle)
    kd = kd_study(winner["arch"], args)
    hw = winner.pop("hardware")
    res = {
        "benchmark": ARCH_NAME, "dataset": "fashion-mnist", "macro": {"C": args.C, "N": args.N, "in_ch": 1, "hw": 28},
        "budget": {"board": hw.name, "sram_bytes": hw.sram_bytes, "flash_bytes": hw.flash_bytes,
                   "runtime_sram_bytes": int(hw.runtime_sram_kb * 1024),
                   "runtime_flash_bytes": int(hw.runtime_flash_kb * 1024)},
        "max_latency_ms": args.max_latency_ms, "epochs": args.epochs, "qat_epochs": args.qat_epochs,
        "winner": winner,
        "recipe": {k: recipe[k] for k in ("arch", "index", "samples", "float_acc", "int8_acc", "int8_acc_source",
                                          "ptq", "qat", "flash_bytes", "arena_bytes", "fits", "messages",
                                          "latency_ms", "estimate", "seconds", "wall_seconds")},
        "kd_study": kd, "quick": args.quick,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared), torch 1 thread",
        "total_seconds": round(time.perf_counter() - t0, 1),
        "command": "python benchmarks/compress_quality.py" + (" --quick" if args.quick else ""),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "_quick" if args.quick else ""
    json_path, md_path = args.out / f"{ARCH_NAME}{suffix}.json", args.out / f"{ARCH_NAME}{suffix}.md"
    # the KD grid's and the mixed study's results are their own runs' (hours): carried over, not dropped
    old = json.loads(json_path.read_text()) if json_path.exists() else {}
    res.update({k: v for k, v in old.items() if k.startswith(SEPARATE_STUDIES)})
    old_md = md_path.read_text() if md_path.exists() else ""
    json_path.write_text(json.dumps(res, indent=2, default=str) + "\n")
    md_path.write_text(markdown(res))
    for heading in SEPARATE_SECTIONS:
        start = old_md.find(heading)
        if start >= 0:
            end = old_md.find("\n## ", start + len(heading))
            _write_section(md_path, heading, old_md[start:end + 1 if end >= 0 else None])
    print(markdown(res))


def _merge_results(out: Path, update: dict[str, Any], heading: str, section: str) -> None:
    """Put ``update``'s keys into ``compress_quality.json`` and ``section`` in place of its markdown section,
    read-modify-write under an exclusive lock: the KD grid and the mixed study may run at the same time and
    each writes after every task, so neither may overwrite what the other stored."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{ARCH_NAME}.json"
    with open(out / f".{ARCH_NAME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        res = json.loads(path.read_text()) if path.exists() else {}
        res.update(update)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(res, indent=2, default=str) + "\n")
        tmp.replace(path)
        _write_section(out / f"{ARCH_NAME}.md", heading, section)


def _write_section(md_path: Path, heading: str, text: str) -> None:
    """Put ``text`` (which starts with ``heading``) in place of that section of the markdown file, up to the next
    ``## `` heading, keeping the other sections; appended when the file has no such section."""
    md = md_path.read_text() if md_path.exists() else ""
    start = md.find(heading)
    if start < 0:
        md_path.write_text((md.rstrip() + "\n\n" if md else "") + text)
        return
    end = md.find("\n## ", start + len(heading))
    tail = md[end + 1:] if end >= 0 else ""
    md_path.write_text(md[:start] + text.rstrip() + "\n" + ("\n" + tail if tail else ""))


#: the teachers of the KD grid: the 64 KB / 256 KB searched winners of realdata_quality seeds 0 and 1 (93.62 % and
#: 93.53 % float after its 15-epoch recipe), two different mcu-space networks
GRID_TEACHERS = ("C16-N1-S1:|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|",
                 "C12-N2-S1:|nor_conv_1x1~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|skip_connect~2|")


def run_variants(winner: dict[str, Any], args: argparse.Namespace) -> None:
    """The KD-variant grid (``kd_grid``: every cell a ``run_compress`` run on the process pool), merged into
    ``compress_quality.json`` (``kd_variants``, ``kd_variants_study``) and its markdown after every task. Tasks
    of the same protocol already stored are kept; a different protocol starts afresh."""
    import sys

    import kd_grid

    path = args.out / f"{ARCH_NAME}.json"
    res = json.loads(path.read_text()) if path.exists() else {}
    main = args.var_cell == "main"
    key = "kd_variants" if main else f"kd_variants_{args.var_cell}"
    heading = kd_grid.HEADING if main else f"## KD variants, cell {args.var_cell} (issue 17)"
    methods = tuple(m.strip() for m in args.var_methods.split(",")) if args.var_methods else kd_grid.ORDER
    params = {"student": winner["arch"], "C": args.var_student_C or args.C, "N": args.N,
              "teachers": list(args.var_teacher or GRID_TEACHERS), "teacher_epochs": args.var_teacher_epochs,
              "epochs": args.var_epochs, "qat_epochs": args.var_qat_epochs, "soup": args.var_soup,
              "label_smoothing": args.var_label_smoothing, "train_limit": args.var_train_limit,
              "test_limit": args.var_test_limit, "val_fraction": 0.1, "data": args.data}
    stored = res.get(f"{key}_study")
    same = stored is not None and stored.get("protocol") == kd_grid.protocol(params)
    if not same:  # a new cell: the teachers another cell trained the same way are reused, not trained again
        others = [v for k, v in res.items() if k.startswith("kd_variants") and k.endswith("_study")]
        teachers = kd_grid.shared_teachers(params, others)
        stored = {"protocol": kd_grid.protocol(params), "tasks": teachers} if teachers else None
    cmd = "python benchmarks/compress_quality.py " + shlex.join(sys.argv[1:])
    earlier = (stored or {}).get("commands", []) if same else []
    commands = earlier if cmd in earlier else [*earlier, cmd]  # a rerun that only re-renders adds no line

    def save(v: dict[str, Any]) -> None:
        n = min((r["seeds"] for r in v["kd_variants"]), default=0)
        full = args.var_train_limit is None and args.var_test_limit is None and n >= 5
        reduced = ", ".join(p for p in (
            f"{args.var_train_limit:,} of 60,000 training images" if args.var_train_limit else "",
            f"{args.var_test_limit:,} of 10,000 test images" if args.var_test_limit else "",
            f"{n} of 5 seeds" if n < 5 else "") if p)
        v.update(full_protocol=full, reduced=None if full else reduced, command="; ".join(commands),
                 commands=commands)
        v.update(cell=args.var_cell, methods=list(methods))
        _merge_results(args.out, {key: v["kd_variants"],
                                  f"{key}_study": {k: val for k, val in v.items() if k != "kd_variants"}},
                       heading, kd_grid.markdown(v, full, reduced, heading) + f"\nReproduce: `{v['command']}`\n")

    seeds = list(range(args.var_seeds))
    v = kd_grid.run_grid(params, seeds, stored, args.var_work, args.workers, args.var_max_tasks, save, methods)
    save(v)
    print(kd_grid.markdown(v, v["full_protocol"], v["reduced"] or "", heading))


def _mixed_protocol(arch: str, args: argparse.Namespace) -> dict[str, Any]:
    """The fields that make two mixed-study runs' seeds comparable."""
    return {"arch": arch, "C": args.C, "N": args.N, "epochs": args.mixed_epochs, "qat": args.mixed_qat,
            "qat_epochs": args.mixed_qat_epochs if args.mixed_qat else None,
            "train_images": args.mixed_train_limit, "test_images": args.mixed_test_limit,
            "tolerance_pp": args.mixed_tolerance, "chooser": MIXED_CHOOSER}


def _mixed_row(seed: int, r: dict[str, Any]) -> dict[str, Any]:
    p = r["precision"]
    b, c = p["int8"], p["chosen"]
    return {"seed": seed, "float_acc": r["float_acc"], "int8": b, "mixed": c, "w4_finetune": p.get("w4_finetune"),
            "acc_delta_pp": c["acc"] - b["acc"],
            "flash_saved_pct": 100.0 * (b["flash_bytes"] - c["flash_bytes"]) / b["flash_bytes"],
            "arena_delta_bytes": c["arena_bytes"] - b["arena_bytes"], "fits": r["fits"],
            "estimate": p["estimate"], "frontier": p["frontier"], "a16_tried": p["a16_tried"],
            "w4_left_out": p.get("w4_left_out", []),
            "precision_seconds": r["seconds"].get("precision"), "wall_seconds": r.get("wall_seconds"),
            "layers": [{k: v for k, v in row.items() if k != "modes"} for row in p["layers"]]}


def _mixed_aggregate(proto: dict[str, Any], rows: list[dict[str, Any]], seconds: float,
                     seeds_target: int | None = None) -> dict[str, Any]:
    summary = {}
    for key in ("acc_delta_pp", "flash_saved_pct", "arena_delta_bytes"):
        vals = [float(r[key]) for r in rows]
        m, lo, hi = ci95(vals) if len(vals) >= 2 else (vals[0], vals[0], vals[0])
        summary[key] = {"mean": m, "ci95": [lo, hi]}
    est_err = [100.0 * (r["estimate"]["flash_model_bytes"] - r["mixed"]["flash_bytes"]) / r["mixed"]["flash_bytes"]
               for r in rows if r["estimate"]]
    return {**proto, "protocol": proto, "seeds": len(rows), "seeds_target": seeds_target or len(rows),
            "summary": summary, "estimate_flash_error_pct": est_err,
            "per_seed": sorted(rows, key=lambda r: r["seed"]), "seconds": round(seconds, 1)}


def mixed_study(winner: dict[str, Any], args: argparse.Namespace,
                save: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """``--precision mixed`` through the product (``run_compress``), one trained network per seed: uniform int8
    and the chosen mix, both measured in TFLite Micro on the same test images, Flash and arena measured.
    Seeds already stored under the same protocol are kept (a killed study resumes by seed); ``save`` gets the
    aggregate after every seed."""
    from automcu.compress.pipeline import run_compress
    from automcu.compress.request import CompressRequest

    arch = args.mixed_arch or winner["arch"]
    proto = _mixed_protocol(arch, args)
    path = args.out / f"{ARCH_NAME}.json"
    stored = (json.loads(path.read_text()) if path.exists() else {}).get("mixed_precision") or {}
    same = stored.get("protocol") == proto
    rows: list[dict[str, Any]] = [r for r in stored.get("per_seed", []) if r["seed"] < args.mixed_seeds] if same else []
    prev = float(stored.get("seconds", 0.0)) if same else 0.0
    done = {r["seed"] for r in rows}
    print(f"mixed study: {len(done)} seed(s) stored, {args.mixed_seeds - len(done)} to run", flush=True)
    t0 = time.perf_counter()
    for seed in [s for s in range(args.mixed_seeds) if s not in done]:
        req = CompressRequest(arch=arch, dataset="fashion-mnist", data_path=args.data,
                              out_dir=Path("/tmp") / f"automcu_{ARCH_NAME}_mixed_{seed}", hardware=winner["hardware"],
                              C=args.C, N=args.N, epochs=args.mixed_epochs, train_limit=args.mixed_train_limit,
                              test_limit=args.mixed_test_limit, seed=seed, threads=1, progress=not args.quiet,
                              precision="mixed", mixed_tolerance=args.mixed_tolerance, qat=args.mixed_qat,
                              qat_epochs=args.mixed_qat_epochs if args.mixed_qat else None)
        row = _mixed_row(seed, run_compress(req))
        rows.append(row)
        b, c = row["int8"], row["mixed"]
        print(f"mixed seed {seed}: int8 {b['acc']:.2f} % {b['flash_bytes']:,} B; mixed {c['acc']:.2f} % "
              f"{c['flash_bytes']:,} B ({c['n_w4']} w4, {c['n_a16']} a16)", flush=True)
        if save is not None:
            save(_mixed_aggregate(proto, rows, prev + time.perf_counter() - t0, args.mixed_seeds))
    return _mixed_aggregate(proto, rows, prev + time.perf_counter() - t0, args.mixed_seeds)


def _yes_no(fits: bool | None) -> str:
    return "-" if fits is None else "yes" if fits else "**no**"


def _gap(g: list[float] | None) -> str:
    return "-" if not g else "{:+.2f} [{:+.2f}, {:+.2f}] pp".format(*g)


def mixed_markdown(m: dict[str, Any]) -> str:
    s = m["summary"]

    def ci(key: str, fmt: str) -> str:
        lo, hi = s[key]["ci95"]
        return f"{format(s[key]['mean'], fmt)} [{format(lo, fmt)}, {format(hi, fmt)}]"

    lines = ["## Mixed precision (issue 17): per-layer int8 / 4-bit weights / 16x8 vs uniform int8", "",
             f"`automcu compress --precision mixed --mixed-tolerance {m['tolerance_pp']:g}"
             + (f" --qat --qat-epochs {m['qat_epochs']}" if m.get("qat") else "") + "` (the product's "
             f"`run_compress`), student `{m['arch']}`" + ("" if ":" in m["arch"] else f" C={m['C']} N={m['N']}")
             + f", {m['epochs']} epochs on "
             f"{m['train_images']:,} training images, {m['seeds']} seed(s)"
             + (f" (**partial: {m['seeds']} of {m['seeds_target']} seeds so far**; the same command resumes)"
                if m.get("seeds_target", m["seeds"]) > m["seeds"] else "")
             + "; both models of a seed are the same "
             f"trained network, measured in TFLite Micro on the same {m['test_images']:,} test images. "
             + (f"Chooser v{m['chooser']}" + (": a point is within the tolerance unless the paired 95 % interval of "
                "its gap to int8 on the sensitivity images lies wholly below it" if m["chooser"] >= 4 else "")
                + "." if m.get("chooser") else ""), "",
             "| seed | float | int8 acc | int8 Flash | int8 arena | int8 fits | mixed acc | mixed Flash | mixed arena "
             "| mixed fits | w4 | a16 | 8-bit: 4-bit scratch too big | mixed − int8, sensitivity images, paired |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in m["per_seed"]:
        b, c = r["int8"], r["mixed"]
        lines.append(f"| {r['seed']} | {r['float_acc']:.2f} % | {b['acc']:.2f} % | {b['flash_bytes']:,} B | "
                     f"{b['arena_bytes']:,} B | {_yes_no(b.get('fits'))} | {c['acc']:.2f} % | {c['flash_bytes']:,} B | "
                     f"{c['arena_bytes']:,} B | {_yes_no(c.get('fits'))} | {c['n_w4']} | {c['n_a16']} | "
                     f"{len(r.get('w4_left_out', []))} | {_gap(c.get('vs_int8_pp'))} |")
    tuned = [r for r in m["per_seed"] if r.get("w4_finetune")]
    if tuned:
        lines += ["", "4-bit-aware fine-tune (`--qat`): per seed, the first choice (on the QAT network) and the "
                  "choice after the fine-tune, test accuracy in TFLite Micro where the fine-tune was kept:", ""]
        for r in tuned:
            ft = r["w4_finetune"]
            first, after = ft.get("first_choice", {}), ft.get("after", {})
            lines.append(f"- seed {r['seed']}: first {first.get('flash_bytes', 0):,} B"
                         + (f" {first['acc']:.2f} %" if "acc" in first else "")
                         + f" ({first.get('n_w4', 0)} w4); after {after.get('flash_bytes', 0):,} B "
                         f"({after.get('n_w4', 0)} w4): " + ("kept" if ft["used"] else "not kept")
                         + (f", {ft['why']}" if ft.get("why") else ""))
    lines += ["", f"- accuracy, mixed − int8 (mean [95 % CI]): {ci('acc_delta_pp', '+.2f')} pp",
              f"- Flash saved: {ci('flash_saved_pct', '.1f')} %",
              f"- arena, mixed − int8: {ci('arena_delta_bytes', '+.0f')} B",
              "- estimator vs measured Flash of the deployed mix: "
              + ", ".join(f"{e:+.2f} %" for e in m["estimate_flash_error_pct"]),
              "", "Frontier of seed 0 (sensitivity images, not the test set): " + "; ".join(
                  f"{pt['label']} {pt['flash_bytes']:,} B"
                  + (f" / arena {pt['arena_bytes']:,} B" if pt.get("arena_bytes") is not None else "")
                  + f" {pt['sens_acc']:.2f} %"
                  for pt in m["per_seed"][0]["frontier"])
              + ".", "", f"Mixed study total: {m['seconds']:.0f} s. Superseded runs (other networks, earlier "
              "versions of the chooser) are kept in the JSON under the other `mixed_precision_*` keys."]
    return "\n".join(lines) + "\n"


def run_mixed(winner: dict[str, Any], args: argparse.Namespace) -> None:
    """The mixed-precision study alone, merged into ``compress_quality.json`` (``mixed_precision``) and its md
    after every seed."""
    import sys

    path = args.out / f"{ARCH_NAME}.json"
    stored = (json.loads(path.read_text()) if path.exists() else {}).get("mixed_precision") or {}
    same = stored.get("protocol") == _mixed_protocol(args.mixed_arch or winner["arch"], args)
    commands = [*(stored.get("commands", []) if same else []),
                "python benchmarks/compress_quality.py " + shlex.join(sys.argv[1:])]

    # a run under another protocol is kept beside the new one, named by the chooser version it measured
    version = stored.get("protocol", {}).get("chooser", 2)
    earlier = {f"mixed_precision_chooser_v{version}": stored} if stored and not same else {}

    def save(m: dict[str, Any]) -> None:
        m.update(command="; ".join(commands), commands=commands)
        _merge_results(args.out, {"mixed_precision": m, **earlier}, "## Mixed precision (issue 17)",
                       mixed_markdown(m) + f"\nReproduce: `{m['command']}`\n")

    m = mixed_study(winner, args, save)
    save(m)
    print(mixed_markdown(m))


if __name__ == "__main__":
    main()
