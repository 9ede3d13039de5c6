"""Official NAS-Bench-201 ``.pth`` backend on a small file in the official format.

The ``nas-bench-201`` package imports torch, so the lookups run only where torch is installed;
missing and non-torch files are reported before the package is imported.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import nb201_files as f
import pytest

from search_spaces.nb201.benchmarks import BenchmarkFileError, BenchmarkUnavailable, get_benchmark
from search_spaces.nb201.benchmarks.official import OfficialBenchmark
from search_spaces.nb201.space import Arch

A0, A1, A2 = (Arch.from_string(s) for s in f.ARCHS)
HAVE_API = importlib.util.find_spec("torch") is not None and importlib.util.find_spec("nas_201_api") is not None


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    with pytest.raises(BenchmarkFileError) as info:
        get_benchmark("official", str(path))
    assert str(path) in str(info.value) and "meta_archs" in str(info.value) and "no such file" in str(info.value)


def test_not_a_torch_file(tmp_path: Path) -> None:
    path = tmp_path / "bench.pth"
    path.write_text("meta_archs,arch2infos\n1,2\n")
    with pytest.raises(BenchmarkFileError, match=re.escape("not a torch .pth")):
        OfficialBenchmark(path)


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkFileError, match="not a file"):
        OfficialBenchmark(tmp_path)


def test_path_required() -> None:
    with pytest.raises(ValueError, match="needs a path"):
        get_benchmark("official")


def test_without_torch_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # runs whether or not the packages are installed: a None entry in sys.modules makes their import fail
    for mod in ("nas_201_api", "torch"):
        monkeypatch.setitem(sys.modules, mod, None)  # type: ignore[arg-type]
    path = tmp_path / "bench.pth"
    path.write_bytes(b"PK\x03\x04 rest of a zip")
    with pytest.raises(BenchmarkUnavailable, match="nas-bench-201"):
        OfficialBenchmark(path)


@pytest.fixture
def pth(tmp_path: Path) -> Path:
    torch = pytest.importorskip("torch")
    pytest.importorskip("nas_201_api")
    path = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    torch.save(f.nb201_dict(), path)
    return path


def test_lookups(pth: Path) -> None:
    b = get_benchmark("official", str(pth))
    r = b.query(A1, "cifar10")
    runs = (777, 888, 999)
    assert r.val_acc == pytest.approx(sum(f.final_acc(1, "cifar10-valid", "x-valid", 200, s) for s in runs) / 3)
    assert r.test_acc == pytest.approx(sum(f.final_acc(1, "cifar10", "ori-test", 200, s) for s in (777, 888)) / 2)
    assert r.train_seconds == pytest.approx(200 * f.PER_EPOCH_S["cifar10-valid"] * 2)
    r12 = b.query(A0, "ImageNet16-120", epochs=12)
    assert r12.test_acc == pytest.approx(f.final_acc(0, "ImageNet16-120", "x-test", 12, 111))
    assert r12.flops == pytest.approx(f.flops_m(0, "ImageNet16-120"))
    seeded = {b.query(A2, "cifar100", seed=s).val_acc for s in range(12)}
    assert seeded <= {f.final_acc(2, "cifar100", "x-valid", 200, s) for s in (777, 888, 999)}


def test_corrupt_torch_file(pth: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.pth"
    broken.write_bytes(pth.read_bytes()[:300])
    with pytest.raises(BenchmarkFileError, match=re.escape("broken.pth")):
        OfficialBenchmark(broken)
    import torch

    wrong = tmp_path / "wrong.pth"
    torch.save({"meta_archs": f.ARCHS}, wrong)
    with pytest.raises(BenchmarkFileError, match=re.escape("wrong.pth")):
        OfficialBenchmark(wrong)
