"""MNIST and Fashion-MNIST end to end when their IDX files are on the machine (Debian's ``dataset-fashion-mnist``
installs ``/usr/share/datasets/fashion-mnist``; ``AUTOMCU_MNIST_DIR`` / ``AUTOMCU_FASHION_MNIST_DIR`` point
elsewhere). Skipped where they are absent: the suite's always-on real-data test is digits.

To stay a test of seconds, not a benchmark, it searches on the first images of the real files (written as IDX
files of their own, so the product's IDX reader loads them as a user's folder): an mcu search with three trained
candidates, then the winner compressed to int8 and measured in TFLite Micro."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from automcu.cli.app import app
from automcu.data.idx import DEFAULT_DIRS, FILES, load_idx_dataset

pytest.importorskip("torch")
runner = CliRunner()
TRAIN, TEST = 3000, 1000
#: int8 accuracy (PTQ) on the first 1,000 test images after 2 epochs on 2,700 training images; chance is 10 %.
#: Far below what the full recipe reaches (the benchmark's job): a floor that only a broken path misses.
FLOOR = {"mnist": 80.0, "fashion-mnist": 60.0}
OPTIONAL = "optional resource:"  # conftest.py: a skip with this reason stays a skip in a full set-up


def _folder(name: str) -> Path | None:
    env = os.environ.get(f"AUTOMCU_{name.upper().replace('-', '_')}_DIR")
    for candidate in ([env] if env else []) + DEFAULT_DIRS[name]:
        if Path(candidate).is_dir():
            return Path(candidate)
    return None


def _write_idx(path: Path, arr: np.ndarray) -> None:
    """``arr`` (uint8) as a raw IDX file: magic 0x00 0x00 0x08 ndim, big-endian dims, the bytes."""
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    path.write_bytes(header + np.ascontiguousarray(arr, dtype=np.uint8).tobytes())


def _first_images(name: str, src: Path, dst: Path) -> Path:
    ds = load_idx_dataset(name, src)
    dst.mkdir()
    images = {"train_images": ds.x_train[:TRAIN], "test_images": ds.x_test[:TEST]}
    labels = {"train_labels": ds.y_train[:TRAIN], "test_labels": ds.y_test[:TEST]}
    for key, x in images.items():
        _write_idx(dst / FILES[key], np.rint(x[:, 0] * 255.0).astype(np.uint8))
    for key, y in labels.items():
        _write_idx(dst / FILES[key], y.astype(np.uint8))
    return dst


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_idx_dataset_searched_compressed_and_measured_in_tflm(name: str, tmp_path: Path) -> None:
    src = _folder(name)
    if src is None:
        env = f"AUTOMCU_{name.upper().replace('-', '_')}_DIR"
        if name == "fashion-mnist":  # the full set-up installs Debian's dataset-fashion-mnist: a missing step
            pytest.skip(f"{name} IDX files not on this machine (apt-get install dataset-fashion-mnist, or {env})")
        pytest.skip(f"{OPTIONAL} {name} IDX files not on this machine (no Debian package; set {env})")
    data = _first_images(name, src, tmp_path / name)
    res = runner.invoke(app, ["search", "--space", "mcu", "--dataset", name, "--data", str(data),
                              "--board", "STM32F411", "--sram-kb", "64", "--flash-kb", "256", "--budget", "3",
                              "--epochs", "1", "--seed", "1", "--compress", "--compress-epochs", "2", "--json",
                              "--quiet", "--db", f"sqlite:///{tmp_path / 'automcu.db'}"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["status"] == "succeeded" and out["n_evaluated"] == 3, out
    best, comp = out["best"], out["compress"]
    assert best["val_acc"] > 20 and best["sram_total_bytes"] <= 64 * 1024  # trained for real, and it fits
    assert comp["status"] == "compressed" and comp["arch"] == best["arch"] and comp["fits"], comp
    assert comp["int8_acc"] >= FLOOR[name], comp  # measured in TFLite Micro on the 1,000 test images
    assert abs(comp["float_acc"] - comp["int8_acc"]) <= 6.0, comp  # a 2-epoch net's PTQ, seen losing 4.3 pp
    assert 0 < comp["arena_bytes"] <= 64 * 1024 and 0 < comp["flash_bytes"] <= 256 * 1024
