"""Feasibility agent: arch + hardware + constraints → feasible, or rejected with reasons.

State-isolated: :meth:`FeasibilityAgent.check` takes one :class:`FeasibilityRequest` and returns one
:class:`FeasibilityReport`. Each violation names the resource, the value, the limit, the excess and
the layer responsible (the op at the SRAM peak, the largest-weight layer for Flash, the slowest op
class for latency). With ``verify`` = ``all`` (or ``near``: an estimate within 10 % of a limit) the
arch is also exported and run in the real TFLite Micro interpreter, and the measured figures decide.
Archs of the ``mcu`` space (``C16-N2-S1:|...|``, :mod:`search_spaces.mcu.space`) are checked the same way
over their own op graph (:func:`automcu.hardware.mcu.estimate_mcu`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from agents.messages import FeasibilityReport, FeasibilityRequest, Violation
from automcu.hardware.estimator import Estimate, Macro, estimate, estimate_all
from automcu.hardware.spec import HardwareSpec
from search_spaces.nb201.space import Arch, parse_arch

#: an estimate this close to a limit (fraction of the limit) counts as "near" for verify="near"
NEAR_MARGIN = 0.10


class VerificationUnavailable(RuntimeError):
    """The real-interpreter check was asked for but its optional dependencies are missing."""


def macro_for(dataset: str) -> Macro:
    """The benchmark macro of a lookup dataset; a real-data name: the net the training evaluator builds."""
    from automcu.data.realdata import real_dataset_name, search_macro

    if real_dataset_name(dataset) is not None:
        return search_macro(dataset)
    try:
        return Macro.for_dataset(dataset)
    except ValueError:
        return Macro()


def _flash_layer(est: Estimate) -> str:
    return f"model weights {est.flash.get('model_total', 0):,} B + runtime code {est.flash.get('runtime_code', 0):,} B"


def _violations(est: Estimate, hw: HardwareSpec | None, max_latency_ms: float | None,
                measured: dict[str, Any] | None) -> tuple[list[Violation], dict[str, float]]:
    out: list[Violation] = []
    margins: dict[str, float] = {}
    checks: list[tuple[str, float, float, str, str | None]] = []
    if hw is not None:
        flash = float(measured["flash_bytes"]) + est.flash.get("runtime_code", 0) if measured else est.flash_bytes
        sram = (float(measured["arena_bytes"]) + est.sram.get("runtime", 0)) if measured else est.peak_sram_bytes
        checks.append(("flash", flash, hw.flash_bytes, "bytes", _flash_layer(est)))
        checks.append(("sram", sram, hw.sram_bytes, "bytes", est.peak_layer))
    if max_latency_ms is not None:
        checks.append(("latency", est.latency_ms, max_latency_ms, "ms", est.slowest_layer))
    for resource, value, limit, unit, layer in checks:
        if value > limit:
            out.append(Violation(resource=resource, value=value, limit=limit, excess=value - limit,  # type: ignore[arg-type]
                                 unit=unit, layer=layer))
        margins[resource] = (limit - value) / limit
    return out, margins


def _near(est: Estimate, hw: HardwareSpec | None, max_latency_ms: float | None) -> bool:
    pairs: list[tuple[float, float]] = []
    if hw is not None:
        pairs += [(est.flash_bytes, hw.flash_bytes), (est.peak_sram_bytes, hw.sram_bytes)]
    if max_latency_ms is not None:
        pairs.append((est.latency_ms, max_latency_ms))
    return any(abs(limit - value) <= NEAR_MARGIN * limit for value, limit in pairs)


def _verify(arch: Arch, macro: Macro, hw: HardwareSpec | None) -> dict[str, Any]:
    try:
        from automcu.deploy.verify import verify_arch

        res = verify_arch(arch, macro, hw)
    except ImportError as exc:  # the module or its optional deps (raised on import or, lazily, on call)
        raise VerificationUnavailable(
            "verification in TensorFlow Lite Micro needs the optional extras: "
            "pip install 'automcu[train,tflite]' (torch CPU build first, see README) "
            f"[{exc}]"
        ) from exc
    return {
        "arena_bytes": int(res.arena_bytes),
        "flash_bytes": int(res.flash_bytes),
        "fits": bool(res.fits) if getattr(res, "fits", None) is not None else None,
        "source": "tflite_micro",
    }


class FeasibilityAgent:
    """Checks one arch against one hardware target and optional latency budget."""

    name = "feasibility"

    @staticmethod
    def feasible_set(dataset: str, hardware: HardwareSpec | None, max_latency_ms: float | None = None) -> np.ndarray:
        """Every arch (official index) the estimator says fits; see :func:`feasible_set`."""
        return feasible_set(dataset, hardware, max_latency_ms)

    def check(self, req: FeasibilityRequest) -> FeasibilityReport:
        from search_spaces.nb201.index import index_of

        if req.arch[:1] == "C":  # the mcu space's grammar (C<channels>-N<cells>-S<stride>:<cell>)
            return _check_mcu(req)
        arch = parse_arch(req.arch)
        index = index_of(arch)
        if req.verify == "none":
            fast = _report_from_space(arch.to_string(), index, req)
            if fast is not None:
                return fast
        macro = macro_for(req.dataset)
        est = estimate(arch, req.hardware, macro)
        verified: dict[str, Any] | None = None
        if req.verify == "all" or (req.verify == "near" and _near(est, req.hardware, req.max_latency_ms)):
            verified = _verify(arch, macro, req.hardware)
        violations, margins = _violations(est, req.hardware, req.max_latency_ms, verified)
        return FeasibilityReport(
            arch=arch.to_string(),
            index=index,
            feasible=not violations,
            violations=violations,
            margins=margins if not violations else {},
            flash_bytes=int(est.flash_bytes),
            peak_sram_bytes=int(est.peak_sram_bytes),
            latency_ms=float(est.latency_ms),
            macs=int(est.macs),
            params=int(est.params),
            verified=verified,
        )


def _check_mcu(req: FeasibilityRequest) -> FeasibilityReport:
    """An ``mcu``-space arch (:mod:`search_spaces.mcu.space`): the estimator over its own op graph on the
    dataset's input; ``index`` is the arch's dense code in that space (there is no official index)."""
    from automcu.hardware.mcu import estimate_mcu
    from search_spaces.mcu.space import parse_mcu_arch

    arch = parse_mcu_arch(req.arch)
    m = macro_for(req.dataset)
    est = estimate_mcu(arch, req.hardware, m.in_ch, m.hw, m.classes)
    verified: dict[str, Any] | None = None
    if req.verify == "all" or (req.verify == "near" and _near(est, req.hardware, req.max_latency_ms)):
        try:
            from automcu.deploy.verify_mcu import measured_dict, verify_mcu_arch

            verified = measured_dict(verify_mcu_arch(arch, req.hardware, m.in_ch, m.hw, m.classes))
        except ImportError as exc:
            raise VerificationUnavailable(
                "verification in TensorFlow Lite Micro needs the optional extras: "
                f"pip install 'automcu[train,tflite]' [{exc}]"
            ) from exc
    violations, margins = _violations(est, req.hardware, req.max_latency_ms, verified)
    return FeasibilityReport(
        arch=arch.to_string(), index=arch.code, feasible=not violations, violations=violations,
        margins=margins if not violations else {}, flash_bytes=int(est.flash_bytes),
        peak_sram_bytes=int(est.peak_sram_bytes), latency_ms=float(est.latency_ms), macs=int(est.macs),
        params=int(est.params), verified=verified,
    )


_checked: dict[str, FeasibilityReport] = {}
CHECKED_CACHE_SIZE = 50_000


def checked(agent: FeasibilityAgent, request: FeasibilityRequest) -> FeasibilityReport:
    """The agent's report for this request, computed once per process and reused (jobs, resumes, workers)."""
    key = request.model_dump_json()
    report = _checked.get(key)
    if report is None:
        report = agent.check(request)
        if len(_checked) >= CHECKED_CACHE_SIZE:
            _checked.clear()
        _checked[key] = report
    return report


def _report_from_space(arch: str, index: int, req: FeasibilityRequest) -> FeasibilityReport | None:
    """The report of an arch that fits, read from the whole-space estimate (one vectorized sweep per target,
    figures identical to :func:`estimate`); None when it does not fit, so the full per-arch estimate names
    the layer responsible for each violation."""
    hw_json = req.hardware.model_dump_json() if req.hardware is not None else None
    figures = _space_figures(hw_json, req.dataset)
    flash, sram, latency = (float(figures[k][index]) for k in ("flash_bytes", "peak_sram_bytes", "latency_ms"))
    margins: dict[str, float] = {}
    if req.hardware is not None:
        margins["flash"] = (req.hardware.flash_bytes - flash) / req.hardware.flash_bytes
        margins["sram"] = (req.hardware.sram_bytes - sram) / req.hardware.sram_bytes
    if req.max_latency_ms is not None:
        margins["latency"] = (req.max_latency_ms - latency) / req.max_latency_ms
    if any(m < 0 for m in margins.values()):
        return None
    return FeasibilityReport(arch=arch, index=index, feasible=True, violations=[], margins=margins,
                             flash_bytes=int(flash), peak_sram_bytes=int(sram), latency_ms=latency,
                             macs=int(figures["macs"][index]), params=int(figures["params"][index]), verified=None)


@lru_cache(maxsize=64)
def _space_figures(hardware_json: str | None, dataset: str) -> dict[str, np.ndarray]:
    hardware = HardwareSpec.model_validate_json(hardware_json) if hardware_json is not None else None
    return estimate_all(hardware, macro_for(dataset))


def feasible_mask(hardware: HardwareSpec | None, max_latency_ms: float | None = None,
                  dataset: str = "cifar10") -> np.ndarray:
    """Boolean mask over the whole space (official index order): which archs fit (a fresh copy)."""
    return _cached_mask(hardware.model_dump_json() if hardware is not None else None, max_latency_ms, dataset).copy()


def feasible_set(dataset: str, hardware: HardwareSpec | None, max_latency_ms: float | None = None) -> np.ndarray:
    """Official indices (ascending) of every arch the estimator says fits: one vectorized sweep, cached
    per board + limits + dataset. The array is read-only (shared by every caller)."""
    return _cached_indices(hardware.model_dump_json() if hardware is not None else None, max_latency_ms, dataset)


@lru_cache(maxsize=64)
def _cached_indices(hardware_json: str | None, max_latency_ms: float | None, dataset: str) -> np.ndarray:
    out = np.flatnonzero(_cached_mask(hardware_json, max_latency_ms, dataset))
    out.setflags(write=False)
    return out


@lru_cache(maxsize=64)
def _cached_mask(hardware_json: str | None, max_latency_ms: float | None, dataset: str) -> np.ndarray:
    hardware = HardwareSpec.model_validate_json(hardware_json) if hardware_json is not None else None
    figures = _space_figures(hardware_json, dataset)
    mask = np.ones(len(figures["flash_bytes"]), dtype=bool)
    if hardware is not None:
        mask &= figures["flash_bytes"] <= hardware.flash_bytes
        mask &= figures["peak_sram_bytes"] <= hardware.sram_bytes
    if max_latency_ms is not None:
        mask &= figures["latency_ms"] <= max_latency_ms
    return mask
