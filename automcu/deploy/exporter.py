"""torch ``nn.Module`` → float ``.tflite`` (litert-torch) → full-integer int8 ``.tflite`` (ai-edge-quantizer).

The path, and why:

1. ``litert_torch.to_channel_last_io`` wraps the NCHW model so the ``.tflite`` takes NHWC input
   (as the board's camera/sensor buffer is laid out) without a TRANSPOSE op;
   ``litert_torch.convert`` lowers it to a float ``.tflite``.
2. ai-edge-quantizer's ``static_wi8_ai8`` recipe, calibrated on a representative set, makes every
   weight int8 (per-channel), bias int32, activation *and* the model input/output int8: no
   QUANTIZE/DEQUANTIZE ops, as CMSIS-NN kernels want. (litert-torch's own PT2E quantizer leaves
   several ops in float, so it is not used.)
3. :func:`automcu.deploy.flatbuffer.normalize` inlines the buffers (TFLM mis-reads offset-stored
   weights without an error) and drops tensor names (they are not deployed Flash).

Needs the ``tflite`` extra; torch and the converters are imported inside the functions.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from automcu.deploy._capture import capture_output
from automcu.deploy.extras import require_extra

if TYPE_CHECKING:
    import torch


class ExportError(RuntimeError):
    """The converter or the quantizer failed; the message carries the tail of their log."""


@dataclass(frozen=True)
class TensorQuant:
    """Shape (NHWC for images), dtype and affine int8 quantization of one model input/output."""

    shape: tuple[int, ...]
    dtype: str
    scale: float
    zero_point: int

    def quantize(self, x: np.ndarray) -> np.ndarray:
        q = np.round(np.asarray(x, dtype=np.float32) / self.scale) + self.zero_point
        return np.clip(q, -128, 127).astype(np.int8)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        return (np.asarray(q, dtype=np.float32) - self.zero_point) * self.scale

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "dtype": self.dtype, "scale": self.scale, "zero_point": self.zero_point}


@dataclass
class Int8Export:
    """A full-integer model ready for TFLM: ``tflite`` is what goes into Flash."""

    tflite: bytes
    float_tflite: bytes
    input: TensorQuant
    output: TensorQuant
    seconds: dict[str, float] = field(default_factory=dict)

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(self.tflite)
        return p


def _log_tail(text: str, lines: int = 8) -> str:
    kept = [ln for ln in text.splitlines() if ln.strip()][-lines:]
    return " | ".join(kept)


@contextlib.contextmanager
def _converter_step(what: str) -> Iterator[None]:
    """Run a converter call with its console output captured; any failure becomes one ExportError naming
    ``what``, with the tail of that output (converter errors come from many layers)."""
    failure: Exception | None = None
    with capture_output() as log:
        try:
            yield
        except Exception as exc:
            failure = exc
    if failure is not None:
        raise ExportError(f"{what} failed: {failure} [{_log_tail(log.text)}]") from failure


def to_nhwc(x: np.ndarray) -> np.ndarray:
    """NCHW (or CHW) float array → NHWC batch of one or more samples."""
    a = np.asarray(x, dtype=np.float32)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise ValueError(f"calibration samples are NCHW images, got shape {a.shape}")
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


def random_calibration(input_shape: tuple[int, int, int], n: int = 32, seed: int = 0) -> list[np.ndarray]:
    """``n`` standard-normal NCHW samples (batch 1): the representative set for random-weight exports."""
    c, h, w = input_shape
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((1, c, h, w)).astype(np.float32) for _ in range(n)]


def export_float_tflite(model: torch.nn.Module, input_shape: tuple[int, int, int]) -> bytes:
    """Float ``.tflite`` of an NCHW model with NHWC input ``(1, H, W, C)`` and batch 1."""
    require_extra("torch", "litert_torch")
    import litert_torch
    import torch

    c, h, w = input_shape
    model = model.eval()
    wrapped = litert_torch.to_channel_last_io(model, args=[0]).eval()
    sample = (torch.zeros(1, h, w, c),)
    with _converter_step("litert-torch conversion"):
        content = litert_torch.convert(wrapped, sample).model_content()
    return bytes(content)


def _signature(float_tflite: bytes) -> tuple[str, str]:
    """(signature key, input name) of the single-input float model."""
    from ai_edge_litert.interpreter import Interpreter

    with capture_output():
        sigs = Interpreter(model_content=float_tflite).get_signature_list()
    if len(sigs) != 1:
        raise ExportError(f"expected one signature in the float model, found {sorted(sigs)}")
    key, spec = next(iter(sigs.items()))
    inputs = spec.get("inputs", [])
    if len(inputs) != 1:
        raise ExportError(f"expected one model input, found {inputs}")
    return key, inputs[0]


def quantize_int8(float_tflite: bytes, calibration_nhwc: Iterable[np.ndarray]) -> bytes:
    """Full-integer int8 model (weights per-channel int8, activations and IO int8), calibrated."""
    require_extra("ai_edge_quantizer", "ai_edge_litert")
    from ai_edge_quantizer import quantizer, recipe

    key, name = _signature(float_tflite)
    samples = [{name: np.ascontiguousarray(x, dtype=np.float32)} for x in calibration_nhwc]
    if not samples:
        raise ExportError("the calibration set is empty")
    with _converter_step("int8 quantization"):
        q = quantizer.Quantizer(bytearray(float_tflite), recipe.static_wi8_ai8())
        stats = q.calibrate({key: samples}, num_threads=max(1, min(4, os.cpu_count() or 1)))
        data = bytes(q.quantize(stats).quantized_model)
    return data


def io_quant(tflite: bytes) -> tuple[TensorQuant, TensorQuant]:
    """Input and output quantization of a single-input, single-output ``.tflite``."""
    from tflite_micro import runtime

    model = runtime.schema_fb.Model.GetRootAsModel(bytearray(tflite), 0)
    sg = model.Subgraphs(0)
    names = {v: k for k, v in vars(runtime.schema_fb.TensorType).items() if not k.startswith("_")}

    def one(idx: int) -> TensorQuant:
        t = sg.Tensors(idx)
        q = t.Quantization()
        scale = float(q.Scale(0)) if q is not None and q.ScaleLength() else 0.0
        zp = int(q.ZeroPoint(0)) if q is not None and q.ZeroPointLength() else 0
        return TensorQuant(tuple(int(d) for d in t.ShapeAsNumpy()), names[t.Type()].lower(), scale, zp)

    return one(sg.Inputs(0)), one(sg.Outputs(0))


def export_int8(
    model: torch.nn.Module,
    input_shape: tuple[int, int, int],
    calibration: Iterable[np.ndarray] | None = None,
    n_calibration: int = 32,
    seed: int = 0,
    strip_names: bool = True,
) -> Int8Export:
    """Export an NCHW torch model to a TFLM-ready full-int8 ``.tflite``.

    ``input_shape`` is ``(C, H, W)``; ``calibration`` yields NCHW float samples (batches are split),
    default ``n_calibration`` standard-normal samples drawn with ``seed``.
    """
    from automcu.deploy.flatbuffer import normalize

    t0 = time.perf_counter()
    float_tflite = export_float_tflite(model, input_shape)
    t1 = time.perf_counter()
    samples = calibration if calibration is not None else random_calibration(input_shape, n_calibration, seed)
    nhwc = [s[None] for batch in samples for s in to_nhwc(batch)]
    raw = quantize_int8(float_tflite, nhwc)
    t2 = time.perf_counter()
    tflite = normalize(raw, strip_names=strip_names)
    inp, out = io_quant(tflite)
    if inp.dtype != "int8" or out.dtype != "int8":
        raise ExportError(f"model IO is {inp.dtype}/{out.dtype}, expected int8/int8")
    t3 = time.perf_counter()
    return Int8Export(
        tflite=tflite,
        float_tflite=float_tflite,
        input=inp,
        output=out,
        seconds={"convert": round(t1 - t0, 2), "quantize": round(t2 - t1, 2), "normalize": round(t3 - t2, 2)},
    )


def export_onnx(model: torch.nn.Module, input_shape: tuple[int, int, int], path: str | Path) -> Path:
    """ONNX (NCHW, batch 1, opset 18) through ``torch.onnx.export``; needs ``onnx`` and ``onnxscript``."""
    require_extra("torch", "onnx", "onnxscript")
    import torch

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    c, h, w = input_shape
    with _converter_step("ONNX export"):
        torch.onnx.export(
            model.eval(), (torch.zeros(1, c, h, w),), str(p), input_names=["input"], output_names=["logits"],
            opset_version=18, dynamo=True, external_data=False,
        )
    return p
