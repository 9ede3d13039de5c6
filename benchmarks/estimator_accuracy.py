#!/usr/bin/env python
"""Estimator accuracy against the real TensorFlow Lite Micro interpreter.

For ≥ 30 NB201 archs spanning the space (smallest and largest by FLOPs, conv-heavy, pool/skip-heavy,
edge cases, random) at the benchmark macro (C=16, N=5, 32×32×3, 10 classes) and an MCU-scale macro
(C=8, N=1, 28×28×1, 10 classes), each arch is exported to a full-int8 ``.tflite`` (random,
calibrated weights) and run in ``tflite_micro``:

1. ``benchmarks/results/tflm_measured.json``: per arch and macro the smallest working arena, TFLM's
   head/tail breakdown, the ``.tflite`` size and where its bytes go, and the op list in execution
   order with shapes, and the planned (non-constant) tensors as ``[bytes, first_op, last_op,
   tensor_index]`` — the ground truth the estimator's graph model and arena planner are calibrated on. Written after
   every model, so a partial run is usable.
2. ``benchmarks/results/estimator_accuracy.json`` + ``.md``: estimated peak SRAM (arena) vs the
   measured arena, estimated Flash (model bytes) vs the ``.tflite`` size, MACs vs the table's FLOPs
   (CIFAR-10 macro), with median and worst errors against the targets (5 % / 15 %, 5 %, 1 %).

Exports are cached under the AutoMCU data dir (``automcu.deploy.verify.cache_dir``); a rerun only
re-measures. ``--measure-only`` skips the comparison; ``--limit N`` takes the first N archs.
Usage: ``python benchmarks/estimator_accuracy.py [--measure-only] [--limit N]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
MEASURED_JSON = RESULTS / "tflm_measured.json"
ACCURACY_JSON = RESULTS / "estimator_accuracy.json"
ACCURACY_MD = RESULTS / "estimator_accuracy.md"

TARGETS = {"sram_median_pct": 5.0, "sram_worst_pct": 15.0, "flash_pct": 5.0, "macs_pct": 1.0}


@dataclass(frozen=True)
class MacroSpec:
    name: str
    C: int
    N: int
    in_ch: int
    hw: int
    classes: int


MACROS = (
    MacroSpec("benchmark C16 N5 32x32x3", 16, 5, 3, 32, 10),
    MacroSpec("mcu C8 N1 28x28x1", 8, 1, 1, 28, 10),
)

#: named archs that pin the extremes and the converter's edge cases; ops per edge in official order
#: (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2) as "-" none, "s" skip, "c1"/"c3" conv, "p" avg_pool
NAMED: tuple[tuple[str, str], ...] = (
    ("all conv3x3 (max FLOPs)", "c3 c3 c3 c3 c3 c3"),
    ("all conv1x1", "c1 c1 c1 c1 c1 c1"),
    ("all avg_pool (min FLOPs)", "p p p p p p"),
    ("all skip (min FLOPs)", "s s s s s s"),
    ("pool/skip mix (min FLOPs)", "s p s s p p"),
    ("chain of pools", "p - p - - p"),
    ("ResNet cell", "c3 - c3 s - s"),
    ("CIFAR-10 best (6111)", "c3 c3 c3 s c3 c1"),
    ("conv chain", "c3 - c3 - - c3"),
    ("single conv3x3 edge", "- - - c3 - -"),
    ("skip only to output", "- - - s - -"),
    ("dead edges", "c3 c3 c1 s - -"),
    ("conv from a zero node", "- s c3 - c3 c1"),
    ("mixed conv/pool", "c3 c1 p s c3 p"),
    ("conv1x1 + pools", "c1 p c1 p s c1"),
    ("fan-out of node 0", "c1 c3 s c3 p c1"),
)
_ABBR = {"-": "none", "s": "skip_connect", "c1": "nor_conv_1x1", "c3": "nor_conv_3x3", "p": "avg_pool_3x3"}


def _arch(short: str) -> Any:
    from search_spaces.nb201.space import OP_INDEX, Arch

    return Arch(tuple(OP_INDEX[_ABBR[t]] for t in short.split()))


N_RANDOM = 16
#: measured after the graph rules (op order, fusions, constant nodes) were derived from the others
N_HELD_OUT = 8
HELD_OUT = "random, held out"


def select_archs(n_random: int = N_RANDOM, seed: int = 0, n_held_out: int = N_HELD_OUT) -> list[tuple[str, Any]]:
    """Named extremes plus ``n_random`` random output-connected archs (deterministic), then
    ``n_held_out`` more random ones (seed + 1) that played no part in building the estimator."""
    from search_spaces.nb201.space import Arch

    chosen: list[tuple[str, Arch]] = [(label, _arch(s)) for label, s in NAMED]
    seen = {a.canonical_key() for _, a in chosen}
    for label, n, rng in (("random", n_random, random.Random(seed)), (HELD_OUT, n_held_out, random.Random(seed + 1))):
        target = len(chosen) + n
        while len(chosen) < target:
            a = Arch.sample(rng)
            if not a.output_connected or a.canonical_key() in seen:
                continue
            seen.add(a.canonical_key())
            chosen.append((label, a))
    return chosen


def versions() -> dict[str, str]:
    out = {}
    for dist in ("torch", "litert-torch", "ai-edge-quantizer", "ai-edge-litert", "tflite_micro"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "absent"
    return out


def _atomic_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=1) + "\n")
    tmp.replace(path)


def _write_measured(payload: dict[str, Any]) -> None:
    """Pretty top level, one compact line per record (the op and tensor lists are long)."""
    head = {k: v for k, v in payload.items() if k not in ("records", "errors")}
    lines = ["{"] + [f" {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    for key in ("records", "errors"):
        items = payload[key]
        lines.append(f' "{key}": [')
        lines += [f"  {json.dumps(r, separators=(',', ':'))}{',' if i < len(items) - 1 else ''}" for i, r in
                  enumerate(items)]
        lines.append(" ]," if key == "records" else " ]")
    lines.append("}")
    MEASURED_JSON.parent.mkdir(parents=True, exist_ok=True)
    tmp = MEASURED_JSON.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(MEASURED_JSON)


def measure_one(label: str, arch: Any, macro: MacroSpec) -> dict[str, Any]:
    from automcu.deploy.flatbuffer import model_stats
    from automcu.deploy.tflm import tensor_lifetimes
    from automcu.deploy.verify import _measured_cached, export_arch
    from search_spaces.nb201.index import index_of
    from search_spaces.nb201.table import load_table

    t0 = time.perf_counter()
    data, cached = export_arch(arch, macro, seed=0)
    t1 = time.perf_counter()
    m = _measured_cached(data)
    idx = index_of(arch)
    table = load_table()
    return {
        "label": label,
        "arch": arch.to_string(),
        "index": idx,
        "macro": macro.name,
        "macro_params": {k: v for k, v in asdict(macro).items() if k != "name"},
        "table_flops_M_cifar10": float(table.column("flops_M")[idx]),
        "table_params_M_cifar10": float(table.column("params_M")[idx]),
        "tflite_bytes": m["flash_bytes"],
        "tflite_stats": model_stats(data),
        "arena_min_bytes": m["arena_bytes"],
        "arena": m["arena"],
        "op_count": m["op_count"],
        "ops": [{"op": o["op"], "inputs": o["inputs"], "output": o["output"]} for o in m["op_list"]],
        "planned_tensors": [list(t) for t in tensor_lifetimes(data)],
        "export_seconds": None if cached else round(t1 - t0, 1),
        "measure_seconds": round(time.perf_counter() - t1, 2),
    }


def _previous_export_seconds() -> dict[tuple[str, str], float]:
    try:
        old = json.loads(MEASURED_JSON.read_text())["records"]
    except (OSError, ValueError, KeyError):
        return {}
    return {(r["arch"], r["macro"]): r["export_seconds"] for r in old if r.get("export_seconds")}


def measure_all(archs: list[tuple[str, Any]], macros: tuple[MacroSpec, ...]) -> list[dict[str, Any]]:
    previous = _previous_export_seconds()
    records: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for macro in macros:
        for i, (label, arch) in enumerate(archs):
            t0 = time.perf_counter()
            try:
                rec = measure_one(label, arch, macro)
                if rec["export_seconds"] is None:  # from the export cache: keep the time it took then
                    rec["export_seconds"] = previous.get((rec["arch"], rec["macro"]))
            except Exception as exc:  # a failed export is a result too
                errors.append({"arch": arch.to_string(), "macro": macro.name, "error": f"{type(exc).__name__}: {exc}"})
                print(f"[{macro.name}] {i + 1}/{len(archs)} FAILED {arch}: {exc}", file=sys.stderr, flush=True)
                continue
            records.append(rec)
            print(
                f"[{macro.name}] {i + 1}/{len(archs)} arena {rec['arena_min_bytes']:>8,} tflite "
                f"{rec['tflite_bytes']:>9,} ops {rec['op_count']:>4} ({time.perf_counter() - t0:.1f}s) {label}",
                file=sys.stderr, flush=True,
            )
            _write_measured(_measured_payload(records, errors))
    _write_measured(_measured_payload(records, errors))
    return records


def _measured_payload(records: list[dict[str, Any]], errors: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "description": "TFLite Micro measurements of full-int8 NB201 exports (litert-torch -> ai-edge-quantizer "
        "static_wi8_ai8 -> buffers inlined, names stripped); random calibrated weights; arena_min_bytes = "
        "smallest arena (16-B steps) that allocates and runs; ops in execution order (NHWC shapes); "
        "planned_tensors = [bytes, first_op, last_op, tensor_index] of the non-constant tensors (greedy "
        "first-fit, largest first, ties by higher tensor_index first, reproduces arena.head on every record)",
        "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
        "macros": [asdict(m) for m in MACROS],
        "records": records,
        "errors": errors,
    }


# ------------------------------------------------------------------------------------------ compare
def _estimator_macro(spec: MacroSpec) -> Any:
    from automcu.hardware.estimator import Macro

    return Macro(C=spec.C, N=spec.N, in_ch=spec.in_ch, hw=spec.hw, classes=spec.classes)


def compare(records: list[dict[str, Any]]) -> dict[str, Any]:
    from automcu.deploy.verify import estimate_dict, estimation_error
    from automcu.hardware.estimator import estimate
    from search_spaces.nb201.space import Arch

    rows = []
    by_name = {m.name: m for m in MACROS}
    for rec in records:
        spec = by_name[rec["macro"]]
        arch = Arch.from_string(rec["arch"])
        est = estimate(arch, None, _estimator_macro(spec))  # no hardware: reference kernels, as measured
        est_dict = estimate_dict(est)
        err = estimation_error(est, rec["arena_min_bytes"], rec["tflite_bytes"])
        row = {
            "label": rec["label"], "arch": rec["arch"], "index": rec["index"], "macro": rec["macro"],
            "arena_measured": rec["arena_min_bytes"], "flash_measured": rec["tflite_bytes"],
            "sram_err_pct": err["sram"], "flash_err_pct": err["flash"],
            "arena_est": est_dict.get("arena_bytes"), "flash_est": (est_dict.get("flash") or {}).get("model_total"),
            "arena_head_measured": rec["arena"]["head"], "arena_tail_measured": rec["arena"]["tail"],
            "arena_head_est": (est_dict.get("sram") or {}).get("arena_head_planned"),
            "arena_tail_est": (est_dict.get("sram") or {}).get("persistent"),
            "ops_measured": rec["op_count"], "ops_est": est_dict.get("n_ops"),
        }
        if spec.C == 16 and spec.N == 5 and spec.hw == 32 and spec.in_ch == 3 and spec.classes == 10:
            flops = rec["table_flops_M_cifar10"] * 1e6
            macs = float(est_dict.get("nb201_macs", est_dict.get("macs", 0)))
            row["macs_est"] = macs
            row["table_flops"] = flops
            row["macs_err_pct"] = round(100 * (macs - flops) / flops, 3)
        rows.append(row)
    return {"rows": rows, "summary": summarize(rows)}


def _stats(values: list[float]) -> dict[str, float]:
    a = np.abs(np.asarray(values, dtype=float))
    return {"median_abs_pct": round(float(np.median(a)), 2), "worst_abs_pct": round(float(a.max()), 2),
            "mean_pct": round(float(np.mean(values)), 2), "n": len(values)}


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for macro in sorted({r["macro"] for r in rows}):
        sub = [r for r in rows if r["macro"] == macro]
        entry = {"sram": _stats([r["sram_err_pct"] for r in sub]), "flash": _stats([r["flash_err_pct"] for r in sub])}
        macs = [r["macs_err_pct"] for r in sub if "macs_err_pct" in r]
        if macs:
            entry["macs"] = _stats(macs)
        out[macro] = entry
    held = [r for r in rows if r["label"] == HELD_OUT]
    if held:
        out["held_out"] = {"sram": _stats([r["sram_err_pct"] for r in held]),
                           "flash": _stats([r["flash_err_pct"] for r in held])}
    allrows = rows
    out["all"] = {"sram": _stats([r["sram_err_pct"] for r in allrows]),
                  "flash": _stats([r["flash_err_pct"] for r in allrows])}
    s, f = out["all"]["sram"], out["all"]["flash"]
    out["targets"] = TARGETS
    out["meets"] = {
        "sram_median": s["median_abs_pct"] <= TARGETS["sram_median_pct"],
        "sram_worst": s["worst_abs_pct"] <= TARGETS["sram_worst_pct"],
        "flash_worst": f["worst_abs_pct"] <= TARGETS["flash_pct"],
        "macs_worst": all(v.get("macs", {"worst_abs_pct": 0})["worst_abs_pct"] <= TARGETS["macs_pct"]
                          for k, v in out.items() if isinstance(v, dict) and "sram" in v
                          and k not in ("all", "held_out")),
    }
    return out


def write_markdown(result: dict[str, Any]) -> None:
    s = result["summary"]
    lines = [
        "# Estimator accuracy vs TensorFlow Lite Micro",
        "",
        f"Generated {result['generated']} by `benchmarks/estimator_accuracy.py`; versions: "
        + ", ".join(f"{k} {v}" for k, v in result["versions"].items()) + ".",
        "",
        "Error = (estimate − measured) / measured. SRAM: estimated arena vs the smallest arena with which TFLM "
        "allocates and runs the exported int8 model; Flash: estimated model bytes vs the `.tflite` size; "
        "MACs: estimated MACs vs the NB201 table's FLOPs (CIFAR-10 network, which counts MACs).",
        "",
        "| macro | n | SRAM median | SRAM worst | Flash median | Flash worst | MACs worst |",
        "|---|---|---|---|---|---|---|",
    ]
    for macro, e in s.items():
        if not isinstance(e, dict) or "sram" not in e:
            continue
        if macro == "held_out":
            macro = "held out: random archs measured after the graph rules were set (both macros)"
        macs = f"{e['macs']['worst_abs_pct']:.3f} %" if "macs" in e else "–"
        lines.append(
            f"| {macro} | {e['sram']['n']} | {e['sram']['median_abs_pct']:.2f} % | {e['sram']['worst_abs_pct']:.2f} % "
            f"| {e['flash']['median_abs_pct']:.2f} % | {e['flash']['worst_abs_pct']:.2f} % | {macs} |"
        )
    t = s["targets"]
    lines += [
        "",
        f"Targets: SRAM median ≤ {t['sram_median_pct']} %, worst ≤ {t['sram_worst_pct']} %; "
        f"Flash ≤ {t['flash_pct']} %; MACs ≤ {t['macs_pct']} %. Met: "
        + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in s["meets"].items()),
        "",
        "| macro | label | index | arena measured | SRAM err | .tflite | Flash err |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['macro']} | {r['label']} | {r['index']} | {r['arena_measured']:,} | {r['sram_err_pct']:+.2f} % "
            f"| {r['flash_measured']:,} | {r['flash_err_pct']:+.2f} % |"
        )
    ACCURACY_MD.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--measure-only", action="store_true", help="export + measure, skip the estimator comparison")
    ap.add_argument("--compare-only", action="store_true", help="reuse tflm_measured.json, only compare")
    ap.add_argument("--limit", type=int, default=0, help="only the first N archs (quick runs)")
    ap.add_argument("--macro", choices=[m.name for m in MACROS], action="append", help="only these macros")
    a = ap.parse_args(argv)

    t0 = time.perf_counter()
    if a.compare_only:
        records = json.loads(MEASURED_JSON.read_text())["records"]
    else:
        archs = select_archs()
        if a.limit:
            archs = archs[: a.limit]
        macros = tuple(m for m in MACROS if not a.macro or m.name in a.macro)
        records = measure_all(archs, macros)
    if a.measure_only:
        print(json.dumps({"measured": len(records), "seconds": round(time.perf_counter() - t0, 1)}))
        return 0
    result = {
        "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
        **compare(records),
    }
    _atomic_json(ACCURACY_JSON, result)
    write_markdown(result)
    print(json.dumps(result["summary"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
