"""`automcu compress --baseline`: the DS-CNN baseline scaled to a board, trained, int8, measured in TFLite Micro."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("litert_torch")
pytest.importorskip("ai_edge_quantizer")
pytest.importorskip("tflite_micro")
pytest.importorskip("onnx")

from automcu.cli.app import app
from automcu.hardware.baseline import scale_dscnn
from automcu.hardware.catalog import resolve_hardware

pytestmark = [pytest.mark.tflm, pytest.mark.slow]


def test_baseline_on_digits_fits_the_f411_class_budget(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    res = CliRunner().invoke(app, ["compress", "--baseline", "--dataset", "digits", "--board", "stm32f411",
                                   "--sram-kb", "64", "--flash-kb", "256", "--epochs", "4", "--lr", "0.1",
                                   "--batch-size", "64", "--best-checkpoint", "--out", str(out), "--quiet",
                                   "--json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    assert s["int8_acc_source"] == "tflite_micro" and s["fits"] is True
    assert s["int8_acc"] > 60.0  # digits after 4 epochs, well above chance (10 %)
    assert s["sram_total_bytes"] <= 64 * 1024 and s["flash_total_bytes"] <= 256 * 1024
    report = json.loads((out / "report.json").read_text())
    hw = resolve_hardware("stm32f411", sram_kb=64, flash_kb=256)
    assert hw is not None
    spec, _ = scale_dscnn(hw, in_ch=1, hw=8, classes=10)
    assert report["baseline"]["name"] == spec.name == s["arch"]
    # the estimate the scaling relied on against the measured model
    assert abs(report["estimate"]["flash_model_bytes"] - s["flash_bytes"]) / s["flash_bytes"] < 0.01
    for name in ("model.tflite", "model.onnx", "report.md"):
        assert (out / name).is_file()
    # --best-checkpoint: a tenth of the training images held out, never trained on; the kept epoch is one of 4
    best = report["best_checkpoint"]
    assert best["epochs"] == 4 and 1 <= best["epoch"] <= 4 and best["chosen_on"] == "validation split"
    assert best["n_val"] == report["samples"]["val"] > 0
    assert abs(best["n_val"] - 0.1 * (report["samples"]["train"] + best["n_val"])) <= 1


def test_baseline_flag_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "never"
    res = runner.invoke(app, ["compress", "--baseline", "--arch", "1", "--dataset", "digits", "--board",
                              "stm32f411", "--out", str(out)])
    assert res.exit_code == 2 and "without --job/--arch" in res.output
    res = runner.invoke(app, ["compress", "--baseline", "--dataset", "digits", "--out", str(out)])
    assert res.exit_code == 2 and "scaled to a board" in res.output and not out.exists()
    res = runner.invoke(app, ["compress", "--baseline", "--dataset", "digits", "--sram-kb", "2", "--flash-kb", "8",
                              "--clock-mhz", "64", "--core", "cortex-m0plus", "--out", str(out), "--quiet"])
    assert res.exit_code == 2 and "no DS-CNN" in res.output
    for extra in (["--teacher", "1"], ["--soup", "2"]):
        res = runner.invoke(app, ["compress", "--baseline", "--dataset", "digits", "--board", "stm32f411",
                                  "--out", str(out), "--quiet", *extra])
        assert res.exit_code == 2 and "do not apply" in res.output and not out.exists()
