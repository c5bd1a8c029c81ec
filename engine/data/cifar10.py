"""CIFAR-10 from its python-version archive ``cifar-10-python.tar.gz`` (downloaded once, see download.py).

The archive holds pickled batches ``data_batch_1..5`` (train, 50,000) and ``test_batch`` (10,000),
each a dict with ``data`` (k, 3072) uint8 (R, G, B planes of 32x32, row-major) and ``labels``.
The paper's single 784-input architecture implies 28x28 grayscale inputs, so by default images
become ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B) resized to 28x28 (bilinear, antialiased);
``resize=None`` (or 32) keeps the native 32x32 and ``grayscale=False`` keeps the three channels.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.data.dataset import Dataset, first, make_dataset
from engine.data.download import fetch
from engine.errors import EngineError

__all__ = ["ARCHIVE", "BATCH_DIR", "cifar_to_inputs", "load_cifar10_dataset", "LUMA_601", "NATIVE_SIZE",
           "TEST_BATCHES", "TRAIN_BATCHES"]

ARCHIVE = "cifar-10-python.tar.gz"
BATCH_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"{BATCH_DIR}/data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = (f"{BATCH_DIR}/test_batch",)
NATIVE_SIZE = 32
LUMA_601 = (0.299, 0.587, 0.114)
_CONVERT_CHUNK = 10_000  # images converted at a time: bounds the float32 working memory


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """The batches hold only dicts, lists, bytes and numpy arrays: refuse any other global."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
                ("numpy._core.multiarray", "scalar"),
                ("_codecs", "encode")}  # how Python 3 protocol-2 pickles spell bytes

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a CIFAR-10 batch")
        return super().find_class(module, name)


def _read_cifar10_archive(path: str | os.PathLike, *, limit_train: int | None = None,
                         limit_test: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train (n, 3072) uint8, y_train, X_test, y_test) from the archive, reading only the batches needed."""
    path = Path(path)
    try:
        with tarfile.open(path, "r:gz") as tar:
            X_train, y_train = _read_batches(tar, path, TRAIN_BATCHES, limit_train)
            X_test, y_test = _read_batches(tar, path, TEST_BATCHES, limit_test)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        if isinstance(e, FileNotFoundError):
            raise EngineError(f"CIFAR-10 archive {path} does not exist") from e
        raise EngineError(f"{path} is not a readable CIFAR-10 python archive ({e}); delete it and download "
                          f"{ARCHIVE} again") from e
    return X_train, y_train, X_test, y_test


def _read_batches(tar: tarfile.TarFile, path: Path, members: tuple[str, ...],
                  limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    images, labels, count = [], [], 0
    for member in members:
        if limit is not None and count >= limit:
            break
        try:
            handle = tar.extractfile(member)
        except KeyError:
            handle = None
        if handle is None:
            raise EngineError(f"{path} lacks {member}: expected the CIFAR-10 python archive "
                              f"({', '.join(TRAIN_BATCHES + TEST_BATCHES)})")
        try:
            batch = _NumpyOnlyUnpickler(io.BytesIO(handle.read()), encoding="bytes").load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
            raise EngineError(f"{member} in {path} is not a CIFAR-10 batch ({e})") from e
        data = np.asarray(batch.get(b"data") if isinstance(batch, dict) else None)
        batch_labels = np.asarray(batch.get(b"labels") if isinstance(batch, dict) else None)
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * NATIVE_SIZE**2 \
                or batch_labels.shape != (len(data),):
            raise EngineError(f"{member} in {path}: expected 'data' (k, 3072) uint8 and k 'labels', found "
                              f"data {data.dtype} {data.shape} and labels {batch_labels.shape}")
        images.append(data)
        labels.append(batch_labels.astype(np.int64))
        count += len(data)
    return first(np.concatenate(images), limit), first(np.concatenate(labels), limit)


def cifar_to_inputs(data: np.ndarray, *, grayscale: bool = True, resize: int | None = 28) -> torch.Tensor:
    """CIFAR rows -> network inputs: ITU-R 601 luma (unless ``grayscale=False``), resized, flattened, in [0, 1].

    Parameters
    ----------
    data : numpy.ndarray
        (n, 3072) uint8: each row the R, G and B planes of a 32x32 image, row-major (the batches' layout).
    grayscale : bool, default True
        0.299 R + 0.587 G + 0.114 B (c = 1 channel); False keeps the c = 3 channels.
    resize : int or None, default 28
        Output side s in pixels (bilinear, antialiased); None or 32 keeps the native 32x32.

    Returns
    -------
    torch.Tensor
        (n, c * s * s) float32 in [0, 1], converted 10,000 images at a time.

    Examples
    --------
    >>> import numpy as np
    >>> red = np.zeros((2, 3072), np.uint8)
    >>> red[:, :1024] = 255                                   # the R plane full on
    >>> inputs = cifar_to_inputs(red)
    >>> inputs.shape, round(float(inputs[0, 0]), 3)           # 784 inputs of luma 0.299
    (torch.Size([2, 784]), 0.299)
    >>> cifar_to_inputs(red, grayscale=False, resize=None).shape
    torch.Size([2, 3072])
    """
    size = NATIVE_SIZE if resize is None else resize
    luma = torch.tensor(LUMA_601, dtype=torch.float32).view(1, 3, 1, 1)
    out = []
    for start in range(0, len(data), _CONVERT_CHUNK):
        x = torch.from_numpy(data[start:start + _CONVERT_CHUNK]).reshape(-1, 3, NATIVE_SIZE, NATIVE_SIZE)
        x = x.to(torch.float32) / 255.0
        if grayscale:
            x = (x * luma).sum(dim=1, keepdim=True)
        if size != NATIVE_SIZE:
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out.append(x.clamp_(0.0, 1.0).reshape(len(x), -1))  # clamp: float rounding of the luma sum
    return torch.cat(out) if out else torch.empty(0, (1 if grayscale else 3) * size * size)


def load_cifar10_dataset(*, root: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
                         download: bool = True, resize: int | None = 28, grayscale: bool = True,
                         limit_train: int | None = None, limit_test: int | None = None) -> Dataset:
    """CIFAR-10's official 50,000 / 10,000 split as flattened [0, 1] inputs (784 luma values by default).

    Reads ``cifar-10-python.tar.gz`` (downloaded once and checksum-verified, see ``fetch``): the pickled
    batches ``data_batch_1..5`` and ``test_batch``, only as many as the limits need; a batch holding
    anything but arrays and lists is refused (no arbitrary unpickling). Images go through ``cifar_to_inputs``.

    Parameters
    ----------
    root : str or os.PathLike, optional
        A directory holding ``cifar-10-python.tar.gz`` (its MD5 checked) instead of the cache.
    cache_dir : str or os.PathLike, optional
        The download cache (the archive goes to ``<cache_dir>/cifar10``).
    download : bool, default True
        Download the archive (163 MiB) when missing; False refuses with its name, checksum and URL.
    resize : int or None, default 28
        Side in pixels of the inputs; None or 32: native.
    grayscale : bool, default True
        Luma; False keeps the 3 channels.
    limit_train, limit_test : int or None, optional
        Keep the first k samples of each split.

    Returns
    -------
    Dataset
        ``"cifar10"``: (n, c * resize**2) float32 inputs in [0, 1], 10 classes.

    Raises
    ------
    EngineError
        A ``resize`` that is not a positive integer or None; the archive missing (``download=False``),
        not downloadable, of the wrong checksum, or not a readable CIFAR-10 python archive.

    Examples
    --------
    >>> import tempfile
    >>> ARCHIVE, TRAIN_BATCHES[0], TEST_BATCHES
    ('cifar-10-python.tar.gz', 'cifar-10-batches-py/data_batch_1', ('cifar-10-batches-py/test_batch',))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     load_cifar10_dataset(cache_dir=d, download=False)
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: cifar10: cifar-10-python.tar.gz not found in .../cifar10 and downloading is disabled. ...
    """
    if resize is not None and (isinstance(resize, bool) or not isinstance(resize, int) or resize < 1):
        raise EngineError(f"resize must be a positive integer (side in pixels) or None for native 32, got {resize!r}")
    archive = fetch("cifar10", root=root, cache_dir=cache_dir, download=download)[ARCHIVE]
    X_train, y_train, X_test, y_test = _read_cifar10_archive(archive, limit_train=limit_train, limit_test=limit_test)
    return make_dataset("cifar10", cifar_to_inputs(X_train, grayscale=grayscale, resize=resize), y_train,
                        cifar_to_inputs(X_test, grayscale=grayscale, resize=resize), y_test, n_classes=10)
