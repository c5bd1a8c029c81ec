"""What a model file is, by its content (its first bytes, its archive's entries), never by its suffix;
and the one-line answers for TensorFlow's SavedModel folders and checkpoints, which hold graphs and
variables this engine does not read."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

from engine.errors import EngineError
from engine.paths import path_problem

__all__ = ["file_format", "tensorflow_kind"]

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_TF_TABLE_MAGIC = 0xDB4775248B80FB57   # the footer of a TensorFlow checkpoint's .index (a LevelDB-style table)
# What a suffix suggests when the content is not recognised: that reader's own error says what is wrong.
_SUFFIX_HINTS = {".h5": "hdf5", ".hdf5": "hdf5", ".keras": "keras", ".pt": "torch", ".pth": "torch",
                 ".ckpt": "torch", ".bin": "torch", ".tar": "torch", ".safetensors": "safetensors", ".npz": "npz"}
_FORMATS = ("hdf5", "keras", "torch", "safetensors", "npz")

_SAVED_MODEL = ("a TensorFlow SavedModel folder: it holds a graph, not a file of weights this engine reads; load it "
               "in TensorFlow and save the model as .keras (model = tf.keras.models.load_model(path); "
               "model.save('model.keras')), or its Dense kernels with np.savez")
_TF_CHECKPOINT = ("a TensorFlow checkpoint (.index and .data-* files): restore it into its model in TensorFlow "
                 "(model.load_weights(prefix) or tf.train.Checkpoint(model=model).restore(prefix)) and save the "
                 "model as .keras (model.save('model.keras'))")


def tensorflow_kind(path: Path) -> str | None:
    """The one-line answer for a TensorFlow SavedModel or checkpoint: graphs and variables this engine does not read.

    Parameters
    ----------
    path : pathlib.Path
        A folder, a ``saved_model.pb``, a checkpoint's ``.index`` or ``.data-*`` file, or its prefix.

    Returns
    -------
    str or None
        What it is and how to save it as a file the engine reads (``.keras``); None when it is neither.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     Path(d, "saved_model.pb").touch()
    ...     print(tensorflow_kind(Path(d)).split(":")[0], tensorflow_kind(Path(d, "variables")))
    a TensorFlow SavedModel folder None
    """
    if path.is_dir():
        if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file():
            return _SAVED_MODEL
        if (path / "checkpoint").is_file() or any(path.glob("*.index")):
            return _TF_CHECKPOINT if any(_is_tf_index(p) for p in path.glob("*.index")) else None
        return None
    if path.name == "saved_model.pb":
        return _SAVED_MODEL
    if path.suffix == ".index" and _is_tf_index(path):
        return _TF_CHECKPOINT
    if ".data-" in path.name and path.name.rsplit(".data-", 1)[1].count("-of-") == 1:
        return _TF_CHECKPOINT
    if not path.exists() and _is_tf_index(path.with_name(path.name + ".index")):
        return _TF_CHECKPOINT
    return None


def _is_tf_index(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            if fh.tell() < 48:
                return False
            fh.seek(-8, 2)
            return struct.unpack("<Q", fh.read(8))[0] == _TF_TABLE_MAGIC
    except OSError:
        return False


def _sniff(path: Path) -> str | None:
    """One of _FORMATS by content, or None when the bytes are none of them."""
    with open(path, "rb") as fh:
        head = fh.read(16)
        if head[:8] == _HDF5_MAGIC:
            return "hdf5"
        if len(head) >= 9:   # safetensors: u64 little-endian header size, then a JSON object
            n = struct.unpack("<Q", head[:8])[0]
            fh.seek(0, 2)
            if head[8:9] == b"{" and 8 + n <= fh.tell() and n < (100 << 20):
                fh.seek(8)
                try:
                    json.loads(fh.read(n))
                    return "safetensors"
                except ValueError:
                    pass
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except (OSError, zipfile.BadZipFile):
            return None
        if "config.json" in names and any(n.endswith(".weights.h5") for n in names):
            return "keras"
        if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
            return "torch"
        if names and all(n.endswith(".npy") for n in names):
            return "npz"
        return None
    if len(head) >= 2 and head[0] == 0x80 and 1 <= head[1] <= 5:   # a pickle stream: legacy torch.save
        return "torch"
    return None


def _check_file(path: Path) -> None:
    """A one-line refusal for what is not a readable regular file (or is TensorFlow's)."""
    tf = tensorflow_kind(path)
    if tf is not None:
        raise EngineError(f"{path}: {tf}")
    if path.is_dir():
        raise EngineError(f"{path}: is a directory, not a model file")
    problem = path_problem(path, "file")   # a symbolic-link loop, a path under a file, ... are called that
    if problem == "does not exist":
        raise EngineError(f"{path}: no such file")
    if problem:
        raise EngineError(f"{path}: {problem}")
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise EngineError(f"{path}: cannot open it ({e.strerror})") from None


def file_format(path: Path) -> str:
    """The format to read ``path`` as, told by its content (first bytes, archive entries), never by its name alone.

    Where the content is none of the formats, the suffix decides (that reader's error then says what is
    wrong); with neither, a one-line refusal.

    Parameters
    ----------
    path : pathlib.Path
        The model file.

    Returns
    -------
    {"hdf5", "keras", "torch", "safetensors", "npz"}
        ``hdf5``: a Keras HDF5 file; ``keras``: a ``.keras`` archive; ``torch``: anything ``torch.save``
        wrote; ``safetensors``; ``npz``: a zip of ``.npy`` entries.

    Raises
    ------
    EngineError
        A missing or unreadable path, a directory, a TensorFlow SavedModel or checkpoint (saying how to
        convert it), or content of no known format with no known suffix.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with open(f"{d}/weights.bin", "wb") as f:       # a .bin suffix (torch's), an .npz inside
    ...         np.savez(f, w=np.ones(2))
    ...     print(file_format(Path(d, "weights.bin")))
    npz
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = Path(d, "notes.txt").write_text("hello")
    ...     file_format(Path(d, "notes.txt"))
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: .../notes.txt: not a model file this engine reads: its content is none of ...
    """
    _check_file(path)
    kind = _sniff(path)
    if kind is not None:
        return kind
    hint = _SUFFIX_HINTS.get(path.suffix.lower())
    if hint is not None:
        return hint
    raise EngineError(f"{path}: not a model file this engine reads: its content is none of Keras (.keras archive, "
                      "HDF5), PyTorch (torch.save), safetensors or NumPy .npz")
