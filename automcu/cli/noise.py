"""Third-party start-up noise, silenced at its source unless ``--verbose``.

The converter stack (torch, torchao, litert-torch, ai-edge-quantizer, TensorFlow Lite Micro) logs
lines that read like failures although nothing failed: torchao's ``Failed to load …/_C_mxfp8….so``
(optional CUDA kernels), torch's pytree deprecation notice, TensorFlow/absl C++ start-up lines
(``All log messages before absl::InitializeLog()…``, the oneDNN notice). Here:

- log levels are set *before* those packages load (environment variables read by the C++ runtimes,
  Python logger levels for the named loggers),
- warnings are filtered by the module that raises them, never globally,
- :func:`preload_quietly` imports the converter stack with the process's C-level stderr captured; what
  it printed is shown again only with ``--verbose`` or when an import fails.

Nothing of this is imported by ``automcu --help``: only ``os`` and ``logging`` are touched by
:func:`configure`.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

#: Environment read by TensorFlow / TFLite / absl C++ logging at load time (set only if the user has not).
QUIET_ENV: dict[str, str] = {
    "TF_CPP_MIN_LOG_LEVEL": "3",  # TensorFlow C++: errors only (hides the oneDNN notice)
    "GLOG_minloglevel": "2",  # glog-based runtimes
    "ABSL_MIN_LOG_LEVEL": "2",
    "GRPC_VERBOSITY": "ERROR",
}

#: Python loggers whose warnings are not failures of ours.
QUIET_LOGGERS: tuple[str, ...] = (
    "torchao",  # "Failed to load …/torchao/_C_mxfp8….so": optional CUDA kernels
    "torch.utils._pytree",  # "… Calling register_constant() on Enum subclasses is deprecated"
    "torch._dynamo", "torch._export", "torch.export",
    "absl", "tensorflow", "litert_torch", "ai_edge_torch", "ai_edge_quantizer", "onnxscript", "jax",
)

#: Modules whose Python warnings are hidden (filtered by the module that issues them).
QUIET_WARNING_MODULES: tuple[str, ...] = (
    r"torch(\.|$)", r"torchao(\.|$)", r"litert_torch(\.|$)", r"ai_edge_\w+(\.|$)", r"tensorflow(\.|$)",
    r"onnxscript(\.|$)", r"onnx(\.|$)", r"tflite_micro(\.|$)", r"jax(\.|$)", r"google\.protobuf(\.|$)",
)

#: The heavy converter stack :func:`preload_quietly` imports (each one optional).
CONVERTER_MODULES: tuple[str, ...] = ("torch", "torchao", "litert_torch", "ai_edge_quantizer", "tflite_micro", "onnx")

_state = {"verbose": False}


def is_verbose() -> bool:
    return _state["verbose"] or os.environ.get("AUTOMCU_VERBOSE", "") not in ("", "0")


def configure(verbose: bool = False) -> None:
    """Set third-party log levels and warning filters (before any of those packages loads)."""
    _state["verbose"] = verbose or is_verbose()
    if _state["verbose"]:
        os.environ["AUTOMCU_VERBOSE"] = "1"  # worker processes started from here see it too
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
        return
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for module in QUIET_WARNING_MODULES:
        warnings.filterwarnings("ignore", module=module)


def preload_quietly(modules: tuple[str, ...] = CONVERTER_MODULES) -> str:
    """Import ``modules`` (those installed) with C-level stderr captured; what they printed, shown again
    under ``--verbose`` or if an import fails. A missing package is left for the caller to report."""
    import tempfile

    if is_verbose():
        _import_all(modules)
        return ""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        failed: BaseException | None = None
        try:
            _import_all(modules)
        except BaseException as exc:
            failed = exc
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        captured = sink.read().decode(errors="replace")
    if failed is not None:
        sys.stderr.write(captured)
        raise failed
    return captured


def _import_all(modules: tuple[str, ...]) -> None:
    import importlib
    import importlib.util

    for name in modules:
        if name in sys.modules:
            continue
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if found:
            importlib.import_module(name)
