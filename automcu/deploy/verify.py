"""Hardware-in-the-loop check: run a model in the real TFLite Micro interpreter and say whether it fits.

``verify_tflite`` measures a given ``.tflite``; ``verify_arch`` first exports an NB201 arch at a macro
(random but calibrated weights: the memory figures do not depend on the weight values) and compares
the measurement with the estimator's figures. Exports are cached on disk, keyed by arch, macro, seed
and converter versions, so checking the same candidate twice costs milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from automcu.deploy.extras import require_extra
from automcu.deploy.tflm import ArenaBreakdown, ModelError, TFLMModel, model_ops, smallest_arena
from automcu.hardware.spec import HardwareSpec
from search_spaces.nb201.space import Arch

if TYPE_CHECKING:
    from automcu.hardware.estimator import Macro

#: bump when the export path changes in a way that changes the produced bytes
EXPORT_FORMAT = 2
N_CALIBRATION = 32


class Region(BaseModel):
    """One memory region of the board: what the model needs there against what the board has."""

    name: str  # "sram" | "flash"
    model_bytes: int  # measured arena (SRAM) or .tflite size (Flash)
    kernel_scratch_bytes: int = 0  # SRAM only: optimized-kernel (CMSIS-NN) scratch, estimated, see below
    runtime_bytes: int  # the TFLM runtime's RAM / code size from the board profile
    total_bytes: int
    limit_bytes: int
    free_bytes: int  # negative when it overflows
    fits: bool
    message: str


class VerifyResult(BaseModel):
    """Measured in TFLite Micro; with an arch, compared with the estimator."""

    arena_bytes: int = Field(description="smallest tensor arena with which TFLM allocates and runs the model")
    flash_bytes: int = Field(description=".tflite size: weights, biases, quantization params, graph")
    fits: bool | None = Field(description="arena + runtime RAM <= SRAM and model + runtime code <= Flash; "
                              "None without a board")
    tflite: str | None = Field(description="path of the kept .tflite, None when not kept")
    arena: ArenaBreakdown
    ops: list[str] = Field(description="distinct ops for TFLM's op resolver")
    op_count: int
    input: dict[str, Any]
    output: dict[str, Any]
    regions: list[Region] = []
    messages: list[str] = []
    left_out: list[str] = []
    board: str | None = None
    arch: str | None = None
    index: int | None = None
    macro: dict[str, int] | None = None
    estimate: dict[str, Any] | None = None
    error_pct: dict[str, float] | None = None
    error_basis: str | None = None
    cached: bool = False
    seconds: float = 0.0


LEFT_OUT = [
    "the arena is measured with TFLM's reference kernels (the Python interpreter); optimized kernels "
    "(CMSIS-NN) also request scratch buffers: what they add is planned by TFLM's greedy planner over the model's "
    "own tensors and added to the SRAM verdict as an estimate (kernel_scratch_bytes)",
    "application stack and heap beyond the board profile's runtime RAM",
    "buffers the application keeps outside the arena (e.g. camera frames)",
    "Flash alignment/padding added by the linker",
]


def _region(name: str, model: int, runtime: int, limit: int, scratch: int = 0) -> Region:
    total = model + scratch + runtime
    free = limit - total
    label = "SRAM" if name == "sram" else "Flash"
    parts = [f"{'arena' if name == 'sram' else 'model'} {model:,} B"]
    if scratch:
        parts.append(f"kernel scratch {scratch:,} B (est.)")
    parts.append(f"{'runtime RAM' if name == 'sram' else 'runtime code'} {runtime:,} B")
    summed = " + ".join(parts)
    if free >= 0:
        msg = f"{label}: {summed} = {total:,} B of {limit:,} B ({free:,} B free)"
    else:
        msg = f"{label}: overflows by {-free:,} bytes ({summed} = {total:,} B > {limit:,} B)"
    return Region(name=name, model_bytes=model, kernel_scratch_bytes=scratch, runtime_bytes=runtime,
                  total_bytes=total, limit_bytes=limit, free_bytes=free, fits=free >= 0, message=msg)


def regions(arena_bytes: int, flash_bytes: int, hardware: HardwareSpec, scratch_bytes: int = 0) -> list[Region]:
    """SRAM and Flash verdicts: arena (+ kernel scratch) + runtime RAM vs SRAM, model + runtime code vs Flash."""
    return [
        _region("sram", arena_bytes, int(hardware.runtime_sram_kb * 1024), hardware.sram_bytes, scratch_bytes),
        _region("flash", flash_bytes, int(hardware.runtime_flash_kb * 1024), hardware.flash_bytes),
    ]


def _op_scratch(op: dict[str, Any], core: Any) -> int:
    """CMSIS-NN scratch one measured op requests on ``core`` (the kernels' get_buffer_size formulas)."""
    from automcu.hardware.cycles import scratch_bytes

    ins = op.get("inputs") or []
    if op["op"] == "CONV_2D" and len(ins) > 1 and len(ins[1]) == 4:
        return scratch_bytes(core, "CONV_2D", int(ins[1][1]), int(ins[1][3]))
    if op["op"] == "AVERAGE_POOL_2D" and ins and ins[0]:
        return scratch_bytes(core, "AVERAGE_POOL_2D", 0, int(ins[0][-1]))
    return 0


def kernel_scratch_planned(data: bytes, op_list: list[dict[str, Any]], hardware: HardwareSpec) -> int:
    """What the optimized kernels' scratch buffers add to the measured reference-kernel arena on
    ``hardware``'s core: TFLM's greedy planner run over the model's own tensors with and without each op's
    scratch buffer (live during that op only, planned after every tensor), the difference of the two heads.

    The feasibility agent's estimate plans scratch the same way, so a model it estimates to fit is not
    refused here for a worst-case sum it never meets (a scratch buffer usually lands in a gap between
    tensors)."""
    from automcu.deploy.tflm import tensor_lifetimes
    from automcu.hardware.arena import Buffer, plan
    from automcu.hardware.cycles import core_model

    try:
        core = core_model(hardware.core)
    except ValueError:
        return 0
    tensors = [Buffer(size, first, last, label=f"t{t}", rank=t) for size, first, last, t in tensor_lifetimes(data)]
    top = max((b.rank for b in tensors), default=0) + 1
    scratch = [Buffer(s, k, k, label=f"scratch{k}", rank=top + k)
               for k, op in enumerate(op_list) if (s := _op_scratch(op, core))]
    if not scratch:
        return 0
    return max(0, plan(tensors + scratch)[0] - plan(tensors)[0])


def _measure(data: bytes) -> dict[str, Any]:
    model = TFLMModel(data)
    breakdown = model.allocations()
    arena = smallest_arena(data, hint=breakdown.total)
    ops = model_ops(data)
    from automcu.deploy.exporter import io_quant

    inp, out = io_quant(data)
    return {
        "arena_bytes": arena,
        "flash_bytes": len(data),
        "arena": breakdown.model_dump(),
        "ops": sorted({o.op for o in ops}),
        "op_count": len(ops),
        "op_list": [o.model_dump() for o in ops],
        "input": inp.to_dict(),
        "output": out.to_dict(),
    }


def _finish(measured: dict[str, Any], hardware: HardwareSpec | None, tflite: str | None, t0: float,
            scratch: int | None = None, data: bytes | None = None, **extra: Any) -> VerifyResult:
    res = VerifyResult(
        arena_bytes=measured["arena_bytes"], flash_bytes=measured["flash_bytes"], fits=None, tflite=tflite,
        arena=ArenaBreakdown(**measured["arena"]), ops=measured["ops"], op_count=measured["op_count"],
        input=measured["input"], output=measured["output"], left_out=list(LEFT_OUT), **extra,
    )
    if hardware is not None:
        res.board = hardware.name
        if scratch is None:
            scratch = kernel_scratch_planned(data, measured["op_list"], hardware) if data is not None else 0
        res.regions = regions(res.arena_bytes, res.flash_bytes, hardware, scratch)
        res.fits = all(r.fits for r in res.regions)
        res.messages = [r.message for r in res.regions]
    res.seconds = round(time.perf_counter() - t0, 2)
    return res


def verify_tflite(path: str | Path, hardware: HardwareSpec | None = None) -> VerifyResult:
    """Measure an existing ``.tflite`` in TFLM: smallest arena, Flash, ops, and the fit on ``hardware``."""
    require_extra("tflite_micro")
    t0 = time.perf_counter()
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"no such .tflite file: {p}")
    data = p.read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelError(f"{p} is not a TensorFlow Lite model (no TFL3 flatbuffer identifier)")
    from automcu.deploy.flatbuffer import has_offset_buffers

    try:
        offset = has_offset_buffers(data)
    except Exception as exc:
        raise ModelError(f"{p} is not a valid .tflite: {exc}") from exc
    if offset:
        raise ModelError(
            f"{p} stores weights outside the flatbuffer (buffer offsets), which TFLite Micro mis-reads; "
            "re-export it with automcu (buffers inlined)"
        )
    try:
        measured = _measure(data)
    except ModelError as exc:
        raise ModelError(f"{p}: {exc}") from exc
    return _finish(measured, hardware, str(p), t0, data=data)


# ---------------------------------------------------------------------------------------- arch
def _versions() -> str:
    parts = []
    for dist in ("torch", "litert-torch", "ai-edge-quantizer", "ai-edge-litert", "tflite_micro"):
        try:
            parts.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{dist}=none")
    return ";".join(parts)


def macro_dict(macro: Macro) -> dict[str, int]:
    return {k: int(getattr(macro, k)) for k in ("C", "N", "in_ch", "hw", "classes")}


def cache_key(arch: Arch, macro: Macro, seed: int) -> str:
    m = macro_dict(macro)
    text = f"v{EXPORT_FORMAT}|{arch.to_string()}|{json.dumps(m, sort_keys=True)}|{seed}|{N_CALIBRATION}|{_versions()}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def cache_dir() -> Path:
    from automcu.core.config import get_settings

    return Path(get_settings().data_dir) / "tflite_cache"


def export_arch(arch: Arch, macro: Macro, seed: int = 0, use_cache: bool = True) -> tuple[bytes, bool]:
    """Full-int8 ``.tflite`` of ``arch`` at ``macro`` with random, calibrated weights; (bytes, from cache)."""
    require_extra()
    if not arch.output_connected:
        from automcu.deploy.exporter import ExportError

        raise ExportError(
            f"{arch} never connects the cell output to its input: the network ignores its input and the "
            "converter folds it to a constant, so there is no int8 model to run"
        )
    folder = cache_dir()
    path = folder / f"{cache_key(arch, macro, seed)}.tflite"
    if use_cache and path.is_file():
        return path.read_bytes(), True
    import torch

    from automcu.deploy.exporter import export_int8
    from search_spaces.nb201.torch_model import build_model, randomize_batchnorm

    m = macro_dict(macro)
    torch.manual_seed(seed)
    model = randomize_batchnorm(
        build_model(arch, C=m["C"], N=m["N"], in_ch=m["in_ch"], classes=m["classes"]), seed=seed
    ).eval()
    result = export_int8(model, (m["in_ch"], m["hw"], m["hw"]), n_calibration=N_CALIBRATION, seed=seed)
    if use_cache:
        cache_write(path, result.tflite)
    return result.tflite, False


def _measured_cached(data: bytes) -> dict[str, Any]:
    """Measurements are a pure function of the bytes: cache them beside the exports."""
    digest = hashlib.sha256(data).hexdigest()[:20]
    path = cache_dir() / f"measured-{digest}.json"
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            pass
    measured = _measure(data)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(measured))
        tmp.replace(path)
    except OSError:
        pass
    return measured


def _pct(estimated: float, measured: float) -> float:
    return round(100.0 * (estimated - measured) / measured, 2) if measured else 0.0


def estimate_dict(est: Any) -> dict[str, Any]:
    if hasattr(est, "to_dict"):
        return dict(est.to_dict())
    if hasattr(est, "model_dump"):
        return dict(est.model_dump())
    return dict(vars(est))


ERROR_BASIS = (
    "estimate - measured, % of measured; SRAM: the estimator's arena with reference kernels (what the "
    "Python TFLM interpreter runs) vs the smallest working arena; Flash: estimated model bytes vs .tflite size"
)


def estimation_error(reference_estimate: Any, arena_bytes: int, flash_bytes: int) -> dict[str, float]:
    """Error of an estimate made *without* hardware (reference kernels, no runtime) against the measurement."""
    d = estimate_dict(reference_estimate)
    est_arena = d.get("arena_bytes", d.get("peak_sram_bytes"))
    est_flash = (d.get("flash") or {}).get("model_total", d.get("flash_bytes"))
    return {"sram": _pct(float(est_arena), arena_bytes), "flash": _pct(float(est_flash), flash_bytes)}


def verify_arch(
    arch: Arch,
    macro: Macro,
    hardware: HardwareSpec | None,
    keep_dir: Path | None = None,
    seed: int = 0,
) -> VerifyResult:
    """Export ``arch`` at ``macro`` (int8, random calibrated weights), measure it in TFLM, compare with
    the estimator; ``keep_dir`` keeps ``model.tflite`` there."""
    t0 = time.perf_counter()
    data, cached = export_arch(arch, macro, seed=seed)
    measured = _measured_cached(data)
    kept: str | None = None
    if keep_dir is not None:
        keep = Path(keep_dir).expanduser()
        keep.mkdir(parents=True, exist_ok=True)
        target = keep / "model.tflite"
        target.write_bytes(data)
        (keep / "ops.json").write_text(json.dumps(measured["op_list"], indent=1))
        kept = str(target)
    from automcu.hardware.estimator import estimate
    from search_spaces.nb201.index import index_of

    reference = estimate(arch, None, macro)
    board_est = estimate(arch, hardware, macro) if hardware is not None else reference
    err = estimation_error(reference, measured["arena_bytes"], measured["flash_bytes"])
    ref_arena = int(estimate_dict(reference)["arena_bytes"])
    scratch = max(0, int(estimate_dict(board_est)["arena_bytes"]) - ref_arena) if hardware is not None else 0
    return _finish(
        measured, hardware, kept, t0, scratch=scratch, arch=arch.to_string(), index=index_of(arch),
        macro=macro_dict(macro), estimate=estimate_dict(board_est), error_pct=err, error_basis=ERROR_BASIS,
        cached=cached,
    )


def copy_tflite(src: str | Path, keep_dir: Path) -> Path:
    keep_dir.mkdir(parents=True, exist_ok=True)
    dst = keep_dir / Path(src).name
    if Path(src).resolve() != dst.resolve():
        shutil.copyfile(src, dst)
    return dst


def cache_write(path: Path, data: bytes) -> None:
    """Write a cached export atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
