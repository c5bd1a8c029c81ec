"""From named parameters to the network's synapse layers: one policy, one orientation rule and one
order rule for every format (the readers only say what their format records).

* **What is a synapse.** A 2-D floating matrix of a layer (3-D: a stack of N networks, in the array
  formats). 0-D and 1-D parameters (biases, normalisation scales, shifts and running statistics,
  counters such as BatchNorm's ``num_batches_tracked``) are not part of the graph: they are listed,
  per layer, in ``Network.not_in_graph``. A pruned layer (``weight_orig`` and ``weight_mask``,
  ``torch.nn.utils.prune`` before ``prune.remove``) is the masked matrix ``weight_orig * weight_mask``.
* **Orientation.** A PyTorch ``weight`` is (out, in), a Keras ``kernel`` is (in, out); arrays whose
  name says neither are (fan_in, fan_out), and where their shapes chain both ways the reader refuses
  and asks for ``orientation``. ``orientation`` ("in_out" or "out_in") overrides every rule.
* **Order.** What the file records (a model config, a state_dict's order, numeric container indices
  such as ``layers.10``), else the one order whose shapes chain; where several orders fit, a refusal
  naming the layers and asking for ``layers``. Never alphabetical, never from a layer's chosen name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from engine.errors import EngineError
from engine.weight_stack import check_orientation, layer_sizes

__all__ = ["assemble", "describe", "EXPECTED", "Network", "Order", "Param", "parse_layers",
           "split_name", "torch_orientation"]

EXPECTED = ("expected a chain of fully connected layers: 2-D weight matrices (PyTorch weight (out, in), Keras "
            "kernel (in, out), other arrays (fan_in, fan_out)) whose sizes chain, or 3-D (N, fan_in, fan_out) "
            "stacks of N networks; 0-D/1-D parameters (biases, normalisation) are not part of the graph")
_SEARCH_BUDGET = 200_000   # partial orders tried before the order is called ambiguous


@dataclass
class Param:
    """One parameter as a file or an object names it: a reader's input to ``assemble``.

    Parameters
    ----------
    name : str
        Its full name in the file (``"fc1.weight"``, ``"dense/kernel"``), for messages and ``layers``.
    module : str
        The layer it belongs to (``"fc1"``); parameters of one module form one layer.
    leaf : str
        Its role in that layer (``"weight"``, ``"bias"``, ``"kernel"``, ``"weight_orig"``, ...).
    value : array_like
        The values (torch tensor or NumPy array); 2-D (3-D for stacks) floating matrices are synapses.
    orientation : {None, "in_out", "out_in"}, optional
        Of a matrix, what the format's convention says (PyTorch ``weight``: out_in; Keras ``kernel``:
        in_out); None: nothing.

    Examples
    --------
    >>> import numpy as np
    >>> Param("fc1.weight", "fc1", "weight", np.ones((3, 4)), torch_orientation("weight")).orientation
    'out_in'
    """

    name: str
    module: str
    leaf: str
    value: Any
    orientation: str | None = None


@dataclass
class Order:
    """What a file records about the order of its layers: a reader's input to ``assemble``.

    Parameters
    ----------
    kind : {"recorded", "partial", "none"}, default "none"
        "recorded": the listing order is the model's; "partial": only the pairs in ``before``; "none":
        nothing (the shapes, numeric names or ``layers`` decide).
    source : str, optional
        How the order is known, in words (shown as ``Network.order``).
    before : set of tuple of (str, str), optional
        (a, b): layer a comes before layer b (for "partial").
    numeric_names : bool, default False
        Names whose container indices (``layers.10``, ``0.weight``) state the order may decide it.

    Examples
    --------
    >>> Order("recorded", "the state_dict's order", numeric_names=True).kind
    'recorded'
    """

    kind: str = "none"
    source: str = ""
    before: set[tuple[str, str]] = field(default_factory=set)
    numeric_names: bool = False


@dataclass
class Network:
    """A network read from a file or an object: its synapse matrices in forward order.

    Attributes
    ----------
    weights : list of torch.Tensor
        One per layer, (fan_in, fan_out) for one network or (N, fan_in, fan_out) for a stack of N.
    layer_names : list of str
        The layer each matrix comes from, in forward order.
    not_in_graph : dict of str to list of str
        Per layer, the parameters that are not synapses (biases, normalisation, unused matrices).
    source_format : str
        What was read (e.g. ``"torch"``, ``"keras"``, ``"keras-h5"``, ``"npz"``, ``"torch.nn.Module"``).
    order : str
        How the layer order was known, in words.
    pruned : list of str
        Layers read as ``weight_orig * weight_mask`` (``torch.nn.utils.prune``).
    metadata : dict
        What the file says besides the weights (e.g. an engine snapshot's epoch).
    n_networks : int
        N for stacks, else 1.
    layer_sizes : list of int
        Layer widths, inputs first.

    Examples
    --------
    >>> net = Network([torch.ones(4, 3), torch.ones(3, 2)], ["fc1", "fc2"], {"fc1": ["bias"]}, "arrays")
    >>> net.n_networks, net.layer_sizes, [tuple(w.shape) for w in net.stacked()]
    (1, [4, 3, 2], [(1, 4, 3), (1, 3, 2)])
    >>> net.describe_not_in_graph()
    'fc1: bias'
    """

    weights: list[torch.Tensor]
    layer_names: list[str]
    not_in_graph: dict[str, list[str]]
    source_format: str
    order: str = ""
    pruned: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def n_networks(self) -> int:
        return int(self.weights[0].shape[0]) if self.weights[0].dim() == 3 else 1

    @property
    def layer_sizes(self) -> list[int]:
        return layer_sizes(self.weights)

    def stacked(self) -> list[torch.Tensor]:
        """The weights as (N, fan_in, fan_out) tensors."""
        return [w if w.dim() == 3 else w.unsqueeze(0) for w in self.weights]

    def describe_not_in_graph(self) -> str:
        """``"fc1: bias; bn1: weight, bias, ..."`` or ``"nothing"``."""
        parts = [f"{m}: {', '.join(leaves)}" if m else ", ".join(leaves) for m, leaves in self.not_in_graph.items()
                 if leaves]
        return "; ".join(parts) if parts else "nothing"


def describe(entries: Sequence[tuple[str, tuple]]) -> str:
    """A listing of named arrays for an error message: the first 20 with their shapes, then how many more.

    Parameters
    ----------
    entries : sequence of (str, tuple)
        (name, shape) pairs, in the file's order.

    Returns
    -------
    str
        ``"[name (shape), ...]"``, or ``"no arrays at all"``.

    Examples
    --------
    >>> describe([("fc1.weight", (3, 4)), ("fc1.bias", (3,))])
    '[fc1.weight (3, 4), fc1.bias (3,)]'
    >>> describe([])
    'no arrays at all'
    """
    shown = ", ".join(f"{name} {tuple(shape)}" for name, shape in list(entries)[:20])
    more = f", ... ({len(entries) - 20} more)" if len(entries) > 20 else ""
    return f"[{shown}{more}]" if entries else "no arrays at all"


def _array_kind(array: Any) -> str:
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


def _as_tensor(array: Any) -> torch.Tensor:
    """A detached CPU tensor of ``array``; half precision widened to float32."""
    tensor = array if isinstance(array, torch.Tensor) else torch.as_tensor(np.asarray(array))
    if tensor.dtype in (torch.float16, torch.bfloat16):
        tensor = tensor.to(torch.float32)
    return tensor.detach().cpu()


def split_name(name: str) -> tuple[str, str]:
    """A parameter name split into its layer and its role at the last ``.`` or ``/``.

    Parameters
    ----------
    name : str
        A parameter name (``"fc1.weight"``, ``"dense/kernel"``, ``"W0"``).

    Returns
    -------
    module, leaf : str
        The layer and the role; a name without a separator is its own layer, with leaf ``""``.

    Examples
    --------
    >>> split_name("encoder.fc1.weight"), split_name("dense/kernel"), split_name("W0")
    (('encoder.fc1', 'weight'), ('dense', 'kernel'), ('W0', ''))
    """
    for sep in (".", "/"):
        if sep in name:
            module, leaf = name.rsplit(sep, 1)
            return module, leaf
    return name, ""


def torch_orientation(leaf: str) -> str | None:
    """The orientation a parameter's role implies: PyTorch's ``weight`` is (out, in), Keras' ``kernel`` (in, out).

    A pruned layer's ``weight_orig`` is a PyTorch weight too.

    Parameters
    ----------
    leaf : str
        The parameter's role; a TensorFlow ``:0`` suffix is ignored.

    Returns
    -------
    str or None
        ``"out_in"``, ``"in_out"``, or None where the name says nothing.

    Examples
    --------
    >>> torch_orientation("weight"), torch_orientation("kernel:0"), torch_orientation("W")
    ('out_in', 'in_out', None)
    """
    leaf = leaf.split(":", 1)[0]
    if leaf in ("weight", "weight_orig"):
        return "out_in"
    if leaf == "kernel":
        return "in_out"
    return None


def parse_layers(layers: str | Sequence[str] | None) -> list[str] | None:
    """The ``layers`` option as a list of names (``"a,b,c"`` or ``["a", "b", "c"]``).

    Parameters
    ----------
    layers : str, sequence of str or None
        The weight layers in forward order; blanks around names are dropped.

    Returns
    -------
    list of str or None
        The names; None when ``layers`` is None.

    Raises
    ------
    EngineError
        No name at all, or a layer named twice.

    Examples
    --------
    >>> parse_layers("fc1, fc2,out"), parse_layers(None)
    (['fc1', 'fc2', 'out'], None)
    >>> parse_layers("fc1,fc1")
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: layers ['fc1', 'fc1'] names a layer twice
    """
    if layers is None:
        return None
    names = [s.strip() for s in layers.split(",")] if isinstance(layers, str) else [str(s).strip() for s in layers]
    names = [s for s in names if s]
    if not names:
        raise EngineError("layers is empty: name the weight layers in forward order, e.g. --layers fc1,fc2,out")
    if len(set(names)) != len(names):
        raise EngineError(f"layers {names} names a layer twice")
    return names


@dataclass(eq=False)
class _Candidate:
    name: str
    aliases: tuple[str, ...]
    tensor: torch.Tensor            # as stored
    orientation: str | None         # as the convention says


def assemble(where: str, params: Sequence[Param], order: Order, source_format: str, *,
             orientation: str | None = None, layers: Sequence[str] | None = None, allow_stacks: bool = False,
             metadata: dict | None = None) -> Network:
    """A reader's named parameters -> the network: synapse layers as (fan_in, fan_out), in forward order, chaining.

    The one policy of the module docstring for every format: 2-D floating matrices (3-D stacks where
    ``allow_stacks``) are synapses, 0-D/1-D parameters are listed in ``not_in_graph``, pruned layers are
    masked; the orientation and order rules decide the rest or refuse.

    Parameters
    ----------
    where : str
        The file (or object) for the messages.
    params : sequence of Param
        Every parameter, in the file's listing order.
    order : Order
        What the file records about the layer order.
    source_format : str
        The format's name, kept in ``Network.source_format``.
    orientation : {None, "in_out", "out_in"}, optional
        Overrides every matrix's orientation.
    layers : sequence of str, optional
        The weight layers in forward order (by layer or parameter name); the others are not in the graph.
    allow_stacks : bool, default False
        Accept 3-D (N, fan_in, fan_out) stacks of N networks.
    metadata : dict, optional
        Kept in ``Network.metadata``.

    Returns
    -------
    Network
        ``weights`` (fan_in, fan_out) (or (N, fan_in, fan_out)) contiguous CPU tensors, half precision
        widened to float32.

    Raises
    ------
    EngineError
        One line naming the file's arrays: a non-numeric or non-floating array, a tensor of more
        dimensions, no matrix at all, 2-D mixed with 3-D, an empty matrix; shapes that do not chain, or
        chain in several orders or both orientations (asking for ``layers`` or ``orientation``); unknown
        names in ``layers``.

    Examples
    --------
    >>> import numpy as np
    >>> params = [Param("out.weight", "out", "weight", np.ones((2, 3), np.float32), "out_in"),
    ...           Param("fc1.weight", "fc1", "weight", np.ones((3, 4), np.float32), "out_in"),
    ...           Param("fc1.bias", "fc1", "bias", np.zeros(3, np.float32))]
    >>> net = assemble("example", params, Order("none"), "arrays")   # only one order chains: fc1, out
    >>> net.layer_names, net.layer_sizes, net.not_in_graph, net.order
    (['fc1', 'out'], [4, 3, 2], {'fc1': ['bias']}, 'the only order whose shapes chain')
    """
    orientation = check_orientation(orientation)
    listing = [(p.name, tuple(np.shape(p.value))) for p in params]
    contents = f"it holds {describe(listing)}"
    by_module: dict[str, list[Param]] = {}
    for p in params:
        kind = _array_kind(p.value)
        if kind:
            raise EngineError(f"{where}: {p.name!r} is {kind}, not a weight matrix; {contents}; {EXPECTED}")
        by_module.setdefault(p.module, []).append(p)

    candidates: list[_Candidate] = []
    not_in_graph: dict[str, list[str]] = {}
    pruned: list[str] = []
    for module, group in by_module.items():
        leaves = {p.leaf: p for p in group}
        if "weight_orig" in leaves and "weight_mask" in leaves:  # torch.nn.utils.prune: the model computes with both
            orig, mask = leaves["weight_orig"], leaves["weight_mask"]
            masked = _as_tensor(orig.value) * _as_tensor(mask.value).to(_as_tensor(orig.value).dtype)
            group = [Param(f"{module}.weight", module, "weight", masked, orig.orientation or "out_in")] + \
                    [p for p in group if p.leaf not in ("weight_orig", "weight_mask", "weight")]
            pruned.append(module)
        matrices = []
        for p in group:
            t = _as_tensor(p.value)
            if t.dim() <= 1:   # an array named by itself (b0 in an .npz) is listed by its name
                not_in_graph.setdefault(module if p.leaf else "", []).append(p.leaf or p.name)
                continue
            if t.dim() > (3 if allow_stacks else 2):
                raise EngineError(f"{where}: {p.name!r} is a {t.dim()}-D {t.dtype} array {tuple(t.shape)}, not a "
                                  f"fully connected weight matrix; {contents}; {EXPECTED}")
            if not t.is_floating_point():
                raise EngineError(f"{where}: {p.name!r} is a {t.dim()}-D {t.dtype} array {tuple(t.shape)}, not a "
                                  f"floating weight matrix; {contents}; {EXPECTED}")
            matrices.append((p, t))
        for p, t in matrices:
            name = module if len(matrices) == 1 and module else p.name
            aliases = tuple(dict.fromkeys(a for a in (name, p.name, module, name.rsplit("/", 1)[-1]) if a))
            candidates.append(_Candidate(name, aliases, t, p.orientation))
    if not candidates:
        raise EngineError(f"{where}: no weight matrices found; {contents}; {EXPECTED}")
    if len({c.tensor.dim() for c in candidates}) > 1:
        raise EngineError(f"{where}: mixes 2-D and 3-D weight arrays: {describe(listing)}; {EXPECTED}")
    if any(0 in c.tensor.shape for c in candidates):
        raise EngineError(f"{where}: holds no network (an empty weight array: {describe(listing)}); {EXPECTED}")

    chosen, how = _choose(where, candidates, order, orientation, parse_layers(layers), contents)
    for c in candidates:
        if c not in chosen:
            not_in_graph.setdefault(c.name, []).append("not in layers" if layers else "unused matrix")
    weights = [_oriented(c, orientation or c.orientation or "in_out") for c in chosen]
    return Network([w.contiguous() for w in weights], [c.name for c in chosen], not_in_graph, source_format,
                   how, pruned, dict(metadata or {}))


def _oriented(c: _Candidate, orientation: str) -> torch.Tensor:
    return c.tensor.transpose(-1, -2) if orientation == "out_in" else c.tensor


def _shapes(cands: Sequence[_Candidate], orientation: str | None, generic: str) -> list[tuple[int, int, int]]:
    """(n, fan_in, fan_out) of each candidate, with ``generic`` for those whose name says nothing."""
    out = []
    for c in cands:
        w = _oriented(c, orientation or c.orientation or generic)
        out.append((int(w.shape[0]) if w.dim() == 3 else 1, int(w.shape[-2]), int(w.shape[-1])))
    return out


def _chains(shapes: Sequence[tuple[int, int, int]]) -> bool:
    """(n, fan_in, fan_out) per layer: each layer's fan_out is the next one's fan_in, n alike."""
    return all(a[2] == b[1] and a[0] == b[0] for a, b in zip(shapes, shapes[1:]))


def _choose(where: str, cands: list[_Candidate], order: Order, orientation: str | None, layers: list[str] | None,
            contents: str) -> tuple[list[_Candidate], str]:
    """The synapse layers in forward order, and how that order is known."""
    generic = orientation is None and len(cands) > 1 and any(c.orientation is None for c in cands)
    if layers is not None:
        shared: dict[str, list[_Candidate]] = {}
        for c in cands:
            for a in c.aliases:
                shared.setdefault(a, []).append(c)
        by_alias = {a: cs[0] for a, cs in shared.items() if len(cs) == 1}   # another name only where unique
        by_alias.update({c.name: c for c in cands})
        unknown = [n for n in layers if n not in by_alias]
        if unknown:
            raise EngineError(f"{where}: layers {unknown} not found; its weight layers are "
                              f"{', '.join(c.name for c in cands)}")
        chosen = [by_alias[n] for n in layers]
        if len({id(c) for c in chosen}) != len(chosen):
            raise EngineError(f"{where}: layers {layers} names one weight layer twice")
        if generic and _chains(_shapes(chosen, orientation, "out_in")):
            if _chains(_shapes(chosen, orientation, "in_out")):
                _refuse_orientation(where, chosen)
            _refuse_out_in(where, chosen)
        _check_chain(where, chosen, orientation, contents, "in the order given by layers")
        return chosen, "given (layers)"

    found, how, searched = _resolve(cands, order, orientation, "in_out")
    if generic:   # the same order read the other way round (a search would also find the network reversed)
        flipped, _, _ = _resolve(cands, order, orientation, "out_in", search=searched or not found)
        if flipped and found:
            _refuse_orientation(where, found[0])
        if flipped:
            _refuse_out_in(where, flipped[0])
    if not found:
        if order.kind == "recorded":
            _check_chain(where, cands, orientation, contents, "in the file's order")
        raise EngineError(f"{where}: weight shapes do not chain in any order (as (fan_in, fan_out): "
                          f"{_shape_text(cands, orientation, 'in_out')}); {contents}; {EXPECTED}")
    if len(found) > 1:
        a, b = found[0], found[1]
        more = "at least " if len(found) > 2 else ""
        raise EngineError(
            f"{where}: the file does not record the order of its weight layers, and {more}{len(found)} orders fit "
            f"their shapes (e.g. {', '.join(c.name for c in a)} and {', '.join(c.name for c in b)}); give the "
            f"forward order: --layers {','.join(c.name for c in a)} (layers=[...] in Python)")
    return found[0], how


def _shape_text(cands: Sequence[_Candidate], orientation: str | None, generic: str) -> str:
    return ", ".join(f"{c.name} {tuple(_oriented(c, orientation or c.orientation or generic).shape)}" for c in cands)


def _check_chain(where: str, chosen: list[_Candidate], orientation: str | None, contents: str, how: str) -> None:
    shapes = _shapes(chosen, orientation, "in_out")
    for k, (a, b) in enumerate(zip(shapes, shapes[1:])):
        if a[2] != b[1] or a[0] != b[0]:
            raise EngineError(f"{where}: weight shapes do not chain at {chosen[k].name} -> {chosen[k + 1].name} "
                              f"{how} (as (fan_in, fan_out): {_shape_text(chosen, orientation, 'in_out')}); "
                              f"{contents}; {EXPECTED}")


def _refuse_orientation(where: str, cands: Sequence[_Candidate]) -> None:
    raise EngineError(f"{where}: the arrays' names do not say their orientation ({', '.join(c.name for c in cands)}), "
                      "and their shapes chain both as (fan_in, fan_out) and as (fan_out, fan_in); give it: "
                      "--orientation in_out (rows = a layer's inputs, as Keras stores kernels) or out_in (rows = "
                      "outputs, as PyTorch's nn.Linear.weight); orientation='in_out'|'out_in' in Python")


def _refuse_out_in(where: str, cands: Sequence[_Candidate]) -> None:
    raise EngineError(f"{where}: the arrays' names do not say their orientation, and their shapes chain only as "
                      f"(fan_out, fan_in) ({_shape_text(cands, None, 'out_in')}): if the rows are the layers' "
                      "outputs (as PyTorch's nn.Linear.weight), give --orientation out_in (orientation='out_in' "
                      "in Python)")


def _resolve(cands: list[_Candidate], order: Order, orientation: str | None, generic: str, search: bool = True
             ) -> tuple[list[list[_Candidate]], str, bool]:
    """Orders of ``cands`` whose shapes chain (at most 3), how that order is known, and whether it came
    from a search: the numeric or recorded order if it chains; else (``search``) those the recorded
    partial order allows, else all that chain."""
    def fits(seq: Sequence[_Candidate]) -> bool:
        return _chains(_shapes(seq, orientation, generic))

    numeric = _numeric_order(cands) if order.numeric_names else None
    if numeric is not None and fits(numeric):
        return [numeric], "numeric indices in the layer names (e.g. layers.10 after layers.9)", False
    if order.kind == "recorded" and fits(cands):
        return [list(cands)], order.source, False
    if not search:
        return [], "", False
    shapes = _shapes(cands, orientation, generic)
    before = order.before if order.kind == "partial" else set()
    found = _search(cands, shapes, before)
    if not found and before:
        found = _search(cands, shapes, set())
    if len(found) == 1 and len(cands) > 1:
        if order.kind == "partial":
            return found, f"{order.source}, and the only order within it whose shapes chain", True
        listed = "" if order.kind == "none" else f"; the file lists them as {', '.join(c.name for c in cands)}"
        return found, f"the only order whose shapes chain{listed}", True
    return found, order.source or "the only order whose shapes chain", True


def _numeric_order(cands: list[_Candidate]) -> list[_Candidate] | None:
    """The order stated by container indices: names that differ only in purely numeric components
    (``0``/``2``/``4``, ``layers.0``/``layers.10``), sorted by them; None when names are not like that."""
    parts = [re.split(r"[./]", c.name) for c in cands]
    if len(cands) < 2 or len({len(p) for p in parts}) != 1:
        return None
    varying = [k for k in range(len(parts[0])) if len({p[k] for p in parts}) > 1]
    if not varying or not all(p[k].isdigit() for p in parts for k in varying):
        return None
    keys = [tuple(int(p[k]) for k in varying) for p in parts]
    if len(set(keys)) != len(keys):
        return None
    return [c for _, c in sorted(zip(keys, cands), key=lambda kc: kc[0])]


def _search(cands: list[_Candidate], shapes: list[tuple[int, int, int]], before: set[tuple[str, str]],
            limit: int = 3) -> list[list[_Candidate]]:
    """Up to ``limit`` orders of all candidates whose shapes chain and that respect ``before``."""
    names = [c.name for c in cands]
    preds = {i: {names.index(a) for a, b in before if b == names[i] and a in names} for i in range(len(cands))}
    found: list[list[int]] = []
    budget = [_SEARCH_BUDGET]
    path: list[int] = []
    used = [False] * len(cands)

    def extend() -> None:
        if len(found) >= limit or budget[0] <= 0:
            return
        budget[0] -= 1
        if len(path) == len(cands):
            found.append(list(path))
            return
        for i in range(len(cands)):
            if used[i] or not all(used[j] for j in preds[i]):
                continue
            if path:
                last = shapes[path[-1]]
                if last[2] != shapes[i][1] or last[0] != shapes[i][0]:
                    continue
            used[i] = True
            path.append(i)
            extend()
            path.pop()
            used[i] = False

    extend()
    if budget[0] <= 0 and len(found) < 2:   # too many partial orders to tell: call it ambiguous
        found += [list(range(len(cands)))] * (2 - len(found))
    return [[cands[i] for i in p] for p in found]
