"""Per-core cycle model for int8 TFLite Micro kernels (CMSIS-NN / ESP-NN optimized).

Latency = Σ_ops cycles(op) / clock, with cycles(op) a weighted sum of the op's *cost features*:
MACs by kernel kind (divided by that kernel's MACs/cycle), output elements that a conv requantizes,
bytes that pooling / ADD / PAD / MEAN / RELU touch (memory traffic), and a fixed per-op cost
(interpreter dispatch + kernel prologue). The features are what FLOPs miss: an avg_pool or an ADD has
no MACs but reads and writes whole feature maps.

Sources for the constants (order of magnitude; they rank archs, absolute ms are ±30 %):
* Lai, Suda, Chandra, "CMSIS-NN: Efficient Neural Network Kernels for Arm Cortex-M CPUs",
  arXiv:1801.06601 (2018): conv ≈ 0.5-0.6 MAC/cycle on Cortex-M4 with SIMD (SMLAD, 2 MAC/instr),
  pooling/activation are memory bound (≈1-2 cycles per byte).
* MLPerf Tiny v1.0 inference results (ResNet-8 image classification, 12.5 M MACs): TFLM+CMSIS-NN on
  NUCLEO-L4R5ZI (M4F, 120 MHz) ≈ 0.45 MAC/cycle end to end; Cortex-M7 parts ≈ 0.9-1.1 MAC/cycle
  (dual-issue SMLAD); Alif/Corstone Cortex-M55 with Helium ≈ 2-4× the M7 per cycle.
* Arm Cortex-M0+ has no DSP extension: CMSIS-NN falls back to scalar code, ≈ 0.08 MAC/cycle (TFLM
  person_detection on RP2040, ~7 M MACs in ≈ 0.7 s at 133 MHz, Raspberry Pi pico-tflmicro README).
* ESP-NN README (espressif/esp-nn): ESP32-S3 optimized conv kernels ≈ 6-10× the ANSI C ones;
  person detection ≈ 55 ms at 240 MHz → ≈ 0.6 MAC/cycle end to end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Cost features of one op (columns of the feature matrix), see :func:`op_features`.
FEATURES: tuple[str, ...] = (
    "ops",  # op count (dispatch + prologue)
    "macs_conv3x3",
    "macs_conv1x1",
    "macs_stem",  # first conv: few input channels, poor SIMD use
    "macs_fc",
    "conv_out",  # output elements requantized by convs (per-channel multiply + shift)
    "pool_taps",  # AVERAGE_POOL_2D: out elements × window (loads + accumulate)
    "pool_out",  # AVERAGE_POOL_2D: out elements (divide, count_include_pad=False edges)
    "add_elems",  # ADD/SUB/MUL: elements (two-input requantization)
    "relu_elems",
    "pad_bytes",
    "mean_elems",
)


@dataclass(frozen=True)
class CoreModel:
    """Cycles per unit of each cost feature (MAC-type features: 1 / MACs-per-cycle)."""

    name: str
    mac_per_cycle_conv3x3: float
    mac_per_cycle_conv1x1: float
    mac_per_cycle_stem: float
    mac_per_cycle_fc: float
    op_overhead: float  # cycles per op
    requant: float  # cycles per conv output element
    pool_tap: float  # cycles per pooling window element
    pool_out: float
    add: float
    relu: float
    pad: float
    mean: float
    conv_scratch: bool = True  # CMSIS-NN im2col scratch buffer for k>1 convs
    pool_scratch: bool = True  # CMSIS-NN avgpool int32 row buffer (DSP variant)
    source: str = ""

    def weights(self) -> np.ndarray:
        """Cycles per unit of each feature in :data:`FEATURES` order."""
        return np.array([
            self.op_overhead,
            1.0 / self.mac_per_cycle_conv3x3,
            1.0 / self.mac_per_cycle_conv1x1,
            1.0 / self.mac_per_cycle_stem,
            1.0 / self.mac_per_cycle_fc,
            self.requant,
            self.pool_tap,
            self.pool_out,
            self.add,
            self.relu,
            self.pad,
            self.mean,
        ])


CORES: dict[str, CoreModel] = {
    "cortex-m4f": CoreModel(
        "cortex-m4f", 0.55, 0.65, 0.30, 0.45, op_overhead=1200, requant=6.0, pool_tap=1.6, pool_out=8.0,
        add=7.0, relu=1.2, pad=0.6, mean=1.5, source="CMSIS-NN paper (arXiv:1801.06601); MLPerf Tiny v1.0 L4R5",
    ),
    "cortex-m33": CoreModel(
        "cortex-m33", 0.55, 0.65, 0.30, 0.45, op_overhead=1200, requant=6.0, pool_tap=1.6, pool_out=8.0,
        add=7.0, relu=1.2, pad=0.6, mean=1.5, source="Armv8-M DSP extension = M4 SIMD set; CMSIS-NN DSP kernels",
    ),
    "cortex-m7": CoreModel(
        "cortex-m7", 1.05, 1.2, 0.5, 0.8, op_overhead=900, requant=4.0, pool_tap=1.0, pool_out=5.0,
        add=4.5, relu=0.8, pad=0.4, mean=1.0, source="MLPerf Tiny v1.0 (STM32H7 TFLM+CMSIS-NN); CMSIS-NN DSP kernels",
    ),
    "cortex-m55": CoreModel(
        "cortex-m55", 3.0, 3.5, 1.0, 2.0, op_overhead=900, requant=1.0, pool_tap=0.35, pool_out=1.5,
        add=1.2, relu=0.25, pad=0.2, mean=0.4, pool_scratch=False,
        source="CMSIS-NN MVE (Helium) kernels; Arm Cortex-M55 ML performance white paper",
    ),
    "cortex-m0plus": CoreModel(
        "cortex-m0plus", 0.08, 0.09, 0.06, 0.08, op_overhead=2500, requant=20.0, pool_tap=4.0, pool_out=30.0,
        add=22.0, relu=3.0, pad=2.0, mean=4.0, pool_scratch=False,
        source="no DSP extension: CMSIS-NN scalar fallback; pico-tflmicro person_detection timing",
    ),
    "xtensa-lx7": CoreModel(
        "xtensa-lx7", 0.8, 0.9, 0.35, 0.6, op_overhead=1500, requant=3.0, pool_tap=0.9, pool_out=5.0,
        add=3.5, relu=0.7, pad=0.4, mean=1.0, pool_scratch=False,
        source="ESP-NN (espressif/esp-nn) ESP32-S3 PIE SIMD kernels, README benchmarks",
    ),
}

#: the core used when no hardware is given (latency is then reported on it, at REFERENCE_CLOCK_MHZ)
REFERENCE_CORE = "cortex-m7"
REFERENCE_CLOCK_MHZ = 216.0


def core_model(core: str) -> CoreModel:
    try:
        return CORES[core.lower()]
    except KeyError:
        raise ValueError(f"no cycle model for core {core!r}; known: {', '.join(CORES)}") from None


def op_features(kind: str, macs: int, kernel: int, cin: int, out_elems: int, in_elems: int,
                part: str) -> np.ndarray:
    """Cost features (in :data:`FEATURES` order) of one op."""
    f = np.zeros(len(FEATURES))
    f[0] = 1.0
    if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        if part == "stem" or kind == "DEPTHWISE_CONV_2D":
            f[3] = macs
        elif kernel == 1:
            f[2] = macs
        else:
            f[1] = macs
        f[5] = out_elems
    elif kind == "FULLY_CONNECTED":
        f[4] = macs
    elif kind == "AVERAGE_POOL_2D":
        f[6] = out_elems * kernel * kernel
        f[7] = out_elems
    elif kind in ("ADD", "SUB", "MUL"):
        f[8] = out_elems
    elif kind in ("RELU", "QUANTIZE"):  # QUANTIZE (int8 <-> int16, mixed precision only): one elementwise pass
        f[9] = out_elems
    elif kind == "PAD":
        f[10] = out_elems
    elif kind == "MEAN":
        f[11] = in_elems
    return f


def scratch_bytes(core: CoreModel | None, kind: str, kernel: int, cin: int) -> int:
    """CMSIS-NN scratch buffer an op requests from the arena (0 with reference kernels).

    ``arm_convolve_s8_get_buffer_size``: 2 im2col columns of int16 = 4·cin·k² bytes (1×1 stride-1
    convs use the no-im2col kernel); ``arm_avgpool_s8_get_buffer_size`` (DSP): cin int32.
    """
    if core is None:
        return 0
    if kind == "CONV_2D" and kernel > 1 and core.conv_scratch:
        return 4 * cin * kernel * kernel
    if kind == "AVERAGE_POOL_2D" and core.pool_scratch:
        return 4 * cin
    return 0
