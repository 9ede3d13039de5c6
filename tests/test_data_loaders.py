"""Dataset loaders on small files each test writes itself (IDX gz/raw, CIFAR pickles, image folders), digits."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest

from automcu.data import DatasetError, load_dataset
from automcu.data.idx import read_idx


def idx_bytes(arr: np.ndarray) -> bytes:
    assert arr.dtype == np.uint8
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.tobytes()


def write_idx_set(folder: Path, n_train: int = 30, n_test: int = 10, gz: bool = True, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test).astype(np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in arrays.items():
        data = idx_bytes(arr)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_idx_round_trip(tmp_path: Path, gz: bool) -> None:
    arrays = write_idx_set(tmp_path, gz=gz)
    ds = load_dataset("fashion-mnist", tmp_path)
    assert ds.x_train.shape == (30, 1, 28, 28) and ds.x_test.shape == (10, 1, 28, 28)
    assert ds.x_train.dtype == np.float32 and 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    np.testing.assert_allclose(ds.x_train[:, 0] * 255.0, arrays["train-images-idx3-ubyte"], atol=1e-3)
    np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert ds.class_names[0] == "T-shirt/top" and ds.n_classes == 10
    assert load_dataset("mnist", tmp_path).class_names[0] == "0"


def test_idx_errors_are_clear(tmp_path: Path) -> None:
    write_idx_set(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetError, match="missing t10k-labels-idx1-ubyte"):
        load_dataset("fashion-mnist", tmp_path)
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x12\x34\x56\x78" + b"\0" * 20)
    with pytest.raises(DatasetError, match="bad magic"):
        read_idx(bad)
    truncated = tmp_path / "trunc"
    truncated.write_bytes(idx_bytes(np.zeros((4, 28, 28), np.uint8))[:-5])
    with pytest.raises(DatasetError, match="IDX header says"):
        read_idx(truncated)
    with pytest.raises(DatasetError, match="no such folder"):
        load_dataset("mnist", tmp_path / "absent")


def test_idx_label_count_mismatch(tmp_path: Path) -> None:
    write_idx_set(tmp_path, gz=False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(DatasetError, match="30 train images but 5 labels"):
        load_dataset("fashion-mnist", tmp_path)


def _cifar_batch(path: Path, n: int, label_key: str, classes: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    blob = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            label_key.encode(): rng.integers(0, classes, n).tolist()}
    path.write_bytes(pickle.dumps(blob))


def test_cifar10_batches(tmp_path: Path) -> None:
    for i in range(1, 6):
        _cifar_batch(tmp_path / f"data_batch_{i}", 4, "labels", 10, i)
    _cifar_batch(tmp_path / "test_batch", 3, "labels", 10, 9)
    (tmp_path / "batches.meta").write_bytes(pickle.dumps({b"label_names": [f"c{i}".encode() for i in range(10)]}))
    ds = load_dataset("cifar10", tmp_path)
    assert ds.x_train.shape == (20, 3, 32, 32) and ds.x_test.shape == (3, 3, 32, 32)
    assert ds.class_names[3] == "c3"
    raw = pickle.loads((tmp_path / "data_batch_1").read_bytes())[b"data"]
    np.testing.assert_allclose(ds.x_train[0] * 255.0, raw[0].reshape(3, 32, 32), atol=1e-3)


def test_cifar100_and_errors(tmp_path: Path) -> None:
    _cifar_batch(tmp_path / "train", 6, "fine_labels", 100, 1)
    _cifar_batch(tmp_path / "test", 2, "fine_labels", 100, 2)
    ds = load_dataset("cifar100", tmp_path)
    assert ds.x_train.shape == (6, 3, 32, 32) and ds.n_classes == 100
    (tmp_path / "test").write_bytes(b"not a pickle")
    with pytest.raises(DatasetError, match="not a CIFAR python-pickle batch"):
        load_dataset("cifar100", tmp_path)
    with pytest.raises(DatasetError, match="missing CIFAR batch"):
        load_dataset("cifar10", tmp_path)
    with pytest.raises(DatasetError, match="--data"):
        load_dataset("cifar10")


def test_image_folder(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(5):
            Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    ds = load_dataset(str(tmp_path), image_size=16, channels=1)
    assert ds.class_names == ["cat", "dog"]
    assert ds.x_train.shape[1:] == (1, 16, 16) and len(ds.x_train) + len(ds.x_test) == 10
    assert sorted(set(ds.y_test.tolist())) == [0, 1]  # stratified: both classes in the test split
    (tmp_path / "dog" / "broken.png").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="cannot read image"):
        load_dataset("folder", tmp_path)


def test_image_folder_needs_classes(tmp_path: Path) -> None:
    (tmp_path / "only").mkdir()
    with pytest.raises(DatasetError, match="at least two class subfolders"):
        load_dataset("folder", tmp_path)
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_dataset("no-such-dataset")


def test_digits_split_and_helpers() -> None:
    pytest.importorskip("sklearn")
    ds = load_dataset("digits", seed=0)
    assert ds.input_shape == (1, 8, 8) and len(ds.x_train) + len(ds.x_test) == 1797
    again = load_dataset("digits", seed=0)
    np.testing.assert_array_equal(ds.y_test, again.y_test)
    norm = ds.normalization()
    z = norm.apply(ds.x_train)
    assert abs(float(z.mean())) < 1e-3 and abs(float(z.std()) - 1.0) < 1e-2
    train, val = ds.split_validation(0.2, seed=1)
    assert len(val.x_test) + len(train.x_train) == len(ds.x_train)
    sub = ds.subset(100, 50, seed=3)
    assert len(sub.x_train) == 100 and len(sub.x_test) == 50
