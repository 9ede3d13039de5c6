"""Int8 Flash / peak SRAM / latency of one arch on a board or custom spec, as `automcu estimate --json`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from agents.messages import FeasibilityRequest
from api.deps import PrincipalDep
from api.errors import validation_error
from api.schemas import EstimateOut, EstimateRequest
from automcu.jobs.spec import JobSpec

router = APIRouter(tags=["estimate"])


@router.post("/estimate", response_model=EstimateOut,
             responses={422: {"description": "unknown arch, board or dataset"}})
def estimate(body: EstimateRequest, _principal: PrincipalDep) -> EstimateOut:
    """Check one arch against the hardware (no hardware given: every figure, nothing to violate)."""
    from agents.feasibility import FeasibilityAgent
    from search_spaces.nb201.space import ArchError, parse_arch

    try:
        arch = parse_arch(body.arch).to_string()
    except (ArchError, ValueError, IndexError) as exc:
        raise validation_error(("body", "arch"), str(exc)) from None
    try:
        spec = JobSpec(dataset=body.dataset, board=body.board, hardware=body.hardware)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
    try:
        hardware = spec.resolve_hardware(board_files=False)  # catalog names only, no server files
    except ValueError as exc:
        raise validation_error(("body", "board" if body.board else "hardware"), str(exc)) from None
    report = FeasibilityAgent().check(FeasibilityRequest(
        arch=arch, dataset=spec.dataset, hardware=hardware, max_latency_ms=body.max_latency_ms))
    return EstimateOut(
        arch=report.arch, index=report.index, flash_bytes=report.flash_bytes,
        peak_sram_bytes=report.peak_sram_bytes, latency_ms=report.latency_ms, macs=report.macs,
        params=report.params, feasible=report.feasible,
        violations=[{**v.model_dump(), "message": v.describe()} for v in report.violations],
    )
