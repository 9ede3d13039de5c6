"""The in-memory dataset type the trainer, the compressor and the evaluators share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


class DatasetError(ValueError):
    """A dataset is missing, malformed, or not what the caller asked for."""


@dataclass(frozen=True)
class Normalization:
    """Per-channel ``(x - mean) / std`` applied to [0, 1] images before the network (and the firmware)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def apply(self, x: np.ndarray) -> np.ndarray:
        m = np.asarray(self.mean, np.float32).reshape(1, -1, 1, 1)
        s = np.asarray(self.std, np.float32).reshape(1, -1, 1, 1)
        return ((np.asarray(x, np.float32) - m) / s).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"mean": list(self.mean), "std": list(self.std), "input_range": [0.0, 1.0]}


@dataclass
class ImageDataset:
    """Train/test images (float32 NCHW, values in [0, 1]) with integer labels ``0 .. n_classes-1``."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str] = field(default_factory=list)
    source: str = ""

    def __post_init__(self) -> None:
        for split, x, y in (("train", self.x_train, self.y_train), ("test", self.x_test, self.y_test)):
            if x.ndim != 4:
                raise DatasetError(f"{self.name}: {split} images must be NCHW, got shape {x.shape}")
            if len(x) != len(y):
                raise DatasetError(f"{self.name}: {len(x)} {split} images but {len(y)} labels")
            if len(x) == 0:
                raise DatasetError(f"{self.name}: the {split} split is empty")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DatasetError(f"{self.name}: train images {self.x_train.shape[1:]} but test {self.x_test.shape[1:]}")
        n = self.n_classes
        if self.y_train.min() < 0 or max(self.y_train.max(), self.y_test.max()) >= n:
            raise DatasetError(f"{self.name}: labels must lie in 0..{n - 1}")
        if not self.class_names:
            self.class_names = [str(i) for i in range(n)]

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1 if not self.class_names else len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.x_train.shape[1:]
        return int(c), int(h), int(w)

    def normalization(self) -> Normalization:
        """Per-channel mean/std of the training images."""
        mean = self.x_train.mean(axis=(0, 2, 3))
        std = self.x_train.std(axis=(0, 2, 3))
        return Normalization(tuple(float(m) for m in mean), tuple(float(max(s, 1e-3)) for s in std))

    def subset(self, n_train: int | None = None, n_test: int | None = None, seed: int = 0) -> ImageDataset:
        """A seeded random subset of each split (``None`` keeps the split whole)."""
        rng = np.random.default_rng(seed)

        def pick(x: np.ndarray, y: np.ndarray, n: int | None) -> tuple[np.ndarray, np.ndarray]:
            if n is None or n >= len(x):
                return x, y
            idx = np.sort(rng.choice(len(x), size=n, replace=False))
            return x[idx], y[idx]

        xtr, ytr = pick(self.x_train, self.y_train, n_train)
        xte, yte = pick(self.x_test, self.y_test, n_test)
        return ImageDataset(self.name, xtr, ytr, xte, yte, list(self.class_names), self.source)

    def split_validation(self, fraction: float = 0.1, seed: int = 0) -> tuple[ImageDataset, ImageDataset]:
        """(train minus a seeded validation part, the validation part as the 'test' split of a dataset)."""
        if not 0.0 < fraction < 1.0:
            raise DatasetError(f"validation fraction must be in (0, 1), got {fraction}")
        rng = np.random.default_rng(seed)
        perm = rng.permutation(len(self.x_train))
        n_val = max(1, round(len(perm) * fraction))
        val, tr = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        if len(tr) == 0:
            raise DatasetError(f"{self.name}: too few training images to hold out a validation split")
        names = list(self.class_names)
        train = ImageDataset(self.name, self.x_train[tr], self.y_train[tr], self.x_test, self.y_test, names,
                             self.source)
        valid = ImageDataset(self.name, self.x_train[tr], self.y_train[tr], self.x_train[val], self.y_train[val],
                             names, self.source)
        return train, valid


def stratified_split(
    x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seeded per-class split for datasets that ship as one pool (digits, image folders)."""
    rng = np.random.default_rng(seed)
    test_idx: list[int] = []
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        k = round(len(idx) * test_fraction)
        if len(idx) > 1:
            k = min(max(k, 1), len(idx) - 1)
        test_idx.extend(idx[:k].tolist())
    mask = np.zeros(len(y), bool)
    mask[test_idx] = True
    return x[~mask], y[~mask], x[mask], y[mask]
