"""One entry point for every benchmark: ``load_dataset(name, ...)`` and ``check_available(name, ...)``."""

from __future__ import annotations

import importlib
import os

from engine.data.dataset import Dataset, check_limit
from engine.errors import EngineError

__all__ = ["canonical_name", "check_available", "DATASETS", "load_dataset"]

DATASETS: tuple[str, ...] = ("digits", "mnist1d", "fashion_mnist", "mnist", "kmnist", "cifar10")

PathLike = str | os.PathLike


def canonical_name(name: str) -> str:
    """The registered name (case and '-' vs '_' forgiven), or an EngineError listing the known ones."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in DATASETS:
        raise EngineError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return key


def load_dataset(name: str, *, root: PathLike | None = None, cache_dir: PathLike | None = None,
                 download: bool = True, resize: int | None = 28, grayscale: bool = True,
                 test_fraction: float = 0.25, seed: int = 0, test_size: int | None = None,
                 limit_train: int | None = None, limit_test: int | None = None) -> Dataset:
    """Load benchmark ``name`` as CPU float32 tensors in [0, 1] (see Dataset).

    root: directory holding the data set's files (fashion_mnist: default the Debian package's
        /usr/share/datasets/fashion-mnist; mnist, kmnist, cifar10: used instead of the cache).
    cache_dir: download cache (default $ENGINE_DATA_DIR or ~/.cache/engine/data); download: allow downloads.
    resize, grayscale: CIFAR-10 only (28 -> 784 grayscale inputs; None or 32 = native; False = 3 channels).
    test_fraction, seed: digits only (its stratified split); the others have official splits.
    test_size: mnist1d only (generated test samples; None = the standard 1,000).
    limit_train, limit_test: keep the first k samples of each split (small tests, smoke runs).
    """
    key = canonical_name(name)
    check_limit(limit_train, "limit_train")
    check_limit(limit_test, "limit_test")
    if test_size is not None and key != "mnist1d":
        raise EngineError(f"dataset.test_size is for mnist1d, whose test set is generated; {key} has a fixed "
                          "test set: leave dataset.test_size=null")
    limits = {"limit_train": limit_train, "limit_test": limit_test}
    if key == "digits":
        from engine.data.digits import load_digits_dataset
        return load_digits_dataset(test_fraction=test_fraction, seed=seed, **limits)
    if key == "mnist1d":
        from engine.data.mnist1d import load_mnist1d_dataset
        return load_mnist1d_dataset(test_size=test_size, **limits)
    if key == "fashion_mnist":
        from engine.data.fashion_mnist import load_fashion_mnist_dataset
        return load_fashion_mnist_dataset(root=root, **limits)
    if key in ("mnist", "kmnist"):
        from engine.data.remote_idx import load_remote_idx_dataset
        return load_remote_idx_dataset(key, root=root, cache_dir=cache_dir, download=download, **limits)
    from engine.data.cifar10 import load_cifar10_dataset
    return load_cifar10_dataset(root=root, cache_dir=cache_dir, download=download, resize=resize,
                                grayscale=grayscale, **limits)


# data sets a package makes (no files): the module that must import, its pip name, and what it is called
_GENERATED = {"digits": ("sklearn.datasets", "scikit-learn", "scikit-learn"),
              "mnist1d": ("mnist1d.data", "mnist1d", "the mnist1d package")}


def check_available(name: str, *, root: PathLike | None = None, cache_dir: PathLike | None = None,
                    download: bool = True) -> None:
    """Raise an EngineError now, before any training, if data set ``name`` cannot be had.

    Remote data sets are downloaded here when missing (and allowed), so a later load is offline.
    """
    key = canonical_name(name)
    if key in _GENERATED:   # made by a package: it must import
        module, package, what = _GENERATED[key]
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise EngineError(f"dataset {key!r} needs {what}: pip install {package}") from e
    elif key == "fashion_mnist":
        from engine.data.fashion_mnist import fashion_mnist_files
        fashion_mnist_files(root)
    else:
        from engine.data.download import fetch
        fetch(key, root=root, cache_dir=cache_dir, download=download)
