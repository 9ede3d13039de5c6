"""Accuracy of an int8 ``.tflite`` measured in the TensorFlow Lite Micro interpreter (not the float model's)."""

from __future__ import annotations

from typing import Any

import numpy as np

from automcu.deploy.exporter import to_nhwc


def tflm_logits(tflite: bytes, x_nchw: np.ndarray, progress: Any = None, label: str = "TFLM eval") -> np.ndarray:
    """Dequantized outputs of every sample, one TFLM invocation each (the board's int8 kernels' reference)."""
    from automcu.deploy.tflm import TFLMModel

    model = TFLMModel(tflite)
    nhwc = to_nhwc(x_nchw)
    task = progress.add_task(label, total=len(nhwc), epoch="", loss="-", acc="-") if progress is not None else None
    outs = []
    for i, sample in enumerate(nhwc):
        outs.append(model.predict(sample[None]).reshape(-1))
        if task is not None and (i % 64 == 63 or i == len(nhwc) - 1):
            progress.update(task, completed=i + 1)
    return np.stack(outs)


def tflm_accuracy(tflite: bytes, x_nchw: np.ndarray, y: np.ndarray, progress: Any = None,
                  label: str = "TFLM eval") -> float:
    """Top-1 accuracy in percent of the int8 model run in TFLM on normalized NCHW images."""
    logits = tflm_logits(tflite, x_nchw, progress, label)
    return float(100.0 * np.mean(np.argmax(logits, axis=1) == np.asarray(y)))
