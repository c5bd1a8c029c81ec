"""Networks held in memory: a ``torch.nn.Module``, a state_dict, a list of weight matrices.

A module's Linear layers are taken in the order its forward pass calls them (traced once with
forward hooks, on a batch of zeros, in eval mode, without gradients; the module's modes are restored),
never in the order they were defined.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from engine.errors import EngineError
from engine.networks.layers import Network, Order, Param, assemble

__all__ = ["arrays_network", "module_network"]

_FORWARD_ORDER = "the order the forward pass calls them (traced)"


def module_network(model: torch.nn.Module, *, layers=None, orientation=None, example_input: Any = None) -> Network:
    """The network of an ``nn.Module`` whose forward pass is a chain of ``nn.Linear`` layers, in the order called.

    The order is traced once with forward hooks on a (2, in_features) batch of zeros (or
    ``example_input``), in eval mode and without gradients; the module's modes are restored. Linear
    layers the forward pass does not call are listed in ``not_in_graph``.

    Parameters
    ----------
    model : torch.nn.Module
        The model; its weights are read, not copied (detached).
    layers : sequence of str, optional
        The weight layers in forward order (no trace then).
    orientation : {None, "in_out", "out_in"}, optional
        Overrides ``nn.Linear``'s (out, in).
    example_input : tensor, optional
        A batch the forward pass accepts, where zeros of the first layer's width do not do.

    Returns
    -------
    Network
        ``source_format`` ``"torch.nn.Module"``, weights (fan_in, fan_out).

    Raises
    ------
    EngineError
        No ``nn.Linear``; a Linear called twice (shared weights); a forward pass that uses other layers
        with weight matrices (e.g. convolutions); a forward pass that fails on every input tried.

    Examples
    --------
    >>> import torch
    >>> class Net(torch.nn.Module):                       # defined out of order, called in order
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.out, self.hidden = torch.nn.Linear(3, 2), torch.nn.Linear(4, 3)
    ...     def forward(self, x):
    ...         return self.out(torch.relu(self.hidden(x)))
    >>> net = module_network(Net())
    >>> net.layer_names, net.layer_sizes, net.order
    (['hidden', 'out'], [4, 3, 2], 'the order the forward pass calls them (traced)')
    """
    where = type(model).__name__
    named = dict(model.named_modules())
    linears = [n for n, m in named.items() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise EngineError(f"{where}: has no nn.Linear layer; a fully connected network is needed")
    if layers is not None:
        called = [n for n in named if _own_tensors(named[n])]   # every layer; ``layers`` picks and orders
        order = Order("none")
    else:
        called = _trace(model, named, linears, example_input, where)
        shared = sorted({n for n in called if called.count(n) > 1 and isinstance(named[n], torch.nn.Linear)})
        if shared:
            raise EngineError(f"{where}: nn.Linear {shared} is called more than once in the forward pass (shared "
                              "weights); a chain of distinct layers is needed")
        called = list(dict.fromkeys(called))
        foreign = [f"{n} ({type(named[n]).__name__})" for n in called if not isinstance(named[n], torch.nn.Linear)
                   and any(t.dim() >= 2 for t in _own_tensors(named[n]).values())]
        if foreign:
            raise EngineError(f"{where}: its forward pass uses layers that are not fully connected: "
                              f"{', '.join(foreign)}; a chain of nn.Linear layers is needed")
        order = Order("recorded", _FORWARD_ORDER)
    params: list[Param] = []
    for name in called:
        for leaf, t in _own_tensors(named[name]).items():
            params.append(Param(f"{name}.{leaf}" if name else leaf, name or "(model)", leaf, t,
                                "out_in" if leaf in ("weight", "weight_orig") else None))
    net = assemble(where, params, order, "torch.nn.Module", orientation=orientation, layers=layers)
    unused = [n for n in linears if n not in called]
    for n in unused:
        net.not_in_graph.setdefault(n, []).append("not called in forward")
    return net


def _own_tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A module's own parameters and persistent buffers, as its state_dict lists them."""
    out = {k: v for k, v in module._parameters.items() if v is not None}
    skip = getattr(module, "_non_persistent_buffers_set", set())
    out.update({k: v for k, v in module._buffers.items() if v is not None and k not in skip})
    return {k: v.detach() for k, v in out.items()}


def _trace(model: torch.nn.Module, named: dict[str, torch.nn.Module], linears: list[str], example_input: Any,
           where: str) -> list[str]:
    """Names of the modules with tensors of their own, in the order the forward pass calls them."""
    calls: list[str] = []
    hooks = [m.register_forward_hook(lambda mod, inp, out, name=n: calls.append(name))
             for n, m in named.items() if _own_tensors(m)]
    modes = {m: m.training for m in model.modules()}
    first = next(iter(model.parameters()))
    if example_input is not None:
        tries = [example_input]
    else:
        sizes = list(dict.fromkeys(named[n].in_features for n in linears))
        tries = [torch.zeros(2, s, dtype=first.dtype, device=first.device) for s in sizes]
    errors = []
    try:
        model.eval()
        with torch.no_grad():
            for x in tries:
                calls.clear()
                try:
                    model(x)
                    break
                except Exception as e:  # noqa: BLE001 - any failure of the user's forward: try the next input
                    errors.append(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            else:
                raise EngineError(f"{where}: cannot run its forward pass to find the order of its Linear layers "
                                  f"({errors[-1]}); give example_input=<a batch the model accepts>, or the order "
                                  f"with layers=[...] (its Linear layers: {', '.join(linears)})")
    finally:
        for h in hooks:
            h.remove()
        for m, mode in modes.items():
            m.train(mode)
    return calls


def arrays_network(weights: Sequence[Any], *, orientation=None, layers=None) -> Network:
    """The network of a list of weight matrices (or (N, fan_in, fan_out) stacks), given in forward order.

    Parameters
    ----------
    weights : sequence of array_like
        Layer l as (fan_in, fan_out), or (fan_out, fan_in) with ``orientation="out_in"``; or 3-D stacks.
    orientation : {None, "in_out", "out_in"}, optional
        None: (fan_in, fan_out) where only that reading chains; refused where both readings chain (e.g.
        square layers) or only (fan_out, fan_in) does.
    layers : sequence of str, optional
        A subset of the indices ``"0"``, ``"1"``, ... in forward order.

    Returns
    -------
    Network
        ``source_format`` ``"arrays"``, layer names ``"0"``, ``"1"``, ...

    Raises
    ------
    EngineError
        Shapes that do not chain, an ambiguous orientation, non-floating or empty matrices.

    Examples
    --------
    >>> import numpy as np
    >>> arrays_network([np.ones((4, 3)), np.ones((3, 2))]).layer_sizes
    [4, 3, 2]
    >>> arrays_network([np.ones((3, 3)), np.ones((3, 3))]).layer_sizes
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: weights: the arrays' names do not say their orientation (0, 1), and ...
    """
    params = [Param(str(k), str(k), "", w, None) for k, w in enumerate(weights)]
    return assemble("weights", params, Order("recorded", "as given"), "arrays", orientation=orientation,
                    layers=layers, allow_stacks=True)
