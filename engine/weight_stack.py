"""The weight stack: the synapse matrices of N networks, checked once at the public edge.

A weight stack is a list of L blocks, block l of shape ``(N, n_l, n_{l+1})``: rows are layer l's
neurons (the block's inputs), columns layer l+1's, the same N networks in every block, on one device.
The public functions that take weights (``engine.compute_measures``, ``engine.neuron_table``, the
shortest paths, the weight and spectral statistics, ``save_snapshot``) check them here with
``check_weight_stack`` and hand the checked blocks on; the code behind them assumes valid input.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from engine.errors import EngineError

__all__ = ["ORIENTATIONS", "check_compute_dtype", "check_orientation", "check_weight_stack",
           "layer_sizes", "orient_weights"]

ORIENTATIONS = ("in_out", "out_in")
_COMPUTE_DTYPES = (torch.float64, torch.float32)

_INTEGER_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


def check_weight_stack(weights: Sequence, *, min_layers: int = 1, one_network: bool = True, chained: bool = True,
                       floating: bool = False, no_networks: bool = False) -> list[torch.Tensor]:
    """The blocks of a weight stack as 3-D tensors, or a one-line error saying what is wrong.

    Parameters
    ----------
    weights : sequence of torch.Tensor or array-like
        L blocks, block l of shape (N, n_l, n_{l+1}); NumPy arrays are converted (no copy where
        torch can share them). With ``one_network``, 2-D blocks (n_l, n_{l+1}) are one network.
    min_layers : int
        The fewest blocks accepted (2 where the hidden neurons are measured: one hidden layer).
    one_network : bool
        Accept 2-D blocks as one network (N = 1); otherwise every block must be 3-D.
    chained : bool
        The blocks are consecutive layers: the fan-out of each equals the fan-in of the next.
        False for per-layer statistics, which read each block alone.
    floating : bool
        Refuse integer blocks (the caller computes in the weights' own floating dtype).
    no_networks : bool
        Accept N = 0 (an empty population); fan-in and fan-out are never 0.

    Returns
    -------
    list of torch.Tensor
        The L blocks, each (N, n_l, n_{l+1}), the tensors given (2-D ones unsqueezed), not copied.

    Raises
    ------
    EngineError
        If ``weights`` is not a list of real-valued 2-D/3-D arrays of that form.

    Examples
    --------
    >>> blocks = check_weight_stack([torch.ones(3, 2), torch.ones(2, 1)])
    >>> [tuple(b.shape) for b in blocks]
    [(1, 3, 2), (1, 2, 1)]
    >>> check_weight_stack([torch.ones(3, 2), torch.ones(3, 1)])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: layer shapes do not chain: weights[0] is (1, 3, 2) (n_1 = 2) but weights[1] is ...
    """
    if isinstance(weights, (torch.Tensor, np.ndarray)) or not isinstance(weights, Sequence) or len(weights) == 0:
        raise EngineError("weights must be a non-empty list of per-layer weight tensors "
                          "[(N, n_0, n_1), (N, n_1, n_2), ...]")
    if len(weights) < min_layers:
        raise EngineError(f"got {len(weights)} weight layer: the measures are defined on hidden neurons, "
                          f"so at least {min_layers} layers (one hidden layer) are needed")
    blocks = [_block(l, w, one_network, floating) for l, w in enumerate(weights)]
    if len({w.ndim for w in blocks}) > 1:
        raise EngineError("weights mix 2-D (one network) and 3-D (batch) layers: shapes "
                          f"{[tuple(w.shape) for w in blocks]}; use (N, n_l, n_l+1) for every layer")
    blocks = [w.unsqueeze(0) if w.ndim == 2 else w for w in blocks]
    devices = {w.device for w in blocks}
    if len(devices) > 1:
        raise EngineError(f"weights are on several devices {sorted(map(str, devices))}: move them to one")
    n = blocks[0].shape[0]
    for l, w in enumerate(blocks):
        if w.shape[0] != n:
            raise EngineError(f"weights[{l}] has {w.shape[0]} networks but weights[0] has {n}: "
                              "every layer needs the same N")
        if min(w.shape[1:]) == 0 or (n == 0 and not no_networks):
            raise EngineError(f"weights[{l}] has an empty shape {tuple(w.shape)}")
        if chained and l > 0 and blocks[l - 1].shape[2] != w.shape[1]:
            raise EngineError(f"layer shapes do not chain: weights[{l - 1}] is {tuple(blocks[l - 1].shape)} "
                              f"(n_{l} = {blocks[l - 1].shape[2]}) but weights[{l}] is {tuple(w.shape)} "
                              f"(n_{l} = {w.shape[1]}); the fan-out of a layer must equal the fan-in of the next")
    return blocks


def _block(l: int, w, one_network: bool, floating: bool) -> torch.Tensor:
    """Block ``l`` as a tensor of a real dtype with 2 (one network, where allowed) or 3 dimensions."""
    if not isinstance(w, torch.Tensor):
        try:
            w = torch.as_tensor(np.asarray(w))
        except Exception as e:  # noqa: BLE001 - any unconvertible object is a user error
            raise EngineError(f"weights[{l}] is a {type(w).__name__}, not a tensor or array") from e
    if w.is_complex() or not (w.is_floating_point() or (w.dtype in _INTEGER_DTYPES and not floating)):
        needed = "floating-point" if floating else "real-valued"
        raise EngineError(f"weights[{l}] has dtype {w.dtype}: {needed} weights are needed")
    if w.ndim not in ((2, 3) if one_network else (3,)):
        one = f" or (n_{l}, n_{l + 1}) for one network" if one_network else ""
        raise EngineError(f"weights[{l}] has shape {tuple(w.shape)}: expected (N, n_{l}, n_{l + 1}){one}, "
                          "i.e. (N, fan_in, fan_out)")
    return w


def check_compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """``dtype`` if the measures can compute in it (float64, the default, or float32).

    Parameters
    ----------
    dtype : torch.dtype

    Returns
    -------
    torch.dtype
        ``dtype``.

    Raises
    ------
    EngineError
        For any other dtype.

    Examples
    --------
    >>> check_compute_dtype(torch.float32)
    torch.float32
    >>> check_compute_dtype(torch.float16)
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: dtype=torch.float16 is not supported: the measures compute in float32 or float64 ...
    """
    if dtype not in _COMPUTE_DTYPES:
        raise EngineError(f"dtype={dtype} is not supported: the measures compute in float32 or float64 "
                          "(torch.float64 is the default)")
    return dtype


def layer_sizes(blocks: Sequence) -> list[int]:
    """Neurons per layer, inputs first: ``[n_0, n_1, ..., n_L]`` of checked blocks (2-D or 3-D).

    Parameters
    ----------
    blocks : sequence of torch.Tensor or numpy.ndarray
        L blocks (..., n_l, n_{l+1}) that chain (``check_weight_stack``); not checked here.

    Returns
    -------
    list of int
        L + 1 layer sizes.

    Examples
    --------
    >>> layer_sizes([torch.ones(5, 4, 3), torch.ones(5, 3, 2)])
    [4, 3, 2]
    """
    return [int(blocks[0].shape[-2])] + [int(w.shape[-1]) for w in blocks]


def check_orientation(orientation: str | None) -> str | None:
    """``orientation`` if it is one of ``ORIENTATIONS`` or None; else a one-line error.

    Parameters
    ----------
    orientation : {"in_out", "out_in"} or None
        How a weight matrix's rows read (see ``orient_weights``); None: to be told by the shapes.

    Returns
    -------
    str or None
        ``orientation``.

    Raises
    ------
    EngineError
        For any other value, saying what the two orientations mean.

    Examples
    --------
    >>> check_orientation("out_in"), check_orientation(None)
    ('out_in', None)
    >>> check_orientation("rows")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: orientation='rows': use 'in_out' (rows = inputs of the layer, ...
    """
    if orientation is not None and orientation not in ORIENTATIONS:
        raise EngineError(f"orientation={orientation!r}: use 'in_out' (rows = inputs of the layer, as Keras and "
                          "this project store them) or 'out_in' (rows = outputs, as PyTorch's nn.Linear.weight)")
    return orientation


def orient_weights(weights: Sequence, orientation: str | None) -> Sequence:
    """The weights as (..., fan_in, fan_out).

    Parameters
    ----------
    weights : sequence of torch.Tensor or array-like
        Per-layer matrices (n_l, n_{l+1}) or stacks (N, n_l, n_{l+1}), in forward order.
    orientation : {"in_out", "out_in"} or None
        "in_out": rows are a layer's inputs (this project's convention); "out_in": rows are its
        outputs (PyTorch's ``nn.Linear.weight``), transposed here; None: in_out where only that
        reading of the shapes chains, refused where they also chain as out_in (e.g. square layers)
        or only as out_in.

    Returns
    -------
    sequence
        The weights, transposed for "out_in"; unchanged otherwise (what is wrong with them, if
        anything, ``check_weight_stack`` says).

    Raises
    ------
    EngineError
        If ``orientation`` is unknown, or None where the shapes do not say it.

    Examples
    --------
    >>> [tuple(w.shape) for w in orient_weights([torch.ones(3, 4), torch.ones(2, 3)], "out_in")]
    [(4, 3), (3, 2)]
    """
    if check_orientation(orientation) == "in_out":
        return weights
    if orientation == "out_in":
        return [w.transpose(-1, -2) if isinstance(w, torch.Tensor) else np.swapaxes(np.asarray(w), -1, -2)
                for w in weights]
    if isinstance(weights, (torch.Tensor, np.ndarray)) or not isinstance(weights, Sequence) or len(weights) < 2:
        return weights
    try:
        shapes = [tuple(w.shape) for w in weights]
    except AttributeError:
        return weights
    if any(len(s) not in (2, 3) for s in shapes):
        return weights
    in_out = all(a[-1] == b[-2] for a, b in zip(shapes, shapes[1:]))
    out_in = all(a[-2] == b[-1] for a, b in zip(shapes, shapes[1:]))
    if in_out and out_in:
        raise EngineError(f"weight shapes {shapes} chain both as (fan_in, fan_out) and as PyTorch's (out, in): give "
                          "orientation='in_out' or 'out_in' (or measure the nn.Module itself with "
                          "engine.measure_network)")
    if out_in:
        raise EngineError(f"weight shapes {shapes} chain only as PyTorch's (out, in) (nn.Linear.weight): give "
                          "orientation='out_in', or measure the nn.Module itself with engine.measure_network")
    return weights
