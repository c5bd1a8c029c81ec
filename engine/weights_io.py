"""Read a trained fully connected network's weight matrices from a file; save/load weight snapshots.

Every reader returns the weight matrices in Keras orientation (fan_in, fan_out): rows are the
neurons of layer l, columns those of layer l+1. Biases are reported and ignored (the graph of a
network has no bias nodes). Supported: Keras ``.h5``/``.hdf5``, PyTorch ``state_dict``
(``.pt``/``.pth``), ``.safetensors`` (per-layer 2-D tensors, or this project's stacked snapshots)
and ``.npz``. Anything that is not a chain of fully connected weight matrices is an EngineError
that lists what the file holds and what is expected.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from engine.errors import EngineError
from engine.storage import atomic_path

SNAPSHOT_FORMAT = "engine.snapshot/1"
SUFFIXES = {".h5": "keras-h5", ".hdf5": "keras-h5", ".pt": "torch", ".pth": "torch",
            ".safetensors": "safetensors", ".npz": "npz"}
_EXPECTED = ("expected a stack of fully connected weight matrices: 2-D (fan_in, fan_out) per layer "
             "(PyTorch nn.Linear (out, in) weights are transposed), or 3-D (N, fan_in, fan_out) stacks, "
             "whose shapes chain (fan_out of one layer = fan_in of the next); 1-D biases are ignored")


@dataclass
class LoadedModel:
    """Weight matrices read from a file.

    ``weights``: one tensor per layer in Keras orientation, 2-D (fan_in, fan_out) for one network or
    3-D (N, fan_in, fan_out) when the file holds a population; ``stacked()`` always gives 3-D.
    """

    weights: list[torch.Tensor]
    layer_names: list[str]
    biases_ignored: list[str]
    source_format: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def n_networks(self) -> int:
        return int(self.weights[0].shape[0]) if self.weights[0].dim() == 3 else 1

    @property
    def layer_sizes(self) -> list[int]:
        return [int(self.weights[0].shape[-2])] + [int(w.shape[-1]) for w in self.weights]

    def stacked(self) -> list[torch.Tensor]:
        """The weights as (N, fan_in, fan_out) tensors."""
        return [w if w.dim() == 3 else w.unsqueeze(0) for w in self.weights]


def natural_key(name: str) -> list:
    """Sort key that orders ``layer2`` before ``layer10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _describe(entries: Sequence[tuple[str, tuple]]) -> str:
    shown = ", ".join(f"{name} {tuple(shape)}" for name, shape in list(entries)[:20])
    more = f", ... ({len(entries) - 20} more)" if len(entries) > 20 else ""
    return f"[{shown}{more}]" if entries else "no arrays at all"


def _is_bias_name(name: str) -> bool:
    leaf = name.rsplit("/", 1)[-1].rsplit(".", 1)[-1].lower()
    return "bias" in name.lower() or bool(re.fullmatch(r"b\d*", leaf))


def _kind(array: Any) -> str:
    """What a non-numeric array holds, in words ("" for numbers)."""
    if isinstance(array, torch.Tensor):
        return ""
    if isinstance(array, (bytes, str)):
        return "a string"
    a = np.asarray(array)
    if a.dtype.kind in "SUa":
        return f"a {a.ndim}-D array of strings ({a.dtype})"
    if a.dtype.kind == "O":
        if a.size and all(isinstance(v, (bytes, str)) for v in a.flat[:100]):
            return f"a {a.ndim}-D array of strings"
        return f"a {a.ndim}-D array of Python objects"
    if a.dtype.kind == "V":
        return f"a {a.ndim}-D array of records ({a.dtype})"
    if a.dtype.kind in "Mm":
        return f"a {a.ndim}-D array of dates/times ({a.dtype})"
    return ""


def _as_float_tensor(array: Any) -> torch.Tensor:
    tensor = torch.as_tensor(np.asarray(array)) if not isinstance(array, torch.Tensor) else array
    if tensor.dtype in (torch.float16, torch.bfloat16):
        tensor = tensor.to(torch.float32)
    return tensor.detach().cpu()


def _assemble(path: Path, entries: list[tuple[str, Any]], source_format: str, *, transpose_2d: bool = False,
              metadata: dict | None = None) -> LoadedModel:
    """Sort named arrays (already in file/layer order) into weights and biases and check the chain."""
    listing = [(name, tuple(np.shape(a))) for name, a in entries]
    weights, names, biases = [], [], []
    for name, array in entries:
        kind = _kind(array)
        if kind:
            raise EngineError(f"{path}: {name!r} is {kind}, not a weight matrix; the file holds {_describe(listing)}; "
                              f"{_EXPECTED}")
        tensor = _as_float_tensor(array)
        # A bias: named so, or a vector as long as the previous layer's fan_out (Keras 3's vars/1).
        if tensor.dim() == 1 and (_is_bias_name(name) or (weights and tensor.numel() == weights[-1].shape[-1])):
            biases.append(name)
            continue
        if tensor.dim() not in (2, 3) or not tensor.is_floating_point():
            raise EngineError(f"{path}: {name!r} is a {tensor.dim()}-D {tensor.dtype} array {tuple(tensor.shape)}, "
                              f"not a weight matrix; the file holds {_describe(listing)}; {_EXPECTED}")
        if transpose_2d:
            tensor = tensor.transpose(-1, -2)
        weights.append(tensor.contiguous())
        names.append(name)
    if not weights:
        raise EngineError(f"{path}: no weight matrices found; the file holds {_describe(listing)}; {_EXPECTED}")
    ranks = {w.dim() for w in weights}
    if len(ranks) > 1:
        raise EngineError(f"{path}: mixes 2-D and 3-D weight arrays: {_describe(listing)}; {_EXPECTED}")
    for prev, nxt, prev_name, name in zip(weights, weights[1:], names, names[1:]):
        if prev.shape[-1] != nxt.shape[-2] or (prev.dim() == 3 and prev.shape[0] != nxt.shape[0]):
            shapes = ", ".join(f"{n} {tuple(w.shape)}" for n, w in zip(names, weights))
            raise EngineError(f"{path}: weight shapes do not chain at {prev_name} -> {name} (as (fan_in, fan_out): "
                              f"{shapes}); the file holds {_describe(listing)}; {_EXPECTED}")
    return LoadedModel(weights, names, biases, source_format, dict(metadata or {}))


# --- Keras HDF5 ---------------------------------------------------------------------------------

def _attr_names(node, attr: str) -> list[str] | None:
    if attr not in node.attrs:
        return None
    return [v.decode() if isinstance(v, bytes) else str(v) for v in node.attrs[attr]]


def _read_keras_h5(path: Path) -> LoadedModel:
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise EngineError(f"{path}: not a readable HDF5 file ({e}); {_EXPECTED}") from None
    with f:
        def contents() -> str:
            everything: list[tuple[str, tuple]] = []
            f.visititems(lambda n, o: everything.append((n, o.shape)) if isinstance(o, h5py.Dataset) else None)
            return _describe(everything)

        # A full model save keeps weights under model_weights/; save_weights() puts them at the root.
        root = f["model_weights"] if "model_weights" in f else f
        if not isinstance(root, h5py.Group):
            raise EngineError(f"{path}: 'model_weights' is a dataset {root.shape} {root.dtype}, not a group of "
                              f"layers as Keras writes it; the file holds {contents()}; {_EXPECTED}")
        layer_names = _attr_names(root, "layer_names")
        if layer_names is None and isinstance(root.get("layers"), h5py.Group):
            root = root["layers"]  # Keras 3 layout: layers/<layer>/vars/0 (kernel), vars/1 (bias)
        if layer_names is None:
            layer_names = sorted((k for k in root.keys() if isinstance(root[k], h5py.Group)), key=natural_key)
        where = f"{root.name.strip('/')}/" if root.name != "/" else ""
        entries: list[tuple[str, Any]] = []
        for layer in layer_names:
            if layer not in root:
                continue
            group = root[layer]
            if not isinstance(group, h5py.Group):
                raise EngineError(f"{path}: layer {where}{layer} is a dataset {group.shape} {group.dtype}, not a "
                                  f"group of weights as Keras writes it; the file holds {contents()}; {_EXPECTED}")
            names = _attr_names(group, "weight_names")
            if names is None:  # no attribute: take every dataset under the layer, in natural order
                found: list[str] = []
                group.visit(lambda n: found.append(n) if isinstance(group[n], h5py.Dataset) else None)
                names = sorted(found, key=natural_key)
            for name in names:
                node = group.get(name)
                if not isinstance(node, h5py.Dataset):
                    what = "missing" if node is None else "a group, not a dataset"
                    raise EngineError(f"{path}: layer {where}{layer} lists weight {name!r} in its weight_names, but "
                                      f"{where}{layer}/{name} is {what}; the file holds {contents()}")
                try:
                    value = node[()]
                except Exception as e:  # h5py raises several types for unreadable data
                    raise EngineError(f"{path}: cannot read {where}{layer}/{name} ({type(e).__name__}: {e})") from None
                entries.append((f"{layer}/{name}", value))
        if not entries:
            raise EngineError(f"{path}: no Keras layer weights found (looked for model_weights/<layer>/<layer>/"
                              f"kernel:0, or layers/<layer>/vars/0 in Keras 3 files); the file holds {contents()}; {_EXPECTED}")
        metadata = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()
                    if k in ("keras_version", "backend")}
    model = _assemble(path, entries, "keras-h5", metadata=metadata)
    model.layer_names = [name.split("/", 1)[0] for name in model.layer_names]  # the Keras layer, e.g. dense_1
    return model


# --- PyTorch ------------------------------------------------------------------------------------

def _read_torch(path: Path) -> LoadedModel:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickled modules, corrupt files: torch raises many types
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip()
        with open(path, "rb") as fh:
            head = fh.read(2)
        # torch.save writes a zip archive holding <name>/data.pkl (legacy format: a pickle stream, b"\x80" + protocol).
        is_zip, is_pickle = zipfile.is_zipfile(path), len(head) == 2 and head[0] == 0x80 and 1 <= head[1] <= 5
        has_pickle = True
        if is_zip:
            try:
                with zipfile.ZipFile(path) as z:
                    has_pickle = any(n.endswith("/data.pkl") or n == "data.pkl" for n in z.namelist())
            except (OSError, zipfile.BadZipFile):
                pass
        if "Weights only load failed" in text and "Unsupported global" in text:
            reason = "it holds pickled Python objects (a whole nn.Module?), which are not loaded for safety"
        elif is_zip and not has_pickle:
            reason = "a zip archive, but not one written by torch.save: it holds no data.pkl"
        elif is_zip or is_pickle:
            first = next((line.strip() for line in text.splitlines() if line.strip()), type(e).__name__)
            reason = f"not a readable torch file: damaged, or not written by torch.save ({first})"
        elif head == b"PK":
            reason = "not a readable torch file: a damaged or truncated zip archive"
        else:
            reason = "not a readable torch file: neither a zip archive nor a pickle stream, which torch.save writes"
        raise EngineError(f"{path}: cannot read as a PyTorch state_dict ({reason}); save the weights with "
                          "torch.save(model.state_dict(), path)") from None
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        kinds = {k: type(v).__name__ for k, v in obj.items()} if isinstance(obj, dict) else type(obj).__name__
        raise EngineError(f"{path}: holds {kinds}, not a state_dict of tensors; save the weights with "
                          "torch.save(model.state_dict(), path)")
    entries = [(str(k), v) for k, v in obj.items()]
    # nn.Linear stores (out_features, in_features): transpose to (fan_in, fan_out).
    return _assemble(path, entries, "torch-state-dict", transpose_2d=True)


# --- safetensors --------------------------------------------------------------------------------

def _read_safetensors(path: Path) -> LoadedModel:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
            keys = sorted(f.keys(), key=natural_key)
            tensors = {k: f.get_tensor(k) for k in keys}
    except Exception as e:
        raise EngineError(f"{path}: not a readable safetensors file ({e}); {_EXPECTED}") from None
    if metadata.get("format") == SNAPSHOT_FORMAT:
        weights, meta = _snapshot_from(path, tensors, metadata)
        return LoadedModel(weights, [f"layer{i + 1}" for i in range(len(weights))], [], "engine-snapshot", meta)
    entries = [(k, tensors[k]) for k in keys]
    # Tensors named like PyTorch parameters (*.weight) are in (out, in) orientation.
    torch_named = any(k.endswith(".weight") for k in keys)
    return _assemble(path, entries, "safetensors", transpose_2d=torch_named, metadata=metadata)


# --- npz ----------------------------------------------------------------------------------------

def _read_npz(path: Path) -> LoadedModel:
    if not zipfile.is_zipfile(path):
        raise EngineError(f"{path}: not an .npz archive (np.savez writes a zip file); {_EXPECTED}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            entries = [(k, npz[k]) for k in sorted(npz.files, key=natural_key)]
    except Exception as e:
        raise EngineError(f"{path}: not a readable .npz archive of arrays ({e}); {_EXPECTED}") from None
    return _assemble(path, entries, "npz")


_READERS = {"keras-h5": _read_keras_h5, "torch": _read_torch, "safetensors": _read_safetensors, "npz": _read_npz}


def load_model(path: str | os.PathLike) -> LoadedModel:
    """Read the weight matrices of a fully connected network (or a stacked population) from a file."""
    path = Path(path)
    if path.is_dir():
        raise EngineError(f"{path}: is a directory, not a model file")
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise EngineError(f"{path}: unknown model file type {path.suffix!r}; supported: "
                          f"{', '.join(sorted(SUFFIXES))}")
    if not path.exists():
        raise EngineError(f"{path}: no such file")
    if not path.is_file():
        raise EngineError(f"{path}: not a regular file")
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise EngineError(f"{path}: cannot open it ({e.strerror})") from None
    return _READERS[kind](path)


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


def _snapshot_from(path: Path, tensors: dict[str, torch.Tensor], header: dict[str, str]):
    try:
        n_layers = int(header["n_layers"])
        weights = [tensors[f"layer{i + 1}"] for i in range(n_layers)]
        metadata = json.loads(header.get("metadata", "{}"))
    except (KeyError, ValueError) as e:
        raise EngineError(f"{path}: damaged engine snapshot ({e!r} missing or invalid); keys "
                          f"{sorted(tensors, key=natural_key)}") from None
    _check_stack(weights)
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
                          f"{SNAPSHOT_FORMAT!r}); use engine.weights_io.load_model for other weight files")
    return _snapshot_from(path, tensors, header)
