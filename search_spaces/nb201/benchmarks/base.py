"""The benchmark interface: ``query(arch, dataset, epochs, seed) -> BenchmarkResult``.

Three backends answer it: the embedded table (``table``, default, no extra packages), the
official NAS-Bench-201 ``.pth`` through the ``nas-bench-201`` package (``official``) and
NATS-Bench ``tss`` through the ``nats_bench`` package (``natsbench``). They build on this
module; :mod:`.registry` picks one by name (:func:`~.registry.get_benchmark`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from search_spaces.nb201.space import Arch

#: Datasets every backend answers for, and the training lengths NAS-Bench-201 recorded.
DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "ImageNet16-120")
EPOCHS: tuple[int, ...] = (200, 12)


class BenchmarkFileError(ValueError):
    """A benchmark file or directory is missing or not in the expected format."""

    def __init__(self, path: str | Path, expected: str, detail: str = "") -> None:
        self.path = str(path)
        self.expected = expected
        msg = f"{self.path}: expected {expected}"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)


class BenchmarkUnavailable(RuntimeError):
    """The Python package a backend needs is not installed."""


@dataclass(frozen=True)
class BenchmarkResult:
    """One lookup. Accuracies in percent, ``params`` in millions, ``flops`` in MFLOPs."""

    val_acc: float
    test_acc: float
    train_seconds: float
    params: float
    flops: float
    dataset: str
    epochs: int


class Benchmark(Protocol):
    name: str

    def query(self, arch: Arch, dataset: str, epochs: int = 200, seed: int | None = None) -> BenchmarkResult: ...


def check_query(dataset: str, epochs: int) -> None:
    """Raise ValueError naming the allowed values for an unknown dataset or training length."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown NAS-Bench-201 dataset {dataset!r}; use one of {', '.join(DATASETS)}")
    if epochs not in EPOCHS:
        raise ValueError(f"NAS-Bench-201 has results for {' or '.join(map(str, EPOCHS))} epochs, not {epochs}")


def seed_slot(seed: int, index: int, n_trials: int) -> int:
    """Which of an arch's ``n_trials`` training runs a search seeded ``seed`` sees.

    Deterministic in (seed, arch index) and independent across archs, so one search run
    sees one consistent noisy draw per arch and another seed sees another.
    """
    if n_trials <= 0:
        raise ValueError("an arch needs at least one training run")
    return random.Random(f"nb201-trial:{seed}:{index}").randrange(n_trials)

