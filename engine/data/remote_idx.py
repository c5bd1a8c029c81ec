"""MNIST and KMNIST: the four standard IDX .gz files, downloaded once into the cache (see download.py)."""

from __future__ import annotations

import os

from engine.data.dataset import Dataset
from engine.data.download import fetch
from engine.data.idx import IDX_FILES, dataset_from_idx_files

__all__ = ["load_remote_idx_dataset"]


def load_remote_idx_dataset(name: str, *, root: str | os.PathLike | None = None,
                            cache_dir: str | os.PathLike | None = None, download: bool = True,
                            limit_train: int | None = None, limit_test: int | None = None) -> Dataset:
    """28x28 grayscale -> 784 inputs, pixels / 255; the official 60,000 / 10,000 split."""
    paths = fetch(name, root=root, cache_dir=cache_dir, download=download)
    files = {key: paths[file_name] for key, file_name in IDX_FILES.items()}
    return dataset_from_idx_files(name, files, limit_train=limit_train, limit_test=limit_test)
