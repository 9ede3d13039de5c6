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
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
ARCH_NAME = "compress_quality"


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


VARIANTS = ("kd_single", "mt_mean", "mt_entropy", "label_mix", "feature_kd", "qad", "soup")
SECOND_TEACHER = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def ci95(vals: list[float]) -> tuple[float, float, float]:
    """(mean, low, high): Student-t 95 % interval of the mean (paired per-seed gains)."""
    from scipy import stats

    m = statistics.fmean(vals)
    if len(vals) < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, len(vals) - 1)) * statistics.stdev(vals) / len(vals) ** 0.5
    return m, m - half, m + half


def variants_protocol(arch: str, args: argparse.Namespace) -> dict[str, Any]:
    """What makes two runs' seeds of the KD grid comparable (everything but which seeds ran)."""
    return {"student": arch, "C": args.C, "N": args.N, "teacher_C": args.teacher_C, "epochs": args.var_epochs,
            "qat_epochs": args.var_qat_epochs, "soup": args.var_soup, "train_limit": args.var_train_limit,
            "test_limit": args.var_test_limit}


def variants_study(arch: str, winner_hw: Any, args: argparse.Namespace, earlier: dict[str, Any] | None = None,
                   save: Any = None) -> dict[str, Any]:
    """Every KD variant against the same student without KD (same epochs, seed, data), per seed; the int8
    accuracy of each variant's seed-0 network measured in TFLite Micro (PTQ; QAT for ``qad``).

    Seeds ``--var-first-seed`` .. + ``--var-seeds``; with ``earlier`` (the results of runs of the same protocol)
    its seeds are kept and these added, and ``save`` gets the aggregate after every seed, so the grid (hours at
    the full protocol) can be spread over several runs and a killed run loses only the seed in flight."""
    import copy

    import torch

    from automcu.compress.pipeline import calibration_set
    from automcu.compress.tflm_eval import tflm_accuracy
    from automcu.data import load_dataset
    from automcu.deploy.exporter import export_int8
    from automcu.train.config import KDConfig, TrainConfig
    from automcu.train.distill import Distiller, feature_width, tap_channels
    from automcu.train.label_mix import parse_label_mix
    from automcu.train.loop import train_model
    from automcu.train.metrics import evaluate
    from automcu.train.qat import finish_qat, prepare_qat
    from automcu.train.soup import greedy_soup
    from search_spaces.nb201.torch_model import build_model

    torch.set_num_threads(1)
    ds = load_dataset("fashion-mnist", args.data)
    if args.var_train_limit or args.var_test_limit:
        ds = ds.subset(args.var_train_limit, args.var_test_limit, seed=0)
    norm = ds.normalization()
    x, xt, y, yt = norm.apply(ds.x_train), norm.apply(ds.x_test), ds.y_train, ds.y_test
    rng = np.random.default_rng(3)
    perm = rng.permutation(len(x))
    n_val = max(1, len(x) // 10)
    val_idx, fit_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    calib = calibration_set(x, 256, 0)
    ep = args.var_epochs
    quiet = False  # no progress bars: this grid runs many short trainings

    def cfg(seed: int, epochs: int = ep, lr: float = 0.05) -> TrainConfig:
        return TrainConfig(epochs=epochs, seed=seed, shift=2, hflip=True, threads=1, lr=lr)

    t0 = time.perf_counter()
    teachers, tmeta = [], []
    for k, (t_arch, t_c) in enumerate(((arch, args.teacher_C), (SECOND_TEACHER, args.teacher_C))):
        torch.manual_seed(100 + k)
        t = build_model(t_arch, C=t_c, N=args.N, in_ch=1, classes=10)
        ts = time.perf_counter()
        train_model(t, x, y, cfg(100 + k, 2 * ep), label=f"teacher {k}", progress=quiet)
        teachers.append(t.eval())
        tmeta.append({"arch": t_arch, "C": t_c, "N": args.N, "epochs": 2 * ep, "test_acc": evaluate(t, xt, yt),
                      "train_seconds": round(time.perf_counter() - ts, 1)})
    kd_cfg = KDConfig(temperature=4.0, alpha=0.7)

    def student(seed: int) -> Any:
        torch.manual_seed(seed)
        return build_model(arch, C=args.C, N=args.N, in_ch=1, classes=10)

    def distiller(model: Any, variant: str) -> Distiller | None:
        if variant in ("no_kd", "soup"):
            return None
        ts = teachers[:1] if variant in ("kd_single", "label_mix", "feature_kd", "qad") else teachers
        weighting = "entropy" if variant == "mt_entropy" else "mean"
        mix = parse_label_mix("auto") if variant == "label_mix" else None
        chans = (tap_channels(model, (1, 28, 28)), tap_channels(ts[0], (1, 28, 28))) if variant == "feature_kd" \
            else None
        return Distiller(ts, kd_cfg, feature_width(model), feature_width(ts[0]), weighting=weighting,
                         label_mix=mix, feature_channels=chans)

    def int8_acc(model: Any) -> float:
        ex = export_int8(model, (1, 28, 28), calibration=[calib])
        return tflm_accuracy(ex.tflite, xt, yt)

    def qat(model: Any, seed: int, with_teacher: bool) -> Any:
        m = copy.deepcopy(model)
        d = distiller(m, "qad") if with_teacher else None
        handle = prepare_qat(m)
        c = TrainConfig(epochs=args.var_qat_epochs, seed=seed + 7, shift=2, hflip=True, threads=1, lr=0.005,
                        warmup_fraction=0.0)
        train_model(m, x, y, c, distiller=d, progress=quiet)
        return finish_qat(handle).eval()

    def deployed(model: Any, float_acc: float, seed: int, with_teacher: bool) -> dict[str, float]:
        """Float, PTQ int8 and the deployed recipe's int8 (QAT; with the teacher's loss for a KD student), the
        int8 ones measured in TFLite Micro."""
        return {"float_acc": float_acc, "ptq_int8_acc": int8_acc(model),
                "int8_acc": int8_acc(qat(model, seed, with_teacher))}

    protocol = variants_protocol(arch, args)
    prev = earlier or {}
    rows: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    for r in prev.get("kd_variants", []):
        rows[r["name"]] = list(r["per_seed"])
    int8: dict[str, dict[str, float]] = dict(prev.get("int8_seed0", {}))
    no_kd_seconds: list[float] = list(prev.get("no_kd", {}).get("seconds_per_seed", []))
    done = {r["seed"] for rs in rows.values() for r in rs}
    seeds = [s for s in range(args.var_first_seed, args.var_first_seed + args.var_seeds) if s not in done]
    prev_seconds = float(prev.get("seconds", 0.0))

    def aggregate() -> dict[str, Any]:
        variants = []
        for v in VARIANTS:
            if not rows[v]:
                continue
            gains = [r["gain_pp"] for r in rows[v]]
            m, lo, hi = ci95(gains)
            q = int8.get(v, {})
            variants.append({"name": v, "seeds": len(gains), "gain_mean_pp": m, "gain_ci95": [lo, hi],
                             "int8_drop_pp": q["float_acc"] - q["int8_acc"] if q else None,
                             "ptq_drop_pp": q["float_acc"] - q["ptq_int8_acc"] if q else None,
                             "int8_acc_seed0": q.get("int8_acc"), "deployed": "qat" if v == "soup" else "qat+teacher",
                             "metric": rows[v][0].get("metric", "float_acc"),
                             "train_seconds_per_seed": round(statistics.fmean(r["seconds"] for r in rows[v]), 1),
                             "per_seed": rows[v]})
        return {"protocol": protocol, "teachers": tmeta, "student": {"arch": arch, "C": args.C, "N": args.N},
                "epochs": ep, "qat_epochs": args.var_qat_epochs, "soup_n": args.var_soup, "train_images": len(x),
                "test_images": len(xt), "val_images_soup": int(n_val),
                "no_kd": {"train_seconds_per_seed": round(statistics.fmean(no_kd_seconds or [0.0]), 1),
                          "seconds_per_seed": no_kd_seconds, "int8_seed0": int8.get("no_kd")},
                "int8_seed0": int8, "kd": kd_cfg.to_dict(), "label_mix_schedule": parse_label_mix("auto").to_string(),
                "kd_variants": variants, "seconds": round(prev_seconds + time.perf_counter() - t0, 1)}

    for seed in seeds:
        ts = time.perf_counter()
        base = student(seed)
        train_model(base, x, y, cfg(seed), progress=quiet)
        base_acc = evaluate(base, xt, yt)
        no_kd_seconds.append(round(time.perf_counter() - ts, 1))
        for v in ("kd_single", "mt_mean", "mt_entropy", "label_mix", "feature_kd"):
            ts = time.perf_counter()
            m = student(seed)
            train_model(m, x, y, cfg(seed), distiller=distiller(m, v), progress=quiet)
            acc = evaluate(m, xt, yt)
            rows[v].append({"seed": seed, "acc": acc, "no_kd_acc": base_acc, "gain_pp": acc - base_acc,
                            "seconds": round(time.perf_counter() - ts, 1)})
            if seed == 0:
                int8[v] = deployed(m, acc, seed, True)
            if v == "kd_single":
                kd_model = m
        # quantization-aware distillation: the KD student + QAT with the teacher's loss, vs the no-KD
        # student + plain QAT, both int8 in TFLite Micro (the deployed accuracy)
        ts = time.perf_counter()
        qad_acc = int8_acc(qat(kd_model, seed, True))
        plain_acc = int8_acc(qat(base, seed, False))
        rows["qad"].append({"seed": seed, "acc": qad_acc, "no_kd_acc": plain_acc, "gain_pp": qad_acc - plain_acc,
                            "metric": "int8_acc_tflm", "seconds": round(time.perf_counter() - ts, 1)})
        if seed == 0:
            int8["qad"] = {"float_acc": rows["kd_single"][0]["acc"], "ptq_int8_acc": int8["kd_single"]["ptq_int8_acc"],
                           "int8_acc": qad_acc}
            int8["no_kd"] = {"float_acc": base_acc, "ptq_int8_acc": int8_acc(base), "int8_acc": plain_acc}
        # soup: the no-KD student trained on the fitting split, N fine-tuned runs, greedy on the held-out split
        ts = time.perf_counter()
        sb = student(seed)
        train_model(sb, x[fit_idx], y[fit_idx], cfg(seed), progress=quiet)
        sb_acc = evaluate(sb, xt, yt)
        ingredients = []
        for i in range(args.var_soup):
            m = copy.deepcopy(sb)
            train_model(m, x[fit_idx], y[fit_idx], cfg(seed + 100 + i, max(1, ep // 2), 0.01 * (0.5, 1.0, 2.0)[i % 3]),
                        progress=quiet)
            ingredients.append(m.eval())
        soup = greedy_soup(ingredients, x[val_idx], y[val_idx])
        s_acc = evaluate(soup.model, xt, yt)
        rows["soup"].append({"seed": seed, "acc": s_acc, "no_kd_acc": base_acc, "gain_pp": s_acc - base_acc,
                             "seconds": round(time.perf_counter() - ts, 1),
                             "base_fit_acc": sb_acc, "gain_over_own_base_pp": s_acc - sb_acc,
                             "chosen": soup.chosen, "uniform_test_acc": evaluate(
                                 __import__("automcu.train.soup", fromlist=["soup_of"]).soup_of(ingredients), xt, yt)})
        if seed == 0:
            int8["soup"] = deployed(soup.model, s_acc, seed, False)
        print(f"seed {seed} done at {time.perf_counter() - t0:.0f} s", flush=True)
        if save is not None:
            save(aggregate())
    return aggregate()


def variants_markdown(v: dict[str, Any], full: bool, reduced: str) -> str:
    lines = ["## KD variants (issue 17): gain over the same student without KD, same epochs", "",
             ("Full protocol." if full else f"**Reduced run, not the full protocol**: {reduced}."), "",
             f"Student `{v['student']['arch']}` C={v['student']['C']} N={v['student']['N']}, {v['epochs']} epochs, "
             f"{v['train_images']:,} training / {v['test_images']:,} test images. Teachers: "
             + "; ".join(f"`{t['arch']}` C={t['C']} ({t['epochs']} epochs) {t['test_acc']:.2f} %"
                         for t in v["teachers"])
             + f". T={v['kd']['temperature']}, α={v['kd']['alpha']}; label mix schedule {v['label_mix_schedule']} "
             f"(hard weight); soup: {v['soup_n']} fine-tuned runs, greedy on {v['val_images_soup']:,} held-out "
             "training images (the soup's base trains without them). qad compares int8 accuracy in TFLite Micro "
             f"(KD student + {v['qat_epochs']} QAT epoch(s) with the teacher's loss vs no-KD student + plain QAT).",
             "", "int8 drop (seed 0, TFLite Micro): float accuracy minus that of the deployed recipe (QAT, with the "
             "teacher's loss for a KD student) and, for comparison, of post-training quantization.", "",
             "| variant | seeds | gain mean | 95 % CI | int8 drop, deployed | PTQ drop | train s/seed |",
             "|---|---|---|---|---|---|---|"]

    def pp(value: float | None) -> str:
        return "—" if value is None else f"{value:+.2f} pp"

    for r in v["kd_variants"]:
        lo, hi = r["gain_ci95"]
        lines.append(f"| {r['name']} | {r['seeds']} | {r['gain_mean_pp']:+.2f} pp | [{lo:+.2f}, {hi:+.2f}] | "
                     f"{pp(r['int8_drop_pp'])} | {pp(r.get('ptq_drop_pp'))} | {r['train_seconds_per_seed']:.0f} |")
    lines += ["", f"No-KD student: {v['no_kd']['train_seconds_per_seed']:.0f} s/seed; variants total "
              f"{v['seconds']:.0f} s."]
    return "\n".join(lines) + "\n"


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
    ap.add_argument("--var-seeds", type=int, default=5)
    ap.add_argument("--var-first-seed", type=int, default=0,
                    help="> 0: run seeds from here and add them to the stored seeds of the same protocol")
    ap.add_argument("--var-epochs", type=int, default=10)
    ap.add_argument("--var-qat-epochs", type=int, default=1)
    ap.add_argument("--var-soup", type=int, default=3)
    ap.add_argument("--var-train-limit", type=int, default=None, help="default: the full 60,000")
    ap.add_argument("--var-test-limit", type=int, default=None, help="default: the full 10,000")
    ap.add_argument("--mixed-seeds", type=int, default=5)
    ap.add_argument("--mixed-epochs", type=int, default=3)
    ap.add_argument("--mixed-train-limit", type=int, default=20000)
    ap.add_argument("--mixed-test-limit", type=int, default=2000)
    ap.add_argument("--mixed-tolerance", type=float, default=0.3)
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
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPU cores (shared), torch 1 thread",
        "total_seconds": round(time.perf_counter() - t0, 1),
        "command": "python benchmarks/compress_quality.py" + (" --quick" if args.quick else ""),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "_quick" if args.quick else ""
    (args.out / f"{ARCH_NAME}{suffix}.json").write_text(json.dumps(res, indent=2, default=str) + "\n")
    (args.out / f"{ARCH_NAME}{suffix}.md").write_text(markdown(res))
    print(markdown(res))


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


def run_variants(winner: dict[str, Any], args: argparse.Namespace) -> None:
    """The KD-variant grid alone, merged into ``compress_quality.json`` (``kd_variants``) and its markdown after
    every seed. ``--var-first-seed`` > 0 adds seeds to the stored ones of the same protocol (an error otherwise)."""
    import sys

    path = args.out / f"{ARCH_NAME}.json"
    res = json.loads(path.read_text()) if path.exists() else {}
    earlier = None
    if args.var_first_seed > 0:
        stored = res.get("kd_variants_study", {})
        want = variants_protocol(winner["arch"], args)
        if stored.get("protocol") != want:
            raise SystemExit(f"--var-first-seed {args.var_first_seed}: the results hold no earlier run of this "
                             f"protocol to add seeds to ({stored.get('protocol')} vs {want})")
        earlier = {**stored, "kd_variants": res.get("kd_variants", [])}
    cmd = "python benchmarks/compress_quality.py " + " ".join(sys.argv[1:])
    commands = [*((earlier or {}).get("commands", [])), cmd]

    def save(v: dict[str, Any]) -> None:
        n = min(r["seeds"] for r in v["kd_variants"])
        full = args.var_train_limit is None and args.var_test_limit is None and n >= 5
        reduced = ", ".join(p for p in (
            f"{args.var_train_limit:,} of 60,000 training images" if args.var_train_limit else "",
            f"{args.var_test_limit:,} of 10,000 test images" if args.var_test_limit else "",
            f"{n} of 5 seeds" if n < 5 else "", f"{args.var_epochs} epochs") if p)
        v.update(full_protocol=full, reduced=None if full else reduced, command="; ".join(commands),
                 commands=commands)
        res["kd_variants"] = v["kd_variants"]
        res["kd_variants_study"] = {k: val for k, val in v.items() if k != "kd_variants"}
        args.out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(res, indent=2, default=str) + "\n")
        _write_section(args.out / f"{ARCH_NAME}.md", "## KD variants (issue 17)",
                       variants_markdown(v, full, reduced) + f"\nReproduce: `{v['command']}`\n")

    v = variants_study(winner["arch"], winner["hardware"], args, earlier, save)
    save(v)
    print(variants_markdown(v, v["full_protocol"], v["reduced"] or ""))


def mixed_study(winner: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """``--precision mixed`` through the product (``run_compress``), one trained network per seed: uniform int8
    and the chosen mix, both measured in TFLite Micro on the same test images, Flash and arena measured."""
    from automcu.compress.pipeline import run_compress
    from automcu.compress.request import CompressRequest

    rows = []
    t0 = time.perf_counter()
    for seed in range(args.mixed_seeds):
        req = CompressRequest(arch=winner["arch"], dataset="fashion-mnist", data_path=args.data,
                              out_dir=Path("/tmp") / f"automcu_{ARCH_NAME}_mixed_{seed}", hardware=winner["hardware"],
                              C=args.C, N=args.N, epochs=args.mixed_epochs, train_limit=args.mixed_train_limit,
                              test_limit=args.mixed_test_limit, seed=seed, threads=1, progress=not args.quiet,
                              precision="mixed", mixed_tolerance=args.mixed_tolerance)
        r = run_compress(req)
        p = r["precision"]
        b, c = p["int8"], p["chosen"]
        rows.append({"seed": seed, "float_acc": r["float_acc"], "int8": b, "mixed": c,
                     "acc_delta_pp": c["acc"] - b["acc"],
                     "flash_saved_pct": 100.0 * (b["flash_bytes"] - c["flash_bytes"]) / b["flash_bytes"],
                     "arena_delta_bytes": c["arena_bytes"] - b["arena_bytes"], "fits": r["fits"],
                     "estimate": p["estimate"], "frontier": p["frontier"], "a16_tried": p["a16_tried"],
                     "precision_seconds": r["seconds"].get("precision"),
                     "layers": [{k: v for k, v in row.items() if k != "modes"} for row in p["layers"]]})
        print(f"mixed seed {seed}: int8 {b['acc']:.2f} % {b['flash_bytes']:,} B; mixed {c['acc']:.2f} % "
              f"{c['flash_bytes']:,} B ({c['n_w4']} w4, {c['n_a16']} a16)", flush=True)
    summary = {}
    for key in ("acc_delta_pp", "flash_saved_pct", "arena_delta_bytes"):
        m, lo, hi = ci95([float(r[key]) for r in rows])
        summary[key] = {"mean": m, "ci95": [lo, hi]}
    est_err = [100.0 * (r["estimate"]["flash_model_bytes"] - r["mixed"]["flash_bytes"]) / r["mixed"]["flash_bytes"]
               for r in rows if r["estimate"]]
    return {"arch": winner["arch"], "C": args.C, "N": args.N, "epochs": args.mixed_epochs,
            "train_images": args.mixed_train_limit, "test_images": args.mixed_test_limit,
            "tolerance_pp": args.mixed_tolerance, "seeds": args.mixed_seeds, "summary": summary,
            "estimate_flash_error_pct": est_err, "per_seed": rows, "seconds": round(time.perf_counter() - t0, 1)}


def mixed_markdown(m: dict[str, Any]) -> str:
    s = m["summary"]

    def ci(key: str, fmt: str) -> str:
        lo, hi = s[key]["ci95"]
        return f"{format(s[key]['mean'], fmt)} [{format(lo, fmt)}, {format(hi, fmt)}]"

    lines = ["## Mixed precision (issue 17): per-layer int8 / 4-bit weights / 16x8 vs uniform int8", "",
             f"`automcu compress --precision mixed --mixed-tolerance {m['tolerance_pp']:g}` (the product's "
             f"`run_compress`), student `{m['arch']}` C={m['C']} N={m['N']}, {m['epochs']} epochs on "
             f"{m['train_images']:,} training images, {m['seeds']} seeds; both models of a seed are the same "
             f"trained network, measured in TFLite Micro on the same {m['test_images']:,} test images.", "",
             "| seed | float | int8 acc | int8 Flash | int8 arena | mixed acc | mixed Flash | mixed arena | w4 | a16 |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in m["per_seed"]:
        b, c = r["int8"], r["mixed"]
        lines.append(f"| {r['seed']} | {r['float_acc']:.2f} % | {b['acc']:.2f} % | {b['flash_bytes']:,} B | "
                     f"{b['arena_bytes']:,} B | {c['acc']:.2f} % | {c['flash_bytes']:,} B | {c['arena_bytes']:,} B | "
                     f"{c['n_w4']} | {c['n_a16']} |")
    lines += ["", f"- accuracy, mixed − int8 (mean [95 % CI]): {ci('acc_delta_pp', '+.2f')} pp",
              f"- Flash saved: {ci('flash_saved_pct', '.1f')} %",
              f"- arena, mixed − int8: {ci('arena_delta_bytes', '+.0f')} B",
              "- estimator vs measured Flash of the deployed mix: "
              + ", ".join(f"{e:+.2f} %" for e in m["estimate_flash_error_pct"]),
              "", "Frontier of seed 0 (sensitivity images, not the test set): " + "; ".join(
                  f"{pt['label']} {pt['flash_bytes']:,} B {pt['sens_acc']:.2f} %"
                  for pt in m["per_seed"][0]["frontier"])
              + ".", "", f"Mixed study total: {m['seconds']:.0f} s."]
    return "\n".join(lines) + "\n"


def run_mixed(winner: dict[str, Any], args: argparse.Namespace) -> None:
    """The mixed-precision study alone, merged into ``compress_quality.json`` (``mixed_precision``) and its md."""
    import sys

    m = mixed_study(winner, args)
    m["command"] = "python benchmarks/compress_quality.py " + " ".join(sys.argv[1:])
    path = args.out / f"{ARCH_NAME}.json"
    res = json.loads(path.read_text()) if path.exists() else {}
    res["mixed_precision"] = m
    args.out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=2, default=str) + "\n")
    _write_section(args.out / f"{ARCH_NAME}.md", "## Mixed precision (issue 17)",
                   mixed_markdown(m) + f"\nReproduce: `{m['command']}`\n")
    print(mixed_markdown(m))


if __name__ == "__main__":
    main()
