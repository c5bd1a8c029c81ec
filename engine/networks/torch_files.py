"""PyTorch files, whatever their suffix: a state_dict, a checkpoint dict holding one (pytorch/examples'
``{'epoch', 'arch', 'state_dict'}``, Lightning's ``.ckpt``), a whole pickled module, or a list of tensors.

Loading never runs code from the file: ``torch.load(weights_only=True)``; where the file names Python
classes or functions that torch does not allow (Lightning's hyper-parameters, a pickled module's
class), each is replaced by an inert placeholder (a plain dict that records what it was), so the
tensors load and nothing foreign is imported or called. The order is the state_dict's (torch.save
keeps a dict's order, and a state_dict lists modules in the order they were registered).
"""

from __future__ import annotations

import re
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping

import torch

from engine.errors import EngineError
from engine.networks.layers import Network, Order, Param, assemble, torch_orientation

__all__ = ["read_torch", "state_dict_network"]

_STATE_DICT_ORDER = "the state_dict's order (modules in the order they were registered)"
_FOREIGN = "__engine_foreign__"


def read_torch(path: Path, *, orientation: str | None = None, layers=None, key: str | None = None) -> Network:
    """The network in a file ``torch.save`` wrote, read without running code from it.

    The file may hold a state_dict, a checkpoint dict holding one, a pickled module or a list of tensors.

    Nothing in the file runs: ``torch.load(weights_only=True)``, with inert placeholders for the Python
    objects torch refuses (see the module docstring). The order is the state_dict's.

    Parameters
    ----------
    path : pathlib.Path
        The file, whatever its suffix (``.pt``, ``.pth``, Lightning's ``.ckpt``, ``.bin``, ...).
    orientation, layers
        As in ``read_network``.
    key : str, optional
        In a checkpoint holding several dicts of tensors, the one with the model's weights (a nested
        one as ``"outer/inner"``).

    Returns
    -------
    Network
        ``source_format`` ``"torch"``; ``metadata["state_dict_key"]`` where the weights were found under a key.

    Raises
    ------
    EngineError
        Not a readable torch file; several weight dicts and no ``key`` (naming them), or an unknown ``key``;
        no dict of tensors; not a chain of fully connected layers.

    Examples
    --------
    >>> import tempfile
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     torch.save({"epoch": 5, "state_dict": model.state_dict()}, f"{d}/checkpoint.pth.tar")
    ...     net = read_torch(Path(d, "checkpoint.pth.tar"))
    >>> net.layer_names, net.layer_sizes, net.metadata
    (['0', '2'], [4, 3, 2], {'state_dict_key': 'state_dict'})
    """
    obj = _load_without_code(path)
    state, found_at = _state_dict_of(obj, key, str(path))
    network = state_dict_network(str(path), state, orientation=orientation, layers=layers)
    if found_at:
        network.metadata["state_dict_key"] = found_at
    return network


def state_dict_network(where: str, state: Mapping[str, Any], *, orientation=None, layers=None,
                       source_format: str = "torch") -> Network:
    """The network of a state_dict (names -> tensors, in the model's registration order).

    Parameters
    ----------
    where : str
        What it came from, for the messages.
    state : Mapping of str to tensor
        The state_dict; ``weight`` entries are (out, in) as in ``nn.Linear``.
    orientation, layers
        As in ``read_network``.
    source_format : str, default "torch"
        Kept in ``Network.source_format``.

    Returns
    -------
    Network
        Weights (fan_in, fan_out) in the state_dict's order (or its numeric container indices').

    Raises
    ------
    EngineError
        Not a chain of fully connected layers (see ``assemble``).

    Examples
    --------
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))
    >>> net = state_dict_network("model", model.state_dict())
    >>> net.layer_sizes, net.describe_not_in_graph()
    ([4, 3, 2], '0: bias; 1: weight, bias, running_mean, running_var, num_batches_tracked; 2: bias')
    """
    params = []
    for name, value in state.items():
        module, leaf = str(name).rsplit(".", 1) if "." in str(name) else ("", str(name))
        params.append(Param(str(name), module, leaf, value, torch_orientation(leaf)))
    return assemble(where, params, Order("recorded", _STATE_DICT_ORDER, numeric_names=True), source_format,
                    orientation=orientation, layers=layers)


def _load_without_code(path: Path) -> Any:
    """``torch.load(weights_only=True)``, with inert placeholders for the Python objects torch refuses."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for refused or damaged files
        first = e
    text = _clean(first)
    if "Unsupported global" in text or "Weights only load failed" in text:
        try:
            names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        except Exception:  # noqa: BLE001 - legacy (non-zip) files: no listing
            names = []
        if names:
            try:
                with torch.serialization.safe_globals([(_placeholder(n), n) for n in names]):
                    return torch.load(path, map_location="cpu", weights_only=True)
            except Exception as e:  # noqa: BLE001
                raise EngineError(f"{path}: cannot read it without running code from the file; torch's weights-only "
                                  f"loader refused: {_first_line(_clean(e))}; save the weights with "
                                  "torch.save(model.state_dict(), path)") from None
    raise EngineError(f"{path}: cannot read as a PyTorch file ({_why(path, text)}); save the weights with "
                      "torch.save(model.state_dict(), path)") from None


def _placeholder(name: str) -> type:
    """A class standing for the global ``name``: creating or calling it gives a plain OrderedDict
    (which the weights-only loader may fill) that records ``name``; nothing of ``name`` runs."""
    def new(cls, *args, **kwargs):
        d = OrderedDict()
        d.__dict__[_FOREIGN] = name
        return d

    return type("Foreign", (), {"__new__": new, "__qualname__": f"Foreign[{name}]"})


def _clean(e: BaseException) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip()


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    pick = next((ln for ln in lines if "Unsupported" in ln or "unsupported" in ln or "Can only" in ln), None)
    return (pick or (lines[0] if lines else "unknown error"))[:300]


def _why(path: Path, text: str) -> str:
    with open(path, "rb") as fh:
        head = fh.read(2)
    is_zip, is_pickle = zipfile.is_zipfile(path), len(head) == 2 and head[0] == 0x80 and 1 <= head[1] <= 5
    if is_zip:
        try:
            with zipfile.ZipFile(path) as z:
                if not any(n.endswith("/data.pkl") or n == "data.pkl" for n in z.namelist()):
                    return "a zip archive, but not one written by torch.save: it holds no data.pkl"
        except (OSError, zipfile.BadZipFile):
            pass
    if is_zip or is_pickle:
        first = next((line.strip() for line in text.splitlines() if line.strip()), "unknown error")
        return f"not a readable torch file: damaged, or not written by torch.save ({first[:300]})"
    if head == b"PK":
        return "not a readable torch file: a damaged or truncated zip archive"
    return "not a readable torch file: neither a zip archive nor a pickle stream, which torch.save writes"


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())


def _module_state(obj: Any) -> OrderedDict | None:
    """The state_dict of a whole pickled nn.Module (read through placeholders): each module's own
    parameters and buffers, then its children's, as ``nn.Module.state_dict`` orders them."""
    attrs = getattr(obj, "__dict__", {})
    if not (isinstance(obj, OrderedDict) and _FOREIGN in attrs and "_parameters" in attrs):
        return None
    out: OrderedDict = OrderedDict()

    def walk(m: Any, prefix: str) -> None:
        d = getattr(m, "__dict__", {})
        non_persistent = d.get("_non_persistent_buffers_set") or set()
        for kind in ("_parameters", "_buffers"):
            for name, t in (d.get(kind) or {}).items():
                if isinstance(t, torch.Tensor) and not (kind == "_buffers" and name in non_persistent):
                    out[prefix + name] = t
        for name, child in (d.get("_modules") or {}).items():
            if child is not None:
                walk(child, f"{prefix}{name}.")

    walk(obj, "")
    return out


def _state_dict_of(obj: Any, key: str | None, where: str) -> tuple[Mapping[str, torch.Tensor], str]:
    """The tensor dict in what torch.load returned: itself, a pickled module's parameters, or the one
    tensor-dict value of a checkpoint dict (``key`` picks one where there are several); and its key."""
    module = _module_state(obj)
    if module is not None:
        return module, ""
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(t, torch.Tensor) for t in obj):
        return OrderedDict((str(i), t) for i, t in enumerate(obj)), ""
    if _is_tensor_dict(obj) and key is None:
        return obj, ""
    found: list[tuple[str, Mapping]] = []

    def look(d: Any, prefix: str, depth: int) -> None:
        if not isinstance(d, Mapping) or depth > 2:
            return
        for k, v in d.items():
            path = f"{prefix}{k}"
            state = _module_state(v)
            if state is not None:
                found.append((path, state))
            elif _is_tensor_dict(v):
                found.append((path, v))
            else:
                look(v, f"{path}/", depth + 1)

    look(obj, "", 1)
    if key is not None:
        hit = [(k, v) for k, v in found if k == key]
        if not hit:
            have = ", ".join(repr(k) for k, _ in found) or "none"
            raise EngineError(f"{where}: no weight dict under key {key!r}; its weight dicts: {have}")
        return hit[0][1], hit[0][0]
    if len(found) == 1:
        return found[0][1], found[0][0]
    if len(found) > 1:
        names = ", ".join(repr(k) for k, _ in found)
        raise EngineError(f"{where}: holds several dicts of tensors ({names}); choose the model's with --key NAME "
                          "(key='NAME' in Python)")
    kinds = {k: _type_name(v) for k, v in obj.items()} if isinstance(obj, Mapping) else _type_name(obj)
    raise EngineError(f"{where}: holds {kinds}, not a state_dict of tensors; save the weights with "
                      "torch.save(model.state_dict(), path)")


def _type_name(v: Any) -> str:
    foreign = getattr(v, "__dict__", {}).get(_FOREIGN) if isinstance(v, OrderedDict) else None
    return foreign or type(v).__name__
