"""Per-graph costs of a deployed op graph: planned arena buffers, Flash parts, arena tail, cost features.

The calibrated constants (flatbuffer bytes, TFLM's persistent arena tail) live here, with the small
functions that apply them to one :class:`~automcu.hardware.graph.Graph`. The exact estimator
(:mod:`automcu.hardware.estimator`) applies them to one arch's graph; the whole-space estimator
(:mod:`automcu.hardware.cellstats`) to the skeleton graph and, vectorized, to the cells' op counts.
This module imports neither of them.

Calibration (fitted on 11 models exported with litert-torch 0.10.0 + ai-edge-quantizer
``static_wi8_ai8``, names stripped, run in ``tflite_micro``; C ∈ {8, 16}, N ∈ {1, 2, 5}, 28/32/16 px):
the constants below for flatbuffer bytes and the arena tail (persistent allocations) fit them within
200 bytes; ``benchmarks/estimator_accuracy.py`` reports the remaining errors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from automcu.hardware.arena import Buffer, align
from automcu.hardware.cycles import CoreModel, op_features, scratch_bytes
from automcu.hardware.graph import Graph

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


def lifetimes(g: Graph) -> list[Buffer]:
    """The graph's tensors as planner buffers: size, first and last op that touches each."""
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
    buffers = lifetimes(g)
    for i, op in enumerate(g.ops):
        s = scratch_bytes(kernels, op.kind, op.kernel, op.cin) + op.unpack_scratch
        if s:
            buffers.append(Buffer(s, i, i, label=f"scratch{i}", rank=len(g.tensors) + i))
    return buffers


def flash_parts(g: Graph) -> dict[str, int]:
    """The model's Flash bytes by part: weights, biases, other constants, quantization, flatbuffer."""
    weights = sum(op.weights for op in g.ops)
    biases = 4 * sum(op.biases for op in g.ops)
    consts = sum(op.const_bytes for op in g.ops) + g.shared_consts
    quant = QUANT_BYTES_PER_CHANNEL * sum(op.quant_channels for op in g.ops)
    n_tensors = len(g.tensors) + n_const_tensors(g)
    fb = round(FB_FIXED + FB_PER_OP * len(g.ops) + FB_PER_TENSOR * n_tensors)
    return {"weights_int8": weights, "biases_int32": biases, "other_constants": consts,
            "quant_params": quant, "flatbuffer_overhead": fb}


def n_const_tensors(g: Graph) -> int:
    """Constant tensors in the flatbuffer: weights, biases and other constants of each op, shared ones."""
    n = 0
    for op in g.ops:
        n += (1 if op.weights else 0) + (1 if op.biases else 0)
        n += 1 if op.const_bytes else 0
    return n + (1 if g.shared_consts else 0)


def arena_tail(g: Graph) -> int:
    """TFLM's persistent allocations at the arena's tail, aligned."""
    cout = sum(op.cout for op in g.ops if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"))
    return align(round(TAIL_FIXED + TAIL_PER_OP * len(g.ops) + TAIL_PER_COUT * cout
                       + TAIL_PER_CONST * n_const_tensors(g)))


def graph_features(g: Graph) -> np.ndarray:
    """Σ of the per-op cost features (see :data:`automcu.hardware.cycles.FEATURES`)."""
    return np.sum([op_feature_row(g, op) for op in g.ops], axis=0)


def op_feature_row(g: Graph, op: Any) -> np.ndarray:
    """The cost features of one op of the graph."""
    return op_features(op.kind, op.macs, op.kernel, op.cin, g.out_elems(op), g.in_elems(op), op.part)
