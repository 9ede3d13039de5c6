"""An image folder: one subfolder per class (``root/cat/*.png``), split into train/test by a seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from automcu.data.dataset import DatasetError, ImageDataset, stratified_split

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".ppm", ".webp"}


def _load_image(path: Path, size: int, channels: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB").resize((size, size), Image.Resampling.BILINEAR)
            arr = np.asarray(im, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as exc:
        raise DatasetError(f"cannot read image {path}: {exc}") from None
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def load_image_folder(
    path: str | Path, size: int = 32, channels: int = 3, test_fraction: float = 0.2, seed: int = 0
) -> ImageDataset:
    """Every image resized to ``size``×``size`` with ``channels`` (1 gray, 3 RGB); classes sorted by name."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetError(f"image folder {root} does not exist")
    if channels not in (1, 3):
        raise DatasetError(f"image folder: channels must be 1 or 3, got {channels}")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        raise DatasetError(f"image folder {root} needs at least two class subfolders, found {len(classes)}")
    xs: list[np.ndarray] = []
    ys: list[int] = []
    for label, cls in enumerate(classes):
        files = sorted(f for f in (root / cls).rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
        if not files:
            raise DatasetError(f"image folder: class {cls!r} has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        for f in files:
            xs.append(_load_image(f, size, channels))
            ys.append(label)
    x = np.stack(xs).astype(np.float32)
    y = np.asarray(ys, dtype=np.int64)
    x_train, y_train, x_test, y_test = stratified_split(x, y, test_fraction, seed)
    if len(x_test) == 0:
        raise DatasetError(f"image folder {root}: too few images for a test split")
    return ImageDataset(f"folder:{root.name}", x_train, y_train, x_test, y_test, classes, str(root))
