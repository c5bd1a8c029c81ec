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
    """MNIST or KMNIST from its four IDX .gz files: 784 inputs (28x28, pixels / 255), the official 60,000 / 10,000 split.

    Parameters
    ----------
    name : {"mnist", "kmnist"}
        The data set (its files and mirrors in ``engine.data.download.SOURCES``).
    root : str or os.PathLike, optional
        A directory holding the four files (``engine.data.idx.IDX_FILES``) instead of the cache.
    cache_dir : str or os.PathLike, optional
        The download cache (files in ``<cache_dir>/<name>``).
    download : bool, default True
        Download missing files; False refuses with their names, checksums and URLs.
    limit_train, limit_test : int or None, optional
        Keep the first k samples of each split.

    Returns
    -------
    Dataset
        784 float32 inputs in [0, 1], 10 classes.

    Raises
    ------
    EngineError
        Files missing (``download=False``) or not downloadable, a checksum mismatch, a damaged IDX file.

    Examples
    --------
    The files it expects (verified against their published MD5), and the offline refusal:

    >>> from engine.data.download import SOURCES
    >>> [f.name for f in SOURCES["kmnist"].files]  # doctest: +NORMALIZE_WHITESPACE
    ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz',
     't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     load_remote_idx_dataset("kmnist", cache_dir=d, download=False)
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: kmnist: ... not found in .../kmnist and downloading is disabled. ...
    """
    paths = fetch(name, root=root, cache_dir=cache_dir, download=download)
    files = {key: paths[file_name] for key, file_name in IDX_FILES.items()}
    return dataset_from_idx_files(name, files, limit_train=limit_train, limit_test=limit_test)
