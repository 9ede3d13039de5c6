"""Lookups shared by the ``official`` and ``natsbench`` backends.

Both packages keep one ``ArchResults`` per (arch, training length) with ``get_metrics``,
``get_dataset_seeds`` and ``get_compute_costs``; NAS-Bench-201's dataset/split names map as

* CIFAR-10: validation = ``cifar10-valid``/``x-valid`` (trained on the train split), test =
  ``cifar10``/``ori-test`` (trained on train+valid), training time from ``cifar10-valid``;
* CIFAR-100, ImageNet16-120: ``x-valid`` and ``x-test`` of the same training runs.
"""

from __future__ import annotations

from typing import Any

from search_spaces.nb201.benchmarks.base import BenchmarkFileError, BenchmarkResult, check_query, seed_slot
from search_spaces.nb201.space import Arch


def splits(dataset: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """((dataset, set) of the validation accuracy, (dataset, set) of the test accuracy)."""
    if dataset == "cifar10":
        return ("cifar10-valid", "x-valid"), ("cifar10", "ori-test")
    return (dataset, "x-valid"), (dataset, "x-test")


def query_api(
    api: Any, path: str, expected: str, arch: Arch, dataset: str, epochs: int, seed: int | None
) -> BenchmarkResult:
    check_query(dataset, epochs)
    index = api.query_index_by_arch(arch.to_string())
    if index is None or index < 0:
        raise BenchmarkFileError(path, expected, f"it has no record of {arch.to_string()}")
    where = f"arch {index}, {dataset}, {epochs} epochs"
    try:
        info = api.query_meta_info_by_index(index, hp=str(epochs))
        (vds, vset), (tds, tset) = splits(dataset)
        if seed is None:
            val = info.get_metrics(vds, vset, is_random=False)["accuracy"]
        else:
            runs = sorted(info.get_dataset_seeds(vds))
            val = info.get_metrics(vds, vset, is_random=runs[seed_slot(seed, index, len(runs))])["accuracy"]
        test = info.get_metrics(tds, tset, is_random=False)["accuracy"]
        train_s = info.get_metrics(vds, "train", is_random=False)["all_time"]
        costs = info.get_compute_costs(tds)
    except (KeyError, ValueError, AssertionError, TypeError, IndexError, AttributeError, OSError, EOFError) as exc:
        raise BenchmarkFileError(path, expected, f"no usable record for {where}: {type(exc).__name__}: {exc}") from exc
    if train_s is None:
        raise BenchmarkFileError(path, expected, f"no training time recorded for {where}")
    return BenchmarkResult(
        val_acc=float(val),
        test_acc=float(test),
        train_seconds=float(train_s),
        params=float(costs["params"]),
        flops=float(costs["flops"]),
        dataset=dataset,
        epochs=epochs,
    )
