"""Keras files: the ``.keras`` archive (Keras 3), legacy HDF5 ``.h5`` (``model.save`` in Keras 2, or
Keras 3's legacy writer) and weights-only HDF5 (``save_weights``: Keras 3 ``.weights.h5``, Keras 2 ``.h5``).

The layer order comes from the model's config where the file holds one (``config.json`` in a
``.keras`` archive, the ``model_config`` attribute of a legacy ``.h5``): a Sequential model's layer
list, a functional model's graph from its input to its output, nested models followed inside.
Weights-only files record no order that can be trusted (a subclassed model lists its layers in the
order they were assigned, and HDF5 lists groups alphabetically), so there only the shapes decide, or
``layers``. Keras stores a Dense ``kernel`` as (in, out).

Where the weights live (checked against Keras' own writers, keras/src/saving/saving_lib.py and
keras/src/legacy/saving/legacy_h5_format.py, and tf-keras' hdf5_format.py):
* ``.keras`` / ``.weights.h5``: ``layers/<saved name>/vars/<i>``, nested models below their own
  ``layers/``; the saved name is the layer's class in snake case, numbered per class in the order of
  the container's layer list (``dense``, ``dense_1``, ...); ``vars`` carries the layer's name in
  recent versions.
* legacy ``.h5``: ``model_weights/<top-level layer>/`` with a ``weight_names`` attribute listing the
  datasets below it (``<layer>/kernel:0`` in Keras 2; ``<model>/<layer>/kernel`` in Keras 3); a nested
  model lists its trainable weights first, so that listing is not layer order.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from engine.errors import EngineError
from engine.networks.layers import EXPECTED, Network, Order, Param, assemble, describe

__all__ = ["read_keras_archive", "read_keras_h5"]

_SYNAPSE_CLASSES = ("Dense",)
_VAR_NAMES = {"Dense": ("kernel", "bias"), "BatchNormalization": ("gamma", "beta", "moving_mean", "moving_variance"),
              "LayerNormalization": ("gamma", "beta")}
_CONFIG_ORDER = "the model's config ({})"


@dataclass
class _Layer:
    """One layer of the model, in forward order: its class, its name path from the top model, and
    its saved path in a Keras 3 weights file (``layers/dense_1`` or ``layers/sequential/layers/dense``)."""

    cls: str
    names: tuple[str, ...]
    saved: str

    @property
    def display(self) -> str:
        return "/".join(self.names)


# --- the model config -------------------------------------------------------------------------------

def _snake(name: str) -> str:
    """keras.src.utils.naming.to_snake_case."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _entry_name(entry: dict) -> str:
    return str(entry.get("name") or (entry.get("config") or {}).get("name") or "")


def _layer_list(cfg: dict) -> list[dict] | None:
    inner = cfg.get("config")
    if isinstance(inner, list):     # Keras <= 2.2.2 Sequential: config is the layer list
        return inner
    if isinstance(inner, dict) and isinstance(inner.get("layers"), list):
        return inner["layers"]
    return None


def _refs(node: Any) -> Iterator[str]:
    """Names of the layers a node's inputs come from (Keras 3: __keras_tensor__ histories; Keras 2:
    [name, node_index, tensor_index, kwargs] lists)."""
    if isinstance(node, dict):
        if node.get("class_name") == "__keras_tensor__":
            yield str(node["config"]["keras_history"][0])
            return
        for v in node.values():
            yield from _refs(v)
    elif isinstance(node, list):
        if len(node) >= 3 and isinstance(node[0], str) and isinstance(node[1], int) and isinstance(node[2], int):
            yield node[0]
            return
        for v in node:
            yield from _refs(v)


def _endpoints(spec: Any) -> list[str]:
    """input_layers / output_layers: ["name", 0, 0] or [["name", 0, 0], ...]."""
    if isinstance(spec, list) and spec and isinstance(spec[0], str):
        return [spec[0]]
    return [s[0] for s in spec or [] if isinstance(s, list) and s]


def _config_layers(where: str, cfg: dict, names: tuple[str, ...] = (), saved: str = "") -> list[_Layer] | None:
    """Every layer of a Sequential or functional model config in forward order, nested models
    expanded; None for a config that does not list its layers (a subclassed model)."""
    entries = _layer_list(cfg)
    if entries is None:
        return None
    counters: dict[str, int] = {}
    saved_name: dict[int, str] = {}
    for k, e in enumerate(entries):   # Keras 3's saved names: class in snake case, numbered per class
        base = _snake(str(e.get("class_name", "")))
        n = counters.get(base)
        counters[base] = 0 if n is None else n + 1
        saved_name[k] = base if n is None else f"{base}_{n + 1}"
    by_name = {_entry_name(e): k for k, e in enumerate(entries)}
    inner = cfg.get("config") if isinstance(cfg.get("config"), dict) else {}
    if "input_layers" in inner or any("inbound_nodes" in e for e in entries):
        order = _graph_order(where, entries, by_name, inner)
    else:
        order = list(range(len(entries)))
    out: list[_Layer] = []
    for k in order:
        e = entries[k]
        cls = str(e.get("class_name", ""))
        path = f"{saved}/layers/{saved_name[k]}" if saved else f"layers/{saved_name[k]}"
        here = names + (_entry_name(e),)
        if _layer_list(e) is not None:
            nested = _config_layers(where, e, here, path)
            if nested is None:
                raise EngineError(f"{where}: nested model {'/'.join(here)} ({cls}) does not list its layers")
            out += nested
        elif cls != "InputLayer":
            out.append(_Layer(cls, here, path))
    return out


def _graph_order(where: str, entries: list[dict], by_name: dict[str, int], inner: dict) -> list[int]:
    """The path of a functional model's graph from its input to its output; a branch, a merge or a
    shared layer is not a chain and is refused."""
    inputs: dict[int, list[str]] = {}
    consumers: dict[str, list[int]] = {}
    for k, e in enumerate(entries):
        nodes = e.get("inbound_nodes") or []
        if len(nodes) > 1:
            raise EngineError(f"{where}: layer {_entry_name(e)} is called {len(nodes)} times (a shared layer); "
                              f"{EXPECTED}")
        refs = list(dict.fromkeys(_refs(nodes)))
        inputs[k] = refs
        for r in refs:
            consumers.setdefault(r, []).append(k)
    starts = _endpoints(inner.get("input_layers")) or [_entry_name(e) for k, e in enumerate(entries) if not inputs[k]]
    ends = _endpoints(inner.get("output_layers"))
    if len(starts) != 1 or len(ends) > 1:
        raise EngineError(f"{where}: the model has {len(starts)} inputs and {len(ends)} outputs "
                          f"({', '.join(starts + ends)}); {EXPECTED}")
    if starts[0] not in by_name:
        raise EngineError(f"{where}: the model config names input {starts[0]!r}, which is not among its layers")
    order = [by_name[starts[0]]]
    while True:
        name = _entry_name(entries[order[-1]])
        if ends and name == ends[0]:
            break
        nxt = consumers.get(name, [])
        if not nxt and not ends:
            break
        if len(nxt) != 1:
            what = "feeds no layer" if not nxt else f"feeds {len(nxt)} layers ({', '.join(_entry_name(entries[i]) for i in nxt)})"
            raise EngineError(f"{where}: not a chain of layers: {name} {what}; {EXPECTED}")
        k = nxt[0]
        if len(inputs[k]) != 1:
            raise EngineError(f"{where}: not a chain of layers: {_entry_name(entries[k])} takes inputs from "
                              f"{', '.join(inputs[k])}; {EXPECTED}")
        if k in order:
            raise EngineError(f"{where}: the model config has a cycle at {_entry_name(entries[k])}")
        order.append(k)
    return order


def _check_classes(where: str, layer: _Layer, matrices: list[str]) -> None:
    if matrices and layer.cls not in _SYNAPSE_CLASSES:
        raise EngineError(f"{where}: layer {layer.display} ({layer.cls}) holds weight arrays {matrices} but is not a "
                          f"fully connected (Dense) layer; {EXPECTED}")


# --- HDF5 helpers ---------------------------------------------------------------------------------------

def _open_h5(path: Path | Any, where: str):
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise EngineError(f"{where}: not a readable HDF5 file ({e}); {EXPECTED}") from None


def _contents(f) -> str:
    import h5py

    everything: list[tuple[str, tuple]] = []
    f.visititems(lambda n, o: everything.append((n, o.shape)) if isinstance(o, h5py.Dataset) else None)
    return describe(everything)


def _attr_list(node, attr: str) -> list[str] | None:
    """A list attribute as Keras writes it: whole, or in chunks attr0, attr1, ... when it is long."""
    if attr in node.attrs:
        values = list(node.attrs[attr])
    elif f"{attr}0" in node.attrs:
        values, k = [], 0
        while f"{attr}{k}" in node.attrs:
            values += list(node.attrs[f"{attr}{k}"])
            k += 1
    else:
        return None
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _read(where: str, node, label: str) -> Any:
    try:
        return node[()]
    except Exception as e:  # noqa: BLE001 - h5py raises several types for unreadable data
        raise EngineError(f"{where}: cannot read {label} ({type(e).__name__}: {e})") from None


def _json_attr(f, name: str) -> dict | None:
    if name not in f.attrs:
        return None
    raw = f.attrs[name]
    try:
        return json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    except ValueError:
        return None


# --- Keras 3 weights (.keras archive, .weights.h5) -----------------------------------------------------

def _keras3_layers(f) -> list[tuple[str, Any]]:
    """(path, vars group) of every layer in a Keras 3 weights file, in HDF5's listing order."""
    import h5py

    found: list[tuple[str, Any]] = []

    def visit(name, obj):
        if isinstance(obj, h5py.Group) and name.endswith("/vars") and name != "vars":
            found.append((name[: -len("/vars")], obj))

    f.visititems(visit)
    return found


def _var_params(where: str, label: str, cls: str | None, vars_group) -> list[Param]:
    keys = sorted(vars_group.keys(), key=lambda k: int(k) if k.isdigit() else 10 ** 9)
    names = _VAR_NAMES.get(cls or "", ())
    params = []
    for k in keys:
        node = vars_group[k]
        if not hasattr(node, "shape"):
            raise EngineError(f"{where}: {vars_group.name}/{k} is a group, not a dataset")
        value = _read(where, node, f"{vars_group.name}/{k}")
        i = int(k) if k.isdigit() else -1
        leaf = names[i] if 0 <= i < len(names) and len(keys) == len(names) else f"vars/{k}"
        if cls is None and i == 0 and np.ndim(value) == 2:
            leaf = "kernel"
        params.append(Param(f"{label}/{leaf}", label, leaf, value, "in_out" if leaf == "kernel" else None))
    return params


def _read_keras3_weights(where: str, f, layers: list[_Layer] | None, source: str, source_format: str,
                         orientation, names) -> Network:
    vars_of = dict(_keras3_layers(f))
    if not vars_of:
        raise EngineError(f"{where}: no Keras layer weights found (looked for layers/<layer>/vars/0); it holds "
                          f"{_contents(f)}; {EXPECTED}")
    params: list[Param] = []
    if layers is not None:   # the config's forward order
        for layer in layers:
            group = vars_of.get(layer.saved)
            if group is None:
                continue
            ps = _var_params(where, layer.display, layer.cls, group)
            _check_classes(where, layer, [p.leaf for p in ps if np.ndim(p.value) >= 2])
            params += ps
        order = Order("recorded", _CONFIG_ORDER.format(source))
    else:
        labels = _labels(vars_of)
        for path, group in vars_of.items():
            params += _var_params(where, labels[path], None, group)
        order = Order("none")
    if not params:
        raise EngineError(f"{where}: the model config names no layer found in its weights file; it holds "
                          f"{_contents(f)}")
    return assemble(where, params, order, source_format, orientation=orientation, layers=names)


def _labels(vars_of: dict[str, Any]) -> dict[str, str]:
    """A name per layer: the name Keras recorded on its vars group where that is unique, else its path
    without the ``layers/`` containers."""
    paths = {p: "/".join(c for c in p.split("/") if c != "layers") for p in vars_of}
    recorded = {p: g.attrs.get("name") for p, g in vars_of.items()}
    recorded = {p: (n.decode() if isinstance(n, bytes) else n) for p, n in recorded.items() if n is not None}
    counts: dict[str, int] = {}
    for n in recorded.values():
        counts[n] = counts.get(n, 0) + 1
    return {p: recorded[p] if p in recorded and counts[recorded[p]] == 1 else paths[p] for p in vars_of}


def read_keras_archive(path: Path, *, orientation=None, layers=None) -> Network:
    """The network in a Keras 3 ``.keras`` archive: ``config.json`` (the model: the layer order), ``model.weights.h5``.

    Parameters
    ----------
    path : pathlib.Path
        The archive (a zip file).
    orientation, layers
        As in ``read_network``; a Dense ``kernel`` is (in, out).

    Returns
    -------
    Network
        ``source_format`` ``"keras"``, layers named as in the model (``"hidden"``, nested ``"base/dense"``),
        in the config's forward order (a Sequential's list, or a functional model's path from input to output).

    Raises
    ------
    EngineError
        Not a readable archive, no weights file, a model that is not a chain (branches, shared layers),
        weight matrices in layers other than Dense, shapes that do not chain.

    Examples
    --------
    An archive written by hand as Keras writes it (weights under ``layers/<class>_<k>/vars``):

    >>> import io, json, tempfile, zipfile, h5py, numpy as np
    >>> config = {"class_name": "Sequential", "config": {"layers": [
    ...     {"class_name": "Dense", "config": {"name": "hidden"}}, {"class_name": "Dense", "config": {"name": "out"}}]}}
    >>> blob = io.BytesIO()
    >>> with h5py.File(blob, "w") as f:
    ...     for saved, (n_in, n_out) in {"dense": (4, 3), "dense_1": (3, 2)}.items():
    ...         f[f"layers/{saved}/vars/0"] = np.ones((n_in, n_out), np.float32)   # kernel (in, out)
    ...         f[f"layers/{saved}/vars/1"] = np.zeros(n_out, np.float32)          # bias
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with zipfile.ZipFile(f"{d}/model.keras", "w") as z:
    ...         z.writestr("config.json", json.dumps(config))
    ...         z.writestr("model.weights.h5", blob.getvalue())
    ...     net = read_keras_archive(Path(d, "model.keras"))
    >>> net.layer_names, net.layer_sizes, net.order
    (['hidden', 'out'], [4, 3, 2], "the model's config (config.json)")
    """
    import io

    where = str(path)
    try:
        with zipfile.ZipFile(path) as z:
            listing = z.namelist()
            cfg = json.loads(z.read("config.json"))
            weights = next((n for n in listing if n.endswith(".weights.h5")), None)
            if weights is None:
                raise EngineError(f"{where}: a .keras archive without model.weights.h5 (it holds {listing})")
            blob = io.BytesIO(z.read(weights))
    except (KeyError, ValueError, zipfile.BadZipFile, OSError) as e:
        raise EngineError(f"{where}: not a readable .keras archive ({e})") from None
    model_layers = _config_layers(where, cfg)
    with _open_h5(blob, where) as f:
        return _read_keras3_weights(where, f, model_layers, "config.json", "keras", orientation, layers)


# --- legacy HDF5 -----------------------------------------------------------------------------------------

def _h5_group(where: str, f, node, name: str, of: str):
    """``node`` if it is an HDF5 group (of layers or of weights, as Keras writes them), else the error."""
    import h5py

    if not isinstance(node, h5py.Group):
        raise EngineError(f"{where}: {name} is a dataset {node.shape} {node.dtype}, not a group of {of} as Keras "
                          f"writes it; it holds {_contents(f)}; {EXPECTED}")
    return node


def read_keras_h5(path: Path, *, orientation=None, layers=None) -> Network:
    """The network in a Keras HDF5 file: a legacy ``model.save`` ``.h5``, or weights only (``save_weights``).

    A legacy model file holds ``model_config``, whose layer list or graph gives the order; a
    weights-only file (Keras 2 ``.h5``, Keras 3 ``.weights.h5``) records no order to trust, so the shapes
    or ``layers`` decide it.

    Parameters
    ----------
    path : pathlib.Path
        The HDF5 file.
    orientation, layers
        As in ``read_network``; a Dense ``kernel`` is (in, out).

    Returns
    -------
    Network
        ``source_format`` ``"keras-h5"`` (``"keras-weights-h5"`` for Keras 3 weights); ``metadata``:
        ``keras_version`` and ``backend`` where the file records them.

    Raises
    ------
    EngineError
        Not readable HDF5, no Keras layer weights, a layer listing a weight it lacks, weight matrices in
        layers other than Dense, or shapes that do not chain (or chain in several orders).

    Examples
    --------
    A Keras 2 ``model.save`` file written by hand as Keras writes it:

    >>> import json, tempfile, h5py, numpy as np
    >>> config = {"class_name": "Sequential", "config": {"layers": [
    ...     {"class_name": "Dense", "config": {"name": "dense_1"}},
    ...     {"class_name": "Dense", "config": {"name": "dense_2"}}]}}
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with h5py.File(f"{d}/model.h5", "w") as f:
    ...         f.attrs["model_config"] = json.dumps(config)
    ...         f.attrs["keras_version"] = "2.2.4"
    ...         weights = f.create_group("model_weights")
    ...         weights.attrs["layer_names"] = [b"dense_1", b"dense_2"]
    ...         for name, (n_in, n_out) in {"dense_1": (4, 3), "dense_2": (3, 2)}.items():
    ...             weights[f"{name}/{name}/kernel:0"] = np.ones((n_in, n_out), np.float32)   # (in, out)
    ...             weights[f"{name}/{name}/bias:0"] = np.zeros(n_out, np.float32)
    ...             weights[name].attrs["weight_names"] = [f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()]
    ...     net = read_keras_h5(Path(d, "model.h5"))
    >>> net.layer_names, net.layer_sizes, net.metadata
    (['dense_1', 'dense_2'], [4, 3, 2], {'keras_version': '2.2.4'})
    """
    import h5py

    where = str(path)
    with _open_h5(path, where) as f:
        root = _h5_group(where, f, f["model_weights"] if "model_weights" in f else f, "'model_weights'", "layers")
        layer_names = _attr_list(root, "layer_names")
        if layer_names is None and isinstance(root.get("layers"), h5py.Group):
            return _read_keras3_weights(where, f, None, "", "keras-weights-h5", orientation, layers)
        cfg = _json_attr(f, "model_config")
        model_layers = _config_layers(where, cfg) if cfg is not None and _layer_list(cfg) is not None else None
        if layer_names is None:
            layer_names = [k for k in root.keys() if isinstance(root[k], h5py.Group)]
        params = _legacy_params(where, f, root, layer_names)
        if not params:
            raise EngineError(f"{where}: no Keras layer weights found (looked for model_weights/<layer>/<layer>/"
                              f"kernel:0, or layers/<layer>/vars/0 in Keras 3 files); it holds {_contents(f)}; "
                              f"{EXPECTED}")
        metadata = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()
                    if k in ("keras_version", "backend")}
    if model_layers is None:   # save_weights: layer_names is the tracking order, not always the forward order
        return assemble(where, params, Order("none"), "keras-h5", orientation=orientation, layers=layers,
                        metadata=metadata)
    position = {layer.display: k for k, layer in enumerate(model_layers)}
    by_leaf = {layer.names[-1]: layer for layer in model_layers}
    relabelled = []
    for p in params:
        layer = by_leaf.get(p.module.rsplit("/", 1)[-1])
        if layer is not None:
            p = Param(p.name, layer.display, p.leaf, p.value, p.orientation)
        relabelled.append(p)
    for layer in model_layers:
        _check_classes(where, layer, [p.leaf for p in relabelled if p.module == layer.display and np.ndim(p.value) >= 2])
    relabelled.sort(key=lambda p: position.get(p.module, len(position)))
    return assemble(where, relabelled, Order("recorded", _CONFIG_ORDER.format("model_config")), "keras-h5",
                    orientation=orientation, layers=layers, metadata=metadata)


def _legacy_params(where: str, f, root, layer_names: list[str]) -> list[Param]:
    """Every weight below model_weights/<layer>/ as its weight_names list it. ``module``: the layer
    (``dense_1``; a nested model's layer: ``base/dense_1``), ``leaf``: ``kernel``, ``bias``, ..."""
    import h5py

    prefix = f"{root.name.strip('/')}/" if root.name != "/" else ""
    params: list[Param] = []
    for top in layer_names:
        if top not in root:
            continue
        group = _h5_group(where, f, root[top], f"layer {prefix}{top}", "weights")
        names = _attr_list(group, "weight_names")
        if names is None:   # no attribute: every dataset below the layer
            names = []
            group.visit(lambda n: names.append(n) if isinstance(group[n], h5py.Dataset) else None)
        for name in names:
            node = group.get(name)
            if not isinstance(node, h5py.Dataset):
                what = "missing" if node is None else "a group, not a dataset"
                raise EngineError(f"{where}: layer {prefix}{top} lists weight {name!r} in its weight_names, but "
                                  f"{prefix}{top}/{name} is {what}; it holds {_contents(f)}")
            value = _read(where, node, f"{prefix}{top}/{name}")
            comps = name.split("/")
            leaf = comps[-1].split(":", 1)[0]
            inner = comps[-2] if len(comps) >= 2 else top
            module = top if inner == top else f"{top}/{inner}"
            params.append(Param(f"{top}/{name}", module, leaf, value, "in_out" if leaf == "kernel" else None))
    return params
