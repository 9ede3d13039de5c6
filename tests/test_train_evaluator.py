"""The real-training evaluator: same interface as the lookup evaluator, real accuracies on digits."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

from agents.messages import EvaluationRequest, EvaluationResult
from agents.training_evaluator import TrainingEvaluator

CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
DEAD = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def test_trains_for_real_and_ranks_a_dead_cell_last() -> None:
    ev = TrainingEvaluator(dataset="digits", epochs=3, C=4, N=1, batch_size=64, lr=0.1, train_limit=600)
    good = ev.evaluate(EvaluationRequest(arch=CONV, dataset="cifar10", seed=0))
    dead = ev.evaluate(EvaluationRequest(arch=DEAD, dataset="cifar10", seed=0))
    assert isinstance(good, EvaluationResult) and good.source.startswith("training:digits")
    assert good.val_acc > 60.0 and good.test_acc > 60.0  # chance is 10 %
    assert dead.val_acc < good.val_acc - 20.0  # a cell that drops its input cannot learn much
    assert good.train_seconds > 0 and good.params > dead.params and good.flops > 0
    again = ev.evaluate(EvaluationRequest(arch=CONV, dataset="cifar10", seed=0))
    assert again.val_acc == good.val_acc and again.test_acc == good.test_acc  # seeded


def test_bad_settings_fail_early() -> None:
    with pytest.raises(ValueError, match="epochs"):
        TrainingEvaluator(dataset="digits", epochs=0)
