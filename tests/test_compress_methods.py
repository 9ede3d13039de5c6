"""Issue 17's methods on digits: multi-teacher weighting, label mix, feature KD, soups, and the option checks."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from automcu.compress.request import CompressRequest  # noqa: E402
from automcu.data import load_dataset  # noqa: E402
from automcu.train.config import KDConfig, TrainConfig  # noqa: E402
from automcu.train.distill import (  # noqa: E402
    Distiller,
    feature_width,
    mixed_target,
    tap_channels,
    teacher_weights,
)
from automcu.train.label_mix import parse_label_mix  # noqa: E402
from automcu.train.loop import train_model  # noqa: E402
from automcu.train.metrics import evaluate  # noqa: E402
from automcu.train.soup import average_state, greedy_soup, soup_of  # noqa: E402
from search_spaces.mcu.torch_model import build_mcu_model  # noqa: E402
from search_spaces.nb201.torch_model import build_model  # noqa: E402

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
MCU = "C8-N1-S1:|dw_sep_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|skip_connect~0|avg_pool_3x3~1|dw_sep_conv_3x3~2|"


@pytest.fixture(scope="module")
def digits():
    ds = load_dataset("digits", seed=0)
    norm = ds.normalization()
    return norm.apply(ds.x_train), ds.y_train, norm.apply(ds.x_test), ds.y_test


def test_entropy_weights_favour_the_confident_teacher() -> None:
    confident = torch.tensor([[10.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    unsure = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 9.0]])
    w = teacher_weights([confident, unsure], "entropy")
    assert torch.allclose(w.sum(1), torch.ones(2))
    assert w[0, 0] > 0.6 and w[1, 1] > 0.6  # per sample, the low-entropy teacher dominates
    mean = teacher_weights([confident, unsure], "mean")
    assert torch.allclose(mean, torch.full((2, 2), 0.5))
    target = mixed_target([confident, unsure], w, 1.0)
    assert torch.allclose(target.sum(1), torch.ones(2)) and target[0, 0] > 0.5 and target[1, 2] > 0.5
    with pytest.raises(ValueError, match="weighting"):
        teacher_weights([confident, unsure], "max")


def test_label_mix_grammar_and_schedule() -> None:
    auto = parse_label_mix("auto")
    assert (auto.start, auto.end) == (0.5, 0.1)
    assert auto.hard_weight(0.0) == 0.5 and abs(auto.hard_weight(1.0) - 0.1) < 1e-9
    assert abs(auto.hard_weight(0.5) - 0.3) < 1e-9
    assert parse_label_mix("0.2").hard_weight(0.7) == 0.2
    for bad in ("x", "1.5", "0.1:0.2:0.3"):
        with pytest.raises(ValueError):
            parse_label_mix(bad)


def test_request_refuses_inconsistent_methods(tmp_path) -> None:
    base = {"arch": CELL, "dataset": "digits", "out_dir": tmp_path}
    with pytest.raises(ValueError, match="at least twice"):
        CompressRequest(**base, teacher=CELL, teacher_weighting="entropy")
    with pytest.raises(ValueError, match="give --teacher"):
        CompressRequest(**base, feature_kd=True)
    with pytest.raises(ValueError, match="give --teacher"):
        CompressRequest(**base, label_mix="auto")
    with pytest.raises(ValueError, match="--soup"):
        CompressRequest(**base, soup=1)
    with pytest.raises(ValueError, match="--precision"):
        CompressRequest(**base, precision="int4")
    with pytest.raises(ValueError, match="--mixed-tolerance"):
        CompressRequest(**base, precision="mixed", mixed_tolerance=-0.1)
    with pytest.raises(ValueError, match="--sensitivity-images"):
        CompressRequest(**base, precision="mixed", n_sensitivity=5)
    assert CompressRequest(**base, precision="mixed").precision == "mixed"
    with pytest.raises(ValueError, match="--label-smoothing"):
        CompressRequest(**base, label_smoothing=1.0)
    from automcu.compress.pipeline import _train_cfg

    smooth = CompressRequest(**base, label_smoothing=0.1)
    assert _train_cfg(smooth, load_dataset("digits", seed=0), 0).label_smoothing == 0.1
    req = CompressRequest(**base, teacher=[CELL, CELL], teacher_weighting="entropy", label_mix="auto", soup=2)
    assert req.teachers == [CELL, CELL] and req.label_mix == "0.5:0.1"


@pytest.mark.parametrize("student_kind", ["nb201", "mcu"])
def test_multi_teacher_feature_kd_trains_on_both_spaces(digits, student_kind) -> None:
    """Two teachers (entropy), label mix and the intermediate-layer term with a projection (8 → 16 channels)
    train a student of either space; the projection is learned (its weights change)."""
    x, y, xt, yt = digits
    teachers = []
    for k in range(2):
        torch.manual_seed(k)
        t = build_model(CELL, C=8, N=1, in_ch=1, classes=10)
        train_model(t, x, y, TrainConfig(epochs=3, lr=0.1, seed=k), progress=False)
        teachers.append(t.eval())
    torch.manual_seed(0)
    student = build_mcu_model(MCU, 1, 10) if student_kind == "mcu" else build_model(CELL, C=4, N=1, in_ch=1,
                                                                                   classes=10)
    chans = (tap_channels(student, (1, 8, 8)), tap_channels(teachers[0], (1, 8, 8)))
    assert chans[1] == 16 and chans[0] in (8, 16)
    d = Distiller(teachers, KDConfig(), feature_width(student), feature_width(teachers[0]), weighting="entropy",
                  label_mix=parse_label_mix("auto"), feature_channels=chans)
    proj = d.feature_project
    before = [p.detach().clone() for p in proj.parameters()] if proj is not None else []
    train_model(student, x, y, TrainConfig(epochs=3, lr=0.1, seed=0), distiller=d, progress=False)
    assert d.last_weights is not None and d.last_weights.shape[1] == 2
    assert d.progress > 0.9  # the loop drove the label-mix clock to the end of the run
    for b, p in zip(before, proj.parameters() if proj is not None else [], strict=True):
        assert not torch.equal(b, p)
    assert evaluate(student, xt, yt) > 60.0


def test_greedy_soup_averages_and_never_loses_on_validation(digits) -> None:
    x, y, _xt, _yt = digits
    torch.manual_seed(0)
    base = build_model(CELL, C=4, N=1, in_ch=1, classes=10)
    train_model(base, x[:900], y[:900], TrainConfig(epochs=3, lr=0.1, seed=0), progress=False)
    import copy

    ingredients = []
    for i in range(3):
        m = copy.deepcopy(base)
        train_model(m, x[:900], y[:900], TrainConfig(epochs=1, lr=0.02, seed=10 + i), progress=False)
        ingredients.append(m.eval())
    avg = average_state(ingredients)
    w = next(k for k in avg if k.endswith("weight"))
    assert torch.allclose(avg[w], sum(m.state_dict()[w] for m in ingredients) / 3)
    res = greedy_soup(ingredients, x[900:], y[900:])
    assert res.soup_val_acc >= max(res.ingredient_val_acc)  # greedy: starts at the best, keeps only gains
    assert evaluate(res.model, x[900:], y[900:]) == res.soup_val_acc
    assert evaluate(soup_of(ingredients), x[900:], y[900:]) == res.uniform_val_acc
