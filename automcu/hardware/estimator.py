"""int8 Flash / peak SRAM / latency of an NB201 network deployed with TFLite Micro (+ CMSIS-NN).

:func:`estimate` builds the deployed op graph (:mod:`automcu.hardware.graph`), plans the arena with
TFLM's greedy planner (:mod:`automcu.hardware.arena`) and sums per-op cycles
(:mod:`automcu.hardware.cycles`). :func:`estimate_all` gives the same figures for all 15,625 archs
from per-cell statistics (:mod:`automcu.hardware.cellstats`), vectorized with numpy.

Calibration (fitted on 11 models exported with litert-torch 0.10.0 + ai-edge-quantizer
``static_wi8_ai8``, names stripped, run in ``tflite_micro``; C ∈ {8, 16}, N ∈ {1, 2, 5}, 28/32/16 px):
the constants below for flatbuffer bytes and the arena tail (persistent allocations) fit them within
200 bytes. The op graph, its execution order, the planned tensor lifetimes and the planner head equal
the interpreter's on all 64 models of ``benchmarks/results/tflm_measured.json`` (a test checks it);
``benchmarks/estimator_accuracy.py`` reports the remaining errors (tail and flatbuffer constants).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from automcu.hardware.arena import Buffer, align, plan
from automcu.hardware.cycles import (
    REFERENCE_CLOCK_MHZ,
    REFERENCE_CORE,
    CoreModel,
    core_model,
    op_features,
    scratch_bytes,
)
from automcu.hardware.graph import Graph, build_graph
from automcu.hardware.spec import HardwareSpec
from search_spaces.nb201.space import Arch

# --- flatbuffer bytes beyond the constant buffers: fixed + per op + per tensor (+ 12 B per
# per-channel quantization entry: f32 scale + i64 zero point), fitted, see module docstring
FB_FIXED = 1061.0
FB_PER_OP = 46.0
FB_PER_TENSOR = 96.5
QUANT_BYTES_PER_CHANNEL = 12
# --- arena tail (TFLM persistent allocations): fixed + per op (node, registration, eval tensor)
# + per conv output channel (per-channel multiplier and shift, 2×int32) + per constant tensor
TAIL_FIXED = 992.0
TAIL_PER_OP = 145.4
TAIL_PER_COUT = 8.54
TAIL_PER_CONST = 41.3

DATASET_MACROS: dict[str, tuple[int, int, int]] = {  # name -> (in_ch, hw, classes)
    "cifar10": (3, 32, 10),
    "cifar100": (3, 32, 100),
    "ImageNet16-120": (3, 16, 120),
}


@dataclass(frozen=True)
class Macro:
    """The macro-architecture around the cell: C channels in stage 1, N cells per stage, input, classes."""

    C: int = 16
    N: int = 5
    in_ch: int = 3
    hw: int = 32
    classes: int = 10

    def __post_init__(self) -> None:
        for name in ("C", "N", "in_ch", "hw", "classes"):
            if getattr(self, name) < 1:
                raise ValueError(f"Macro.{name} must be >= 1, got {getattr(self, name)}")
        if self.hw < 4:
            raise ValueError(f"input resolution {self.hw} is too small for two stride-2 reductions")

    @classmethod
    def for_dataset(cls, name: str, **overrides: int) -> Macro:
        """The benchmark's macro for ``cifar10``, ``cifar100`` or ``ImageNet16-120`` (C=16, N=5)."""
        key = {k.lower(): k for k in DATASET_MACROS}.get(name.lower())
        if key is None:
            raise ValueError(f"unknown dataset {name!r}; benchmark datasets: {', '.join(DATASET_MACROS)}")
        in_ch, hw, classes = DATASET_MACROS[key]
        return cls(**{"in_ch": in_ch, "hw": hw, "classes": classes, **overrides})


@dataclass
class Estimate:
    arch: str
    flash_bytes: int
    peak_sram_bytes: int
    arena_bytes: int
    latency_ms: float
    macs: int  # MACs of the deployed graph (dead edges removed)
    params: int  # int8 deployment parameters: weights + biases (BN folded)
    nb201_params: int  # parameter count of the NB201 torch network (the table's params_M × 1e6)
    nb201_macs: int  # MACs of every conv/linear of the torch network (the table's flops_M convention)
    n_ops: int
    flash: dict[str, int] = field(default_factory=dict)
    sram: dict[str, int] = field(default_factory=dict)
    peak_layer: str | None = None
    slowest_layer: str | None = None
    hardware: str | None = None
    left_out: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


LEFT_OUT = [
    "CMSIS-NN scratch sizes are the kernels' documented get_buffer_size formulas, not measured on a board",
    "latency: cache misses, flash wait states and DMA/interrupt load are not modelled (constants per core)",
    "application buffers outside the arena (camera frame, pre-processing, stacks of other tasks)",
]


# ---------------------------------------------------------------------------------------------
def nb201_counts(arch: Arch, macro: Macro) -> tuple[int, int]:
    """(params, MACs) of the NB201 torch network, as the benchmark counts them (all edges, BN affine)."""
    from search_spaces.nb201.space import CONV1, CONV3

    n3, n1 = arch.count(CONV3), arch.count(CONV1)
    C, hw, N = macro.C, macro.hw, macro.N
    params = macro.in_ch * C * 9 + 2 * C  # stem conv + BN
    macs = hw * hw * C * macro.in_ch * 9
    c, h = C, hw
    for stage in range(3):
        if stage > 0:
            co, ho = 2 * c, h // 2
            params += 9 * c * co + 2 * co + 9 * co * co + 2 * co + c * co
            macs += ho * ho * co * (9 * c + 9 * co + c)
            c, h = co, ho
        params += N * (n3 * (9 * c * c + 2 * c) + n1 * (c * c + 2 * c))
        macs += N * h * h * c * c * (9 * n3 + n1)
    params += 2 * c + c * macro.classes + macro.classes  # lastact BN + classifier
    macs += c * macro.classes
    return params, macs


def _lifetimes(g: Graph) -> list[Buffer]:
    first: dict[int, int] = {g.input_id: 0}
    last: dict[int, int] = {}
    for i, op in enumerate(g.ops):
        first.setdefault(op.output, i)
        for t in op.inputs:
            last[t] = i
    last[g.output_id] = len(g.ops) - 1
    return [Buffer(g.tensors[t].nbytes, first[t], last.get(t, first[t]), label=f"t{t}", rank=t) for t in sorted(first)]


def planned_buffers(g: Graph, kernels: CoreModel | None) -> list[Buffer]:
    """Every buffer TFLM plans in the arena head: tensors, then the kernels' scratch buffers."""
    buffers = _lifetimes(g)
    for i, op in enumerate(g.ops):
        s = scratch_bytes(kernels, op.kind, op.kernel, op.cin)
        if s:
            buffers.append(Buffer(s, i, i, label=f"scratch{i}", rank=len(g.tensors) + i))
    return buffers


def _flash_parts(g: Graph) -> dict[str, int]:
    weights = sum(op.weights for op in g.ops)
    biases = 4 * sum(op.biases for op in g.ops)
    consts = sum(op.const_bytes for op in g.ops) + g.shared_consts
    quant = QUANT_BYTES_PER_CHANNEL * sum(op.quant_channels for op in g.ops)
    n_tensors = len(g.tensors) + _n_const_tensors(g)
    fb = round(FB_FIXED + FB_PER_OP * len(g.ops) + FB_PER_TENSOR * n_tensors)
    return {"weights_int8": weights, "biases_int32": biases, "other_constants": consts,
            "quant_params": quant, "flatbuffer_overhead": fb}


def _n_const_tensors(g: Graph) -> int:
    n = 0
    for op in g.ops:
        n += (1 if op.weights else 0) + (1 if op.biases else 0)
        n += 1 if op.const_bytes else 0
    return n + (1 if g.shared_consts else 0)


def _tail(g: Graph) -> int:
    cout = sum(op.cout for op in g.ops if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"))
    return align(round(TAIL_FIXED + TAIL_PER_OP * len(g.ops) + TAIL_PER_COUT * cout
                       + TAIL_PER_CONST * _n_const_tensors(g)))


def _core_and_clock(hardware: HardwareSpec | None) -> tuple[CoreModel, float]:
    if hardware is None:
        return core_model(REFERENCE_CORE), REFERENCE_CLOCK_MHZ
    return core_model(hardware.core), hardware.clock_mhz


def graph_features(g: Graph) -> np.ndarray:
    """Σ of the per-op cost features (see :data:`automcu.hardware.cycles.FEATURES`)."""
    return np.sum([_op_feat(g, op) for op in g.ops], axis=0)


def _op_feat(g: Graph, op: Any) -> np.ndarray:
    return op_features(op.kind, op.macs, op.kernel, op.cin, g.out_elems(op), g.in_elems(op), op.part)


def estimate(arch: Arch | str, hardware: HardwareSpec | None = None, macro: Macro | None = None) -> Estimate:
    """Deployment figures of one arch (exact greedy arena planning over the full op graph)."""
    from search_spaces.nb201.space import parse_arch

    arch = parse_arch(arch)
    macro = macro or Macro()
    g = build_graph(arch, macro.C, macro.N, macro.in_ch, macro.hw, macro.classes)
    core, clock = _core_and_clock(hardware)
    kernels = core if hardware is not None else None

    buffers = planned_buffers(g, kernels)
    head, _ = plan(buffers)
    tail = _tail(g)
    arena = head + tail
    io = align(g.tensors[g.input_id].nbytes) + align(g.tensors[g.output_id].nbytes)
    scratch = max((b.size for b in buffers if b.label.startswith("scratch")), default=0)

    # the op at the peak: where the live planned bytes are largest
    steps = [sum(align(b.size) for b in buffers if b.first <= i <= b.last) for i in range(len(g.ops))]
    peak_op = int(np.argmax(steps)) if steps else 0
    peak_layer = f"{g.ops[peak_op].name} ({g.ops[peak_op].kind})" if g.ops else None

    flash = _flash_parts(g)
    runtime_flash = int(hardware.runtime_flash_kb * 1024) if hardware else 0
    model_bytes = sum(flash.values())
    flash["model_total"] = model_bytes
    flash["runtime_code"] = runtime_flash
    runtime_sram = int(hardware.runtime_sram_kb * 1024) if hardware else 0
    sram = {
        "arena": arena,
        "arena_head_planned": head,
        "activations": max(head - io - scratch, 0),
        "io_buffers": io,
        "scratch": scratch,
        "persistent": tail,
        "runtime": runtime_sram,
    }
    per_op = [float(_op_feat(g, op) @ core.weights()) for op in g.ops]
    cycles = float(sum(per_op))
    slow = int(np.argmax(per_op)) if per_op else 0
    slowest = f"{g.ops[slow].name} ({g.ops[slow].kind}, {per_op[slow] / (clock * 1e3):.2f} ms)" if g.ops else None
    params_nb, macs_nb = nb201_counts(arch, macro)
    left = list(LEFT_OUT)
    if hardware is None:
        left.insert(0, f"no hardware given: latency on the reference core {REFERENCE_CORE} at "
                       f"{REFERENCE_CLOCK_MHZ:g} MHz; reference-kernel arena (no CMSIS-NN scratch); "
                       "no runtime code/SRAM")
    elif not hardware.runtime_flash_kb or not hardware.runtime_sram_kb:
        left.insert(0, "this hardware spec gives no runtime code/SRAM size: the TFLM runtime itself is not counted")
    if not arch.output_connected:
        left.insert(0, "the cell's output ignores its input: the converter folds the network to a constant")
    left.append("io_buffers are the input/output tensors, planned inside the arena (counted once)")
    return Estimate(
        arch=arch.to_string(),
        flash_bytes=model_bytes + runtime_flash,
        peak_sram_bytes=arena + runtime_sram,
        arena_bytes=arena,
        latency_ms=cycles / (clock * 1e3),
        macs=sum(op.macs for op in g.ops),
        params=sum(op.weights + op.biases for op in g.ops),
        nb201_params=params_nb,
        nb201_macs=macs_nb,
        n_ops=len(g.ops),
        flash=flash,
        sram=sram,
        peak_layer=peak_layer,
        slowest_layer=slowest,
        hardware=hardware.name if hardware else None,
        left_out=left,
    )


# --------------------------------------------------------------------------------- whole space
@lru_cache(maxsize=16)
def _space_static(macro: Macro, kernels: str | None) -> dict[str, np.ndarray]:
    """Board-independent per-arch arrays (official index order) for one macro and kernel set."""
    from automcu.hardware.cellstats import space_arrays

    core = core_model(kernels) if kernels else None
    return space_arrays(macro, core)


def estimate_all(hardware: HardwareSpec | None = None, macro: Macro | None = None) -> dict[str, np.ndarray]:
    """All 15,625 archs in official index order: flash_bytes, peak_sram_bytes, arena_bytes,
    latency_ms, macs, params, nb201_params, nb201_macs, n_ops (numpy arrays)."""
    macro = macro or Macro()
    core, clock = _core_and_clock(hardware)
    static = _space_static(macro, hardware.core.lower() if hardware else None)
    runtime_flash = int(hardware.runtime_flash_kb * 1024) if hardware else 0
    runtime_sram = int(hardware.runtime_sram_kb * 1024) if hardware else 0
    cycles = static["features"] @ core.weights()
    return {
        "flash_bytes": static["model_bytes"] + runtime_flash,
        "peak_sram_bytes": static["arena_bytes"] + runtime_sram,
        "arena_bytes": static["arena_bytes"].copy(),
        "latency_ms": cycles / (clock * 1e3),
        "macs": static["macs"].copy(),
        "params": static["params"].copy(),
        "nb201_params": static["nb201_params"].copy(),
        "nb201_macs": static["nb201_macs"].copy(),
        "n_ops": static["n_ops"].copy(),
    }
