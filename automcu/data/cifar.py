"""CIFAR-10 / CIFAR-100 from the standard python-pickle batches (``cifar-10-batches-py``, ``cifar-100-python``)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from automcu.data.dataset import DatasetError, ImageDataset

CIFAR10_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]


def _unpickle(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DatasetError(f"missing CIFAR batch file {path}")
    try:
        with path.open("rb") as fh:
            raw = pickle.load(fh, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError) as exc:
        raise DatasetError(f"{path} is not a CIFAR python-pickle batch ({exc})") from None
    if not isinstance(raw, dict):
        raise DatasetError(f"{path} is not a CIFAR python-pickle batch (not a dict)")
    return {k.decode() if isinstance(k, bytes) else str(k): v for k, v in raw.items()}


def _batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    d = _unpickle(path)
    if "data" not in d or label_key not in d:
        raise DatasetError(f"{path}: a CIFAR batch needs 'data' and '{label_key}' entries")
    data = np.asarray(d["data"])
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DatasetError(f"{path}: 'data' must be N×3072 bytes, got shape {data.shape}")
    labels = np.asarray(d[label_key], dtype=np.int64)
    if len(labels) != len(data):
        raise DatasetError(f"{path}: {len(data)} images but {len(labels)} labels")
    return data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0, labels


def _names(path: Path, key: str) -> list[str]:
    if not path.is_file():
        return []
    meta = _unpickle(path)
    return [n.decode() if isinstance(n, bytes) else str(n) for n in meta.get(key, [])]


def load_cifar(name: str, path: str | Path | None) -> ImageDataset:
    """``name`` is ``cifar10`` or ``cifar100``; ``path`` the folder holding the batch files."""
    if path is None:
        raise DatasetError(f"{name}: pass --data DIR, the folder of the python-pickle batches "
                           f"({'cifar-10-batches-py' if name == 'cifar10' else 'cifar-100-python'})")
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DatasetError(f"{name}: no such folder {folder}")
    if name == "cifar10":
        parts = [_batch(folder / f, "labels") for f in CIFAR10_TRAIN]
        x_train = np.concatenate([p[0] for p in parts])
        y_train = np.concatenate([p[1] for p in parts])
        x_test, y_test = _batch(folder / "test_batch", "labels")
        names = _names(folder / "batches.meta", "label_names") or [str(i) for i in range(10)]
    else:
        x_train, y_train = _batch(folder / "train", "fine_labels")
        x_test, y_test = _batch(folder / "test", "fine_labels")
        names = _names(folder / "meta", "fine_label_names") or [str(i) for i in range(100)]
    return ImageDataset(name, x_train, y_train, x_test, y_test, names, str(folder))
