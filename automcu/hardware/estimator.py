"""int8 Flash / peak SRAM / latency of an NB201 network deployed with TFLite Micro (+ CMSIS-NN).

:func:`estimate` builds the deployed op graph (:mod:`automcu.hardware.graph`), plans the arena with
TFLM's greedy planner (:mod:`automcu.hardware.arena`) and sums per-op cycles
(:mod:`automcu.hardware.cycles`). :func:`estimate_all` gives the same figures for all 15,625 archs
from per-cell statistics (:mod:`automcu.hardware.cellstats`), vectorized with numpy.

Calibration (fitted on 11 models exported with litert-torch 0.10.0 + ai-edge-quantizer
``static_wi8_ai8``, names stripped, run in ``tflite_micro``; C ∈ {8, 16}, N ∈ {1, 2, 5}, 28/32/16 px):
the constants in :mod:`automcu.hardware.costs` for flatbuffer bytes and the arena tail (persistent
allocations) fit them within 200 bytes. The op graph, its execution order, the planned tensor
lifetimes and the planner head equal the interpreter's on all 64 models of
``benchmarks/results/tflm_measured.json`` (a test checks it); ``benchmarks/estimator_accuracy.py``
reports the remaining errors (tail and flatbuffer constants).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from automcu.hardware.arena import align, plan
from automcu.hardware.cellstats import space_arrays
from automcu.hardware.costs import (
    arena_tail,
    flash_parts,
    graph_features,
    lifetimes,
    op_feature_row,
    planned_buffers,
)
from automcu.hardware.cycles import REFERENCE_CLOCK_MHZ, REFERENCE_CORE, CoreModel, core_model
from automcu.hardware.graph import Graph, build_graph
from automcu.hardware.macro import DATASET_MACROS, Macro, nb201_counts
from automcu.hardware.spec import HardwareSpec
from search_spaces.nb201.space import Arch, parse_arch

# names other modules read from here; they are defined in .macro and .costs
__all__ = [
    "DATASET_MACROS",
    "LEFT_OUT",
    "Estimate",
    "Macro",
    "estimate",
    "estimate_all",
    "estimate_graph",
    "graph_features",
    "lifetimes",
    "nb201_counts",
    "planned_buffers",
]


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


def _core_and_clock(hardware: HardwareSpec | None) -> tuple[CoreModel, float]:
    if hardware is None:
        return core_model(REFERENCE_CORE), REFERENCE_CLOCK_MHZ
    return core_model(hardware.core), hardware.clock_mhz


def estimate(arch: Arch | str, hardware: HardwareSpec | None = None, macro: Macro | None = None) -> Estimate:
    """Deployment figures of one arch (exact greedy arena planning over the full op graph)."""
    arch = parse_arch(arch)
    macro = macro or Macro()
    g = build_graph(arch, macro.C, macro.N, macro.in_ch, macro.hw, macro.classes)
    params_nb, macs_nb = nb201_counts(arch, macro)
    return estimate_graph(g, arch.to_string(), hardware, params_nb, macs_nb, arch.output_connected)


def estimate_graph(g: Graph, arch: str, hardware: HardwareSpec | None, torch_params: int, torch_macs: int,
                   output_connected: bool = True) -> Estimate:
    """Deployment figures of one deployed op graph (any network :mod:`automcu.hardware.graph` builds)."""
    core, clock = _core_and_clock(hardware)
    kernels = core if hardware is not None else None

    buffers = planned_buffers(g, kernels)
    head, _ = plan(buffers)
    tail = arena_tail(g)
    arena = head + tail
    io = align(g.tensors[g.input_id].nbytes) + align(g.tensors[g.output_id].nbytes)
    scratch = max((b.size for b in buffers if b.label.startswith("scratch")), default=0)

    # the op at the peak: where the live planned bytes are largest
    steps = [sum(align(b.size) for b in buffers if b.first <= i <= b.last) for i in range(len(g.ops))]
    peak_op = int(np.argmax(steps)) if steps else 0
    peak_layer = f"{g.ops[peak_op].name} ({g.ops[peak_op].kind})" if g.ops else None

    flash = flash_parts(g)
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
    per_op = [float(op_feature_row(g, op) @ core.weights()) for op in g.ops]
    cycles = float(sum(per_op))
    slow = int(np.argmax(per_op)) if per_op else 0
    slowest = f"{g.ops[slow].name} ({g.ops[slow].kind}, {per_op[slow] / (clock * 1e3):.2f} ms)" if g.ops else None
    left = list(LEFT_OUT)
    if hardware is None:
        left.insert(0, f"no hardware given: latency on the reference core {REFERENCE_CORE} at "
                       f"{REFERENCE_CLOCK_MHZ:g} MHz; reference-kernel arena (no CMSIS-NN scratch); "
                       "no runtime code/SRAM")
    elif not hardware.runtime_flash_kb or not hardware.runtime_sram_kb:
        left.insert(0, "this hardware spec gives no runtime code/SRAM size: the TFLM runtime itself is not counted")
    if not output_connected:
        left.insert(0, "the cell's output ignores its input: the converter folds the network to a constant")
    left.append("io_buffers are the input/output tensors, planned inside the arena (counted once)")
    return Estimate(
        arch=arch,
        flash_bytes=model_bytes + runtime_flash,
        peak_sram_bytes=arena + runtime_sram,
        arena_bytes=arena,
        latency_ms=cycles / (clock * 1e3),
        macs=sum(op.macs for op in g.ops),
        params=sum(op.weights + op.biases for op in g.ops),
        nb201_params=torch_params,
        nb201_macs=torch_macs,
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
