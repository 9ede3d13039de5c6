"""The compression-method grid of issue 17, run through the product's own pipeline (``run_compress``: what
``automcu compress`` runs), one task per (seed, method) on a process pool, resumable task by task.

Every task is a whole ``automcu compress`` run of the same student (same arch, epochs, seed, data and recipe)
that differs only in its compression options, deployed with QAT and measured in TFLite Micro on the test set:

    no_kd       no teacher (the reference every gain is paired with, seed by seed)
    kd_single   --teacher T0                                   (QAT then distils too: the deployed recipe)
    mt_mean     --teacher T0 --teacher T1 --teacher-weighting mean
    mt_entropy  --teacher T0 --teacher T1 --teacher-weighting entropy
    label_mix   --teacher T0 --label-mix auto
    feature_kd  --teacher T0 --feature-kd
    soup        --soup N (no teacher)

``qad`` (quantization-aware distillation) needs no run of its own: it pairs kd_single's deployed int8 accuracy
(QAT with the teacher's loss) with no_kd's (plain QAT). Float gains compare float accuracy; qad compares int8.

The teachers are trained once, each by ``run_compress`` too (``--epochs`` = ``--var-teacher-epochs``), and
handed to the students as the checkpoint their bundle holds (``--teacher …/model.pt``). Results are stored
after every task; a rerun with the same protocol runs only the tasks not stored yet (``--var-max-tasks`` caps
how many), so the grid (CPU-hours at the full protocol) can be spread over sessions.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from intervals import t_interval

from automcu.core.orphans import exit_with_parent

#: options of each method's compress run; "T0"/"T1" stand for the teachers' checkpoints
METHODS: dict[str, dict[str, Any]] = {
    "no_kd": {},
    "kd_single": {"teacher": ["T0"]},
    "mt_mean": {"teacher": ["T0", "T1"], "teacher_weighting": "mean"},
    "mt_entropy": {"teacher": ["T0", "T1"], "teacher_weighting": "entropy"},
    "label_mix": {"teacher": ["T0"], "label_mix": "auto"},
    "feature_kd": {"teacher": ["T0"], "feature_kd": True},
    "soup": {"soup": "SOUP"},
}
#: what the results list, in order (qad derived from kd_single and no_kd)
VARIANTS = ("kd_single", "mt_mean", "mt_entropy", "label_mix", "feature_kd", "qad", "soup")
#: the order the grid runs its methods in, every seed of one method before the next: the reference and the
#: deployed recipe first, so a grid spread over sessions has whole, paired cells (5 seeds) after each one
ORDER = ("no_kd", "kd_single", "mt_entropy", "mt_mean", "label_mix", "feature_kd", "soup")


def protocol(p: dict[str, Any]) -> dict[str, Any]:
    """The fields that make two runs' tasks comparable (not which seeds or how many tasks ran)."""
    return {k: p[k] for k in ("student", "C", "N", "teachers", "teacher_epochs", "epochs", "qat_epochs", "soup",
                              "label_smoothing", "train_limit", "test_limit", "val_fraction")}


def teacher_protocol(p: dict[str, Any]) -> dict[str, Any]:
    """The fields that make two grids' teachers the same training runs (whatever their students are)."""
    return {k: p[k] for k in ("teachers", "teacher_epochs", "label_smoothing", "train_limit", "test_limit",
                              "val_fraction")}


def shared_teachers(p: dict[str, Any], studies: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The teacher rows another stored grid (``studies``) trained the same way as ``p``'s, whose checkpoints are
    still on disk: a second cell (another student) distils from the very same teachers instead of new ones."""
    for st in studies:
        proto = st.get("protocol") or {}
        if all(k in proto for k in teacher_protocol(p)) and teacher_protocol(proto) == teacher_protocol(p):
            rows = {f"teacher/{k}": st.get("tasks", {}).get(f"teacher/{k}") for k in range(len(p["teachers"]))}
            if all(r and Path(r.get("checkpoint", "")).is_file() for r in rows.values()):
                return {k: dict(r) for k, r in rows.items() if r}
    return {}


def _key(p: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(protocol(p), sort_keys=True).encode()).hexdigest()[:12]


def _request(p: dict[str, Any], arch: str, out: Path, seed: int, epochs: int, qat: bool, **options: Any) -> Any:
    from automcu.compress.request import CompressRequest
    from automcu.hardware.catalog import resolve_hardware

    hw = resolve_hardware("stm32f411", sram_kb=64, flash_kb=256)
    return CompressRequest(arch=arch, dataset="fashion-mnist", data_path=p["data"], out_dir=out, hardware=hw,
                           C=p["C"], N=p["N"], epochs=epochs, seed=seed, qat=qat, qat_epochs=p["qat_epochs"],
                           label_smoothing=p["label_smoothing"], compare_no_kd=False, val_fraction=p["val_fraction"],
                           train_limit=p["train_limit"], test_limit=p["test_limit"],
                           threads=1, progress=False, **options)


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    """One compress run (a teacher or a (seed, method) student) in a pool worker; its row of the results."""
    import torch

    from automcu.compress.pipeline import run_compress

    torch.set_num_threads(1)
    p, out = task["params"], Path(task["out"])
    t0 = time.perf_counter()
    if task["kind"] == "teacher":
        req = _request(p, task["arch"], out, 100 + task["index"], p["teacher_epochs"], qat=False)
    else:
        opts = dict(METHODS[task["method"]])
        if "teacher" in opts:
            opts["teacher"] = [task["teachers"][int(t[1:])] for t in opts["teacher"]]
        if opts.get("soup") == "SOUP":
            opts["soup"] = p["soup"]
        req = _request(p, p["student"], out, task["seed"], p["epochs"], qat=True, **opts)
    r = run_compress(req)
    row = {"float_acc": r["float_acc"], "int8_acc": r["int8_acc"], "ptq_int8_acc": r["ptq"]["int8_acc"],
           "flash_bytes": r["flash_bytes"], "arena_bytes": r["arena_bytes"], "fits": r["fits"],
           "latency_ms": r["latency_ms"], "stages": r["seconds"], "seconds": round(time.perf_counter() - t0, 1),
           "test_images": r["samples"]["test"], "train_images": r["samples"]["train"]}
    if task["kind"] == "teacher":
        row.update(arch=r["arch"], checkpoint=r["artifacts"]["model.pt"], epochs=p["teacher_epochs"])
    else:
        row.update(seed=task["seed"], method=task["method"])
        if r.get("soup"):
            row["soup"] = {k: r["soup"][k] for k in ("base_acc", "gain_pp", "chosen", "ingredient_test_acc")
                           if k in r["soup"]}
        if r.get("kd"):
            row["teacher_acc"] = [t.get("test_acc") for t in r["kd"]["teachers"]]
    return row


def _paired(rows: dict[str, dict[str, Any]], method: str, seeds: list[int], metric: str,
            ref: str = "no_kd") -> list[dict[str, Any]]:
    out = []
    for s in seeds:
        a, b = rows.get(f"{s}/{method}"), rows.get(f"{s}/{ref}")
        if a and b:
            out.append({"seed": s, "acc": a[metric], "no_kd_acc": b[metric], "gain_pp": a[metric] - b[metric],
                        "seconds": a["seconds"], "metric": metric})
    return out


def _interval(vals: list[float]) -> tuple[float | None, list[float] | None]:
    if not vals:
        return None, None
    m, lo, hi = t_interval(vals)
    return m, [lo, hi]


def aggregate(p: dict[str, Any], rows: dict[str, dict[str, Any]], seconds: float) -> dict[str, Any]:
    """The results: per method, the paired gain over no_kd (mean, 95 % t interval), the deployed int8 drop."""
    seeds = sorted({r["seed"] for r in rows.values() if "seed" in r})
    variants = []
    for v in VARIANTS:
        src = "kd_single" if v == "qad" else v
        metric = "int8_acc" if v == "qad" else "float_acc"
        per_seed = _paired(rows, src, seeds, metric)
        if not per_seed:
            continue
        m, ci = _interval([r["gain_pp"] for r in per_seed])
        own = [rows[f"{r['seed']}/{src}"] for r in per_seed]
        drop, drop_ci = _interval([r["float_acc"] - r["int8_acc"] for r in own])
        ptq_drop, _ = _interval([r["float_acc"] - r["ptq_int8_acc"] for r in own])
        variants.append({
            "name": v, "seeds": len(per_seed), "gain_mean_pp": m, "gain_ci95": ci, "metric": metric,
            "int8_drop_pp": drop, "int8_drop_ci95": drop_ci, "ptq_drop_pp": ptq_drop,
            "deployed": "qat" if v == "soup" else "qat+teacher", "int8_acc_mean": statistics.fmean(
                r["int8_acc"] for r in own), "flash_bytes": own[0]["flash_bytes"], "arena_bytes": own[0]["arena_bytes"],
            "train_seconds_per_seed": round(statistics.fmean(r["seconds"] for r in own), 1), "per_seed": per_seed})
    base = [rows[f"{s}/no_kd"] for s in seeds if f"{s}/no_kd" in rows]
    teachers = [rows[f"teacher/{k}"] for k in range(len(p["teachers"])) if f"teacher/{k}" in rows]
    return {
        "protocol": protocol(p), "student": {"arch": p["student"], "C": p["C"], "N": p["N"]},
        "teachers": [{k: t[k] for k in ("arch", "epochs", "float_acc", "int8_acc", "seconds")} for t in teachers],
        "epochs": p["epochs"], "qat_epochs": p["qat_epochs"], "soup_n": p["soup"],
        "label_smoothing": p["label_smoothing"],
        "train_images": base[0]["train_images"] if base else None,
        "test_images": base[0]["test_images"] if base else None,
        "no_kd": {"seeds": len(base), "float_acc_mean": statistics.fmean(r["float_acc"] for r in base) if base
                  else None, "int8_acc_mean": statistics.fmean(r["int8_acc"] for r in base) if base else None,
                  "int8_drop_pp": _interval([r["float_acc"] - r["int8_acc"] for r in base])[0],
                  "train_seconds_per_seed": round(statistics.fmean(r["seconds"] for r in base), 1) if base
                  else None},
        "kd_variants": variants, "tasks": rows, "seconds": round(seconds, 1),
    }


def _tasks(p: dict[str, Any], rows: dict[str, dict[str, Any]], seeds: list[int], work: Path,
           methods: tuple[str, ...] = ORDER) -> list[dict[str, Any]]:
    """Every task not stored yet: the teachers, then (seed, method) method by method (``ORDER``, only those in
    ``methods``), seed by seed."""
    out: list[dict[str, Any]] = []
    for k, arch in enumerate(p["teachers"]):
        ckpt = rows.get(f"teacher/{k}", {}).get("checkpoint")
        if ckpt is None or not Path(ckpt).is_file():  # stored but gone (another machine): trained again
            out.append({"key": f"teacher/{k}", "kind": "teacher", "index": k, "arch": arch,
                        "out": str(work / f"teacher{k}")})
    for m in (m for m in ORDER if m in methods):
        for s in seeds:
            if f"{s}/{m}" not in rows:
                out.append({"key": f"{s}/{m}", "kind": "student", "seed": s, "method": m,
                            "needs_teachers": "teacher" in METHODS[m], "out": str(work / f"s{s}_{m}")})
    return out


def run_grid(p: dict[str, Any], seeds: list[int], stored: dict[str, Any] | None, work_root: Path, workers: int,
             max_tasks: int | None, save: Callable[[dict[str, Any]], None],
             methods: tuple[str, ...] = ORDER) -> dict[str, Any]:
    """Run the tasks of ``seeds`` and ``methods`` not in ``stored`` (same protocol) on ``workers`` processes;
    ``save`` gets the aggregate after every task. Returns the final aggregate."""
    unknown = sorted(set(methods) - set(ORDER))
    if unknown or "no_kd" not in methods:
        raise ValueError(f"kd grid methods: {', '.join(unknown) or 'no_kd missing'} (every gain is paired with "
                         f"no_kd; known: {', '.join(ORDER)})")
    same = stored is not None and stored.get("protocol") == protocol(p)
    rows: dict[str, dict[str, Any]] = dict(stored.get("tasks", {})) if same and stored else {}
    prev_seconds = float(stored.get("seconds", 0.0)) if same and stored else 0.0
    work = work_root / _key(p)
    todo = _tasks(p, rows, seeds, work, methods)
    teachers_todo = [t for t in todo if t["kind"] == "teacher"]
    for t in teachers_todo:
        rows.pop(t["key"], None)
    pending = teachers_todo + [t for t in todo if t["kind"] == "student"][:max_tasks]
    print(f"kd grid {_key(p)}: {len(rows)} tasks stored, {len(pending)} to run "
          f"({len(teachers_todo)} teacher(s)) on {workers} worker(s)", flush=True)
    t0 = time.perf_counter()
    running: dict[Future[dict[str, Any]], dict[str, Any]] = {}

    def ready(t: dict[str, Any]) -> bool:
        return t["kind"] == "teacher" or not t["needs_teachers"] or all(
            f"teacher/{k}" in rows for k in range(len(p["teachers"])))

    # each task's TFLM accuracy runs split their images over this task's share of the CPUs (spawned workers
    # inherit the environment; a value the caller set wins)
    os.environ.setdefault("AUTOMCU_TFLM_WORKERS", str(max(1, (os.cpu_count() or 1) // workers)))
    # a worker ends with this process (killed, it would otherwise train its task to the end as an orphan)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=exit_with_parent,
                             initargs=(os.getpid(), False)) as pool:
        while pending or running:
            for t in [t for t in pending if ready(t)][:max(0, workers - len(running))]:
                pending.remove(t)
                teachers = [rows[f"teacher/{k}"]["checkpoint"] for k in range(len(p["teachers"]))
                            if f"teacher/{k}" in rows]
                running[pool.submit(run_task, {**t, "params": p, "teachers": teachers})] = t
            if not running:
                raise RuntimeError(f"kd grid: {len(pending)} task(s) wait for teachers that are not running")
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                t = running.pop(fut)
                row = fut.result()  # a failed compress run stops the grid (its error, as raised)
                rows[t["key"]] = row
                print(f"  {t['key']}: float {row['float_acc']:.2f} %, int8 {row['int8_acc']:.2f} % "
                      f"({row['seconds']:.0f} s)", flush=True)
                save(aggregate(p, rows, prev_seconds + time.perf_counter() - t0))
    return aggregate(p, rows, prev_seconds + time.perf_counter() - t0)


HEADING = "## KD variants (issue 17)"


def markdown(v: dict[str, Any], full: bool, reduced: str, heading: str = HEADING) -> str:
    st = v["student"]
    methods = v.get("methods") or ORDER  # only what the cell ran is described
    mix = "; label_mix: the `auto` schedule 0.5 → 0.1" if "label_mix" in methods else ""
    soup = (f"; soup: {v['soup_n']} fine-tuned runs, greedy on the 10 % of training images the soup run holds out"
            if "soup" in methods else "")
    lines = [f"{heading}: gain over the same student without KD, same epochs", "",
             ("Full protocol." if full else f"**Reduced run, not the full protocol**: {reduced}."), "",
             f"Every cell is a run of the product's compress pipeline (`run_compress`, what `automcu compress` "
             f"runs) that differs from the no-KD run of the same seed only in its compression options. Student "
             f"`{st['arch']}` C={st['C']} N={st['N']}, {v['epochs']} epochs + {v['qat_epochs']} QAT epoch(s), "
             f"label smoothing {v['label_smoothing']}, {v['train_images'] or 0:,} training / "
             f"{v['test_images'] or 0:,} test images; int8 accuracy measured in TFLite Micro on every test image.",
             "", "Teachers (trained once by the same pipeline, handed over as the bundle's `model.pt`): "
             + "; ".join(f"`{t['arch']}` {t['epochs']} epochs, float {t['float_acc']:.2f} %" for t in v["teachers"])
             + f". T=4, α=0.7 (hard-label weight 0.3{mix}){soup}.", "",
             "Gain: float accuracy minus the no-KD run's, paired by seed (qad: deployed int8 accuracy, KD + QAT "
             "with the teacher's loss vs no KD + plain QAT). int8 drop: float minus deployed (QAT) int8, "
             "TFLite Micro; PTQ drop for comparison. 95 % intervals: Student t over seeds.", "",
             "| variant | seeds | gain mean | 95 % CI | int8 drop, deployed | 95 % CI | PTQ drop | s/seed |",
             "|---|---|---|---|---|---|---|---|"]

    def pp(value: float | None) -> str:
        return "—" if value is None else f"{value:+.2f} pp"

    def ci(c: list[float] | None) -> str:
        return "—" if c is None or c[0] != c[0] else f"[{c[0]:+.2f}, {c[1]:+.2f}]"

    for r in v["kd_variants"]:
        lines.append(f"| {r['name']} | {r['seeds']} | {pp(r['gain_mean_pp'])} | {ci(r['gain_ci95'])} | "
                     f"{pp(r['int8_drop_pp'])} | {ci(r.get('int8_drop_ci95'))} | {pp(r.get('ptq_drop_pp'))} | "
                     f"{r['train_seconds_per_seed']:.0f} |")
    nk = v["no_kd"]
    if nk["seeds"]:
        lines += ["", f"No-KD student over {nk['seeds']} seeds: float {nk['float_acc_mean']:.2f} %, deployed int8 "
                  f"{nk['int8_acc_mean']:.2f} % (drop {pp(nk['int8_drop_pp'])}), {nk['train_seconds_per_seed']:.0f} "
                  f"s/seed. Grid wall time {v['seconds']:.0f} s (all runs together)."]
    return "\n".join(lines) + "\n"
