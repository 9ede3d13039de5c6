"""scikit-learn's bundled 8×8 handwritten digits (1,797 images, no download): a seconds-scale real dataset."""

from __future__ import annotations

import numpy as np

from automcu.data.dataset import DatasetError, ImageDataset, stratified_split


def load_digits(test_fraction: float = 0.25, seed: int = 0) -> ImageDataset:
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError:
        raise DatasetError("the digits dataset needs scikit-learn: pip install 'automcu[train]'") from None
    bunch = sk_load_digits()
    x = (np.asarray(bunch.images, dtype=np.float32) / 16.0)[:, None, :, :]
    y = np.asarray(bunch.target, dtype=np.int64)
    x_train, y_train, x_test, y_test = stratified_split(x, y, test_fraction, seed)
    return ImageDataset("digits", x_train, y_train, x_test, y_test, [str(i) for i in range(10)], "sklearn")
