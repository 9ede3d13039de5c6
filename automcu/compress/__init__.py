"""Compression backend: train (optionally distil) a searched NB201 winner on real data, int8 PTQ/QAT,
export ONNX + full-integer ``.tflite``, measure accuracy and memory in TFLite Micro, write a firmware bundle.
"""

from __future__ import annotations

from automcu.compress.request import CompressRequest

__all__ = ["CompressRequest"]
