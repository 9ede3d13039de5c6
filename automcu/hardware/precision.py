"""Flash / arena / latency estimates of a network deployed in mixed precision, before any export.

A precision map names weight layers by their position among the graph's weight ops (``CONV_2D``,
``DEPTHWISE_CONV_2D``, ``FULLY_CONNECTED`` in execution order, the order the ``.tflite`` has them; see
:mod:`automcu.deploy.mixed_export` for the modes). The graph is rewritten the way ai-edge-quantizer
rewrites the model, then estimated by the same :func:`automcu.hardware.estimator.estimate_graph`:

- ``w4``: the layer's weights take ``ceil(n / 2)`` bytes (two 4-bit values per byte); while it runs, TFLM
  unpacks them to int8 in an arena scratch buffer of ``n`` bytes;
- ``a16``: the layer reads an int16 copy of its input (a ``QUANTIZE`` op int8 → int16 in front of it),
  writes an int16 output (2 bytes per value) and a ``QUANTIZE`` op int16 → int8 hands it on; its bias
  is int64 (8 bytes per value, not 4).

Latency: 4-bit and 16x8 layers are costed as their int8 kernels, and each ``QUANTIZE`` as an elementwise
pass: the cycle model is calibrated on int8 kernels only (said in ``left_out``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from automcu.hardware.graph import Graph, Op, Tensor
from automcu.hardware.spec import HardwareSpec

WEIGHT_KINDS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
PRECISION_LEFT_OUT = ("mixed precision: 4-bit and 16x8 layers are costed as their int8 kernels (the cycle model "
                      "is calibrated on int8 only); each QUANTIZE between int8 and int16 as one elementwise pass")


def weight_op_indices(g: Graph) -> list[int]:
    """Indices (into ``g.ops``) of the weight layers, in execution order."""
    return [i for i, op in enumerate(g.ops) if op.kind in WEIGHT_KINDS and op.weights]


def with_precision(g: Graph, modes: Mapping[int, str]) -> Graph:
    """A copy of ``g`` rewritten for ``modes`` (weight-layer position → ``int8`` | ``w4`` | ``a16``)."""
    positions = weight_op_indices(g)
    for pos, mode in modes.items():
        if not 0 <= pos < len(positions):
            raise ValueError(f"no weight layer {pos} (the graph has {len(positions)})")
        if mode not in ("int8", "w4", "a16"):
            raise ValueError(f"unknown precision mode {mode!r}")
    out = copy.deepcopy(g)
    a16_ops = {positions[p] for p, m in modes.items() if m == "a16"}
    for p, m in modes.items():
        if m == "w4":
            op = out.ops[positions[p]]
            op.unpack_scratch = op.weights  # TFLM unpacks the 4-bit filter to int8 in a scratch buffer
            op.weights = (op.weights + 1) // 2
    if not a16_ops:
        return out
    ops: list[Op] = []
    remap: dict[int, int] = {}  # old op index -> new
    for i, op in enumerate(out.ops):
        if i not in a16_ops:
            remap[i] = len(ops)
            ops.append(op)
            continue
        x = op.inputs[0]
        x16 = _tensor(out, out.tensors[x].shape, 2 * out.tensors[x].nbytes)
        ops.append(Op(kind="QUANTIZE", name=f"{op.name}.to_int16", inputs=[x], output=x16, stage=op.stage,
                      part=op.part))
        y8 = op.output
        y16 = _tensor(out, out.tensors[y8].shape, 2 * out.tensors[y8].nbytes)
        op.inputs = [x16, *op.inputs[1:]]
        op.output = y16
        op.biases *= 2  # int64 bias: counted as twice the int32 values
        remap[i] = len(ops)
        ops.append(op)
        ops.append(Op(kind="QUANTIZE", name=f"{op.name}.to_int8", inputs=[y16], output=y8, stage=op.stage,
                      part=op.part))
    out.ops = ops
    for t in out.tensors:
        t.producer, t.consumers = None, []
    for i, op in enumerate(ops):
        out.tensors[op.output].producer = i
        for t in op.inputs:
            out.tensors[t].consumers.append(i)
    return out


def _tensor(g: Graph, shape: tuple[int, ...], nbytes: int) -> int:
    t = Tensor(id=len(g.tensors), shape=shape, nbytes=nbytes)
    g.tensors.append(t)
    return t.id


def estimate_with_precision(g: Graph, arch: str, hardware: HardwareSpec | None, modes: Mapping[int, str],
                            torch_params: int = 0, torch_macs: int = 0) -> object:
    """The :class:`~automcu.hardware.estimator.Estimate` of ``g`` deployed with ``modes``."""
    from automcu.hardware.estimator import estimate_graph

    est = estimate_graph(with_precision(g, modes), arch, hardware, torch_params, torch_macs)
    if any(m != "int8" for m in modes.values()):
        est.left_out.append(PRECISION_LEFT_OUT)
    return est
