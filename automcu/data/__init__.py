"""Real datasets that work offline: scikit-learn's digits, MNIST/Fashion-MNIST IDX files,
CIFAR-10/100 python-pickle batches and image folders (one subfolder per class).

Every loader returns a :class:`~automcu.data.dataset.ImageDataset` of float32 NCHW images in [0, 1];
a missing or malformed dataset raises :class:`~automcu.data.dataset.DatasetError` with one clear line.
"""

from __future__ import annotations

from automcu.data.dataset import DatasetError, ImageDataset, Normalization
from automcu.data.registry import DATASET_NAMES, load_dataset

__all__ = ["DATASET_NAMES", "DatasetError", "ImageDataset", "Normalization", "load_dataset"]
