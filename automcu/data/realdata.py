"""Searching on real data: which dataset names are trained on, their input shapes, and the search macro.

``cifar10``, ``cifar100`` and ``ImageNet16-120`` are NAS-Bench-201 lookups. The names here are
trained for real by :class:`agents.training_evaluator.TrainingEvaluator`; the feasibility agent and
the proposers estimate the network that evaluator trains (``TRAIN_C`` channels, ``TRAIN_N`` cells
per stage, the dataset's input), so what is checked is what is trained and later deployed.
"""

from __future__ import annotations

from automcu.hardware.macro import Macro

#: real-data name → (input channels, input height = width, classes)
REAL_DATASETS: dict[str, tuple[int, int, int]] = {
    "digits": (1, 8, 10),
    "mnist": (1, 28, 10),
    "fashion-mnist": (1, 28, 10),
}
#: training epochs per evaluation when the spec gives none: about 100-500 SGD steps of batch 128
#: (digits has 1.3 k training images, the IDX sets 54 k after the validation split)
DEFAULT_TRAIN_EPOCHS: dict[str, int] = {"digits": 10, "mnist": 1, "fashion-mnist": 1}
TRAIN_C = 8
TRAIN_N = 1


def real_dataset_name(name: str) -> str | None:
    """The canonical real-data name, or None when ``name`` is not one."""
    from automcu.data.registry import canonical_name

    key = canonical_name(name)
    return key if key in REAL_DATASETS else None


def search_macro(name: str) -> Macro:
    """The macro the training evaluator builds for a real dataset (ValueError for other names)."""
    key = real_dataset_name(name)
    if key is None:
        raise ValueError(f"{name!r} is not a real-data search dataset ({', '.join(REAL_DATASETS)})")
    in_ch, hw, classes = REAL_DATASETS[key]
    return Macro(C=TRAIN_C, N=TRAIN_N, in_ch=in_ch, hw=hw, classes=classes)
