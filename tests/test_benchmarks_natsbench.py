"""NATS-Bench tss backend on small files in the package's own formats (file and fast-mode directory)."""

from __future__ import annotations

import bz2
import pickle
import re
from pathlib import Path

import pytest

pytest.importorskip("nats_bench")

import nb201_files as f

from search_spaces.nb201.benchmarks import BenchmarkFileError, get_benchmark
from search_spaces.nb201.benchmarks.base import seed_slot
from search_spaces.nb201.benchmarks.natsbench import NATSBenchmark
from search_spaces.nb201.space import Arch

A0, A1, A2 = (Arch.from_string(s) for s in f.ARCHS)


@pytest.fixture(params=["file", "dir"])
def bench(request: pytest.FixtureRequest, tmp_path: Path) -> NATSBenchmark:
    path = f.write_nats_file(tmp_path) if request.param == "file" else f.write_nats_dir(tmp_path)
    b = get_benchmark("natsbench", str(path))
    assert isinstance(b, NATSBenchmark) and b.fast_mode == (request.param == "dir")
    return b


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def test_cifar10_uses_valid_split_for_val_and_full_training_for_test(bench: NATSBenchmark) -> None:
    r = bench.query(A1, "cifar10")
    runs = (777, 888, 999)
    assert r.val_acc == pytest.approx(mean([f.final_acc(1, "cifar10-valid", "x-valid", 200, s) for s in runs]))
    assert r.test_acc == pytest.approx(mean([f.final_acc(1, "cifar10", "ori-test", 200, s) for s in (777, 888)]))
    assert r.train_seconds == pytest.approx(200 * f.PER_EPOCH_S["cifar10-valid"] * 2)
    assert (r.params, r.flops) == (pytest.approx(f.params_m(1, "cifar10")), pytest.approx(f.flops_m(1, "cifar10")))
    assert (r.dataset, r.epochs) == ("cifar10", 200)


@pytest.mark.parametrize("dataset", ["cifar100", "ImageNet16-120"])
def test_other_datasets_and_12_epochs(bench: NATSBenchmark, dataset: str) -> None:
    r = bench.query(A0, dataset, epochs=12)
    assert r.val_acc == pytest.approx(f.final_acc(0, dataset, "x-valid", 12, 111))
    assert r.test_acc == pytest.approx(f.final_acc(0, dataset, "x-test", 12, 111))
    assert r.train_seconds == pytest.approx(12 * f.PER_EPOCH_S[dataset])
    assert r.params == pytest.approx(f.params_m(0, dataset)) and r.flops == pytest.approx(f.flops_m(0, dataset))


def test_seed_picks_one_training_run_deterministically(bench: NATSBenchmark) -> None:
    runs = (777, 888, 999)
    vals = {bench.query(A2, "cifar100", seed=s).val_acc for s in range(12)}
    assert vals <= {f.final_acc(2, "cifar100", "x-valid", 200, s) for s in runs} and len(vals) > 1
    for s in range(5):
        expected = f.final_acc(2, "cifar100", "x-valid", 200, runs[seed_slot(s, 2, 3)])
        assert bench.query(A2, "cifar100", seed=s).val_acc == pytest.approx(expected)
        assert bench.query(A2, "cifar100", seed=s).test_acc == bench.query(A2, "cifar100").test_acc


def test_unknown_dataset_epochs_and_arch(bench: NATSBenchmark) -> None:
    with pytest.raises(ValueError, match="cifar10, cifar100, ImageNet16-120"):
        bench.query(A0, "mnist")
    with pytest.raises(ValueError, match="200 or 12"):
        bench.query(A0, "cifar10", epochs=50)
    other = Arch.from_string("|skip_connect~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|")
    with pytest.raises(BenchmarkFileError, match="no record"):
        bench.query(other, "cifar10")


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkFileError) as info:
        get_benchmark("natsbench", str(tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2"))
    assert str(tmp_path) in str(info.value) and "NATS-Bench tss" in str(info.value)


def test_corrupt_files(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pickle.pbz2"
    garbage.write_bytes(b"this is not a benchmark")
    with pytest.raises(BenchmarkFileError, match="not bz2-compressed"):
        NATSBenchmark(garbage)
    truncated = tmp_path / "truncated.pickle.pbz2"
    truncated.write_bytes(f.write_nats_file(tmp_path).read_bytes()[:200])
    with pytest.raises(BenchmarkFileError, match=re.escape("truncated.pickle.pbz2")):
        NATSBenchmark(truncated)
    wrong = tmp_path / "wrong.pickle.pbz2"
    with bz2.BZ2File(wrong, "wb") as fh:
        pickle.dump({"meta_archs": f.ARCHS}, fh)
    with pytest.raises(BenchmarkFileError, match="arch2infos"):
        NATSBenchmark(wrong)
    sss = tmp_path / "sss.pickle.pbz2"
    with bz2.BZ2File(sss, "wb") as fh:
        pickle.dump({"meta_archs": ["64:64:64:64:64"], "arch2infos": {}, "evaluated_indexes": []}, fh)
    with pytest.raises(BenchmarkFileError, match="sss"):
        NATSBenchmark(sss)


def test_directory_problems(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BenchmarkFileError, match=re.escape("meta.pickle.pbz2 is missing")):
        NATSBenchmark(empty)
    root = f.write_nats_dir(tmp_path)
    (root / "000001.pickle.pbz2").unlink()
    b = NATSBenchmark(root)
    assert b.query(A0, "cifar10").val_acc > 0
    with pytest.raises(BenchmarkFileError, match="arch 1"):
        b.query(A1, "cifar10")
