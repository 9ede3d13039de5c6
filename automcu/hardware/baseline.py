"""A hand-designed MCU baseline: a DS-CNN in the style of MLPerf Tiny's, width-scaled to board limits.

MLPerf Tiny's keyword-spotting DS-CNN is one strided full convolution, a stack of depthwise-separable
blocks (depthwise 3×3 → BN → ReLU → pointwise 1×1 → BN → ReLU), a global average pool and a
classifier. For images the blocks follow MobileNet-V1's widening (×1, ×2 with stride 2, ×2, ×4 with
stride 2, ×4): what an embedded engineer writes by hand in an afternoon. :class:`DSCNNSpec` fixes the
shape; :func:`scale_dscnn` picks the widest one whose estimated int8 arena and Flash (model + runtime,
as :mod:`automcu.hardware.estimator` counts them) fit a board. The torch network is
:mod:`search_spaces.baselines.dscnn_torch` (shape: :mod:`search_spaces.baselines.dscnn`); its deployed
graph is built here, op for op as the converter emits it.
"""

from __future__ import annotations

from automcu.hardware.estimator import Estimate, estimate_graph
from automcu.hardware.graph import Graph, GraphBuilder, pool_and_classify, strided_conv3x3
from automcu.hardware.spec import HardwareSpec
from search_spaces.baselines.dscnn import DSCNN_BLOCKS, DSCNN_WIDTHS, DSCNNSpec


def _depthwise3x3(b: GraphBuilder, name: str, x: int, stride: int, stage: int) -> int:
    """Depthwise 3×3 with torch padding 1: SAME at stride 1 or on odd sizes, ``PAD`` + valid on even sizes."""
    h, w, c = b.tensors[x].shape
    if stride == 2 and h % 2 == 0 and w % 2 == 0:
        x = b.op("PAD", f"{name}.pad", [x], (h + 2, w + 2, c), stage=stage, part="cell")
    ho, wo = (h + stride - 1) // stride, (w + stride - 1) // stride
    return b.op("DEPTHWISE_CONV_2D", name, [x], (ho, wo, c), macs=ho * wo * c * 9, weights=9 * c, biases=c,
                quant_channels=2 * c, kernel=3, stride=stride, cin=c, cout=c, stage=stage, part="cell")


def build_dscnn_graph(spec: DSCNNSpec, in_ch: int, hw: int, classes: int) -> Graph:
    """The deployed int8 op graph of :class:`automcu.train.baseline.DSCNN` (BN folded, ReLUs fused)."""
    b = GraphBuilder()
    x = b.tensor((hw, hw, in_ch))
    input_id = x
    if spec.stem_stride == 2:
        x = strided_conv3x3(b, "stem.conv_3x3_s2", x, spec.width, 0, "stem")
    else:
        x = b.conv("stem.conv_3x3", x, spec.width, 3, 1, 0, "stem")
    x = b.unary("RELU", "stem.relu", x, 0, "stem")
    c = spec.width
    for i, (mult, stride) in enumerate(spec.blocks):
        name = f"block{i}"
        x = _depthwise3x3(b, f"{name}.depthwise", x, stride, i + 1)
        x = b.unary("RELU", f"{name}.depthwise.relu", x, i + 1, "cell")
        c = spec.width * mult
        x = b.conv(f"{name}.pointwise", x, c, 1, 1, i + 1, "cell")
        x = b.unary("RELU", f"{name}.pointwise.relu", x, i + 1, "cell")
    return pool_and_classify(b, x, c, classes, input_id)


def dscnn_counts(spec: DSCNNSpec, in_ch: int, hw: int, classes: int) -> tuple[int, int]:
    """(params, MACs) of the torch network (convs, BN affine, classifier)."""
    h = (hw + spec.stem_stride - 1) // spec.stem_stride
    c = spec.width
    params = 9 * in_ch * c + 2 * c
    macs = h * h * c * 9 * in_ch
    for mult, stride in spec.blocks:
        h = (h + stride - 1) // stride
        co = spec.width * mult
        params += 9 * c + 2 * c + c * co + 2 * co
        macs += h * h * (9 * c + c * co)
        c = co
    return params + c * classes + classes, macs + c * classes


def estimate_dscnn(spec: DSCNNSpec, hardware: HardwareSpec | None = None, in_ch: int = 1, hw: int = 28,
                   classes: int = 10) -> Estimate:
    """Deployment figures of the DS-CNN baseline (same estimator as the searched networks)."""
    g = build_dscnn_graph(spec, in_ch, hw, classes)
    params, macs = dscnn_counts(spec, in_ch, hw, classes)
    return estimate_graph(g, spec.name, hardware, params, macs)


def scale_dscnn(hardware: HardwareSpec, in_ch: int = 1, hw: int = 28, classes: int = 10,
                margin: float = 0.05, widths: tuple[int, ...] = DSCNN_WIDTHS) -> tuple[DSCNNSpec, Estimate]:
    """The widest DS-CNN whose estimated SRAM (arena + runtime) and Flash (model + runtime) stay ``margin``
    below the board's limits (the estimator is within ~1 % of TFLM; the margin covers the rest).
    A stride-2 stem is tried only when no stride-1 one fits (it loses resolution). ValueError when none fits."""
    for stem_stride in (1, 2):
        for width in sorted(widths, reverse=True):
            spec = DSCNNSpec(width=width, stem_stride=stem_stride)
            est = estimate_dscnn(spec, hardware, in_ch, hw, classes)
            if (est.peak_sram_bytes <= (1 - margin) * hardware.sram_bytes
                    and est.flash_bytes <= (1 - margin) * hardware.flash_bytes):
                return spec, est
    raise ValueError(f"no DS-CNN of width {min(widths)}..{max(widths)} fits {hardware.name} "
                     f"({hardware.sram_kb:g} KB SRAM, {hardware.flash_kb:g} KB Flash)")


__all__ = ["DSCNN_BLOCKS", "DSCNN_WIDTHS", "DSCNNSpec", "build_dscnn_graph", "dscnn_counts", "estimate_dscnn",
           "scale_dscnn"]
