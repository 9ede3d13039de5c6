"""Checks for the optional extras, with the exact install command in the error."""

from __future__ import annotations

import importlib.util

#: torch first, from the CPU index: a plain ``pip install torch`` pulls the multi-GB CUDA build.
TORCH_INSTALL = "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"

#: module → the extra of ``automcu`` that provides it
EXTRA_OF: dict[str, str] = {
    "torch": "tflite",
    "litert_torch": "tflite",
    "ai_edge_quantizer": "tflite",
    "ai_edge_litert": "tflite",
    "tflite_micro": "tflite",
    "flatbuffers": "tflite",
    "onnx": "train",
    "onnxscript": "train",
    "sklearn": "train",
}

DEFAULT_MODULES: tuple[str, ...] = ("torch", "litert_torch", "ai_edge_quantizer", "tflite_micro")


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the install command."""


def missing(modules: tuple[str, ...]) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


def install_command(modules: tuple[str, ...]) -> str:
    extras = sorted({EXTRA_OF.get(m, "tflite") for m in modules})
    return f"{TORCH_INSTALL} && pip install 'automcu[{','.join(extras)}]'"


def require_extra(*modules: str) -> None:
    """Raise :class:`MissingExtraError` naming the ``pip install ...`` command when a module is absent."""
    absent = missing(modules or DEFAULT_MODULES)
    if absent:
        raise MissingExtraError(f"{', '.join(absent)} not installed; install with: {install_command(tuple(absent))}")
