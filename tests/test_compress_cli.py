"""End to end: a real search's winner → `automcu compress --job` on digits → bundle checked file by file,
with the int8 accuracy re-measured here in TFLite Micro."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("litert_torch")
pytest.importorskip("ai_edge_quantizer")
pytest.importorskip("tflite_micro")
pytest.importorskip("onnx")

from automcu.cli.app import app
from automcu.compress.c_array import parse_c_array
from automcu.data import load_dataset
from automcu.deploy.exporter import to_nhwc
from automcu.deploy.tflm import TFLMModel
from automcu.engine.planner import run_job
from automcu.jobs.spec import JobSpec
from automcu.storage.db import open_database
from automcu.storage.repository import create_job, get_job

pytestmark = [pytest.mark.tflm, pytest.mark.slow]

BUNDLE = ("model.tflite", "model.onnx", "model_data.cc", "model_data.h", "ops.json", "op_resolver.inc", "io.json",
          "reference.json", "report.json", "report.md", "model.pt")


@pytest.fixture(scope="module")
def compressed(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("compress")
    url = f"sqlite:///{tmp / 'automcu.db'}"
    db = open_database(url)
    spec = JobSpec(dataset="cifar10", board="STM32F411", budget=6, seed=0)
    job = create_job(db, spec, spec.resolve_hardware())
    run_job(db, job.id)
    out = tmp / "bundle"
    res = CliRunner().invoke(app, ["compress", "--job", job.id, "--db", url, "--dataset", "digits", "--epochs", "4",
                                   "--C", "8", "--out", str(out), "--quiet", "--json"])
    assert res.exit_code == 0, res.output
    return db, job.id, out, json.loads(res.stdout)


def test_contract_json_and_bundle_files(compressed) -> None:  # type: ignore[no-untyped-def]
    _, _, out, summary = compressed
    for key in ("float_acc", "int8_acc", "int8_acc_source", "kd_gain", "flash_bytes", "arena_bytes", "fits"):
        assert key in summary
    assert summary["int8_acc_source"] == "tflite_micro" and summary["kd_gain"] is None
    assert set(summary["artifacts"]) >= {"tflite", "onnx", "report"}
    for name in BUNDLE:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    tflite = (out / "model.tflite").read_bytes()
    assert summary["flash_bytes"] == len(tflite)
    assert parse_c_array((out / "model_data.cc").read_text()) == tflite
    assert f"g_model_len = {len(tflite)}" in (out / "model_data.h").read_text()
    assert "alignas(16)" in (out / "model_data.cc").read_text()
    ops = json.loads((out / "ops.json").read_text())
    assert "CONV_2D" in ops["ops"] and ops["resolver_size"] == len(ops["ops"])
    assert "AddConv2D()" in (out / "op_resolver.inc").read_text()
    import onnx

    onnx.checker.check_model(onnx.load(str(out / "model.onnx")))
    report = json.loads((out / "report.json").read_text())
    assert report["deployed"] == "ptq" and report["arena_bytes"] > 0 and isinstance(report["fits"], bool)
    assert "TensorFlow Lite Micro" in (out / "report.md").read_text()


def test_int8_accuracy_is_the_one_tflm_measures(compressed) -> None:  # type: ignore[no-untyped-def]
    _, _, out, summary = compressed
    io = json.loads((out / "io.json").read_text())
    ds = load_dataset("digits", seed=0)
    mean = np.asarray(io["preprocessing"]["mean"], np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(io["preprocessing"]["std"], np.float32).reshape(1, -1, 1, 1)
    x = to_nhwc((ds.x_test - mean) / std)
    model = TFLMModel((out / "model.tflite").read_bytes())
    assert list(model.input_shape) == io["input"]["shape"] == [1, 8, 8, 1]
    scale, zp = io["input"]["scale"], io["input"]["zero_point"]
    preds = []
    for sample in x:
        q = np.clip(np.round(sample / scale) + zp, -128, 127).astype(np.int8)
        preds.append(int(np.argmax(model.invoke(q[None]))))
    acc = 100.0 * float(np.mean(np.asarray(preds) == ds.y_test))
    assert acc == pytest.approx(summary["int8_acc"], abs=0.01)
    assert acc > 80.0  # a trained model, far above chance (10 %)
    assert abs(summary["float_acc"] - summary["int8_acc"]) < 3.0


def test_reference_pairs_reproduce_in_tflm(compressed) -> None:  # type: ignore[no-untyped-def]
    _, _, out, _ = compressed
    pairs = json.loads((out / "reference.json").read_text())["pairs"]
    model = TFLMModel((out / "model.tflite").read_bytes())
    assert len(pairs) == 4
    for p in pairs:
        q_in = np.asarray(p["input_int8"], np.int8).reshape(model.input_shape)
        assert model.invoke(q_in).reshape(-1).astype(int).tolist() == p["output_int8"]


def test_bundle_is_recorded_on_the_job(compressed) -> None:  # type: ignore[no-untyped-def]
    db, job_id, out, _ = compressed
    job = get_job(db, job_id)
    arts = (job.artifacts or {})["compress"]
    assert arts["model.tflite"] == str(out / "model.tflite") and arts["report.json"] == str(out / "report.json")
    from api.crud import artifact_paths

    listed = artifact_paths(job)  # what GET /jobs/{id}/artifacts/{name} serves
    assert listed["model.tflite"] == str(out / "model.tflite") and "model_data.cc" in listed


def test_the_bundles_float_network_teaches_a_later_run(compressed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``model.pt`` is the float network the report measured: a later run loads it as its teacher, untrained."""
    _, _, out, summary = compressed
    res = CliRunner().invoke(app, ["compress", "--arch", summary["arch"], "--dataset", "digits", "--epochs", "2",
                                   "--C", "4", "--teacher", str(out / "model.pt"), "--no-kd-compare",
                                   "--out", str(tmp_path / "student"), "--quiet", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "student" / "report.json").read_text())
    teacher = report["kd"]["teachers"][0]
    assert teacher["kind"] == "checkpoint" and teacher["arch"] == summary["arch"]
    assert teacher["test_acc"] == pytest.approx(summary["float_acc"], abs=0.01)  # the same network, not retrained
    assert teacher["extra"]["float_acc"] == pytest.approx(summary["float_acc"], abs=0.01)


def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "never"
    runner = CliRunner()
    res = runner.invoke(app, ["compress", "--arch", "1", "--dataset", "fashion-mnist", "--data",
                              str(tmp_path / "absent"), "--out", str(out), "--quiet"])
    assert res.exit_code == 2 and "no such folder" in res.output and not out.exists()
    res = runner.invoke(app, ["compress", "--arch", "1", "--job", "x", "--dataset", "digits", "--out", str(out)])
    assert res.exit_code == 2 and "not both" in res.output
    res = runner.invoke(app, ["compress", "--job", "nosuchjob", "--dataset", "digits", "--out", str(out),
                              "--db", f"sqlite:///{tmp_path / 'db.sqlite'}"])
    assert res.exit_code == 2 and "nosuchjob" in res.output and not out.exists()
