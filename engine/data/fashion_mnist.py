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
    """The four Fashion-MNIST IDX files in ``root`` (the ``.gz`` names of ``IDX_FILES`` or their uncompressed twins).

    Parameters
    ----------
    root : str or os.PathLike, optional
        The directory; default ``DEFAULT_ROOT``, where Debian's ``dataset-fashion-mnist`` installs them.

    Returns
    -------
    dict of str to pathlib.Path
        ``{"train_images": ..., "train_labels": ..., "test_images": ..., "test_labels": ...}``.

    Raises
    ------
    EngineError
        ``root`` is not a directory, or lacks some of the files (names them and how to install them).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from engine.data.idx import IDX_FILES
    >>> with tempfile.TemporaryDirectory() as d:
    ...     for name in IDX_FILES.values():
    ...         (Path(d) / name.removesuffix(".gz")).touch()   # uncompressed files are found too
    ...     print(sorted(p.name for p in fashion_mnist_files(d).values()))
    ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte', 'train-images-idx3-ubyte', 'train-labels-idx1-ubyte']
    """
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
    """Fashion-MNIST: 28x28 grayscale -> 784 inputs, pixels / 255; the official 60,000 / 10,000 split.

    Parameters
    ----------
    root : str or os.PathLike, optional
        The directory of the four IDX files (see ``fashion_mnist_files``); default ``DEFAULT_ROOT``.
    limit_train, limit_test : int or None, optional
        Keep the first k samples of each split.

    Returns
    -------
    Dataset
        ``"fashion_mnist"``: 784 float32 inputs in [0, 1], 10 classes.

    Raises
    ------
    EngineError
        Files missing, damaged or disagreeing (image and label counts, train and test image sizes).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from engine.data.idx import IDX_FILES, write_idx
    >>> with tempfile.TemporaryDirectory() as d:
    ...     for key, name in IDX_FILES.items():
    ...         n = 4 if key.startswith("train") else 2
    ...         _ = write_idx(f"{d}/{name}", np.zeros((n, 28, 28), np.uint8) if key.endswith("images")
    ...                       else np.arange(n, dtype=np.uint8))
    ...     data = load_fashion_mnist_dataset(root=d, limit_train=3)
    >>> data.X_train.shape, data.y_train.tolist(), data.n_test
    (torch.Size([3, 784]), [0, 1, 2], 2)
    """
    files = fashion_mnist_files(root)
    return dataset_from_idx_files("fashion_mnist", files, limit_train=limit_train, limit_test=limit_test)

