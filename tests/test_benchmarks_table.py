"""Embedded-table backend: values straight from the table, seeds, 12 epochs, per-dataset costs."""

from __future__ import annotations

import pytest

from search_spaces.nb201.benchmarks import BenchmarkResult, get_benchmark
from search_spaces.nb201.benchmarks.table import TableBenchmark
from search_spaces.nb201.index import arch_of_index, index_of
from search_spaces.nb201.table import load_table

OPT = arch_of_index(6111)  # the CIFAR-10 optimum


def test_default_backend_is_the_table() -> None:
    assert isinstance(get_benchmark(), TableBenchmark)
    with pytest.raises(ValueError, match="table, official, natsbench"):
        get_benchmark("nasbench101")


def test_known_values() -> None:
    b = get_benchmark()
    r = b.query(OPT, "cifar10")
    assert isinstance(r, BenchmarkResult)
    assert (r.val_acc, r.test_acc) == (pytest.approx(91.607), pytest.approx(94.373))
    assert (r.dataset, r.epochs) == ("cifar10", 200)
    assert b.query(arch_of_index(9930), "cifar100").test_acc == pytest.approx(73.513)
    assert b.query(arch_of_index(857), "ImageNet16-120").test_acc == pytest.approx(47.311)


@pytest.mark.parametrize(("dataset", "prefix"), [("cifar10", "cifar10"), ("cifar100", "cifar100"),
                                                 ("ImageNet16-120", "imagenet16")])
def test_columns_per_dataset_and_epochs(dataset: str, prefix: str) -> None:
    t = load_table()
    b = get_benchmark()
    for idx in (0, 1, 6111, 15624):
        arch = arch_of_index(idx)
        r200 = b.query(arch, dataset)
        r12 = b.query(arch, dataset, epochs=12)
        assert r200.test_acc == pytest.approx(t.column(f"{prefix}_test")[idx])
        assert r200.val_acc == pytest.approx(t.column(f"{prefix}_valid")[idx])
        assert r12.val_acc == pytest.approx(t.column(f"{prefix}_valid_12ep")[idx])
        assert r12.test_acc == pytest.approx(t.column(f"{prefix}_test_12ep")[idx])
        assert r200.train_seconds == pytest.approx(t.column(f"{prefix}_train_s")[idx])
        assert r12.train_seconds == pytest.approx(r200.train_seconds * 12 / 200)


def test_params_and_flops_per_dataset() -> None:
    b = get_benchmark()
    arch = arch_of_index(0)  # 2 conv1x1, no conv3x3: 0.129306 M params, 15.64737 MFLOPs on CIFAR-10
    c10, c100, in16 = (b.query(arch, d) for d in ("cifar10", "cifar100", "ImageNet16-120"))
    assert (c10.params, c10.flops) == (pytest.approx(0.129306), pytest.approx(15.64737))
    assert (c100.params, c100.flops) == (pytest.approx(0.135156), pytest.approx(15.65322))
    assert in16.params == pytest.approx(0.136456)
    assert in16.flops == pytest.approx((15.64737 - 0.00065) / 4 + 0.0078)
    flops = [b.query(arch_of_index(i), "ImageNet16-120").flops for i in range(0, 15625, 7)]
    assert min(flops) >= 1.95340 - 1e-6 and max(flops) <= 55.03756 + 1e-6


def test_seed_gives_one_training_run() -> None:
    t = load_table()
    b = get_benchmark()
    arch = arch_of_index(10676)
    runs = t.seeds["imagenet16"][index_of(arch)]
    vals = [b.query(arch, "ImageNet16-120", seed=s).val_acc for s in range(20)]
    assert set(vals) <= set(runs) and len(set(vals)) > 1
    assert vals == [b.query(arch, "ImageNet16-120", seed=s).val_acc for s in range(20)]  # deterministic
    assert b.query(arch, "ImageNet16-120", seed=3).test_acc == b.query(arch, "ImageNet16-120").test_acc
    assert b.query(arch, "ImageNet16-120", epochs=12, seed=3).val_acc == b.query(arch, "ImageNet16-120", 12).val_acc


def test_unknown_dataset_and_epochs() -> None:
    b = get_benchmark()
    with pytest.raises(ValueError, match="cifar10, cifar100, ImageNet16-120"):
        b.query(OPT, "svhn")
    with pytest.raises(ValueError, match="200 or 12"):
        b.query(OPT, "cifar10", epochs=100)
