"""Fashion-MNIST from a directory of the four standard IDX ``.gz`` files (Debian's dataset-fashion-mnist)."""

from __future__ import annotations

import os
from pathlib import Path

from engine.data.dataset import Dataset
from engine.data.idx import IDX_FILES, dataset_from_idx_files, find_idx_file
from engine.errors import EngineError
from engine.paths import path_problem

__all__ = ["DEFAULT_ROOT", "fashion_mnist_files", "load_fashion_mnist_dataset"]

# Where Debian's `dataset-fashion-mnist` package installs the files (checked with `dpkg -c`).
DEFAULT_ROOT = Path("/usr/share/datasets/fashion-mnist")


def fashion_mnist_files(root: str | os.PathLike | None = None) -> dict[str, Path]:
    """The four IDX files in ``root`` (default: the Debian location), or an EngineError saying how to get them."""
    directory = Path(root) if root is not None else DEFAULT_ROOT
    problem = path_problem(directory)
    if problem and problem != "does not exist":   # a file, a link loop, ...: not "missing"
        raise EngineError(f"dataset.root={directory} {problem}: set dataset.root to the directory that holds "
                          f"{', '.join(IDX_FILES.values())}")
    found = {key: find_idx_file(directory, name) for key, name in IDX_FILES.items()} if not problem else \
        dict.fromkeys(IDX_FILES)
    missing = [IDX_FILES[key] for key, path in found.items() if path is None]
    if missing:
        where = (f"directory {directory} {problem}" if problem
                 else f"directory {directory} lacks {', '.join(missing)}")
        raise EngineError(
            f"Fashion-MNIST files not found: {where}. Install them with "
            f"`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu; puts the four IDX .gz files in "
            f"{DEFAULT_ROOT}), or set dataset.root to a directory holding "
            f"{', '.join(IDX_FILES.values())} (dataset.root=/path/to/fashion-mnist).")
    return found  # type: ignore[return-value]


def load_fashion_mnist_dataset(*, root: str | os.PathLike | None = None, limit_train: int | None = None,
                               limit_test: int | None = None) -> Dataset:
    """28x28 grayscale -> 784 inputs, pixels / 255; the official 60,000 / 10,000 split."""
    files = fashion_mnist_files(root)
    return dataset_from_idx_files("fashion_mnist", files, limit_train=limit_train, limit_test=limit_test)

