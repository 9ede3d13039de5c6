"""Accuracy of an int8 ``.tflite`` measured in the TensorFlow Lite Micro interpreter (not the float model's)."""

from __future__ import annotations

from typing import Any

import numpy as np

from automcu.deploy.exporter import to_nhwc


def tflm_logits(tflite: bytes, x_nchw: np.ndarray, progress: Any = None, label: str = "TFLM eval",
                workers: int | None = None) -> np.ndarray:
    """Dequantized outputs of every sample, one TFLM invocation each (the board's int8 kernels' reference),
    the samples split over ``workers`` processes (:mod:`automcu.deploy.tflm_pool`; default
    ``AUTOMCU_TFLM_WORKERS``, else the CPUs)."""
    from automcu.deploy.tflm_pool import tflm_outputs

    nhwc = to_nhwc(x_nchw)
    if progress is None:
        return tflm_outputs(tflite, nhwc, workers)
    task = progress.add_task(label, total=len(nhwc), epoch="", loss="-", acc="-")
    return tflm_outputs(tflite, nhwc, workers, on_done=lambda k: progress.update(task, completed=k))


def tflm_accuracy(tflite: bytes, x_nchw: np.ndarray, y: np.ndarray, progress: Any = None,
                  label: str = "TFLM eval", workers: int | None = None) -> float:
    """Top-1 accuracy in percent of the int8 model run in TFLM on normalized NCHW images."""
    logits = tflm_logits(tflite, x_nchw, progress, label, workers)
    return float(100.0 * np.mean(np.argmax(logits, axis=1) == np.asarray(y)))
