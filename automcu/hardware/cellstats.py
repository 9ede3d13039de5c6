"""Whole-space estimation from per-cell statistics (vectorized; used by ``estimate_all``).

Every cell of the network is the same cell, so the deployed graph is a fixed *skeleton* (stem,
two reduction blocks, final BN, MEAN, FC) plus N copies per stage of one cell graph whose ops all
produce feature maps of the stage's size S = h·w·c. Per unique cell (edges that reach the output)
we build it with the real graph code and record its op counts and the *root*: a RELU or constant
ADD that is the only reader of the cell input x0, which folds into x0's producer (stem, reduction
ADD or the previous cell's output op) when that producer allows it. Op counts, Flash and latency
features are then sums. The arena: TFLM's planner places equal-size buffers largest first, higher
tensor index first, at the lowest free offset; inside a stage every buffer is S bytes, so it works
in "slots" of S, and it can need more slots than tensors live at once. :func:`plan_slots` replays it
for all cells at once (last cell first, each cell's output slot given by the next cell), and the head
is max(skeleton head, slots·S, lowest free slot·S + a conv/pool scratch buffer).
``tests/test_estimator.py`` checks this against the exact planner of
:func:`automcu.hardware.estimator.estimate`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from automcu.hardware import costs
from automcu.hardware.arena import align, plan
from automcu.hardware.cycles import FEATURES, CoreModel
from automcu.hardware.graph import _Builder, _cell, _fuse_into_producers, build_graph
from automcu.hardware.macro import Macro, nb201_counts
from search_spaces.nb201.index import all_ops
from search_spaces.nb201.space import CONV1, CONV3, EDGES, Arch

IDENTITY_CELL = Arch.from_string("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")


COUNTS = ("n_conv3", "n_conv1", "n_pool", "n_add", "n_addk", "n_addmap", "n_relu")


@dataclass(frozen=True)
class CellStats:
    """One cell, as it runs when its root stays (variant 0) and when the root folds into x0's producer
    (variant 1, x0 produced by a conv; a RELU root folds into any producer the same way)."""

    counts: tuple[tuple[int, int], ...]  # per name in COUNTS: (variant 0, variant 1)
    # n_add: ADDs of two feature maps; n_addk: ADDs of a per-channel constant; n_addmap: of a constant map
    root: int  # x0's only reader: 0 none/several, 1 RELU, 2 per-channel constant ADD
    out_kind: str  # kind of the op producing the cell output (variant 0); "IDENTITY": the output is x0
    passes: bool  # variant 1 folds the whole cell into x0's producer: the output is produced by it
    region: tuple[np.ndarray, np.ndarray]  # per variant: see :func:`_region`
    conv_edges: tuple[tuple[int, ...], tuple[int, ...]]  # per variant and step: the conv's edge, -1 if no conv


ROOT_NONE, ROOT_RELU, ROOT_ADDK = 0, 1, 2


def _variant(ops6: tuple[int, ...], produced: bool) -> tuple[list, int, int, int | None]:
    """The cell's ops after the converter's fusions; x0 comes from a conv when ``produced`` (that conv
    is left out of the returned ops). Returns (ops, x_in, output, the op reading x0 first or None)."""
    b = _Builder()
    x0 = b.tensor((1, 1, 1))
    if produced:
        x0 = b.conv("producer", x0, 1, 1, 1, 0, "cell")
    out = _cell(b, Arch(ops6), x0, 1, 0)
    assert out is not None
    readers = list(b.tensors[x0].consumers)
    root = b.ops[readers[0]] if len(readers) == 1 else None
    _fuse_into_producers(b, -1)
    ops = b.ops
    x_in = x0
    if produced:
        # the producer ran where the last root folded into it ran: first, as everything depends on it
        p = next(i for i, o in enumerate(ops) if o.name == "producer")
        assert all(o.name != "producer" for o in ops[:p]) and p == 0, "the producer runs first"
        x_in = ops[0].output
        ops = ops[1:]
    if ops:
        assert ops[-1].output == out, "the cell output is computed last"
    return ops, x_in, out, None if root is None else readers[0]


def _analyze(ops6: tuple[int, ...]) -> CellStats:
    ops_u, x0, out_u, root_i = _variant(ops6, False)
    root = ROOT_NONE
    if root_i is not None and ops_u and ops_u[0].kind == "RELU" and x0 in ops_u[0].inputs:
        root = ROOT_RELU
    elif root_i is not None and ops_u and ops_u[0].kind == "ADD" and ops_u[0].const_kind == "channel" \
            and x0 in ops_u[0].inputs:
        root = ROOT_ADDK
    ops_f, x_f, out_f, _ = _variant(ops6, True) if root else (ops_u, x0, out_u, None)

    reg_u = _region(ops_u, list(range(len(ops_u))), x0, out_u)

    def count(ops: list) -> tuple[int, ...]:
        return (
            sum(1 for o in ops if o.kind == "CONV_2D" and o.kernel == 3),
            sum(1 for o in ops if o.kind == "CONV_2D" and o.kernel == 1),
            sum(1 for o in ops if o.kind == "AVERAGE_POOL_2D"),
            sum(1 for o in ops if o.kind == "ADD" and o.const_kind is None),
            sum(1 for o in ops if o.kind == "ADD" and o.const_kind == "channel"),
            sum(1 for o in ops if o.kind == "ADD" and o.const_kind == "map"),
            sum(1 for o in ops if o.kind == "RELU"),
        )

    def conv_edges(ops: list) -> tuple[int, ...]:  # names: "...node{to}.nor_conv_KxK<-{src}"
        return tuple(EDGES.index((int(o.name.split(".node")[1][0]), int(o.name.rsplit("<-", 1)[1])))
                     if o.kind == "CONV_2D" else -1 for o in ops)

    return CellStats(
        counts=tuple(zip(count(ops_u), count(ops_f), strict=True)),
        root=root,
        out_kind="IDENTITY" if out_u == x0 else ops_u[-1].kind,
        passes=out_f == x_f,
        region=(reg_u, _region(ops_f, list(range(len(ops_f))), x_f, out_f) if root else reg_u),
        conv_edges=(conv_edges(ops_u), conv_edges(ops_f)),
    )


def _with_kernels(st: CellStats, key: tuple[int, ...]) -> CellStats:
    """The stats of a cell that differs from ``st``'s only in the kernel (1x1/3x3) of convs on
    input-dependent nodes: same ops, order and lifetimes; the 3x3/1x1 counts and flags follow ``key``."""
    counts = [list(c) for c in st.counts]
    regions = []
    for v in (0, 1):
        n_convs = counts[0][v] + counts[1][v]
        counts[0][v] = sum(1 for e in st.conv_edges[v] if e >= 0 and key[e] == CONV3)
        counts[1][v] = n_convs - counts[0][v]
        reg = st.region[v].copy()
        for k, e in enumerate(st.conv_edges[v]):
            reg[k, 2] = e >= 0 and key[e] == CONV3
        regions.append(reg)
    return CellStats(counts=tuple((a, b) for a, b in counts), root=st.root, out_kind=st.out_kind,
                     passes=st.passes, region=(regions[0], regions[1]), conv_edges=st.conv_edges)


#: most stage-sized tensors (ops) in one cell's region, padding for the planner arrays
MAX_TENSORS = 14  # the largest cell has 12
MAX_STEPS = 12  # ... and 11 ops


def _region(ops: list, kept: list[int], x_in: int, out: int) -> np.ndarray:
    """The cell's stage-sized tensors in the order TFLM's planner places them (highest tensor index
    first: the cell output, the others from the last produced back, the cell input last) as rows
    ``[first step, last step, conv3 at step, pool at step]``; the input lives from step -1, the output
    past the end. Padding rows have first > last (live nowhere). Column 2/3 index by step."""
    m = len(kept)
    first: dict[int, int] = {x_in: -1}
    last: dict[int, int] = {x_in: -1}
    for k, i in enumerate(kept):
        first.setdefault(ops[i].output, k)
        last.setdefault(ops[i].output, k)
        for t in ops[i].inputs:
            last[t] = max(last.get(t, -1), k)
    last[out] = m
    order = [out] + [ops[i].output for i in reversed(kept) if ops[i].output != out]
    if x_in != out:
        order.append(x_in)
    if len(order) > MAX_TENSORS or m > MAX_STEPS:
        raise AssertionError(f"cell region larger than the planner arrays ({len(order)} tensors, {m} steps)")
    rows = [[first[t], last[t], 0, 0] for t in order]
    rows += [[MAX_STEPS + 2, -2, 0, 0]] * (MAX_TENSORS - len(rows))  # padding: never live
    for k, i in enumerate(kept):
        rows[k][2:] = [ops[i].kind == "CONV_2D" and ops[i].kernel == 3, ops[i].kind == "AVERAGE_POOL_2D"]
    return np.array(rows, dtype=np.int8)


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


def _evaluated_keys(ops: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per arch (rows of op indices): the ops with edges the cell never evaluates set to ``none``
    (as :func:`automcu.hardware.graph.cell_edges`), the same with every conv on an input-dependent
    node 3x3, and whether some input→output path exists."""
    nz = ops != 0
    to_output = {3: np.ones(len(ops), dtype=bool)}
    to_output[2] = nz[:, 5]  # edge 3<-2
    to_output[1] = nz[:, 4] | (nz[:, 2] & to_output[2])  # 3<-1, 2<-1
    to_output[0] = np.ones(len(ops), dtype=bool)
    from_input = {0: np.ones(len(ops), dtype=bool)}
    for j in (1, 2, 3):
        from_input[j] = np.zeros(len(ops), dtype=bool)
        for e, (to, src) in enumerate(EDGES):
            if to == j:
                from_input[j] |= nz[:, e] & from_input[src]
    keep = np.stack([nz[:, e] & to_output[to] for e, (to, _) in enumerate(EDGES)], axis=1)
    keys = np.where(keep, ops, 0)
    # the same graph whatever the kernels of convs on input-dependent nodes: write them all 3x3
    on_input = np.stack([from_input[src] for _, src in EDGES], axis=1)
    canonical = np.where(on_input & (keys == CONV1), CONV3, keys)
    return keys, canonical, from_input[3]


def _compute_cell_table(ops: np.ndarray) -> dict[str, np.ndarray]:
    shapes: dict[tuple[int, ...], CellStats] = {}
    cache: dict[tuple[int, ...], CellStats] = {}
    rows = []
    keys, canonical, connected = _evaluated_keys(ops)
    for key_row, canon_row, ok in zip(keys.tolist(), canonical.tolist(), connected.tolist(), strict=True):
        key = tuple(key_row) if ok else (0, 0, 0, 1, 0, 0)
        st = cache.get(key)
        if st is None:
            canon = tuple(canon_row) if ok else key
            shape = shapes.get(canon)
            if shape is None:
                shape = shapes[canon] = _analyze(canon)
            st = cache[key] = _with_kernels(shape, key)
        rows.append(st)
    table = {name: np.array([s.counts[k] for s in rows]) for k, name in enumerate(COUNTS)}  # (archs, 2)
    table["root"] = np.array([s.root for s in rows])
    table["out_kind"] = np.array([s.out_kind for s in rows])
    table["passes"] = np.array([s.passes for s in rows])
    table["region"] = np.array([np.stack(s.region) for s in rows])  # (archs, 2, MAX_TENSORS, 4) int8
    table["connected"] = connected
    table["all_n3"] = (ops == 3).sum(axis=1)
    table["all_n1"] = (ops == 2).sum(axis=1)
    return table


def _lowest_free(mask: np.ndarray) -> np.ndarray:
    """Index of the lowest zero bit of each (non-negative) int64."""
    low = ~mask & (mask + 1)
    return np.frexp(low.astype(np.float64))[1].astype(np.int64) - 1


def plan_slots(region: np.ndarray, out_slot: np.ndarray) -> tuple[np.ndarray, ...]:
    """:func:`_plan_slots` on the distinct (region, output slot) rows only (a few hundred of 15,625)."""
    rows = np.concatenate([region.reshape(len(region), -1), out_slot.astype(np.int8)[:, None]], axis=1)
    rows = np.ascontiguousarray(rows)
    keys = rows.view(np.dtype((np.void, rows.shape[1])))[:, 0]
    _, pick, inverse = np.unique(keys, return_index=True, return_inverse=True)
    res = _plan_slots(region[pick], out_slot[pick])
    return tuple(r[inverse.reshape(-1)] for r in res)


def _plan_slots(region: np.ndarray, out_slot: np.ndarray) -> tuple[np.ndarray, ...]:
    """TFLM's greedy planner on equal-size buffers, in units of one buffer ("slots"), for many cells.

    ``region``: (cells, MAX_TENSORS, 4) from :func:`_region`, rows in placement order; ``out_slot``: the
    slot already given to each cell's output (its reader, the next cell, is placed first). Each buffer
    takes the lowest slot free of every placed buffer whose lifetime meets its own. Returns the slot of
    the cell input, the slots used (highest + 1), and the lowest free slot at the busiest step that runs
    a 3x3 conv / an avg pool (where its small scratch buffer lands; -1 if none).
    """
    first = region[:, :, 0].astype(np.int64)
    last = region[:, :, 1].astype(np.int64)
    m, T = first.shape
    valid = first <= last
    overlap = (first[:, :, None] <= last[:, None, :]) & (first[:, None, :] <= last[:, :, None])
    slots = np.zeros((m, T), dtype=np.int64)
    slots[:, 0] = out_slot
    for j in range(1, T):
        if not valid[:, j].any():
            break
        bits = np.where(overlap[:, j, :j], np.left_shift(1, slots[:, :j]), 0)
        slots[:, j] = np.where(valid[:, j], _lowest_free(np.bitwise_or.reduce(bits, axis=1)), 0)
    slots = np.where(valid, slots, -1)
    x_in = slots[np.arange(m), valid.sum(axis=1) - 1]
    top = slots.max(axis=1) + 1
    steps = np.arange(MAX_STEPS)
    live = valid[:, None, :] & (first[:, None, :] <= steps[None, :, None]) & (steps[None, :, None] <= last[:, None, :])
    busy = np.bitwise_or.reduce(np.where(live, np.left_shift(1, np.maximum(slots, 0))[:, None, :], 0), axis=2)
    free = _lowest_free(busy)
    conv3 = region[:, :MAX_STEPS, 2].astype(bool)
    pool = region[:, :MAX_STEPS, 3].astype(bool)
    return x_in, top, np.where(conv3, free, -1).max(axis=1), np.where(pool, free, -1).max(axis=1)


def _folds(t: dict[str, np.ndarray]) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Whether the root folds (variant 1) in the first and in the later cells of a stage after the stem
    (index 0) and after a reduction (index 1). A RELU root always folds (stem conv, reduction ADD and
    every cell-output op take a fused activation); a constant ADD only into a conv: the stem, or a
    previous cell whose output is a conv; a cell that folds entirely passes its own producer on."""
    relu_root, addk_root = t["root"] == ROOT_RELU, t["root"] == ROOT_ADDK
    fold_rest = relu_root | (addk_root & (t["out_kind"] == "CONV_2D"))
    out = []
    for first in (relu_root | addk_root, relu_root):
        rest = np.where(t["passes"] & first, first, fold_rest)
        out.append((first, rest))
    return tuple(out)


@lru_cache(maxsize=8)
def _stage_slots(N: int) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]:
    """Per arch, for a stage of N cells after the stem (index 0) or after a reduction (index 1): the
    stage-size slots the planner uses, and the lowest free slot where a 3x3 conv / avg pool scratch
    buffer lands (-1: none). The planner places the last cell first; its output sits at offset 0 (the
    reduction's RELU output, which it meets, goes above the larger PAD buffer)."""
    t = cell_table()
    out = []
    rest_state: tuple[np.ndarray, ...] | None = None
    for first, rest in _folds(t):
        if rest_state is None or not np.array_equal(rest, rest_state[0]):
            reg_rest = np.where(rest[:, None, None], t["region"][:, 1], t["region"][:, 0])
            slot = np.zeros(len(rest), dtype=np.int64)
            top = np.zeros(len(rest), dtype=np.int64)
            conv_free = np.full(len(rest), -1, dtype=np.int64)
            pool_free = conv_free.copy()
            for _ in range(N - 1):
                slot, tp, cf, pf = plan_slots(reg_rest, slot)
                top, conv_free, pool_free = np.maximum(top, tp), np.maximum(conv_free, cf), np.maximum(pool_free, pf)
            rest_state = (rest, slot, top, conv_free, pool_free)
        _, slot, top, conv_free, pool_free = rest_state
        reg_first = np.where(first[:, None, None], t["region"][:, 1], t["region"][:, 0])
        _, tp, cf, pf = plan_slots(reg_first, slot)
        out.append((np.maximum(top, tp), np.maximum(conv_free, cf), np.maximum(pool_free, pf)))
    return tuple(out)


@dataclass(frozen=True)
class _Skeleton:
    """The network with an identity cell (stem, reductions, final BN, MEAN, FC): what every arch has."""

    head: int  # planned arena head
    features: np.ndarray
    flash: dict[str, int]  # :func:`automcu.hardware.costs.flash_parts`
    ops: int
    const_tensors: int
    cout: int  # output channels of its convs
    weights: int
    biases: int
    macs: int


def _skeleton(macro: Macro, core: CoreModel | None) -> _Skeleton:
    g = build_graph(IDENTITY_CELL, macro.C, macro.N, macro.in_ch, macro.hw, macro.classes)
    head, _ = plan(costs.planned_buffers(g, core))
    return _Skeleton(
        head=head,
        features=costs.graph_features(g),
        flash=costs.flash_parts(g),
        ops=len(g.ops),
        const_tensors=costs.n_const_tensors(g),
        cout=sum(op.cout for op in g.ops if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D")),
        weights=sum(op.weights for op in g.ops),
        biases=sum(op.biases for op in g.ops),
        macs=sum(op.macs for op in g.ops),
    )


def _stage_counts(t: dict[str, np.ndarray], first: np.ndarray, rest: np.ndarray, N: int) -> dict[str, np.ndarray]:
    """Per arch, the op counts (names of :data:`COUNTS`) of a stage's N cells: the first cell's variant
    by ``first``, the other N-1 cells' by ``rest`` (see :func:`_folds`)."""
    return {name: np.where(first, t[name][:, 1], t[name][:, 0]) + (N - 1) * np.where(rest, t[name][:, 1],
                                                                                       t[name][:, 0])
            for name in COUNTS}


_FEATURE = {name: i for i, name in enumerate(FEATURES)}


@dataclass
class _Totals:
    """Per-arch sums over the whole network, started from the skeleton and added to stage by stage."""

    features: np.ndarray  # (archs, len(FEATURES)) float
    ops: np.ndarray
    weights: np.ndarray
    biases: np.ndarray
    macs: np.ndarray
    cout: np.ndarray
    head: np.ndarray  # planned arena head
    const_tensors: np.ndarray
    other_consts: np.ndarray  # bytes of constants other than weights and biases

    @classmethod
    def of_skeleton(cls, skel: _Skeleton, n: int) -> _Totals:
        def full(value: int) -> np.ndarray:
            return np.full(n, value, dtype=np.int64)

        return cls(features=np.tile(skel.features, (n, 1)).astype(float), ops=full(skel.ops),
                   weights=full(skel.weights), biases=full(skel.biases), macs=full(skel.macs), cout=full(skel.cout),
                   head=full(skel.head), const_tensors=full(skel.const_tensors),
                   other_consts=full(skel.flash["other_constants"]))

    def add_cells(self, tot: dict[str, np.ndarray], S: int, c: int) -> None:
        """Add a stage's cells (op counts ``tot``, :func:`_stage_counts`) on feature maps of S = h·w·c."""
        n3, n1, npool = tot["n_conv3"], tot["n_conv1"], tot["n_pool"]
        relu, addk, addmap = tot["n_relu"], tot["n_addk"], tot["n_addmap"]
        nconv = n3 + n1
        adds = tot["n_add"] + addk + addmap
        cell_ops = nconv + npool + adds + relu
        self.ops += cell_ops
        feats, idx = self.features, _FEATURE
        feats[:, idx["ops"]] += cell_ops
        feats[:, idx["macs_conv3x3"]] += n3 * S * c * 9
        feats[:, idx["macs_conv1x1"]] += n1 * S * c
        feats[:, idx["conv_out"]] += nconv * S
        feats[:, idx["pool_taps"]] += npool * S * 9
        feats[:, idx["pool_out"]] += npool * S
        feats[:, idx["add_elems"]] += adds * S
        feats[:, idx["relu_elems"]] += relu * S
        self.weights += (n3 * 9 + n1) * c * c
        self.biases += nconv * c
        self.macs += (n3 * 9 + n1) * S * c
        self.cout += nconv * c
        self.const_tensors += 2 * nconv + addk + addmap  # weights + bias per conv, one constant per ADD
        self.other_consts += addk * c + addmap * S

    def fit_arena(self, slots: tuple[np.ndarray, np.ndarray, np.ndarray], S: int, c: int,
                  core: CoreModel | None) -> None:
        """Raise the head to what TFLM's planner needs for a stage's cells, in stage-size slots
        (``slots``: see :func:`_stage_slots`), with the kernels' 3x3 conv / avg pool scratch buffer."""
        top, conv_free, pool_free = slots
        self.head = np.maximum(self.head, top * align(S))
        if core is not None and core.conv_scratch:
            self.head = np.maximum(self.head, np.where(conv_free >= 0, conv_free * align(S) + align(4 * c * 9), 0))
        if core is not None and core.pool_scratch:
            self.head = np.maximum(self.head, np.where(pool_free >= 0, pool_free * align(S) + align(4 * c), 0))

    def fold_final_bn(self, folded: np.ndarray, S: int, c: int) -> None:
        """The final BN folds into the last conv where the cell output is a conv (``folded``): its 4 ops,
        their 4 constants (c bytes each) and 4 tensors (S elements) go away."""
        self.ops -= 4 * folded
        self.features[:, _FEATURE["ops"]] -= 4 * folded
        self.features[:, _FEATURE["add_elems"]] -= 4 * S * folded
        self.const_tensors -= 4 * folded
        self.other_consts -= 4 * c * folded

    def model_bytes(self, skel: _Skeleton) -> np.ndarray:
        """Flash of the model: weights, int32 biases, other constants, quantization, flatbuffer."""
        quant = skel.flash["quant_params"] + costs.QUANT_BYTES_PER_CHANNEL * 2 * (self.cout - skel.cout)
        n_tensors = (self.ops + 1) + self.const_tensors
        fb = np.round(costs.FB_FIXED + costs.FB_PER_OP * self.ops + costs.FB_PER_TENSOR * n_tensors).astype(np.int64)
        return self.weights + 4 * self.biases + self.other_consts + quant + fb

    def arena_tail(self) -> np.ndarray:
        """TFLM's persistent allocations (:func:`automcu.hardware.costs.arena_tail`), 16-byte aligned."""
        tail_raw = np.round(costs.TAIL_FIXED + costs.TAIL_PER_OP * self.ops + costs.TAIL_PER_COUT * self.cout
                            + costs.TAIL_PER_CONST * self.const_tensors).astype(np.int64)
        return (tail_raw + 15) // 16 * 16


def space_arrays(macro: Macro, core: CoreModel | None) -> dict[str, np.ndarray]:
    """Board-independent figures of all archs for one macro; ``core`` picks the kernels' scratch."""
    t = cell_table()
    skel = _skeleton(macro, core)
    tot = _Totals.of_skeleton(skel, len(t["root"]))
    folds = _folds(t)
    slots = _stage_slots(macro.N)
    c, h = macro.C, macro.hw
    S = 0
    for stage in range(3):
        if stage > 0:
            c, h = 2 * c, h // 2
        S = h * h * c
        after = 0 if stage == 0 else 1  # the stage follows the stem (0) or a reduction (1)
        first, rest = folds[after]
        tot.add_cells(_stage_counts(t, first, rest, macro.N), S, c)
        tot.fit_arena(slots[after], S, c, core)
    tot.fold_final_bn(t["out_kind"] == "CONV_2D", S, c)  # S, c: the last stage's

    params_nb, macs_nb = _nb201_vectorized(macro, t["all_n3"], t["all_n1"])
    out = {
        "features": tot.features,
        "model_bytes": tot.model_bytes(skel).astype(np.int64),
        "arena_bytes": (tot.head + tot.arena_tail()).astype(np.int64),
        "macs": tot.macs,
        "params": tot.weights + tot.biases,
        "nb201_params": params_nb,
        "nb201_macs": macs_nb,
        "n_ops": tot.ops,
    }
    # degenerate cells (output ignores the input): the network folds to a constant
    dead = ~t["connected"]
    if dead.any():
        r0 = int(np.flatnonzero(dead)[0])
        e = _degenerate(Arch(tuple(int(o) for o in all_ops()[r0])), macro, core)
        out["features"][dead] = e["features"]
        for key in ("model_bytes", "arena_bytes", "macs", "params", "n_ops"):
            out[key][dead] = e[key]
    return out


def _degenerate(arch: Arch, macro: Macro, core: CoreModel | None) -> dict[str, object]:
    g = build_graph(arch, macro.C, macro.N, macro.in_ch, macro.hw, macro.classes)
    fl = costs.flash_parts(g)
    return {
        "features": costs.graph_features(g),
        "model_bytes": sum(fl.values()),
        "arena_bytes": plan(costs.planned_buffers(g, core))[0] + costs.arena_tail(g),
        "macs": sum(op.macs for op in g.ops),
        "params": sum(op.weights + op.biases for op in g.ops),
        "n_ops": len(g.ops),
    }


def _nb201_vectorized(macro: Macro, n3: np.ndarray, n1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
