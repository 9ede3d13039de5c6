"""Per-layer mixed precision: the float ``.tflite``'s weight layers and a full-integer model in which each of
them is quantized in its own mode, among the modes TensorFlow Lite Micro runs.

Modes (weights / activations):

- ``int8``: int8 per-channel weights, int8 activations (the default everywhere);
- ``w4``: 4-bit per-channel weights (packed two per byte in Flash), int8 activations. ``CONV_2D`` only:
  ai-edge-quantizer's policy has no 4-bit ``DEPTHWISE_CONV_2D``, and TFLite Micro's ``FULLY_CONNECTED``
  fails to allocate a 4-bit weight tensor (both probed; ``tests/test_mixed_precision.py`` re-checks them);
- ``a16``: int8 weights, int16 activations (TFLite's 16x8 scheme) on that layer; the quantizer inserts the
  int8 ↔ int16 ``QUANTIZE`` ops at its borders.

Every other op stays int8. A layer is named by its *scope*, as ai-edge-quantizer matches it: its output
tensors' names joined by ``;`` with a trailing ``;``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from automcu.deploy.exporter import ExportError, _converter_step, _signature
from automcu.deploy.extras import require_extra

#: the modes each weight op may take (what the quantizer emits and TFLite Micro runs)
LAYER_MODES: dict[str, tuple[str, ...]] = {
    "CONV_2D": ("int8", "w4", "a16"),
    "DEPTHWISE_CONV_2D": ("int8", "a16"),
    "FULLY_CONNECTED": ("int8", "a16"),
}
#: why a mode is missing for an op kind (shown when it is asked for)
REFUSED: dict[tuple[str, str], str] = {
    ("DEPTHWISE_CONV_2D", "w4"): "ai-edge-quantizer has no 4-bit DEPTHWISE_CONV_2D in its integer policy",
    ("FULLY_CONNECTED", "w4"): "TensorFlow Lite Micro's FULLY_CONNECTED fails to allocate 4-bit weights",
}
_BITS = {"int8": (8, 8), "w4": (8, 4), "a16": (16, 8)}  # mode -> (activation bits, weight bits)


@dataclass(frozen=True)
class WeightLayer:
    """One weight op of the float model, in execution order."""

    position: int  # among the weight layers, 0-based
    op_index: int  # in the subgraph
    kind: str  # CONV_2D | DEPTHWISE_CONV_2D | FULLY_CONNECTED
    scope: str  # what the quantizer's regex is matched against
    weight_shape: tuple[int, ...]

    @property
    def weight_count(self) -> int:
        return int(np.prod(self.weight_shape))

    @property
    def modes(self) -> tuple[str, ...]:
        return LAYER_MODES[self.kind]

    def label(self) -> str:
        return f"{self.position}:{self.kind}{list(self.weight_shape)}"


def weight_layers(float_tflite: bytes) -> list[WeightLayer]:
    """The conv / depthwise / fully-connected ops of a float ``.tflite`` (main subgraph), with their scopes."""
    require_extra("tflite_micro")
    from tflite_micro import runtime

    fb = runtime.schema_fb
    model = fb.Model.GetRootAsModel(bytearray(float_tflite), 0)
    sg = model.Subgraphs(0)
    names = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}
    out: list[WeightLayer] = []
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        kind = names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "")
        if kind not in LAYER_MODES:
            continue
        outs = [sg.Tensors(int(t)) for t in op.OutputsAsNumpy() if int(t) >= 0]
        tensor_names = [t.Name().decode() for t in outs if t.Name()]
        if not tensor_names:
            raise ExportError(f"op {i} ({kind}) has no named output tensor: its layer cannot be addressed")
        weights = sg.Tensors(int(op.InputsAsNumpy()[1]))
        out.append(WeightLayer(len(out), i, kind, ";".join(tensor_names) + ";",
                               tuple(int(d) for d in weights.ShapeAsNumpy())))
    return out


def weight_arrays(float_tflite: bytes, layers: list[WeightLayer] | None = None) -> list[np.ndarray]:
    """The float weights of each op :func:`weight_layers` lists (pass its list when the caller holds it), in the
    same order (the converter's layout)."""
    require_extra("tflite_micro")
    from tflite_micro import runtime

    fb = runtime.schema_fb
    model = fb.Model.GetRootAsModel(bytearray(float_tflite), 0)
    sg = model.Subgraphs(0)
    out: list[np.ndarray] = []
    for layer in weight_layers(float_tflite) if layers is None else layers:
        tensor = sg.Tensors(int(sg.Operators(layer.op_index).InputsAsNumpy()[1]))
        data = model.Buffers(tensor.Buffer()).DataAsNumpy()
        if tensor.Type() != fb.TensorType.FLOAT32 or not isinstance(data, np.ndarray):
            raise ExportError(f"layer {layer.label()}: its weights are not a constant float32 buffer")
        out.append(data.view(np.float32).reshape(layer.weight_shape).copy())
    return out


def check_modes(layers: list[WeightLayer], modes: Mapping[int, str]) -> None:
    """ValueError naming the first layer asked for a mode its op kind cannot take in TFLite Micro."""
    for pos, mode in modes.items():
        if not 0 <= pos < len(layers):
            raise ValueError(f"no weight layer {pos} (the model has {len(layers)})")
        layer = layers[pos]
        if mode not in _BITS:
            raise ValueError(f"unknown precision mode {mode!r}; modes are {', '.join(_BITS)}")
        if mode not in layer.modes:
            why = REFUSED.get((layer.kind, mode), "not supported")
            raise ValueError(f"layer {layer.label()} cannot be {mode}: {why}")


class MixedQuantizer:
    """Builds full-integer models of one float ``.tflite`` (IO int8), every op int8 except the weight layers a
    ``modes`` map names (position → mode). Calibrated once: the recorded float ranges do not depend on the
    bit widths, so every configuration reuses them. Buffers are inlined and names stripped as
    :func:`automcu.deploy.exporter.export_int8` does."""

    def __init__(self, float_tflite: bytes, calibration_nhwc: Iterable[np.ndarray]) -> None:
        require_extra("ai_edge_quantizer", "ai_edge_litert")
        self.float_tflite = float_tflite
        self.layers = weight_layers(float_tflite)
        key, name = _signature(float_tflite)
        samples = [{name: np.ascontiguousarray(x, dtype=np.float32)} for x in calibration_nhwc]
        if not samples:
            raise ExportError("the calibration set is empty")
        with _converter_step("mixed-precision calibration"):
            q = self._quantizer({})
            self._stats = q.calibrate({key: samples}, num_threads=max(1, min(4, os.cpu_count() or 1)))

    def _quantizer(self, modes: Mapping[int, str]) -> object:
        from ai_edge_quantizer import qtyping, quantizer

        q = quantizer.Quantizer(bytearray(self.float_tflite))
        q.add_static_config(".*", qtyping.TFLOperationName.ALL_SUPPORTED, 8, 8)
        for pos, mode in sorted(modes.items()):
            if mode == "int8":
                continue
            layer = self.layers[pos]
            act, wgt = _BITS[mode]
            q.add_static_config("^" + re.escape(layer.scope) + "$", qtyping.TFLOperationName(layer.kind), act, wgt)
        return q

    def build(self, modes: Mapping[int, str]) -> bytes:
        from automcu.deploy.flatbuffer import normalize

        check_modes(self.layers, modes)
        with _converter_step("mixed-precision quantization"):
            q = self._quantizer(modes)
            data = bytes(q.quantize(self._stats).quantized_model)  # type: ignore[attr-defined]
        return normalize(data, strip_names=True)
