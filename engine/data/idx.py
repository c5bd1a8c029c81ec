"""The IDX file format (MNIST and its relatives): read and write, gzip-compressed or not.

An IDX file is: two zero bytes, a dtype code byte, a byte with the number of dimensions,
then one big-endian uint32 per dimension, then the values big-endian in C order.
A file that does not match its own header is an error naming the file, never a partial load.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from engine.data.dataset import Dataset, make_dataset
from engine.errors import EngineError
from engine.storage import atomic_path

__all__ = ["dataset_from_idx_files", "find_idx_file", "IDX_DTYPES", "IDX_FILES", "read_idx",
           "read_image_label_pair", "write_idx"]

# dtype code -> big-endian numpy dtype (the IDX specification's table).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF_KIND = {(dt.kind, dt.itemsize): code for code, dt in IDX_DTYPES.items()}

# The four files every MNIST-like data set ships, under their standard names.
IDX_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped when it is gzip data (detected by content, not by name)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError as e:
        raise EngineError(f"IDX file {path} does not exist") from e
    except OSError as e:
        raise EngineError(f"cannot read IDX file {path}: {e.strerror}") from e
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as e:
        raise EngineError(f"IDX file {path} is a damaged or truncated gzip file ({e}); "
                          "delete it and download or copy it again") from e


def read_idx(path: str | os.PathLike, *, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (plain or gzip-compressed, told by its content) into a native-endian NumPy array.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    ndim : int, optional
        The number of dimensions the caller expects (3 for images, 1 for labels); None accepts any.

    Returns
    -------
    numpy.ndarray
        The shape and dtype of the header (uint8, int8, int16, int32, float32 or float64), native byte order.

    Raises
    ------
    EngineError
        The file is missing, unreadable, a damaged gzip file, not IDX (bad magic bytes), of another
        ``ndim``, or truncated or longer than its header says; the message names the file.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = write_idx(f"{d}/labels-idx1-ubyte.gz", np.array([7, 2, 1], np.uint8))
    ...     print(read_idx(f"{d}/labels-idx1-ubyte.gz", ndim=1))
    [7 2 1]
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = write_idx(f"{d}/labels-idx1-ubyte.gz", np.array([7, 2, 1], np.uint8))
    ...     read_idx(f"{d}/labels-idx1-ubyte.gz", ndim=3)
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: IDX file .../labels-idx1-ubyte.gz has 1 dimension, expected 3 (images have 3, labels 1: ...)
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise EngineError(f"IDX file {path} is truncated: expected at least a 4-byte header, found {len(data)} bytes")
    zero, code, n_dims = struct.unpack(">HBB", data[:4])
    if zero != 0 or code not in IDX_DTYPES:
        raise EngineError(
            f"{path} is not an IDX file: expected magic bytes 00 00 <dtype code in "
            f"{{{', '.join(f'{c:#04x}' for c in IDX_DTYPES)}}}> <ndim>, found {data[:4].hex(' ')}")
    if ndim is not None and n_dims != ndim:
        raise EngineError(f"IDX file {path} has {n_dims} dimension{'s' if n_dims != 1 else ''}, expected {ndim} "
                          "(images have 3, labels 1: are the file names swapped?)")
    header_len = 4 + 4 * n_dims
    if len(data) < header_len:
        raise EngineError(f"IDX file {path} is truncated: expected a {header_len}-byte header, found {len(data)} bytes")
    dims = struct.unpack(f">{n_dims}I", data[4:header_len])
    dtype = IDX_DTYPES[code]
    expected = math.prod(dims) * dtype.itemsize
    found = len(data) - header_len
    if found != expected:
        what = "truncated" if found < expected else "longer than its header says"
        raise EngineError(f"IDX file {path} is {what}: header says shape {tuple(dims)} of {dtype.name} "
                          f"= {expected} data bytes, found {found}; delete it and get the file again")
    array = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(dims)
    return array.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file (atomically), gzip-compressed when ``path`` ends in ``.gz``.

    The same array always gives the same bytes (gzip mtime 0), so checksums of written files are stable.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write (its directory must exist).
    array : array_like
        Of a dtype IDX stores: uint8, int8, int16, int32, float32 or float64; at most 255 dimensions.

    Returns
    -------
    pathlib.Path
        ``path``, the IDX file written.

    Raises
    ------
    EngineError
        A dtype IDX cannot store (e.g. int64, bool) or more than 255 dimensions.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = write_idx(f"{d}/images-idx3-ubyte", np.zeros((2, 3, 3), np.uint8))
    ...     path.read_bytes()[:16].hex(" ")        # 00 00, dtype 0x08 (uint8), 3 dims, then 2, 3, 3 big-endian
    '00 00 08 03 00 00 00 02 00 00 00 03 00 00 00 03'
    >>> write_idx("labels-idx1-ubyte", np.arange(3))
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: IDX cannot store dtype int64; use one of uint8, int8, int16, int32, float32, float64
    """
    array = np.asarray(array)
    code = _CODE_OF_KIND.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        raise EngineError(f"IDX cannot store dtype {array.dtype}; use one of "
                          f"{', '.join(dt.name for dt in IDX_DTYPES.values())}")
    if array.ndim > 255:
        raise EngineError(f"IDX stores at most 255 dimensions, got {array.ndim}")
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    path = Path(path)
    if path.name.endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)  # mtime=0: same array -> same bytes (stable checksums)
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)
    return path


def read_image_label_pair(images_path: str | os.PathLike,
                          labels_path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels from two IDX files that must agree on the number of samples.

    Parameters
    ----------
    images_path, labels_path : str or os.PathLike
        An IDX file of (n, h, w) unsigned bytes and one of (n,) unsigned bytes (plain or gzip).

    Returns
    -------
    images : numpy.ndarray
        (n, h, w) uint8.
    labels : numpy.ndarray
        (n,) uint8.

    Raises
    ------
    EngineError
        What ``read_idx`` refuses, a dtype other than uint8, or a different n in the two files.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> files = {"images.gz": np.zeros((3, 28, 28), np.uint8), "labels.gz": np.array([5, 0, 4], np.uint8)}
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = [write_idx(f"{d}/{name}", array) for name, array in files.items()]
    ...     images, labels = read_image_label_pair(f"{d}/images.gz", f"{d}/labels.gz")
    >>> images.shape, labels.tolist()
    ((3, 28, 28), [5, 0, 4])
    """
    images = read_idx(images_path, ndim=3)
    labels = read_idx(labels_path, ndim=1)
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise EngineError(f"expected unsigned-byte IDX files, found {images.dtype} in {images_path} "
                          f"and {labels.dtype} in {labels_path}")
    if len(images) != len(labels):
        raise EngineError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels; "
                          "the two files must come from the same release")
    return images, labels


def find_idx_file(directory: Path, name: str) -> Path | None:
    """``directory/name`` (the standard ``.gz`` name), else its uncompressed twin, else None.

    Parameters
    ----------
    directory : pathlib.Path
        Where to look.
    name : str
        The standard file name, e.g. ``"train-images-idx3-ubyte.gz"`` (see ``IDX_FILES``).

    Returns
    -------
    pathlib.Path or None
        The file found, or None when neither exists.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as d:
    ...     (Path(d) / "t10k-labels-idx1-ubyte").touch()
    ...     print(find_idx_file(Path(d), "t10k-labels-idx1-ubyte.gz").name,
    ...           find_idx_file(Path(d), "t10k-images-idx3-ubyte.gz"))
    t10k-labels-idx1-ubyte None
    """
    for candidate in (directory / name, directory / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def dataset_from_idx_files(name: str, files: dict[str, Path], *, limit_train: int | None = None,
                           limit_test: int | None = None) -> Dataset:
    """A Dataset from the four IDX files of an MNIST-like set: images flattened, pixels scaled by 1/255, 10 classes.

    Parameters
    ----------
    name : str
        The data set's name.
    files : dict of str to pathlib.Path
        The four files under the keys of ``IDX_FILES`` (train_images, train_labels, test_images, test_labels).
    limit_train, limit_test : int or None, optional
        Keep the first k samples of each split (only those are scaled to float32).

    Returns
    -------
    Dataset
        ``X_*`` (n, h * w) float32 in [0, 1], ``y_*`` (n,) int64.

    Raises
    ------
    EngineError
        What ``read_image_label_pair`` refuses, or train and test images of different sizes.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as d:
    ...     files = {key: Path(d, name) for key, name in IDX_FILES.items()}
    ...     _ = write_idx(files["train_images"], np.full((4, 2, 2), 255, np.uint8))
    ...     _ = write_idx(files["train_labels"], np.array([0, 1, 2, 3], np.uint8))
    ...     _ = write_idx(files["test_images"], np.zeros((2, 2, 2), np.uint8))
    ...     _ = write_idx(files["test_labels"], np.array([9, 8], np.uint8))
    ...     data = dataset_from_idx_files("toy", files, limit_train=2)
    >>> data.X_train.tolist(), data.y_test.tolist()
    ([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]], [9, 8])
    """
    X_train, y_train = read_image_label_pair(files["train_images"], files["train_labels"])
    X_test, y_test = read_image_label_pair(files["test_images"], files["test_labels"])
    if X_train.shape[1:] != X_test.shape[1:]:
        raise EngineError(f"{name}: train images are {X_train.shape[1:]} but test images {X_test.shape[1:]} "
                          f"({files['train_images']}, {files['test_images']})")
    scale = lambda a: a.astype("float32") / 255.0  # noqa: E731
    return make_dataset(name, scale(X_train[:limit_train]), y_train, scale(X_test[:limit_test]), y_test,
                        n_classes=10, limit_train=limit_train, limit_test=limit_test)
