"""MNIST and Fashion-MNIST from their IDX files (gzip-compressed or raw), in any folder."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from automcu.data.dataset import DatasetError, ImageDataset

#: IDX element type byte → numpy dtype (big-endian where it matters)
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
MNIST_CLASSES = [str(i) for i in range(10)]

#: where distributions install the files (Debian's dataset-fashion-mnist package)
DEFAULT_DIRS = {
    "fashion-mnist": ["/usr/share/datasets/fashion-mnist"],
    "mnist": ["/usr/share/datasets/mnist"],
}


def read_idx(path: str | Path) -> np.ndarray:
    """One IDX file as an array (``.gz`` is decompressed by its magic bytes, not its name)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read IDX file {p}: {exc.strerror or exc}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DatasetError(f"{p}: corrupt gzip data ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES or raw[3] == 0:
        raise DatasetError(f"{p} is not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{p}: truncated IDX header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DatasetError(f"{p}: IDX header says {dims} ({expected} bytes of data) but the file has "
                           f"{len(raw) - header}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise DatasetError(f"{folder}: missing {stem}[.gz]")


def _images(arr: np.ndarray, path: Path) -> np.ndarray:
    if arr.ndim != 3:
        raise DatasetError(f"{path}: expected N×H×W images, got shape {arr.shape}")
    return (arr.astype(np.float32) / 255.0)[:, None, :, :]


def _labels(arr: np.ndarray, path: Path, n_classes: int) -> np.ndarray:
    if arr.ndim != 1:
        raise DatasetError(f"{path}: expected a 1-D label vector, got shape {arr.shape}")
    y = arr.astype(np.int64)
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise DatasetError(f"{path}: labels outside 0..{n_classes - 1}")
    return y


def resolve_dir(name: str, path: str | Path | None) -> Path:
    if path is not None:
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise DatasetError(f"{name}: no such folder {folder}")
        return folder
    for candidate in DEFAULT_DIRS.get(name, []):
        if Path(candidate).is_dir():
            return Path(candidate)
    hint = " (on Debian/Ubuntu: apt-get install dataset-fashion-mnist)" if name == "fashion-mnist" else ""
    raise DatasetError(f"{name}: no data folder given and none found at {', '.join(DEFAULT_DIRS.get(name, []))}"
                       f"; pass --data DIR with the four IDX files{hint}")


def load_idx_dataset(name: str, path: str | Path | None = None) -> ImageDataset:
    """``name`` is ``mnist`` or ``fashion-mnist``; ``path`` a folder with the four standard IDX files."""
    folder = resolve_dir(name, path)
    classes = FASHION_CLASSES if name == "fashion-mnist" else MNIST_CLASSES
    paths = {key: _find(folder, stem) for key, stem in FILES.items()}
    x_train = _images(read_idx(paths["train_images"]), paths["train_images"])
    y_train = _labels(read_idx(paths["train_labels"]), paths["train_labels"], len(classes))
    x_test = _images(read_idx(paths["test_images"]), paths["test_images"])
    y_test = _labels(read_idx(paths["test_labels"]), paths["test_labels"], len(classes))
    return ImageDataset(name, x_train, y_train, x_test, y_test, list(classes), str(folder))
