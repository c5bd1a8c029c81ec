"""This project's weight snapshots: stacked (N, fan_in, fan_out) weights of a population at one epoch,
in a safetensors file with JSON metadata. Other weight files are read by ``engine.networks``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import torch

from engine.errors import EngineError
from engine.paths import path_problem
from engine.storage import atomic_path
from engine.weight_stack import check_weight_stack

__all__ = ["SNAPSHOT_FORMAT", "load_snapshot", "safetensors_contents", "save_snapshot", "snapshot_from"]

SNAPSHOT_FORMAT = "engine.snapshot/1"


def save_snapshot(path: str | os.PathLike, weights: Sequence[torch.Tensor], metadata: dict[str, Any]) -> Path:
    """Write a population's weights and JSON-able metadata to a safetensors file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write (its folder is made); an existing file is replaced whole or not at all.
    weights : sequence of torch.Tensor
        The weight stack: L floating blocks, block l of shape (N, n_l, n_{l+1}), N >= 1.
    metadata : dict
        What to keep with them (dataset, epoch, network ids, ...), as JSON.

    Returns
    -------
    pathlib.Path
        ``path``, the snapshot written (read it back with ``load_snapshot``).

    Raises
    ------
    EngineError
        If ``weights`` is not such a stack (``engine.weight_stack.check_weight_stack``).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = save_snapshot(Path(tmp) / "epoch3.safetensors", [torch.ones(2, 3, 4), torch.ones(2, 4, 1)],
    ...                          {"epoch": 3})
    ...     weights, metadata = load_snapshot(path)
    >>> [tuple(w.shape) for w in weights], metadata
    ([(2, 3, 4), (2, 4, 1)], {'epoch': 3})
    """
    from safetensors.torch import save_file

    weights = check_weight_stack(weights, one_network=False, floating=True)
    tensors = {f"layer{i + 1}": w.detach().contiguous().cpu() for i, w in enumerate(weights)}
    header = {"format": SNAPSHOT_FORMAT, "n_layers": str(len(weights)), "metadata": json.dumps(metadata)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)
    return Path(path)


def safetensors_contents(path: Path, what: str, hint: str = "") -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """The header metadata and the tensors of a safetensors file, read whole.

    Parameters
    ----------
    path : pathlib.Path
        A safetensors file.
    what : str
        What the file was expected to be, for the message (e.g. ``"snapshot"``).
    hint : str
        Appended to the message (e.g. ``"; write it with ..."``), "" for nothing.

    Returns
    -------
    header : dict of str to str
        The file's ``__metadata__`` (empty where it has none).
    tensors : dict of str to torch.Tensor
        Every tensor by name, on the CPU.

    Raises
    ------
    EngineError
        ``"{path}: not a readable safetensors {what} ({reason}){hint}"``, where it cannot be read.

    Examples
    --------
    >>> import tempfile
    >>> from safetensors.torch import save_file
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     save_file({"w": torch.zeros(2, 3)}, f"{tmp}/m.safetensors", metadata={"by": "me"})
    ...     header, tensors = safetensors_contents(Path(tmp) / "m.safetensors", "model")
    ...     _ = (Path(tmp) / "bad.safetensors").write_text("not one")
    ...     try:
    ...         safetensors_contents(Path(tmp) / "bad.safetensors", "model")
    ...     except EngineError as e:
    ...         print(str(e).replace(tmp, "TMP").split(" (")[0])
    TMP/bad.safetensors: not a readable safetensors model
    >>> header, {k: tuple(t.shape) for k, t in tensors.items()}
    ({'by': 'me'}, {'w': (2, 3)})
    """
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {}), {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:
        raise EngineError(f"{path}: not a readable safetensors {what} ({e}){hint}") from None


def snapshot_from(path: Path, tensors: dict[str, torch.Tensor], header: dict[str, str]
                  ) -> tuple[list[torch.Tensor], dict[str, Any]]:
    """The weights and metadata of a safetensors file whose header says it is an engine snapshot.

    For readers that have opened the file already (``safetensors_contents``) and found
    ``header["format"] == SNAPSHOT_FORMAT``.

    Parameters
    ----------
    path : pathlib.Path
        The file, for the messages.
    tensors : dict of str to torch.Tensor
        Its tensors: ``layer1`` ... ``layer{L}``.
    header : dict of str to str
        Its metadata: ``n_layers`` (L) and ``metadata`` (JSON of a mapping).

    Returns
    -------
    weights : list of torch.Tensor
        L floating blocks (N, n_l, n_{l+1}), N >= 1, checked (``check_weight_stack``).
    metadata : dict
        The JSON metadata, parsed.

    Raises
    ------
    EngineError
        If a layer or the metadata is missing or damaged, or the blocks are not a weight stack.

    Examples
    --------
    >>> header = {"format": SNAPSHOT_FORMAT, "n_layers": "2", "metadata": '{"epoch": 0}'}
    >>> weights, metadata = snapshot_from(Path("s.safetensors"),
    ...                                   {"layer1": torch.ones(1, 3, 2), "layer2": torch.ones(1, 2, 1)}, header)
    >>> [tuple(w.shape) for w in weights], metadata
    ([(1, 3, 2), (1, 2, 1)], {'epoch': 0})
    >>> snapshot_from(Path("s.safetensors"), {"layer1": torch.ones(1, 3, 2)}, header)
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: s.safetensors: damaged engine snapshot (KeyError('layer2') missing or invalid); ...
    """
    try:
        n_layers = int(header["n_layers"])
        weights = [tensors[f"layer{i + 1}"] for i in range(n_layers)]
        metadata = json.loads(header.get("metadata", "{}"))
    except (KeyError, ValueError) as e:
        raise EngineError(f"{path}: damaged engine snapshot ({e!r} missing or invalid); keys "
                          f"{sorted(tensors)}") from None
    if not isinstance(metadata, dict):
        raise EngineError(f"{path}: damaged engine snapshot (its metadata is a JSON {type(metadata).__name__}, not a "
                          "mapping of dataset, epoch and networks); write it with engine.weights_io.save_snapshot")
    if weights and not weights[0].shape[0]:
        raise EngineError(f"{path}: the snapshot holds no network (its layers have 0 networks)")
    try:
        return check_weight_stack(weights, one_network=False, floating=True), metadata
    except EngineError as e:
        raise EngineError(f"{path}: {e}") from None


def load_snapshot(path: str | os.PathLike) -> tuple[list[torch.Tensor], dict[str, Any]]:
    """Read a snapshot written by ``save_snapshot``.

    Parameters
    ----------
    path : str or os.PathLike
        A safetensors file written by ``save_snapshot``.

    Returns
    -------
    weights : list of torch.Tensor
        L blocks (N, n_l, n_{l+1}), as written.
    metadata : dict
        The metadata written with them.

    Raises
    ------
    EngineError
        If the file is missing, unreadable, not an engine snapshot or damaged.

    Examples
    --------
    Writing and reading one back: see ``save_snapshot``. Another file is refused in one line:

    >>> load_snapshot("/nonexistent/epoch3.safetensors")
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: /nonexistent/epoch3.safetensors: no such snapshot file
    """
    path = Path(path)
    problem = path_problem(path, "file")
    if problem == "does not exist":
        raise EngineError(f"{path}: no such snapshot file")
    if problem:
        raise EngineError(f"snapshot {path} {problem}")
    header, tensors = safetensors_contents(path, "snapshot")
    if header.get("format") != SNAPSHOT_FORMAT:
        raise EngineError(f"{path}: not an engine snapshot (metadata format={header.get('format')!r}, expected "
                          f"{SNAPSHOT_FORMAT!r}); use engine.read_network for other weight files")
    return snapshot_from(path, tensors, header)
