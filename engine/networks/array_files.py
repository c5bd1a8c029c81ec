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
    from engine.weights_io import SNAPSHOT_FORMAT, safetensors_contents, snapshot_from

    metadata, tensors = safetensors_contents(path, "file", f"; {EXPECTED}")
    if metadata.get("format") == SNAPSHOT_FORMAT:
        weights, meta = snapshot_from(path, tensors, metadata)
        return Network(weights, [f"layer{i + 1}" for i in range(len(weights))], {}, "engine-snapshot",
                       "the snapshot's layer numbers", metadata=meta)
    order = Order("none", "", numeric_names=True)   # safetensors sorts its keys: no order recorded
    return assemble(str(path), _params(tensors.items()), order, "safetensors", orientation=orientation,
                    layers=layers, allow_stacks=True, metadata=metadata)
