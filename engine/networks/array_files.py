"""Named arrays: NumPy ``.npz`` and ``.safetensors`` (including this project's weight snapshots).

An ``.npz`` is a zip archive whose entries ``np.savez`` writes in its arguments' order, so it records
the order (``np.savez(f, **model.state_dict())`` keeps the model's). A safetensors file sorts its
tensors by name: it records no order, and only numeric container indices or the shapes can say it.
Arrays named like PyTorch parameters (``fc1.weight``) are (out, in) in both, as in a state_dict.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from engine.errors import EngineError
from engine.networks.layers import EXPECTED, Network, Order, Param, assemble, split_name, torch_orientation

__all__ = ["read_npz", "read_safetensors"]


def _params(entries) -> list[Param]:
    out = []
    for name, value in entries:
        module, leaf = split_name(name)
        out.append(Param(name, module, leaf, value, torch_orientation(leaf) if leaf else None))
    return out


def read_npz(path: Path, *, orientation=None, layers=None) -> Network:
    """The network in a NumPy ``.npz`` archive (what ``np.savez`` writes), layers in the archive's order.

    ``np.savez`` keeps its arguments' order, so ``np.savez(f, **model.state_dict())`` records the model's.
    Arrays named like PyTorch parameters (``fc1.weight``) are (out, in); others (fan_in, fan_out) where
    only that reading chains. 3-D arrays are (N, fan_in, fan_out) stacks of N networks.

    Parameters
    ----------
    path : pathlib.Path
        The archive (no pickled objects: read with ``allow_pickle=False``).
    orientation, layers
        As in ``read_network``.

    Returns
    -------
    Network
        ``source_format`` ``"npz"``.

    Raises
    ------
    EngineError
        Not a zip archive, not readable as arrays, or not a chain of fully connected layers (see ``assemble``).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> with tempfile.TemporaryDirectory() as d:
    ...     np.savez(f"{d}/net.npz", **{"fc1.weight": np.ones((3, 4)), "fc1.bias": np.zeros(3),
    ...                                 "fc2.weight": np.ones((2, 3))})
    ...     net = read_npz(Path(d, "net.npz"))
    >>> net.layer_names, net.layer_sizes, net.describe_not_in_graph()
    (['fc1', 'fc2'], [4, 3, 2], 'fc1: bias')
    """
    if not zipfile.is_zipfile(path):
        raise EngineError(f"{path}: not an .npz archive (np.savez writes a zip file); {EXPECTED}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            entries = [(k, npz[k]) for k in npz.files]   # the archive's order: np.savez's argument order
    except Exception as e:
        raise EngineError(f"{path}: not a readable .npz archive of arrays ({e}); {EXPECTED}") from None
    order = Order("recorded", "the archive's order (np.savez keeps its arguments' order)", numeric_names=True)
    return assemble(str(path), _params(entries), order, "npz", orientation=orientation, layers=layers,
                    allow_stacks=True)


def read_safetensors(path: Path, *, orientation=None, layers=None) -> Network:
    """The network in a ``.safetensors`` file: an engine weight snapshot, or named tensors of any model.

    An engine snapshot (``engine.weights_io``) is read as its stack of networks with its metadata (epoch,
    network ids). Other files sort their tensors by name and so record no order: numeric container
    indices (``layers.10`` after ``layers.9``), the shapes, or ``layers`` decide it.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    orientation, layers
        As in ``read_network``.

    Returns
    -------
    Network
        ``source_format`` ``"engine-snapshot"`` or ``"safetensors"``; the file's metadata in ``metadata``.

    Raises
    ------
    EngineError
        Not a readable safetensors file, a damaged snapshot, or not a chain of fully connected layers.

    Examples
    --------
    >>> import tempfile, torch
    >>> from safetensors.torch import save_file
    >>> with tempfile.TemporaryDirectory() as d:
    ...     save_file({"layers.10.weight": torch.ones(2, 3), "layers.9.weight": torch.ones(3, 4)}, f"{d}/m.safetensors")
    ...     net = read_safetensors(Path(d, "m.safetensors"))
    >>> net.layer_names, net.layer_sizes, net.order
    (['layers.9', 'layers.10'], [4, 3, 2], 'numeric indices in the layer names (e.g. layers.10 after layers.9)')
    """
    from engine.weights_io import SNAPSHOT_FORMAT, safetensors_contents, snapshot_from

    metadata, tensors = safetensors_contents(path, "file", f"; {EXPECTED}")
    if metadata.get("format") == SNAPSHOT_FORMAT:
        weights, meta = snapshot_from(path, tensors, metadata)
        return Network(weights, [f"layer{i + 1}" for i in range(len(weights))], {}, "engine-snapshot",
                       "the snapshot's layer numbers", metadata=meta)
    order = Order("none", "", numeric_names=True)   # safetensors sorts its keys: no order recorded
    return assemble(str(path), _params(tensors.items()), order, "safetensors", orientation=orientation,
                    layers=layers, allow_stacks=True, metadata=metadata)
