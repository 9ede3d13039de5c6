#!/usr/bin/env python
"""Rank correlation of estimated latency vs measured latency (HELP data, all 15,625 NB201 archs).

For each device in ``../shared/data/nb201/nb201_hw_latency_help.csv`` (relative to the repo root):
* ``rho_flops``: Spearman ρ of the table's FLOPs alone (the baseline);
* ``rho_mcu_model``: ρ of the MCU cycle model as shipped (Cortex-M7 constants, no fitting at all);
* ``rho_fitted``: the estimator's per-op cost features (op count, MACs by conv kind, requantized
  outputs, pooling taps, ADD/RELU/PAD/MEAN elements; :mod:`automcu.hardware.cycles`) with per-device
  non-negative weights fitted on ``--n-fit`` random archs (HELP uses 10-20 device samples), ρ reported
  on all the *other* archs; median (and worst) over ``--repeats`` random draws. Three feature sets:
  the deployed graph's, the eager torch graph's, and "joint" = four physical quantities (ops, conv
  MACs, feature-map elements written = memory traffic, pooling taps) of both graphs, for runtimes
  that do part of the converter's fusion/dead-code removal; leave-one-out error on the fit sample
  picks one per draw.
Archs whose cell output ignores the input are left out (the data README: near-zero latencies where
the on-device compiler pruned the whole network). Writes ``benchmarks/results/latency_rank.{json,md}``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from automcu.hardware.cellstats import space_arrays  # noqa: E402
from automcu.hardware.cycles import FEATURES, core_model  # noqa: E402
from automcu.hardware.estimator import Macro  # noqa: E402
from search_spaces.nb201.table import load_table  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "nb201" / "nb201_hw_latency_help.csv"
CPU_CLASS = {"gold_6226", "gold_6240", "silver_4114", "silver_4210r", "pixel2", "pixel3", "essential_ph_1",
             "samsung_a50", "samsung_s7", "raspi4"}
CLOSEST_TO_MCU = ["raspi4", "pixel3", "pixel2", "samsung_s7", "samsung_a50", "essential_ph_1"]


def ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank)."""
    order = np.argsort(x, kind="mergesort")
    r = np.empty(len(x))
    r[order] = np.arange(len(x))
    _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=r)
    return (sums / counts)[inv]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = ranks(a), ranks(b)
    return float(np.corrcoef(ra, rb)[0, 1])


def nnls(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative least squares by an active-set loop (drop the most negative weight, refit)."""
    active = list(range(X.shape[1]))
    w = np.zeros(X.shape[1])
    while active:
        sol, *_ = np.linalg.lstsq(X[:, active], y, rcond=None)
        if (sol >= 0).all():
            w[:] = 0
            w[active] = sol
            return w
        active.pop(int(np.argmin(sol)))
    return w


def eager_features(macro: Macro) -> np.ndarray:
    """Cost features of the *eager* torch network (what a PyTorch-measured device runs).

    Every edge executes: ``none`` is a Zero op (``x.mul(0)``), skip an Identity call, each conv edge
    is ReLU → Conv → BN (no fusion, no dead-code removal, no sharing), each node sums all its edges
    (3 ADDs per cell). Stem/reduction/head features are those of the deployed skeleton graph.
    """
    from automcu.hardware.cellstats import IDENTITY_CELL
    from automcu.hardware.estimator import graph_features
    from automcu.hardware.graph import build_graph

    skel = graph_features(build_graph(IDENTITY_CELL, macro.C, macro.N, macro.in_ch, macro.hw, macro.classes))
    ops = load_table().ops
    n3, n1 = (ops == 3).sum(1), (ops == 2).sum(1)
    npool, nskip, nnone = (ops == 4).sum(1), (ops == 1).sum(1), (ops == 0).sum(1)
    idx = {f: i for i, f in enumerate(FEATURES)}
    f = np.tile(skel, (len(ops), 1)).astype(float)
    c, h, N = macro.C, macro.hw, macro.N
    for stage in range(3):
        if stage > 0:
            c, h = 2 * c, h // 2
        S = h * h * c
        f[:, idx["ops"]] += N * (3 * (n3 + n1) + npool + nskip + nnone + 3)
        f[:, idx["macs_conv3x3"]] += N * n3 * S * c * 9
        f[:, idx["macs_conv1x1"]] += N * n1 * S * c
        f[:, idx["conv_out"]] += N * 2 * (n3 + n1) * S
        f[:, idx["pool_taps"]] += N * npool * S * 9
        f[:, idx["pool_out"]] += N * npool * S
        f[:, idx["add_elems"]] += N * (3 + nnone) * S
        f[:, idx["relu_elems"]] += N * (n3 + n1) * S
    return f


def physical(f: np.ndarray) -> np.ndarray:
    """Four physical quantities from the per-op features: ops (dispatch overhead), conv MACs, elements
    written by every op (memory traffic of the feature maps), pooling window taps."""
    i = {name: k for k, name in enumerate(FEATURES)}
    macs = f[:, i["macs_conv3x3"]] + f[:, i["macs_conv1x1"]]
    traffic = f[:, i["conv_out"]] + f[:, i["pool_out"]] + f[:, i["add_elems"]] + f[:, i["relu_elems"]]
    return np.stack([f[:, i["ops"]], macs, traffic, f[:, i["pool_taps"]]], axis=1)


def loo_error(X: np.ndarray, y: np.ndarray) -> float:
    """Leave-one-out relative error of the NNLS fit (model selection on the fit sample)."""
    errs = []
    for i in range(len(y)):
        m = np.arange(len(y)) != i
        w = nnls(X[m], y[m])
        errs.append(abs(X[i] @ w - y[i]) / max(abs(y[i]), 1e-9))
    return float(np.mean(errs))


def load_latency() -> dict[str, np.ndarray]:
    with DATA.open() as fh:
        rows = list(csv.DictReader(fh))
    devices = [k for k in rows[0] if k != "arch_index"]
    if [int(r["arch_index"]) for r in rows] != list(range(len(rows))):
        raise SystemExit("latency CSV rows are not in arch_index order")
    return {d: np.array([float(r[d]) for r in rows]) for d in devices}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-fit", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    a = ap.parse_args()
    if not DATA.is_file():
        print(f"skipped: {DATA} not found (needs the shared NB201 latency data next to the repo)")
        return 0
    t0 = time.perf_counter()
    lat = load_latency()
    table = load_table()
    flops = table.columns["flops_M"]
    static = space_arrays(Macro(), None)
    feats = static["features"]
    connected = ~(static["n_ops"] <= 1)
    mcu = feats @ core_model("cortex-m7").weights()
    keep = np.flatnonzero(connected)
    def design(fm: np.ndarray) -> np.ndarray:
        varying = fm[keep].std(axis=0) > 0
        xv = fm[keep][:, varying]
        return np.hstack([np.ones((len(keep), 1)), xv / xv.std(axis=0)])  # intercept + scaled features

    eager = eager_features(Macro())
    graphs = {"deployed": design(feats), "eager": design(eager),
              "joint": design(np.hstack([physical(eager), physical(feats)]))}
    results = []
    rng = np.random.default_rng(a.seed)
    for dev in sorted(lat):
        y = lat[dev][keep]
        fitted, chosen = [], []
        for _ in range(a.repeats):
            fit = rng.choice(len(keep), a.n_fit, replace=False)
            rest = np.setdiff1d(np.arange(len(keep)), fit)
            # pick the executed graph (deployed TFLite-style, eager torch, or both) by leave-one-out
            # error on the fit sample only
            best = min(graphs, key=lambda k: loo_error(graphs[k][fit], y[fit]))
            X = graphs[best]
            w = nnls(X[fit], y[fit])
            fitted.append(spearman(X[rest] @ w, y[rest]))
            chosen.append(best)
        results.append({
            "device": dev,
            "class": "cpu" if dev in CPU_CLASS else ("gpu" if dev.split("_")[-1] in {"1", "32", "256"}
                                                      and dev not in CPU_CLASS else "accelerator"),
            "n_archs": len(keep),
            "rho_flops": round(spearman(flops[keep], y), 4),
            "rho_mcu_model": round(spearman(mcu[keep], y), 4),
            "rho_fitted_median": round(float(np.median(fitted)), 4),
            "rho_fitted_min": round(float(np.min(fitted)), 4),
            "rho_fitted_p10": round(float(np.percentile(fitted, 10)), 4),
            "graph_chosen": max(set(chosen), key=chosen.count),
        })
    for r in results:
        r["beats_flops"] = r["rho_fitted_median"] > r["rho_flops"]
        r["beats_flops_in_every_draw"] = r["rho_fitted_min"] > r["rho_flops"]
    payload = {
        "data": "HELP (HayeonLee/HELP @45f70eb) NB201 latencies, via ../shared/data/nb201/nb201_hw_latency_help.csv",
        "excluded": f"{int((~connected).sum())} archs whose cell output ignores the input "
                    "(network folds to a constant)",
        "features": list(FEATURES),
        "graphs": "deployed = the TFLite op graph the estimator builds; eager = every torch module runs; "
                  "joint = 4 physical quantities (ops, conv MACs, feature-map elements written, pooling taps) "
                  "of each of the two graphs, fitted together (the device's runtime may do some of the "
                  "deployed graph's fusion/dead-code removal but not all)",
        "protocol": (f"rho_fitted: non-negative per-op-feature weights fitted on {a.n_fit} random archs per device, "
                     f"Spearman rho on the remaining {len(keep) - a.n_fit}; median / 10th percentile / min over "
                     f"{a.repeats} draws (seed {a.seed}); the feature set (deployed TFLite-style graph with "
                     "fusion, CSE and dead-code removal; eager torch running every module; or joint: four physical "
                     "quantities of each) is chosen per draw by leave-one-out error on the fit sample only. "
                     "rho_mcu_model: Cortex-M7 constants as shipped, deployed graph, nothing fitted."),
        "closest_to_mcu": "raspi4 (Cortex-A72, TFLite) and the phones' Arm CPUs are the nearest to a Cortex-M "
                          "of these devices: in-order-ish memory-bound int kernels, no GPU; eyeriss/fpga are "
                          "accelerators and the GPUs are throughput machines where per-op overhead dominates.",
        "seconds": round(time.perf_counter() - t0, 2),
        "results": results,
    }
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "latency_rank.json").write_text(json.dumps(payload, indent=2) + "\n")
    lines = [
        "# Latency rank correlation (Spearman ρ) vs measured NB201 latencies (HELP data)",
        "",
        payload["protocol"],
        "",
        f"Excluded: {payload['excluded']}.",
        "",
        "| device | class | ρ FLOPs | ρ MCU model (no fit) | ρ fitted median | p10 | min | graph "
        "| median beats FLOPs |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(results, key=lambda r: (r["class"], r["device"])):
        lines.append(f"| {r['device']} | {r['class']} | {r['rho_flops']:.3f} | {r['rho_mcu_model']:.3f} | "
                     f"{r['rho_fitted_median']:.3f} | {r['rho_fitted_p10']:.3f} | {r['rho_fitted_min']:.3f} | "
                     f"{r['graph_chosen']} | "
                     f"{'yes' if r['beats_flops'] else 'no'} |")
    lines += ["", "Closest to an MCU: " + payload["closest_to_mcu"], ""]
    (a.out / "latency_rank.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
