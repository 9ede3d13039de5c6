"""The firmware artifact bundle: model files, C array, op resolver list, IO quantization, reference pairs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from automcu.compress.c_array import write_c_array
from automcu.compress.resolver import resolver_method, resolver_snippet
from automcu.data.dataset import Normalization
from automcu.deploy.exporter import TensorQuant, to_nhwc


def write_json(path: Path, payload: Any) -> Path:
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def io_spec(inp: TensorQuant, out: TensorQuant, norm: Normalization, class_names: list[str]) -> dict[str, Any]:
    """Shapes, dtypes and quantization of the model IO, and the preprocessing the firmware must apply."""
    return {
        "input": {**inp.to_dict(), "layout": "NHWC"},
        "output": {**out.to_dict(), "meaning": "class logits (argmax = predicted class)"},
        "preprocessing": {**norm.to_dict(),
                          "recipe": "pixel in [0, 1] → (x - mean[c]) / std[c] → q = round(x / scale) + zero_point, "
                                    "clamped to [-128, 127]"},
        "class_names": class_names,
    }


def reference_pairs(tflite: bytes, x_nchw: np.ndarray, y: np.ndarray, inp: TensorQuant) -> list[dict[str, Any]]:
    """Int8 inputs and the int8 outputs TFLM gives for them: compare byte for byte on the board."""
    from automcu.deploy.tflm import TFLMModel

    model = TFLMModel(tflite)
    pairs = []
    for i, sample in enumerate(to_nhwc(x_nchw)):
        q_in = inp.quantize(sample[None])
        q_out = model.invoke(q_in).reshape(-1)
        pairs.append({"index": i, "label": int(y[i]), "predicted": int(np.argmax(q_out)),
                      "input_int8": q_in.reshape(-1).astype(int).tolist(),
                      "output_int8": q_out.astype(int).tolist()})
    return pairs


def write_bundle(out_dir: Path, tflite: bytes, onnx_path: Path, ops: list[str], io: dict[str, Any],
                 pairs: list[dict[str, Any]]) -> dict[str, str]:
    """Write everything but the report; returns artifact name → path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tfl = out_dir / "model.tflite"
    tfl.write_bytes(tflite)
    header, source = write_c_array(tflite, out_dir)
    ops_json = write_json(out_dir / "ops.json", {"ops": ops, "resolver_methods": [resolver_method(o) for o in ops],
                                                 "resolver_size": len(ops)})
    resolver = out_dir / "op_resolver.inc"
    resolver.write_text(resolver_snippet(ops))
    io_json = write_json(out_dir / "io.json", io)
    ref = write_json(out_dir / "reference.json", {"note": "int8 tensors, NHWC flattened; run the input through the "
                                                          "interpreter on the board and compare the output",
                                                  "pairs": pairs})
    return {"model.tflite": str(tfl), "model.onnx": str(onnx_path), "model_data.cc": str(source),
            "model_data.h": str(header), "ops.json": str(ops_json), "op_resolver.inc": str(resolver),
            "io.json": str(io_json), "reference.json": str(ref)}
