"""Export an ``mcu``-space arch or the DS-CNN baseline to int8 and measure it in TensorFlow Lite Micro.

The counterpart of :func:`automcu.deploy.verify.verify_arch` for the networks of
:mod:`search_spaces.mcu.torch_model` and :mod:`automcu.train.baseline`: random but calibrated weights
(the memory figures do not depend on them), exported with :func:`automcu.deploy.exporter.export_int8`,
cached on disk by arch, input, seed and converter versions, measured in the real interpreter and
compared with the estimator (:func:`automcu.hardware.mcu.estimate_mcu`,
:func:`automcu.hardware.baseline.estimate_dscnn`).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automcu.deploy import verify as _verify
from automcu.deploy.extras import require_extra
from automcu.deploy.verify import (
    ERROR_BASIS,
    EXPORT_FORMAT,
    N_CALIBRATION,
    VerifyResult,
    _finish,
    _measured_cached,
    _versions,
    estimate_dict,
    estimation_error,
)
from automcu.hardware.spec import HardwareSpec

if TYPE_CHECKING:
    import torch

    from automcu.hardware.estimator import Estimate
    from search_spaces.baselines.dscnn import DSCNNSpec
    from search_spaces.mcu.space import MCUArch


def _export_cached(key_text: str, model: torch.nn.Module, input_shape: tuple[int, int, int], seed: int,
                   use_cache: bool) -> tuple[bytes, bool]:
    folder = _verify.cache_dir()  # looked up at call time (tests point it at a temporary folder)
    key = hashlib.sha256(f"v{EXPORT_FORMAT}|{key_text}|{seed}|{N_CALIBRATION}|{_versions()}".encode()).hexdigest()[:20]
    path = folder / f"{key}.tflite"
    if use_cache and path.is_file():
        return path.read_bytes(), True
    from automcu.deploy.exporter import export_int8

    result = export_int8(model, input_shape, n_calibration=N_CALIBRATION, seed=seed)
    if use_cache:
        _verify.cache_write(path, result.tflite)
    return result.tflite, False


def export_mcu_arch(arch: MCUArch, in_ch: int, hw: int, classes: int, seed: int = 0,
                    use_cache: bool = True) -> tuple[bytes, bool]:
    """Full-int8 ``.tflite`` of an mcu arch (random, calibrated weights); (bytes, from cache)."""
    require_extra()
    if not arch.output_connected:
        from automcu.deploy.exporter import ExportError

        raise ExportError(f"{arch} never connects the cell output to its input: there is no int8 model to run")
    import torch

    from search_spaces.mcu.torch_model import build_mcu_model
    from search_spaces.nb201.torch_model import randomize_batchnorm

    torch.manual_seed(seed)
    model = randomize_batchnorm(build_mcu_model(arch, in_ch=in_ch, classes=classes), seed=seed).eval()
    return _export_cached(f"mcu|{arch}|{in_ch}x{hw}x{hw}|{classes}", model, (in_ch, hw, hw), seed, use_cache)


def export_baseline(spec: DSCNNSpec, in_ch: int, hw: int, classes: int, seed: int = 0,
                    use_cache: bool = True) -> tuple[bytes, bool]:
    """Full-int8 ``.tflite`` of the DS-CNN baseline (random, calibrated weights); (bytes, from cache)."""
    require_extra()
    import torch

    from search_spaces.baselines.dscnn_torch import DSCNN
    from search_spaces.nb201.torch_model import randomize_batchnorm

    torch.manual_seed(seed)
    model = randomize_batchnorm(DSCNN(spec, in_ch=in_ch, classes=classes), seed=seed).eval()
    key = f"dscnn|{json.dumps(spec.to_dict(), sort_keys=True)}|{in_ch}x{hw}x{hw}|{classes}"
    return _export_cached(key, model, (in_ch, hw, hw), seed, use_cache)


def _compare(data: bytes, cached: bool, reference: Estimate, board_est: Estimate, hardware: HardwareSpec | None,
             t0: float, label: str, inputs: dict[str, int], keep_dir: Path | None = None) -> VerifyResult:
    measured = _measured_cached(data)
    kept: str | None = None
    if keep_dir is not None:
        keep = Path(keep_dir).expanduser()
        keep.mkdir(parents=True, exist_ok=True)
        (keep / "model.tflite").write_bytes(data)
        (keep / "ops.json").write_text(json.dumps(measured["op_list"], indent=1))
        kept = str(keep / "model.tflite")
    err = estimation_error(reference, measured["arena_bytes"], measured["flash_bytes"])
    scratch = max(0, board_est.arena_bytes - reference.arena_bytes) if hardware is not None else 0
    return _finish(measured, hardware, kept, t0, scratch=scratch, arch=label, macro=inputs,
                   estimate=estimate_dict(board_est), error_pct=err, error_basis=ERROR_BASIS, cached=cached)


def verify_mcu_arch(arch: MCUArch | str, hardware: HardwareSpec | None, in_ch: int = 1, hw: int = 28,
                    classes: int = 10, seed: int = 0, keep_dir: Path | None = None) -> VerifyResult:
    """Export an mcu arch, measure it in TFLM, compare with the estimator (``macro`` holds the input);
    ``keep_dir`` keeps ``model.tflite`` (and ``ops.json``) there."""
    from automcu.hardware.mcu import estimate_mcu
    from search_spaces.mcu.space import parse_mcu_arch

    t0 = time.perf_counter()
    a = parse_mcu_arch(arch)
    data, cached = export_mcu_arch(a, in_ch, hw, classes, seed=seed)
    reference = estimate_mcu(a, None, in_ch, hw, classes)
    board_est = estimate_mcu(a, hardware, in_ch, hw, classes) if hardware is not None else reference
    inputs = {"C": a.C, "N": a.N, "stem_stride": a.stem_stride, "in_ch": in_ch, "hw": hw, "classes": classes}
    if hw < 4:
        raise ValueError(f"input resolution {hw} is too small for the mcu network")
    res = _compare(data, cached, reference, board_est, hardware, t0, a.to_string(), inputs, keep_dir)
    res.index = a.code  # the arch's dense code in the mcu space
    return res


def verify_baseline(spec: DSCNNSpec, hardware: HardwareSpec | None, in_ch: int = 1, hw: int = 28,
                    classes: int = 10, seed: int = 0) -> VerifyResult:
    """Export the DS-CNN baseline, measure it in TFLM, compare with the estimator."""
    from automcu.hardware.baseline import estimate_dscnn

    t0 = time.perf_counter()
    data, cached = export_baseline(spec, in_ch, hw, classes, seed=seed)
    reference = estimate_dscnn(spec, None, in_ch, hw, classes)
    board_est = estimate_dscnn(spec, hardware, in_ch, hw, classes) if hardware is not None else reference
    inputs = {"width": spec.width, "stem_stride": spec.stem_stride, "in_ch": in_ch, "hw": hw, "classes": classes}
    return _compare(data, cached, reference, board_est, hardware, t0, spec.name, inputs)


def measured_dict(res: VerifyResult) -> dict[str, Any]:
    """The measured figures in the feasibility agent's ``verified`` form."""
    return {"arena_bytes": int(res.arena_bytes), "flash_bytes": int(res.flash_bytes),
            "fits": bool(res.fits) if res.fits is not None else None, "source": "tflite_micro"}


__all__ = ["export_baseline", "export_mcu_arch", "measured_dict", "verify_baseline", "verify_mcu_arch"]
