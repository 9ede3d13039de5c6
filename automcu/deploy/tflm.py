"""Run a ``.tflite`` in the real TensorFlow Lite Micro interpreter (``tflite_micro`` from PyPI).

- :class:`TFLMModel`: load from bytes, int8 inference (and float in/out through the IO quantization);
- :func:`arena_breakdown`: the recording allocator's arena total / head (planned activations and
  scratch) / tail (persistent: op data, quantization params, tensor structs) and its per-kind lines;
- :func:`smallest_arena`: the smallest arena (multiple of 16 bytes) with which the model allocates
  and runs — what a firmware engineer sets ``kTensorArenaSize`` to;
- :func:`model_ops`: the op list in execution order with each op's output shape (what TFLM's
  ``MicroMutableOpResolver`` must register, and what an estimator's graph model must match).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from pydantic import BaseModel

from automcu.deploy._capture import capture_output
from automcu.deploy.extras import require_extra

ARENA_ALIGNMENT = 16
_ARENA_RE = re.compile(r"Arena allocation (total|head|tail) (\d+) bytes")
_RECORD_RE = re.compile(r"\[RecordingMicroAllocator\] '([^']+)' used (\d+) bytes")


class ModelError(ValueError):
    """The bytes are not a model TFLM can load, or it fails to run."""


class ArenaBreakdown(BaseModel):
    """TFLM's own accounting of one model's tensor arena, bytes."""

    total: int
    head: int  # non-persistent: planned activations + scratch buffers
    tail: int  # persistent: tensor structs, op data, quantization params
    recorded: dict[str, int] = {}  # per allocation kind, from the RecordingMicroAllocator


class OpInfo(BaseModel):
    index: int
    op: str  # builtin op name, e.g. CONV_2D
    inputs: list[list[int]]  # shapes of the op's tensor inputs (constants included)
    output: list[int]  # shape of its (first) output
    output_bytes: int


def _runtime() -> Any:
    require_extra("tflite_micro")
    from tflite_micro import runtime

    return runtime


def _enum_names(enum_cls: Any) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


_DTYPE_BYTES = {"INT8": 1, "UINT8": 1, "INT16": 2, "INT32": 4, "FLOAT32": 4, "INT64": 8, "BOOL": 1, "FLOAT16": 2}


def _parse(data: bytes) -> Any:
    runtime = _runtime()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelError("not a TensorFlow Lite flatbuffer (no TFL3 identifier)")
    try:
        model = runtime.schema_fb.Model.GetRootAsModel(bytearray(data), 0)
        if model.SubgraphsLength() < 1:
            raise ModelError("the .tflite has no subgraph")
        return model
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"malformed .tflite flatbuffer: {exc}") from exc


def model_ops(data: bytes) -> list[OpInfo]:
    """Ops of the main subgraph in execution order, with input and output shapes."""
    runtime = _runtime()
    model = _parse(data)
    op_names = _enum_names(runtime.schema_fb.BuiltinOperator)
    type_names = _enum_names(runtime.schema_fb.TensorType)
    sg = model.Subgraphs(0)
    out: list[OpInfo] = []
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = op_names.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            name = f"CUSTOM:{code.CustomCode().decode(errors='replace')}"
        ins = [sg.Tensors(int(t)) for t in op.InputsAsNumpy() if int(t) >= 0] if op.InputsLength() else []
        outs = [sg.Tensors(int(t)) for t in op.OutputsAsNumpy()] if op.OutputsLength() else []
        shape = [int(d) for d in outs[0].ShapeAsNumpy()] if outs else []
        nbytes = int(np.prod(shape)) * _DTYPE_BYTES.get(type_names.get(outs[0].Type(), ""), 1) if outs else 0
        out.append(
            OpInfo(
                index=i,
                op=name,
                inputs=[[int(d) for d in t.ShapeAsNumpy()] if t.ShapeLength() else [] for t in ins],
                output=shape,
                output_bytes=nbytes,
            )
        )
    return out


def tensor_lifetimes(data: bytes) -> list[tuple[int, int, int, int]]:
    """``(bytes, first_op, last_op, tensor_index)`` of every tensor TFLM plans in the arena head.

    Non-constant tensors, live from the op that writes them (0 for graph inputs) to the last op that
    reads them (the end for graph outputs), as TFLM's allocation-info builder sees them. TFLM's
    greedy planner places them largest first, ties broken by the *higher* tensor index first.
    """
    runtime = _runtime()
    model = _parse(data)
    type_names = _enum_names(runtime.schema_fb.TensorType)
    sg = model.Subgraphs(0)
    const = set()
    for i in range(sg.TensorsLength()):
        buf = model.Buffers(sg.Tensors(i).Buffer())
        if buf is not None and buf.DataLength() > 0:
            const.add(i)
    first: dict[int, int] = {int(t): 0 for t in sg.InputsAsNumpy()}
    last: dict[int, int] = {}
    n_ops = sg.OperatorsLength()
    for k in range(n_ops):
        op = sg.Operators(k)
        for t in (op.InputsAsNumpy() if op.InputsLength() else []):
            if int(t) >= 0 and int(t) not in const:
                last[int(t)] = k
        for t in (op.OutputsAsNumpy() if op.OutputsLength() else []):
            first.setdefault(int(t), k)
            last.setdefault(int(t), k)
    for t in sg.OutputsAsNumpy():
        last[int(t)] = n_ops - 1
    out = []
    for t in sorted(first):
        ten = sg.Tensors(t)
        nbytes = int(np.prod(ten.ShapeAsNumpy())) * _DTYPE_BYTES.get(type_names.get(ten.Type(), ""), 1)
        out.append((nbytes, first[t], last.get(t, first[t]), t))
    return out


def op_resolver_ops(data: bytes) -> list[str]:
    """Distinct ops to register in TFLM's op resolver, sorted."""
    return sorted({o.op for o in model_ops(data)})


def _interpreter(data: bytes, arena_size: int) -> Any:
    runtime = _runtime()
    return runtime.Interpreter.from_bytes(data, arena_size=int(arena_size))


def _default_arena(data: bytes) -> int:
    return max(10 * len(data), 1 << 20)


class TFLMModel:
    """One model loaded in the TFLM interpreter."""

    def __init__(self, data: bytes, arena_size: int | None = None) -> None:
        _parse(data)
        self.data = bytes(data)
        self.arena_size = int(arena_size or _default_arena(data))
        with capture_output() as log:
            try:
                self._it = _interpreter(self.data, self.arena_size)
            except (RuntimeError, ValueError) as exc:
                failure: Exception | None = exc
            else:
                failure = None
        if failure is not None:
            raise ModelError(f"TFLM could not load the model: {failure} {_tail(log.text)}".strip()) from failure
        self.input_details = self._it.get_input_details(0)
        self.output_details = self._it.get_output_details(0)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.input_details["shape"])

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self.input_details["dtype"])

    def _qparams(self, details: dict[str, Any]) -> tuple[float, int]:
        q = details["quantization_parameters"]
        scales, zps = q["scales"], q["zero_points"]
        return (float(scales[0]) if len(scales) else 0.0, int(zps[0]) if len(zps) else 0)

    def invoke(self, x: np.ndarray) -> np.ndarray:
        """Run one inference on an input of the model's dtype and shape; returns the raw output."""
        arr = np.asarray(x)
        if arr.dtype != self.input_dtype:
            raise ModelError(f"input dtype {arr.dtype} but the model takes {self.input_dtype}")
        arr = arr.reshape(self.input_shape)
        with capture_output() as log:
            try:
                self._it.set_input(arr, 0)
                self._it.invoke()
                y = np.array(self._it.get_output(0), copy=True)
            except RuntimeError as exc:
                failure: Exception | None = exc
            else:
                failure = None
        if failure is not None:
            raise ModelError(f"TFLM invoke failed: {failure} {_tail(log.text)}".strip()) from failure
        return y

    def predict(self, x_float: np.ndarray) -> np.ndarray:
        """Float NHWC input → quantize → TFLM → dequantized float output (one sample)."""
        scale, zp = self._qparams(self.input_details)
        if self.input_dtype == np.int8 and scale > 0:
            q = np.clip(np.round(np.asarray(x_float, np.float32) / scale) + zp, -128, 127).astype(np.int8)
        else:
            q = np.asarray(x_float).astype(self.input_dtype)
        y = self.invoke(q)
        oscale, ozp = self._qparams(self.output_details)
        if oscale > 0:
            return (y.astype(np.float32) - ozp) * oscale
        return y.astype(np.float32)

    def predict_many(self, x_float_nhwc: np.ndarray) -> np.ndarray:
        """Dequantized outputs for a float NHWC batch, one TFLM inference per sample (batch, ...)."""
        batch = np.asarray(x_float_nhwc, dtype=np.float32)
        return np.stack([self.predict(sample[None]).reshape(self.output_details["shape"][1:]) for sample in batch])

    def allocations(self) -> ArenaBreakdown:
        """The recording allocator's report, after one inference on a zero input."""
        self.invoke(np.zeros(self.input_shape, self.input_dtype))
        with capture_output() as log:
            self._it.print_allocations()
        return parse_allocations(log.text)


def _tail(text: str, lines: int = 3) -> str:
    kept = [ln.strip() for ln in text.splitlines() if ln.strip()][-lines:]
    return f"[{' | '.join(kept)}]" if kept else ""


def parse_allocations(text: str) -> ArenaBreakdown:
    found = {k: int(v) for k, v in _ARENA_RE.findall(text)}
    if set(found) != {"total", "head", "tail"}:
        raise ModelError(f"could not read TFLM's allocation report: {_tail(text)}")
    recorded = {k: int(v) for k, v in _RECORD_RE.findall(text)}
    return ArenaBreakdown(recorded=recorded, **found)


def arena_breakdown(data: bytes) -> ArenaBreakdown:
    """Arena total/head/tail as TFLM's recording allocator reports them (roomy arena)."""
    return TFLMModel(data).allocations()


def _runs_with(data: bytes, arena_size: int, x: np.ndarray) -> bool:
    with capture_output():
        try:
            it = _interpreter(data, arena_size)
            it.set_input(x, 0)
            it.invoke()
        except RuntimeError:
            return False
    return True


def smallest_arena(data: bytes, hint: int | None = None) -> int:
    """Smallest arena (multiple of 16 bytes) with which the model allocates and runs, by bisection.

    ``hint`` (e.g. the recording allocator's total) starts the search near the answer.
    """
    model = TFLMModel(data)
    x = np.zeros(model.input_shape, model.input_dtype)
    step = ARENA_ALIGNMENT
    hi = max(step, -(-int(hint or model.allocations().total) // step) * step)
    lo = 0
    while not _runs_with(data, hi, x):
        lo, hi = hi, hi * 2
        if hi > (1 << 31):
            raise ModelError("the model does not run in TFLM with any arena up to 2 GiB")
    if hint:
        probe = hi - 64 * step  # the answer is usually right at the hint: check just below it first
        if probe > lo:
            if _runs_with(data, probe, x):
                hi = probe
            else:
                lo = probe
    while hi - lo > step:
        mid = (lo + hi) // 2 // step * step
        if mid <= lo:
            break
        if _runs_with(data, mid, x):
            hi = mid
        else:
            lo = mid
    return hi
