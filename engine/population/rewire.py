"""Preferential-attachment (PA) rewiring of initial weights, batched over a population.

Scabini, De Baets & Bruno, "Improving deep neural network random initialization through neuronal
rewiring" (Neurocomputing 599, 2024; arXiv 2207.08148) move each layer's initial weights between
synapses, never changing their values, so that the neurons' strengths (sums of weights) vary less.
The rule, as the authors' ``weight_rewiring.py`` (github.com/scabini/PArewiring_weights, MIT) applies
it to a torch kernel W of shape (out, in):

* for every row r = 1 .. out-1 (row 0 stays): st, the strength each input has accumulated over the
  rows before r (after their rewiring), is shifted to P = st + |min st| + 1 (positive); all inputs
  are drawn one after another without replacement, each with probability proportional to its P
  among those left; the k-th input drawn receives row r's k-th smallest weight. Inputs that are
  already strong tend to be drawn first and so receive the smallest weights;
* then the same over the transposed kernel (the rows are the inputs, the targets the outputs).

The first pass leaves every output's in-strength (a permutation within its row) and balances the
inputs' out-strengths; the second keeps those and balances the outputs'. Every layer keeps exactly
its multiset of values.

Here all networks of a chunk are rewired at once (one loop over rows, each step batched over the
networks and targets), on whatever device the weights are. The draw without replacement is the
exponential race: with E_i ~ Exp(1) independent, the order of E_i / P_i ascending is the order of
successive draws proportional to P among those left (the Plackett-Luce law numpy's
``Generator.choice(replace=False, p=P)`` samples). Each network's exponentials come from its own CPU
stream (NumPy), seeded from the network's seed alone, so a rewired network is the same whatever
chunk, shard or device it is rewired in. The engine's kernels are (fan_in, fan_out), the transpose of
torch's: the first pass runs over the columns.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np
import torch

__all__ = ["pa_rewire", "REWIRES", "RewiringStream", "strength_variance"]

REWIRES = ("none", "pa")

# Tags the rewiring stream of a network apart from its init stream (torch's generator seeded with the seed).
_STREAM_TAG = 0x50415257  # "PARW"
# Bytes of exponentials held at once (float64): networks are rewired in groups that fit it.
_STREAM_BUDGET = 256 << 20


class RewiringStream:
    """One network's random stream: for every layer and pass, in order, a (rows - 1, targets) float64
    block of Exp(1) variates from NumPy's generator seeded with ``SeedSequence([seed, tag])`` (unrelated
    to the init stream, which torch's generator seeded with ``seed`` drives).

    Parameters
    ----------
    seed : int
        The network's init seed (taken modulo 2**64).

    Examples
    --------
    >>> RewiringStream(7).next(3, 4).shape
    (2, 4)
    >>> bool((RewiringStream(7).next(3, 4) == RewiringStream(7).next(3, 4)).all())
    True
    """

    def __init__(self, seed: int):
        self.rng = np.random.default_rng([int(seed) % 2**64, _STREAM_TAG])

    def next(self, rows: int, targets: int, out: np.ndarray | None = None) -> np.ndarray:
        """The next block, written into ``out`` (C-contiguous float64) if given."""
        if out is None:
            return self.rng.standard_exponential((max(rows - 1, 0), targets))
        return self.rng.standard_exponential(out=out)


def pa_rewire(weights: Sequence[torch.Tensor], seeds: Sequence[int]) -> list[torch.Tensor]:
    """PA rewiring of every layer of N networks (the authors' rule, see the module docstring).

    Parameters
    ----------
    weights : list of torch.Tensor
        Layer l of shape (N, fan_in_l, fan_out_l), any float dtype and device; not modified.
    seeds : sequence of int
        N init seeds: network k's rewiring is drawn from ``RewiringStream(seeds[k])`` alone.

    Returns
    -------
    list of torch.Tensor
        The rewired layers, same shapes, dtypes and device; each network's layer holds the same
        multiset of values as before.

    References
    ----------
    Scabini, De Baets & Bruno, Neurocomputing 599 (2024) 128130; arXiv 2207.08148.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> w = [torch.rand(2, 64, 30, generator=g) - 0.5, torch.rand(2, 30, 10, generator=g) - 0.5]
    >>> out = pa_rewire(w, seeds=[0, 1])
    >>> all(torch.equal(a.flatten(1).sort().values, b.flatten(1).sort().values) for a, b in zip(w, out))
    True
    >>> bool((strength_variance(out) < strength_variance(w)).all())
    True
    """
    n = len(seeds)
    if any(w.shape[0] != n for w in weights):
        raise ValueError(f"{n} seeds for weights of {[w.shape[0] for w in weights]} networks")
    out = [w.clone() for w in weights]
    if n == 0 or not out:
        return out
    largest = max(w.shape[1] * w.shape[2] for w in weights)      # both passes' exponentials, float64
    group = max(1, _STREAM_BUDGET // (16 * largest))
    use_torch = out[0].device.type != "cpu"
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:   # NumPy draws without the GIL
        for start in range(0, n, group):
            stop = min(start + group, n)
            streams = [RewiringStream(s) for s in seeds[start:stop]]
            for w in out:
                w[start:stop] = _rewire_layer(w[start:stop], streams, use_torch, pool)
    return out


def _rewire_layer(w: torch.Tensor, streams: Sequence[RewiringStream], use_torch: bool,
                  pool: ThreadPoolExecutor | None = None) -> torch.Tensor:
    """Both passes over a (B, fan_in, fan_out) layer, drawing each network's exponentials from its stream
    (in ``pool``'s threads if given). The passes run in NumPy on the CPU (its row sorts are 2x torch's on 16
    cores, more on fewer) and in torch elsewhere: twins, which tests hold equal."""
    fan_in, fan_out = w.shape[1], w.shape[2]
    first = _draw(streams, fan_out, fan_in, pool)      # rows = outputs, targets = inputs
    second = _draw(streams, fan_in, fan_out, pool)     # rows = inputs, targets = outputs
    if use_torch:
        a = w.transpose(1, 2).contiguous()                             # torch's (out, in)
        _pa_pass_torch(a, torch.from_numpy(first).to(a.device))
        a = a.transpose(1, 2).contiguous()
        _pa_pass_torch(a, torch.from_numpy(second).to(a.device))
        return a
    a = np.ascontiguousarray(w.numpy().transpose(0, 2, 1))
    _pa_pass_numpy(a, first)
    a = np.ascontiguousarray(a.transpose(0, 2, 1))
    _pa_pass_numpy(a, second)
    return torch.from_numpy(a)


def _draw(streams: Sequence[RewiringStream], rows: int, targets: int, pool: ThreadPoolExecutor | None) -> np.ndarray:
    """(B, rows - 1, targets): the next block of every network's stream, each drawn into its slice."""
    out = np.empty((len(streams), max(rows - 1, 0), targets))
    fill = lambda k: streams[k].next(rows, targets, out=out[k])   # noqa: E731
    list(pool.map(fill, range(len(streams))) if pool is not None else map(fill, range(len(streams))))
    return out


def _pa_pass_numpy(a: np.ndarray, e: np.ndarray) -> None:
    """One pass of the rule over the rows of ``a`` (B, rows, targets), in place; ``e`` (B, rows - 1,
    targets): the exponentials of rows 1 .. rows-1. Strengths in float64, as the authors' NumPy version
    (which they recommend for its precision). A row's values do not change before its turn, so all rows
    are sorted at once."""
    if a.shape[1] < 2:
        return
    ordered = np.sort(a[:, 1:], axis=2)
    st = np.zeros((a.shape[0], a.shape[2]))
    nets = np.arange(a.shape[0])[:, None]
    for r in range(1, a.shape[1]):
        st += a[:, r - 1]
        p = st + np.abs(st.min(axis=1, keepdims=True)) + 1
        targets = np.argsort(e[:, r - 1] / p, axis=1)             # successive draws proportional to p
        a[nets, r, targets] = ordered[:, r - 1]                   # the k-th drawn gets the k-th smallest


def _pa_pass_torch(a: torch.Tensor, e: torch.Tensor) -> None:
    """``_pa_pass_numpy`` in torch, on any device."""
    if a.shape[1] < 2:
        return
    ordered = a[:, 1:].sort(dim=2).values
    st = torch.zeros(a.shape[0], a.shape[2], dtype=torch.float64, device=a.device)
    for r in range(1, a.shape[1]):
        st += a[:, r - 1]
        p = st + st.min(dim=1, keepdim=True).values.abs() + 1
        targets = torch.argsort(e[:, r - 1] / p, dim=1)
        a[:, r].scatter_(1, targets, ordered[:, r - 1])


def strength_variance(weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per network, the variance of neuronal strength that PA rewiring lowers: for each layer the mean of
    the (unbiased) variance of its outputs' in-strengths and of its inputs' out-strengths (the quantity
    the authors' ``stabilize_strength`` minimises), averaged over the layers.

    Parameters
    ----------
    weights : list of torch.Tensor
        Layer l of shape (N, fan_in_l, fan_out_l).

    Returns
    -------
    torch.Tensor
        (N,) float64, on the weights' device.

    Examples
    --------
    >>> w = torch.tensor([[[1.0, -1.0], [1.0, -1.0]]])   # inputs' out-strengths 0, 0; outputs' in 2, -2
    >>> strength_variance([w])
    tensor([4.], dtype=torch.float64)
    """
    per_layer = []
    for w in weights:
        w = w.double()
        in_strength, out_strength = w.sum(dim=1), w.sum(dim=2)
        per_layer.append((_var(in_strength) + _var(out_strength)) / 2)
    return torch.stack(per_layer).mean(dim=0)


def _var(s: torch.Tensor) -> torch.Tensor:
    """Unbiased variance over the last dim; 0 for a single value (torch would give NaN)."""
    return s.var(dim=1) if s.shape[1] > 1 else torch.zeros(s.shape[0], dtype=s.dtype, device=s.device)
