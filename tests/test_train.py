"""Trainer, distillation losses, QAT fake-quant and checkpoints (small nets on digits; seconds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from automcu.data import load_dataset  # noqa: E402
from automcu.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint  # noqa: E402
from automcu.train.config import KDConfig, TrainConfig  # noqa: E402
from automcu.train.distill import Distiller, cosine_feature_loss, feature_width, kd_kl  # noqa: E402
from automcu.train.loop import train_model  # noqa: E402
from automcu.train.metrics import evaluate  # noqa: E402
from automcu.train.qat import finish_qat, prepare_qat  # noqa: E402
from search_spaces.nb201.torch_model import build_model  # noqa: E402

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


@pytest.fixture(scope="module")
def digits():  # type: ignore[no-untyped-def]
    ds = load_dataset("digits", seed=0).subset(600, 300, seed=0)
    norm = ds.normalization()
    return norm.apply(ds.x_train), ds.y_train, norm.apply(ds.x_test), ds.y_test


def small(seed: int = 0, C: int = 4):  # type: ignore[no-untyped-def]
    torch.manual_seed(seed)
    return build_model(ARCH, C=C, N=1, in_ch=1, classes=10)


def test_training_learns_and_is_seeded(digits) -> None:  # type: ignore[no-untyped-def]
    x, y, xt, yt = digits
    cfg = TrainConfig(epochs=3, batch_size=64, lr=0.1, seed=3, threads=1)
    a, b = small(), small()
    ra = train_model(a, x, y, cfg, x_test=xt, y_test=yt, progress=False)
    train_model(b, x, y, cfg, progress=False)
    assert ra.final_test_acc is not None and ra.final_test_acc > 60.0  # chance is 10 %
    assert ra.history[-1].loss < ra.history[0].loss
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb)  # same seed → identical weights


def test_kd_kl_is_zero_for_equal_logits_and_positive_otherwise() -> None:
    s = torch.randn(8, 10)
    assert float(kd_kl(s, s.clone(), 4.0)) == pytest.approx(0.0, abs=1e-6)
    t = torch.randn(8, 10)
    p_t = torch.softmax(t / 2.0, 1)
    manual = (p_t * (torch.log(p_t) - torch.log_softmax(s / 2.0, 1))).sum(1).mean() * 4.0
    assert float(kd_kl(s, t, 2.0)) == pytest.approx(float(manual), rel=1e-5)
    f = torch.randn(5, 6)
    assert float(cosine_feature_loss(f, 3.0 * f)) == pytest.approx(0.0, abs=1e-6)
    assert float(cosine_feature_loss(f, -f)) == pytest.approx(2.0, abs=1e-6)


def test_distillation_trains_student_towards_teacher(digits) -> None:  # type: ignore[no-untyped-def]
    x, y, xt, yt = digits
    teacher = small(1, C=8)
    train_model(teacher, x, y, TrainConfig(epochs=3, batch_size=64, lr=0.1, seed=1), progress=False)
    student = small(2)
    kd = KDConfig(temperature=3.0, alpha=0.8, beta=0.5)
    distiller = Distiller(teacher, kd, feature_width(student), feature_width(teacher))
    assert distiller.project is not None
    before = distiller.project.weight.detach().clone()
    t_before = [p.detach().clone() for p in teacher.parameters()]
    res = train_model(student, x, y, TrainConfig(epochs=3, batch_size=64, lr=0.1, seed=2), x_test=xt, y_test=yt,
                      distiller=distiller, progress=False)
    assert res.final_test_acc is not None and res.final_test_acc > 50.0
    assert not torch.equal(before, distiller.project.weight)  # the projection is trained
    assert all(torch.equal(a, b) for a, b in zip(t_before, teacher.parameters(), strict=True))  # teacher frozen
    with pytest.raises(ValueError):
        KDConfig(alpha=1.5)


def test_qat_snaps_weights_to_per_channel_int8_grid(digits) -> None:  # type: ignore[no-untyped-def]
    x, y, xt, yt = digits
    model = small(4)
    train_model(model, x, y, TrainConfig(epochs=2, batch_size=64, lr=0.1, seed=4), progress=False)
    float_acc = evaluate(model, xt, yt)
    handle = prepare_qat(model)
    assert len(handle.observers) > 5
    train_model(model, x, y, TrainConfig(epochs=1, batch_size=64, lr=0.01, seed=5), progress=False)
    fq_acc = evaluate(model, xt, yt)
    finish_qat(handle)
    assert not any(k.startswith("parametrizations") for k in model.state_dict())
    conv = model.stem[0]
    w = conv.weight.detach().reshape(conv.weight.shape[0], -1)
    scale = w.abs().amax(1, keepdim=True) / 127.0
    q = w / scale
    assert torch.allclose(q, q.round(), atol=1e-3)  # every weight sits on its channel's int8 grid
    assert abs(evaluate(model, xt, yt) - fq_acc) < 5.0 and float_acc > 30.0


def test_checkpoint_round_trip_and_errors(tmp_path: Path, digits) -> None:  # type: ignore[no-untyped-def]
    x, _, xt, _ = digits
    model = small(6).eval()
    path = save_checkpoint(tmp_path / "m.pt", model, ARCH, {"C": 4, "N": 1, "in_ch": 1, "hw": 8, "classes": 10})
    loaded, meta = load_checkpoint(path)
    with torch.no_grad():
        inp = torch.from_numpy(xt[:4])
        assert torch.allclose(model(inp), loaded(inp))
    assert meta["arch"] == ARCH
    mcu = "C8-N1-S2:|dw_sep_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|skip_connect~0|avg_pool_3x3~1|" \
          "dw_sep_conv_3x3~2|"
    from search_spaces.mcu.torch_model import build_mcu_model

    torch.manual_seed(1)
    net = build_mcu_model(mcu, in_ch=1, classes=10).eval()  # an mcu-space arch: its own macro, dw-sep edges
    path = save_checkpoint(tmp_path / "mcu.pt", net, mcu, {"space": "mcu", "in_ch": 1, "hw": 8, "classes": 10})
    loaded, meta = load_checkpoint(path)
    with torch.no_grad():
        assert torch.allclose(net(inp), loaded(inp))
    assert meta["arch"] == mcu and meta["macro"]["space"] == "mcu"
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="not a torch checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "absent.pt")
    assert np.isfinite(x).all()
