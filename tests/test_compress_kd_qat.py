"""The pipeline with a checkpoint teacher (KD + no-KD baseline) and QAT on digits: every figure filled in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("litert_torch")
pytest.importorskip("ai_edge_quantizer")
pytest.importorskip("tflite_micro")
pytest.importorskip("onnx")

from automcu.compress.pipeline import contract_summary, run_compress  # noqa: E402
from automcu.compress.request import CompressRequest  # noqa: E402
from automcu.compress.teacher import TeacherError  # noqa: E402
from automcu.data import load_dataset  # noqa: E402
from automcu.hardware.catalog import get_board  # noqa: E402
from automcu.train.checkpoint import save_checkpoint  # noqa: E402
from automcu.train.config import TrainConfig  # noqa: E402
from automcu.train.loop import train_model  # noqa: E402
from search_spaces.nb201.torch_model import build_model  # noqa: E402

pytestmark = [pytest.mark.tflm, pytest.mark.slow]
STUDENT = "|nor_conv_1x1~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"
TEACHER = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def _teacher_checkpoint(path: Path, classes: int = 10) -> Path:
    ds = load_dataset("digits", seed=0)
    norm = ds.normalization()
    torch.manual_seed(0)
    model = build_model(TEACHER, C=8, N=1, in_ch=1, classes=classes)
    train_model(model, norm.apply(ds.x_train), ds.y_train, TrainConfig(epochs=3, lr=0.1, seed=0), progress=False)
    return save_checkpoint(path, model, TEACHER, {"C": 8, "N": 1, "in_ch": 1, "hw": 8, "classes": classes})


def test_kd_from_checkpoint_and_qat(tmp_path: Path) -> None:
    ckpt = _teacher_checkpoint(tmp_path / "teacher.pt")
    req = CompressRequest(arch=STUDENT, dataset="digits", out_dir=tmp_path / "b", hardware=get_board("nrf52840"),
                          C=4, N=1, epochs=3, lr=0.1, teacher=str(ckpt), kd_beta=0.5, qat=True, qat_epochs=1,
                          progress=False)
    report = run_compress(req)
    kd, qat = report["kd"], report["qat"]
    assert kd["teacher"]["kind"] == "checkpoint" and kd["teacher"]["test_acc"] > 80.0
    assert kd["kd_gain"] == pytest.approx(kd["student_kd_acc"] - kd["student_no_kd_acc"])
    assert qat is not None and report["deployed"] == "qat" and report["int8_acc"] == qat["int8_acc"]
    assert report["ptq"]["int8_acc"] > 70.0 and qat["int8_acc"] > 70.0
    summary = contract_summary(report)
    assert summary["kd_gain"] is not None and summary["qat_int8_acc"] is not None
    saved = json.loads((tmp_path / "b" / "report.json").read_text())
    assert saved["kd"]["kd_gain"] == pytest.approx(kd["kd_gain"])
    md = (tmp_path / "b" / "report.md").read_text()
    assert "Knowledge distillation" in md and "int8 QAT" in md


def test_teacher_checkpoint_must_match_the_dataset(tmp_path: Path) -> None:
    ds = load_dataset("digits", seed=0)
    model = build_model(TEACHER, C=4, N=1, in_ch=3, classes=10)
    ckpt = save_checkpoint(tmp_path / "rgb.pt", model, TEACHER, {"C": 4, "N": 1, "in_ch": 3, "hw": 8, "classes": 10})
    req = CompressRequest(arch=STUDENT, dataset="digits", out_dir=tmp_path / "never", teacher=str(ckpt),
                          progress=False)
    with pytest.raises(TeacherError, match="3 channels"):
        run_compress(req)
    assert not (tmp_path / "never").exists() and ds.n_classes == 10
