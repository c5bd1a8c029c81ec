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
from engine.storage import atomic_path

SNAPSHOT_FORMAT = "engine.snapshot/1"


# --- snapshots ----------------------------------------------------------------------------------

def _check_stack(weights: Sequence[torch.Tensor]) -> None:
    if not weights:
        raise EngineError("a snapshot needs at least one weight tensor")
    for i, w in enumerate(weights):
        if not isinstance(w, torch.Tensor) or w.dim() != 3 or not w.is_floating_point():
            raise EngineError(f"snapshot layer {i + 1} must be a floating (N, fan_in, fan_out) tensor, got "
                              f"{type(w).__name__} {tuple(getattr(w, 'shape', ()))}")
        if i and (w.shape[0] != weights[0].shape[0] or w.shape[1] != weights[i - 1].shape[2]):
            raise EngineError(f"snapshot layers do not chain: layer {i} is {tuple(weights[i - 1].shape)}, "
                              f"layer {i + 1} is {tuple(w.shape)}")


def save_snapshot(path: str | os.PathLike, weights: Sequence[torch.Tensor], metadata: dict[str, Any]) -> Path:
    """Write stacked weights (N, fan_in, fan_out) per layer and JSON-able metadata to a safetensors file."""
    from safetensors.torch import save_file

    _check_stack(weights)
    tensors = {f"layer{i + 1}": w.detach().contiguous().cpu() for i, w in enumerate(weights)}
    header = {"format": SNAPSHOT_FORMAT, "n_layers": str(len(weights)), "metadata": json.dumps(metadata)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)
    return Path(path)


def snapshot_from(path: Path, tensors: dict[str, torch.Tensor], header: dict[str, str]):
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
    try:
        _check_stack(weights)
    except EngineError as e:
        raise EngineError(f"{path}: {e}") from None
    if not weights[0].shape[0]:
        raise EngineError(f"{path}: the snapshot holds no network (its layers have 0 networks)")
    return weights, metadata


def load_snapshot(path: str | os.PathLike) -> tuple[list[torch.Tensor], dict[str, Any]]:
    """Read a snapshot written by ``save_snapshot``: (weights (N, fan_in, fan_out) per layer, metadata)."""
    path = Path(path)
    if path.is_dir():
        raise EngineError(f"{path}: is a directory, not a snapshot file")
    if not path.is_file():
        raise EngineError(f"{path}: no such snapshot file")
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            header = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:
        raise EngineError(f"{path}: not a readable safetensors snapshot ({e})") from None
    if header.get("format") != SNAPSHOT_FORMAT:
        raise EngineError(f"{path}: not an engine snapshot (metadata format={header.get('format')!r}, expected "
                          f"{SNAPSHOT_FORMAT!r}); use engine.read_network for other weight files")
    return snapshot_from(path, tensors, header)
