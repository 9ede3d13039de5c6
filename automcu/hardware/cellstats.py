"""Whole-space estimation from per-cell statistics (vectorized; used by ``estimate_all``).

Every cell of the network is the same cell, so the deployed graph is a fixed *skeleton* (stem,
two reduction blocks, final BN, MEAN, FC) plus N copies per stage of one cell graph whose ops all
produce feature maps of the stage's size S = h·w·c. Per unique (dead-edge-pruned) cell we record
its op counts, the ReLU fusions the converter does, and L = the most stage-sized tensors live at
once inside the cell; with equal-size buffers placed first-fit in creation order, TFLM's planner
needs exactly L·S bytes there. The arena head is then max(skeleton head, max over stages of L·S +
the scratch buffer of an op at that peak). ``tests/test_estimator.py`` checks this against the
exact planner of :func:`automcu.hardware.estimator.estimate`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from automcu.hardware.arena import align
from automcu.hardware.cycles import FEATURES, CoreModel
from automcu.hardware.graph import FUSABLE, _Builder, _cell, build_graph
from search_spaces.nb201.space import Arch

if TYPE_CHECKING:
    from automcu.hardware.estimator import Macro

IDENTITY_CELL = Arch.from_string("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")


@dataclass(frozen=True)
class CellStats:
    n_conv3: int
    n_conv1: int
    n_pool: int
    n_add: int
    n_relu: int  # RELU ops left after fusions inside the cell (x0's RELU still counted)
    x0_fusable: bool  # x0 is read only through one RELU: it fuses into x0's producer when that allows it
    out_kind: str  # kind of the op producing the cell output, "IDENTITY" when the output is x0
    live: int  # most stage-sized tensors live at once (x0's RELU not fused)
    live_fused: int  # the same with x0's RELU fused away
    peak_conv3: tuple[bool, bool]  # a 3x3 conv runs at that peak (unfused, fused)
    peak_pool: tuple[bool, bool]


def _analyze(ops6: tuple[int, ...]) -> CellStats:
    arch = Arch(ops6)
    b = _Builder()
    x0 = b.tensor((1, 1, 1))
    out = _cell(b, arch, x0, 1, 0)
    assert out is not None
    ops = b.ops
    # fusions inside the cell: RELU on a node produced by a fusable op that nothing else reads
    removed: set[int] = set()
    alias: dict[int, int] = {}
    for i, op in enumerate(ops):
        if op.kind != "RELU":
            continue
        src = b.tensors[op.inputs[0]]
        if src.producer is not None and ops[src.producer].kind in FUSABLE and src.consumers == [i]:
            removed.add(i)
            alias[op.output] = op.inputs[0]
    x0_relu = [i for i in b.tensors[x0].consumers if ops[i].kind == "RELU"]
    x0_fusable = len(b.tensors[x0].consumers) == 1 and len(x0_relu) == 1
    n_relu = sum(1 for i, op in enumerate(ops) if op.kind == "RELU" and i not in removed)

    def profile(fuse_x0: bool) -> tuple[int, bool, bool]:
        gone = set(removed)
        al = dict(alias)
        if fuse_x0:
            gone.add(x0_relu[0])
            al[ops[x0_relu[0]].output] = x0
        kept = [i for i in range(len(ops)) if i not in gone]
        pos = {i: k for k, i in enumerate(kept)}
        end = len(kept)  # the output stays live after the cell
        first = {x0: -1}
        last: dict[int, int] = {}
        for i in kept:
            first.setdefault(ops[i].output, pos[i])
            for t in ops[i].inputs:
                t = al.get(t, t)
                last[t] = max(last.get(t, -1), pos[i])
        last[out] = end
        if not kept:
            return 1, False, False
        counts = [sum(1 for t in first if first[t] <= k <= last.get(t, first[t])) for k in range(len(kept))]
        peak = max(counts)
        at_peak = [ops[kept[k]] for k in range(len(kept)) if counts[k] == peak]
        return (peak, any(o.kind == "CONV_2D" and o.kernel == 3 for o in at_peak),
                any(o.kind == "AVERAGE_POOL_2D" for o in at_peak))

    live, c3, pl = profile(False)
    live_f, c3f, plf = profile(True) if x0_fusable else (live, c3, pl)
    out_kind = "IDENTITY" if out == x0 else ops[b.tensors[out].producer].kind  # type: ignore[index]
    return CellStats(
        n_conv3=sum(1 for o in ops if o.kind == "CONV_2D" and o.kernel == 3),
        n_conv1=sum(1 for o in ops if o.kind == "CONV_2D" and o.kernel == 1),
        n_pool=sum(1 for o in ops if o.kind == "AVERAGE_POOL_2D"),
        n_add=sum(1 for o in ops if o.kind == "ADD"),
        n_relu=n_relu,
        x0_fusable=x0_fusable,
        out_kind=out_kind,
        live=live,
        live_fused=live_f,
        peak_conv3=(c3, c3f),
        peak_pool=(pl, plf),
    )


def _cache_file(ops: np.ndarray) -> Path | None:
    """Disk cache of the cell table, keyed by the analysis code and the space's row order."""
    if os.environ.get("AUTOMCU_NO_CACHE"):
        return None
    from platformdirs import user_cache_dir

    h = hashlib.sha256(ops.tobytes())
    for mod in ("graph.py", "cellstats.py"):
        h.update((Path(__file__).parent / mod).read_bytes())
    return Path(os.environ.get("AUTOMCU_CACHE_DIR") or user_cache_dir("automcu")) / f"cells-{h.hexdigest()[:16]}.npz"


@lru_cache(maxsize=1)
def cell_table() -> dict[str, np.ndarray]:
    """Per-arch cell statistics in official index order (macro-independent).

    Computing it takes ~1.5 s (9,445 unique pruned cells); it is kept on disk in the user cache
    (``AUTOMCU_CACHE_DIR`` or the platform cache dir; ``AUTOMCU_NO_CACHE=1`` disables it).
    """
    from search_spaces.nb201.index import all_ops

    ops = all_ops()
    path = _cache_file(ops)
    if path is not None and path.is_file():
        try:
            with np.load(path) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError):
            pass
    table = _compute_cell_table(ops)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(tmp, **table)
            os.replace(tmp, path)
        except OSError:
            pass
    return table


def _compute_cell_table(ops: np.ndarray) -> dict[str, np.ndarray]:
    cache: dict[tuple[int, ...], CellStats] = {}
    rows = []
    connected = np.zeros(len(ops), dtype=bool)
    for r, row in enumerate(ops):
        arch = Arch(tuple(int(o) for o in row))
        live = arch.live_edges()
        connected[r] = any(live)
        key = tuple(o if ok else 0 for o, ok in zip(arch.ops, live, strict=True))
        st = cache.get(key)
        if st is None:
            st = cache[key] = _analyze(key) if connected[r] else _analyze((0, 0, 0, 1, 0, 0))
        rows.append(st)
    table = {
        name: np.array([getattr(s, name) for s in rows])
        for name in ("n_conv3", "n_conv1", "n_pool", "n_add", "n_relu", "x0_fusable", "live", "live_fused")
    }
    table["out_kind"] = np.array([s.out_kind for s in rows])
    table["peak_conv3"] = np.array([s.peak_conv3 for s in rows])
    table["peak_pool"] = np.array([s.peak_pool for s in rows])
    table["connected"] = connected
    table["all_n3"] = (ops == 3).sum(axis=1)
    table["all_n1"] = (ops == 2).sum(axis=1)
    return table


def space_arrays(macro: Macro, core: CoreModel | None) -> dict[str, np.ndarray]:
    """Board-independent figures of all archs for one macro; ``core`` picks the kernels' scratch."""
    from automcu.hardware import estimator as est
    from automcu.hardware.arena import Buffer, plan
    from automcu.hardware.cycles import scratch_bytes

    t = cell_table()
    n = len(t["live"])
    N = macro.N
    # ---- skeleton: the network with an identity cell (stem, reductions, BN, MEAN, FC) ----------
    g = build_graph(IDENTITY_CELL, macro.C, macro.N, macro.in_ch, macro.hw, macro.classes)
    buffers = est._lifetimes(g)
    for i, op in enumerate(g.ops):
        s = scratch_bytes(core, op.kind, op.kernel, op.cin)
        if s:
            buffers.append(Buffer(s, i, i))
    skel_head, _ = plan(buffers)
    skel_feat = est.graph_features(g)
    skel_flash = est._flash_parts(g)
    skel_ops = len(g.ops)
    skel_const_t = est._n_const_tensors(g)
    skel_cout = sum(op.cout for op in g.ops if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"))
    skel_w = sum(op.weights for op in g.ops)
    skel_b = sum(op.biases for op in g.ops)
    skel_macs = sum(op.macs for op in g.ops)

    n3, n1, npool, nadd = t["n_conv3"], t["n_conv1"], t["n_pool"], t["n_add"]
    nconv = n3 + n1
    prod_fusable = np.isin(t["out_kind"], ("ADD", "CONV_2D"))
    x0f = t["x0_fusable"].astype(bool)
    relu_first = t["n_relu"] - x0f  # first cell of a stage: producer is the stem conv / reduction ADD
    relu_rest = t["n_relu"] - (x0f & prod_fusable)
    folded = t["out_kind"] == "CONV_2D"  # final BN folds into the last conv

    feats = np.tile(skel_feat, (n, 1)).astype(float)
    idx = {name: i for i, name in enumerate(FEATURES)}
    ops_total = np.full(n, skel_ops, dtype=np.int64)
    weights = np.full(n, skel_w, dtype=np.int64)
    biases = np.full(n, skel_b, dtype=np.int64)
    macs = np.full(n, skel_macs, dtype=np.int64)
    cout = np.full(n, skel_cout, dtype=np.int64)
    head = np.full(n, skel_head, dtype=np.int64)
    c, h = macro.C, macro.hw
    s3 = c3 = 0
    for stage in range(3):
        if stage > 0:
            c, h = 2 * c, h // 2
        S = h * h * c
        relu = relu_first + (N - 1) * relu_rest
        cell_ops = N * (nconv + npool + nadd) + relu
        ops_total += cell_ops
        feats[:, idx["ops"]] += cell_ops
        feats[:, idx["macs_conv3x3"]] += N * n3 * S * c * 9
        feats[:, idx["macs_conv1x1"]] += N * n1 * S * c
        feats[:, idx["conv_out"]] += N * nconv * S
        feats[:, idx["pool_taps"]] += N * npool * S * 9
        feats[:, idx["pool_out"]] += N * npool * S
        feats[:, idx["add_elems"]] += N * nadd * S
        feats[:, idx["relu_elems"]] += relu * S
        weights += N * (n3 * 9 + n1) * c * c
        biases += N * nconv * c
        macs += N * (n3 * 9 + n1) * S * c
        cout += N * nconv * c
        # arena: the first cell fuses x0's RELU when it can, later cells when their producer allows it
        use_f_first = x0f
        use_f_rest = x0f & prod_fusable
        l_first = np.where(use_f_first, t["live_fused"], t["live"])
        l_rest = np.where(use_f_rest, t["live_fused"], t["live"])
        for lv, fused in ((l_first, use_f_first), (l_rest, use_f_rest)):
            if fused is use_f_rest and N == 1:
                continue
            scr = np.zeros(n, dtype=np.int64)
            if core is not None:
                pc3 = np.where(fused, t["peak_conv3"][:, 1], t["peak_conv3"][:, 0])
                ppl = np.where(fused, t["peak_pool"][:, 1], t["peak_pool"][:, 0])
                if core.conv_scratch:
                    scr = np.maximum(scr, np.where(pc3, align(4 * c * 9), 0))
                if core.pool_scratch:
                    scr = np.maximum(scr, np.where(ppl, align(4 * c), 0))
            head = np.maximum(head, lv * align(S) + scr)
        s3, c3 = S, c
    # final BN folded into a conv: 4 ops, their 4 constants (c3 bytes each) and 8 tensors go away
    ops_total -= 4 * folded
    feats[:, idx["ops"]] -= 4 * folded
    feats[:, idx["add_elems"]] -= 4 * s3 * folded
    const_t = skel_const_t + 2 * _stage_sum(N, nconv) - 4 * folded  # weights + bias per conv
    other_consts = skel_flash["other_constants"] - 4 * c3 * folded
    quant = skel_flash["quant_params"] + est.QUANT_BYTES_PER_CHANNEL * 2 * (cout - skel_cout)
    n_tensors = (ops_total + 1) + const_t
    fb = np.round(est.FB_FIXED + est.FB_PER_OP * ops_total + est.FB_PER_TENSOR * n_tensors).astype(np.int64)
    model_bytes = weights + 4 * biases + other_consts + quant + fb
    tail_raw = np.round(est.TAIL_FIXED + est.TAIL_PER_OP * ops_total + est.TAIL_PER_COUT * cout
                        + est.TAIL_PER_CONST * const_t).astype(np.int64)
    tail = (tail_raw + 15) // 16 * 16
    arena = head + tail

    params_nb, macs_nb = _nb201_vectorized(macro, t["all_n3"], t["all_n1"])
    out = {
        "features": feats,
        "model_bytes": model_bytes.astype(np.int64),
        "arena_bytes": arena.astype(np.int64),
        "macs": macs,
        "params": weights + biases,
        "nb201_params": params_nb,
        "nb201_macs": macs_nb,
        "n_ops": ops_total,
    }
    # degenerate cells (output ignores the input): the network folds to a constant
    dead = ~t["connected"]
    if dead.any():
        from automcu.hardware.estimator import estimate
        from search_spaces.nb201.index import all_ops

        r0 = int(np.flatnonzero(dead)[0])
        e = _degenerate(estimate, Arch(tuple(int(o) for o in all_ops()[r0])), macro, core)
        out["features"][dead] = e["features"]
        for key in ("model_bytes", "arena_bytes", "macs", "params", "n_ops"):
            out[key][dead] = e[key]
    return out


def _stage_sum(N: int, nconv: np.ndarray) -> np.ndarray:
    return 3 * N * nconv


def _degenerate(estimate_fn: object, arch: Arch, macro: Macro, core: CoreModel | None) -> dict[str, object]:
    from automcu.hardware import estimator as est

    g = build_graph(arch, macro.C, macro.N, macro.in_ch, macro.hw, macro.classes)
    fl = est._flash_parts(g)
    return {
        "features": est.graph_features(g),
        "model_bytes": sum(fl.values()),
        "arena_bytes": est.plan(est._lifetimes(g))[0] + est._tail(g),
        "macs": sum(op.macs for op in g.ops),
        "params": sum(op.weights + op.biases for op in g.ops),
        "n_ops": len(g.ops),
    }


def _nb201_vectorized(macro: Macro, n3: np.ndarray, n1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from automcu.hardware.estimator import nb201_counts

    base_p, base_m = nb201_counts(IDENTITY_CELL, macro)  # no convs in the cell
    C, hw, N = macro.C, macro.hw, macro.N
    p = np.full(len(n3), base_p, dtype=np.int64)
    m = np.full(len(n3), base_m, dtype=np.int64)
    c, h = C, hw
    for stage in range(3):
        if stage > 0:
            c, h = 2 * c, h // 2
        p += N * (n3 * (9 * c * c + 2 * c) + n1 * (c * c + 2 * c))
        m += N * h * h * c * c * (9 * n3 + n1)
    return p, m
