"""The training recipe's parts: label smoothing, and the weights of the best epoch by validation (digits; seconds)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from automcu.data import load_dataset  # noqa: E402
from automcu.train.config import TrainConfig  # noqa: E402
from automcu.train.loop import train_model  # noqa: E402
from automcu.train.metrics import evaluate  # noqa: E402
from search_spaces.nb201.torch_model import build_model  # noqa: E402

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


@pytest.fixture(scope="module")
def split():  # type: ignore[no-untyped-def]
    ds = load_dataset("digits", seed=0).subset(500, 300, seed=0)
    norm = ds.normalization()
    x, xt = norm.apply(ds.x_train), norm.apply(ds.x_test)
    return x[:400], ds.y_train[:400], x[400:], ds.y_train[400:], xt, ds.y_test


def _model(seed: int = 0):  # type: ignore[no-untyped-def]
    torch.manual_seed(seed)
    return build_model(ARCH, C=4, N=1, in_ch=1, classes=10)


def _confidence(model, x: np.ndarray) -> float:  # type: ignore[no-untyped-def]
    with torch.no_grad():
        return float(torch.softmax(model(torch.from_numpy(x)), 1).max(1).values.mean())


@pytest.mark.parametrize("bad", [-0.1, 1.0])
def test_label_smoothing_out_of_range_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="label_smoothing"):
        TrainConfig(label_smoothing=bad)


def test_label_smoothing_trains_a_less_confident_model(split) -> None:  # type: ignore[no-untyped-def]
    x, y, _, _, xt, yt = split
    plain, smooth = _model(), _model()
    train_model(plain, x, y, TrainConfig(epochs=4, batch_size=50, lr=0.1, threads=1), progress=False)
    train_model(smooth, x, y, TrainConfig(epochs=4, batch_size=50, lr=0.1, threads=1, label_smoothing=0.3),
                progress=False)
    assert evaluate(smooth, xt, yt) > 50.0  # it still learns (chance is 10 %)
    assert _confidence(smooth, xt) < _confidence(plain, xt) - 0.05


def test_the_model_ends_with_the_best_validation_epochs_weights(split) -> None:  # type: ignore[no-untyped-def]
    x, y, xv, yv, xt, yt = split
    # validation labels that disagree with training (a fixed derangement): an earlier epoch scores best there,
    # which exercises the restore (with true labels the cosine schedule's last epoch is usually the best)
    yv = (yv + 3) % 10
    cfg = TrainConfig(epochs=6, batch_size=25, lr=0.2, threads=1, seed=1)
    model = _model(1)
    result = train_model(model, x, y, cfg, x_test=xt, y_test=yt, x_val=xv, y_val=yv, progress=False)
    vals = [h.val_acc for h in result.history]
    assert all(v is not None for v in vals)
    assert vals.index(max(vals)) != len(vals) - 1, vals  # the restore is exercised
    best = max(range(len(vals)), key=lambda i: (vals[i], -i))
    assert result.best_epoch == best + 1
    assert evaluate(model, xv, yv) == pytest.approx(vals[best])
    assert result.to_dict()["best_epoch"] == best + 1
    last = _model(1)  # without validation: the last epoch's weights, as before
    assert train_model(last, x, y, cfg, progress=False).best_epoch is None
    assert evaluate(last, xv, yv) == pytest.approx(vals[-1])


def _conv_weights_nchw(model) -> bool:  # type: ignore[no-untyped-def]
    return all(p.is_contiguous() for p in model.parameters() if p.ndim == 4)


def test_channels_last_training_matches_nchw_and_hands_the_model_back_in_nchw(split) -> None:  # type: ignore[no-untyped-def]
    x, y, _, _, xt, yt = split
    nhwc, nchw = _model(2), _model(2)
    cfg = TrainConfig(epochs=2, batch_size=50, lr=0.1, threads=1, seed=2)
    r1 = train_model(nhwc, x, y, cfg, x_test=xt, y_test=yt, progress=False)
    r2 = train_model(nchw, x, y, TrainConfig(**{**cfg.to_dict(), "channels_last": False}), x_test=xt, y_test=yt,
                     progress=False)
    assert _conv_weights_nchw(nhwc) and _conv_weights_nchw(nchw)
    # the same seeded run in another memory layout: equal up to float summation order
    assert [h.loss for h in r1.history] == pytest.approx([h.loss for h in r2.history], rel=1e-3)
    assert abs(evaluate(nhwc, xt, yt) - evaluate(nchw, xt, yt)) <= 1.0
