"""The planner's last step when a job asks for it: hand the winner to the compression backend.

Runs in the process that ran the search, after the budget is spent and before the job is marked
succeeded: the winner is trained on the job's real dataset (optionally distilled), quantized to
int8, exported and measured in TFLite Micro; the bundle lands in ``<data dir>/artifacts/<job id>``
and is recorded on the job (downloadable through the API by file name). A failure is recorded as a
``compress_failed`` event; the search result stands. Killed mid-way, a resume runs it again.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

from automcu.core.config import Settings
from automcu.hardware.spec import HardwareSpec
from automcu.jobs.spec import CompressSpec
from automcu.storage.db import Database
from automcu.storage.models import Job
from automcu.storage.repository import add_event, best_candidate, candidates_of, record_artifacts


def artifacts_dir(settings: Settings, job_id: str) -> Path:
    return Path(settings.data_dir) / "artifacts" / job_id


def compress_winner(db: Database, job: Job, settings: Settings) -> dict[str, Any] | None:
    """Run the backend on the job's best candidate; the contract summary, or None when it failed."""
    from automcu.compress.pipeline import contract_summary, run_compress
    from automcu.compress.request import CompressRequest
    from automcu.data.realdata import TRAIN_C, TRAIN_N

    spec = CompressSpec(**(job.compress or {}))
    best = best_candidate(candidates_of(db, job.id))
    if best is None:
        _failed(db, job.id, "no evaluated candidate to compress")
        return None
    hardware = HardwareSpec(**job.hardware) if job.hardware else None
    try:
        req = CompressRequest(
            arch=best.arch, dataset=job.dataset, out_dir=artifacts_dir(settings, job.id), hardware=hardware,
            data_path=spec.data_path or job.data_path, C=TRAIN_C, N=TRAIN_N, epochs=spec.epochs, seed=job.seed,
            teacher=spec.teacher, teacher_weighting=spec.teacher_weighting, label_mix=spec.label_mix,
            feature_kd=spec.feature_kd, soup=spec.soup, label_smoothing=spec.label_smoothing,
            best_checkpoint=spec.best_checkpoint, qat=spec.qat, precision=spec.precision,
            mixed_tolerance=spec.mixed_tolerance, train_limit=spec.train_limit,
            test_limit=spec.test_limit,
            job_id=job.id, progress=False)
        with contextlib.redirect_stdout(sys.stderr):  # converter chatter
            report = run_compress(req)
    except Exception as exc:  # any backend failure: recorded, the search result stands
        _failed(db, job.id, f"{type(exc).__name__}: {exc}")
        return None
    summary = contract_summary(report)
    record_compress_result(db, job.id, report, summary, arch=best.arch)
    return summary


def record_compress_result(db: Database, job_id: str, report: dict[str, Any], summary: dict[str, Any],
                           **extra: Any) -> None:
    """The bundle's files on the job (nested under ``compress``: the API serves each by its own name,
    ``GET /jobs/{id}/artifacts/model.tflite``) and a ``compressed`` event with the headline figures."""
    event = {k: summary[k] for k in ("float_acc", "int8_acc", "kd_gain", "flash_bytes", "arena_bytes", "fits")}
    record_artifacts(db, job_id, {"compress": dict(report["artifacts"])}, {**event, **extra})


def _failed(db: Database, job_id: str, error: str) -> None:
    with db.transaction() as s:
        add_event(s, job_id, "compress_failed", error=error[:2000])


def handoff_outcome(db: Database, job_id: str) -> dict[str, Any] | None:
    """What the last hand-off of the job gave: the ``compressed`` figures or the ``compress_failed`` error."""
    from automcu.storage.repository import events_of

    for ev in reversed(events_of(db, job_id)):
        if ev.kind == "compressed":
            return {"status": "compressed", **ev.payload}
        if ev.kind == "compress_failed":
            return {"status": "failed", **ev.payload}
    return None
