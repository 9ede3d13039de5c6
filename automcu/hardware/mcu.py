"""Deployment figures (int8 Flash, arena, latency) of an ``mcu``-space network.

The same estimator as NB201's (:func:`automcu.hardware.estimator.estimate_graph`) over the mcu op
graph (:func:`automcu.hardware.graph.build_mcu_graph`): the extra ``dw_sep_conv_3x3`` op is a
``DEPTHWISE_CONV_2D`` 3×3 (int8 weights 9·C, int32 bias C, per-channel quantization, its MACs at the
cycle model's low-reuse rate, the one the stem's depthwise conv uses; CMSIS-NN's 3×3 depthwise kernel
asks no scratch) followed by a ``CONV_2D`` 1×1 (costed as every 1×1 conv); the macro (C, N, stem stride)
sets the shapes. ``tests/test_mcu_space.py`` checks the figures against models exported to int8 and
run in TensorFlow Lite Micro.
"""

from __future__ import annotations

from automcu.hardware.estimator import Estimate, estimate_graph
from automcu.hardware.graph import build_mcu_graph
from automcu.hardware.spec import HardwareSpec
from search_spaces.mcu.space import CONV1, CONV3, DWSEP, MCUArch, parse_mcu_arch


def mcu_counts(arch: MCUArch, in_ch: int, hw: int, classes: int) -> tuple[int, int]:
    """(params, MACs) of the torch network (every edge, BN affine), as :func:`nb201_counts` counts NB201's."""
    n3, n1, nd = arch.count(CONV3), arch.count(CONV1), arch.count(DWSEP)
    C, N = arch.C, arch.N
    h = (hw + arch.stem_stride - 1) // arch.stem_stride
    params = in_ch * C * 9 + 2 * C
    macs = h * h * C * in_ch * 9
    c = C
    for stage in range(3):
        if stage > 0:
            co, h = 2 * c, (h + 1) // 2
            params += 9 * c * co + 2 * co + 9 * co * co + 2 * co + c * co
            macs += h * h * co * (9 * c + 9 * co + c)
            c = co
        params += N * (n3 * (9 * c * c + 2 * c) + n1 * (c * c + 2 * c) + nd * (9 * c + c * c + 4 * c))
        macs += N * h * h * (c * c * (9 * n3 + n1) + nd * (9 * c + c * c))
    params += 2 * c + c * classes + classes
    macs += c * classes
    return params, macs


def estimate_mcu(arch: MCUArch | str, hardware: HardwareSpec | None = None, in_ch: int = 1, hw: int = 28,
                 classes: int = 10) -> Estimate:
    """Deployment figures of one mcu arch on an ``in_ch`` × ``hw`` × ``hw`` input with ``classes`` outputs."""
    arch = parse_mcu_arch(arch)
    if hw < 4:
        raise ValueError(f"input resolution {hw} is too small for the mcu network")
    g = build_mcu_graph(arch, in_ch, hw, classes)
    params, macs = mcu_counts(arch, in_ch, hw, classes)
    return estimate_graph(g, arch.to_string(), hardware, params, macs, arch.output_connected)


__all__ = ["estimate_mcu", "mcu_counts"]
