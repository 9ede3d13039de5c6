"""The planner hands a real-data winner to the compression backend when the job asks for it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from automcu.core.config import get_settings
from automcu.engine.handoff import handoff_outcome
from automcu.engine.planner import run_job
from automcu.jobs.spec import JobSpec
from automcu.storage.db import open_database
from automcu.storage.repository import best_candidate, candidates_of, create_job, get_job


def test_compress_needs_real_images() -> None:
    with pytest.raises(ValueError, match="ImageNet16-120 is lookup-only"):
        JobSpec(dataset="ImageNet16-120", compress={})
    with pytest.raises(ValueError, match=r"compress\.data_path"):
        JobSpec(dataset="cifar10", compress={"epochs": 2})
    assert JobSpec(dataset="cifar10", compress={"data_path": "/data/cifar-10-batches-py"}).compress is not None
    with pytest.raises(ValueError):
        JobSpec(dataset="digits", compress={"epochs": 0})


def test_the_compress_body_takes_the_backends_methods_and_refuses_what_does_not_fit() -> None:
    teachers = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
                "C16-N1-S1:|nor_conv_3x3~0|+|dw_sep_conv_3x3~0|skip_connect~1|+|skip_connect~0|none~1|skip_connect~2|"]
    spec = JobSpec(dataset="digits", compress={"teacher": teachers, "teacher_weighting": "entropy",
                                               "label_mix": "auto", "feature_kd": True, "soup": 2})
    assert spec.compress is not None and spec.compress.label_mix == "0.5:0.1" and spec.compress.soup == 2
    for body, words in (({"teacher_weighting": "entropy", "teacher": teachers[0]}, "at least two"),
                        ({"label_mix": "0.3"}, "give a teacher"), ({"feature_kd": True}, "give a teacher"),
                        ({"teacher": teachers[0], "label_mix": "lots"}, "label-mix"), ({"soup": 1}, "N >= 2"),
                        ({"soup": 9}, "less than or equal"), ({"teacher": teachers * 3}, "at most 4"),
                        ({"teachers": teachers}, "Extra inputs"), ({"precision": "int4"}, "int8"),
                        ({"mixed_tolerance": 1.0}, "precision mixed only")):
        with pytest.raises(ValueError, match=words):
            JobSpec(dataset="digits", compress=body)


def _compressed_search(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: JobSpec
                       ) -> tuple[Any, str, dict[str, Any]]:
    """Run ``spec`` (a job with ``compress``) to the end: the database, the job id and its hand-off outcome,
    checked to be a succeeded search whose winner was compressed."""
    for mod in ("torch", "sklearn", "litert_torch", "ai_edge_quantizer", "tflite_micro"):
        pytest.importorskip(mod)
    monkeypatch.setenv("AUTOMCU_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    db = open_database(db_url)
    job = create_job(db, spec, spec.resolve_hardware())
    run_job(db, job.id)
    assert get_job(db, job.id).status == "succeeded"
    outcome = handoff_outcome(db, job.id)
    assert outcome is not None and outcome["status"] == "compressed", outcome
    return db, job.id, outcome


@pytest.mark.tflm
def test_an_mcu_search_ends_with_its_winner_compressed(db_url: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    spec = JobSpec(dataset="digits", space="mcu", board="STM32F411", budget=2, epochs=1, seed=0,
                   proposer="random", compress={"epochs": 3, "precision": "mixed", "mixed_tolerance": 0.5})
    db, job_id, outcome = _compressed_search(db_url, tmp_path, monkeypatch, spec)
    assert outcome["arch"] == best_candidate(candidates_of(db, job_id)).arch and outcome["arch"].startswith("C")
    files = get_job(db, job_id).artifacts["compress"]
    assert Path(files["model.tflite"]).is_file()
    report = json.loads(Path(files["report.json"]).read_text())  # the body's precision reached the backend
    assert report["precision"]["mode"] == "mixed" and report["precision"]["tolerance_pp"] == 0.5
    assert 10 < outcome["int8_acc"] <= 100


@pytest.mark.tflm
def test_search_ends_with_the_winner_compressed_and_recorded(db_url: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    spec = JobSpec(dataset="digits", board="nRF52840", budget=2, epochs=2, seed=0, proposer="random",
                   compress={"epochs": 2, "label_smoothing": 0.1, "best_checkpoint": True})
    db, job_id, outcome = _compressed_search(db_url, tmp_path, monkeypatch, spec)
    final = get_job(db, job_id)
    assert outcome["arch"] == best_candidate(candidates_of(db, job_id)).arch
    files = final.artifacts["compress"]
    assert Path(files["model.tflite"]).is_file() and Path(files["report.json"]).is_file()
    assert Path(files["model.tflite"]).parent == tmp_path / "artifacts" / job_id
    assert 10 < outcome["int8_acc"] <= 100 and outcome["fits"] is True
    report = json.loads(Path(files["report.json"]).read_text())  # the body's recipe reached the backend
    assert report["request"]["label_smoothing"] == 0.1 and report["best_checkpoint"]["epoch"] in (1, 2)
