"""Dataset names → loaders. ``load_dataset("fashion-mnist", path)``; a folder path alone is an image folder."""

from __future__ import annotations

from pathlib import Path

from automcu.data.dataset import DatasetError, ImageDataset

DATASET_NAMES = ("digits", "mnist", "fashion-mnist", "cifar10", "cifar100", "folder")
_ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "cifar-10": "cifar10",
            "cifar-100": "cifar100"}


def canonical_name(name: str) -> str:
    key = name.strip().lower()
    return _ALIASES.get(key, key)


def load_dataset(
    name: str, path: str | Path | None = None, *, image_size: int = 32, channels: int = 3, seed: int = 0
) -> ImageDataset:
    """Load a real dataset by name; ``path`` is its folder (defaults where a distribution installs one).

    ``image_size`` / ``channels`` only apply to image folders (``name="folder"`` or ``name`` a directory).
    """
    key = canonical_name(name)
    if key == "digits":
        from automcu.data.digits import load_digits

        return load_digits(seed=seed)
    if key in ("mnist", "fashion-mnist"):
        from automcu.data.idx import load_idx_dataset

        return load_idx_dataset(key, path)
    if key in ("cifar10", "cifar100"):
        from automcu.data.cifar import load_cifar

        return load_cifar(key, path)
    from automcu.data.folder import load_image_folder

    if key == "folder":
        if path is None:
            raise DatasetError("dataset 'folder' needs --data DIR (one subfolder of images per class)")
        return load_image_folder(path, size=image_size, channels=channels, seed=seed)
    if Path(name).expanduser().is_dir():
        return load_image_folder(name, size=image_size, channels=channels, seed=seed)
    raise DatasetError(f"unknown dataset {name!r}; use one of {', '.join(DATASET_NAMES)} or an image folder path")
