"""The layered graph of a population of MLPs: weights validated once, blocks shared by every measure.

Nodes are all neurons, layer-major (layer 0 = inputs first, then hidden layer 1, ..., then outputs);
an undirected edge joins neuron i of layer l and neuron j of layer l+1 with weight ``W_l[i, j]``.
The *signed* graph keeps every non-zero synapse (as ``nx.from_numpy_array`` would); the *positive*
graph keeps the synapses with weight > 0 and every node (isolated nodes stay).
Everything is a batch over the N networks, on the weights' device.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

import numpy as np
import torch

from engine.weight_stack import check_compute_dtype, check_weight_stack, layer_sizes

__all__ = ["binary_product", "compute_blocks", "LayeredGraph", "MeasureValues"]


@dataclass
class MeasureValues:
    """Per-hidden-neuron values ``(N, H)``, NaN where undefined, and why (for one warning).

    What every measure's compute function returns.

    Attributes
    ----------
    values : torch.Tensor
        (N, H): per network, per hidden neuron (layer order), in the compute dtype; NaN where undefined.
    undefined : torch.Tensor or None
        (N,) bool: the networks whose values are NaN (None: every value is defined).
    reason : str
        Why they are undefined (e.g. "the signed graph is disconnected"), for the one warning.

    Examples
    --------
    >>> import torch
    >>> v = MeasureValues(torch.tensor([[1.0, 2.0], [float("nan")] * 2]), torch.tensor([False, True]),
    ...                   "the positive graph is disconnected")
    >>> v.values.shape, int(v.undefined.sum())
    (torch.Size([2, 2]), 1)
    """

    values: torch.Tensor
    undefined: torch.Tensor | None = None  # (N,) bool: networks whose values are NaN
    reason: str = ""


def compute_blocks(weights: Sequence, dtype: torch.dtype) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Check a weight stack and the compute dtype at the measures' edge; the blocks cast, non-finite networks masked.

    Parameters
    ----------
    weights : sequence of torch.Tensor or array-like
        L >= 2 blocks (N, n_l, n_{l+1}), or (n_l, n_{l+1}) for one network, rows the layer's inputs,
        all on one device (``engine.weight_stack.check_weight_stack``). Not differentiated (detached).
    dtype : torch.dtype
        torch.float32 or torch.float64: the compute dtype.

    Returns
    -------
    blocks : list of torch.Tensor
        L blocks (N, n_l, n_{l+1}) in ``dtype``, on the weights' device; the blocks of a network with
        a NaN or infinite weight are replaced by ones, so that the batch still computes.
    nonfinite : torch.Tensor
        (N,) bool: those networks (their values are to be set to NaN).

    Raises
    ------
    EngineError
        If the stack is malformed (shapes that do not chain, mixed devices, fewer than 2 layers: the
        measures need a hidden layer) or ``dtype`` is not a float32/float64.

    Examples
    --------
    >>> import torch
    >>> blocks, nonfinite = compute_blocks([[[1.0, -0.5], [2.0, 0.0]], [[1.0], [3.0]]], torch.float64)
    >>> [tuple(b.shape) for b in blocks], nonfinite
    ([(1, 2, 2), (1, 2, 1)], tensor([False]))
    >>> compute_blocks([[[1.0, -0.5], [2.0, 0.0]]], torch.float64)
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: got 1 weight layer: the measures are defined on hidden neurons, so at least 2 ...
    """
    check_compute_dtype(dtype)
    blocks = [_cast(w.detach(), dtype) for w in check_weight_stack(weights, min_layers=2)]  # not differentiated
    bad = torch.zeros(blocks[0].shape[0], dtype=torch.bool, device=blocks[0].device)
    for w in blocks:
        bad |= _nonfinite_networks(w)
    if bad.any():
        blocks = [torch.where(bad[:, None, None], torch.ones_like(w), w) for w in blocks]
    return blocks, bad


# CPU dtypes that NumPy converts: 100 paper-size networks' float32 weights to float64 took 40 ms
# through NumPy against 170 ms through torch (torch 2.13, 2-core CPU).
_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64, torch.int8: np.int8, torch.int16: np.int16,
                 torch.int32: np.int32, torch.int64: np.int64, torch.uint8: np.uint8}


def _cast(w: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``w.to(dtype)``, through NumPy on CPU where NumPy has both dtypes (several times faster)."""
    if w.device.type == "cpu" and w.dtype != dtype and w.dtype in _NUMPY_DTYPES and dtype in _NUMPY_DTYPES:
        return torch.from_numpy(w.numpy().astype(_NUMPY_DTYPES[dtype]))
    return w.to(dtype)


def _nonfinite_networks(w: torch.Tensor) -> torch.Tensor:
    """(N,) bool: the networks with a NaN or infinite entry in block ``w`` (N, a, b). Any such entry
    makes the network's sum non-finite, a fast pass (100 paper-size networks: 15 ms, against 250 ms
    for ``isfinite(w).all``); only networks whose sum is not finite (overflow included) are checked
    entry by entry."""
    bad = ~torch.isfinite(w.flatten(1).sum(1))
    if bad.any():
        idx = bad.nonzero().squeeze(1)
        bad[idx] = ~torch.isfinite(w[idx]).flatten(1).all(1)
    return bad


def binary_product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b for 0/1 matrices (counts of common neighbours), in a's dtype.

    On CPU the product runs in float32, twice as fast and exact: every partial sum is an integer below
    2^24. (Not on CUDA, where float32 products may use TF32, exact only to 2^11.)

    Parameters
    ----------
    a, b : torch.Tensor
        0/1 matrices or batches of them, (..., p, q) and (..., q, r), of one float dtype and device.

    Returns
    -------
    torch.Tensor
        (..., p, r) in ``a``'s dtype: the integer counts.

    Examples
    --------
    >>> import torch
    >>> a = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    >>> binary_product(a, a.T)
    tensor([[1., 1.],
            [1., 2.]], dtype=torch.float64)
    """
    if a.device.type == "cpu" and a.dtype == torch.float64 and a.shape[-1] < 2**24:
        return (a.float() @ b.float()).to(a.dtype)
    return a @ b


@dataclass
class LayeredGraph:
    """The signed and positive layered graphs of N networks, with the blocks the measures share.

    Build it with ``LayeredGraph.of(weights)``, which checks the stack; the constructor takes blocks
    already checked and cast. Node ids are layer-major (inputs first); the cached blocks, degrees,
    strengths and connectivity are shared by every measure computed on the graph.

    Attributes
    ----------
    weights : list of torch.Tensor
        L blocks (N, n_l, n_{l+1}), checked, in the compute dtype.
    n_networks, device, dtype, sizes, offsets, n_nodes, n_hidden, hidden_nodes
        N; the blocks' device and dtype; neurons per layer ``[n_0, ..., n_L]``; the first node id of
        each layer plus the total; every neuron; the hidden neurons (the H axis of every result);
        their node ids.
    positive_weights, positive_masks, signed_masks : list of torch.Tensor
        Per block: w where w > 0 (else 0); the 0/1 adjacency of the positive graph; that of the signed
        graph (every non-zero synapse).
    signed_strength, signed_degree, positive_degree : torch.Tensor
        (N, n_nodes) per-node sums of those blocks.
    signed_connected, positive_connected : torch.Tensor
        (N,) bool: that graph of each network is connected.

    Examples
    --------
    >>> g = LayeredGraph.of([[[1.0, -0.5], [2.0, 0.0]], [[1.0], [3.0]]])  # one 2-2-1 network
    >>> g.n_networks, g.sizes, g.offsets, g.hidden_nodes
    (1, [2, 2, 1], [0, 2, 4, 5], array([2, 3]))
    >>> g.signed_strength
    tensor([[0.5000, 2.0000, 4.0000, 2.5000, 4.0000]], dtype=torch.float64)
    >>> g.positive_connected
    tensor([True])
    """

    weights: list[torch.Tensor]  # L blocks (N, n_l, n_{l+1}), validated, in the compute dtype

    @classmethod
    def of(cls, weights: Sequence, dtype: torch.dtype = torch.float64) -> "LayeredGraph":
        """The graph of a weight stack, checked and cast as ``compute_measures`` does (non-finite
        networks are not masked here: give finite weights).

        Examples
        --------
        >>> LayeredGraph.of([[[1.0, -0.5], [2.0, 0.0]], [[1.0], [3.0]]]).sizes
        [2, 2, 1]
        """
        return cls(compute_blocks(weights, dtype)[0])

    # ---- shape bookkeeping -------------------------------------------------------------------
    @property
    def n_networks(self) -> int:
        return self.weights[0].shape[0]

    @property
    def device(self) -> torch.device:
        return self.weights[0].device

    @property
    def dtype(self) -> torch.dtype:
        return self.weights[0].dtype

    @cached_property
    def sizes(self) -> list[int]:
        """Neurons per layer, inputs first: [n_0, n_1, ..., n_L]."""
        return layer_sizes(self.weights)

    @cached_property
    def offsets(self) -> list[int]:
        """Index of the first node of each layer in the layer-major node order (plus the total)."""
        return [int(x) for x in np.concatenate([[0], np.cumsum(self.sizes)])]

    @property
    def n_nodes(self) -> int:
        return self.offsets[-1]

    @property
    def hidden_layers(self) -> range:
        return range(1, len(self.sizes) - 1)

    @property
    def n_hidden(self) -> int:
        return sum(self.sizes[l] for l in self.hidden_layers)

    @cached_property
    def hidden_nodes(self) -> np.ndarray:
        """Node indices of the hidden neurons, layer 1 first (the H axis of every result)."""
        return np.arange(self.offsets[1], self.offsets[-2])

    def hidden(self, per_node: torch.Tensor) -> torch.Tensor:
        """Select the hidden-node columns of an (N, n_nodes) tensor."""
        return per_node[:, self.offsets[1]:self.offsets[-2]]

    # ---- the two graphs ------------------------------------------------------------------------
    @cached_property
    def positive_weights(self) -> list[torch.Tensor]:
        """Positive graph blocks: w where w > 0, else 0."""
        return [torch.where(w > 0, w, torch.zeros((), dtype=w.dtype, device=w.device)) for w in self.weights]

    @cached_property
    def positive_masks(self) -> list[torch.Tensor]:
        """Binary (0/1, compute dtype) adjacency blocks of the positive graph."""
        return [(w > 0).to(self.dtype) for w in self.weights]

    @cached_property
    def signed_masks(self) -> list[torch.Tensor]:
        """Binary adjacency blocks of the signed graph (every non-zero synapse is an edge)."""
        return [(w != 0).to(self.dtype) for w in self.weights]

    def node_sums(self, blocks: list[torch.Tensor]) -> torch.Tensor:
        """(N, n_nodes): per node, the sum of its incident block entries (degree or strength)."""
        parts = []
        for l in range(len(self.sizes)):
            s = 0
            if l < len(blocks):
                s = s + blocks[l].sum(2)  # edges to layer l+1
            if l > 0:
                s = s + blocks[l - 1].sum(1)  # edges to layer l-1
            parts.append(s)
        return torch.cat(parts, 1)

    @cached_property
    def signed_strength(self) -> torch.Tensor:
        return self.node_sums(self.weights)

    @cached_property
    def signed_degree(self) -> torch.Tensor:
        return self.node_sums(self.signed_masks)

    @cached_property
    def positive_degree(self) -> torch.Tensor:
        return self.node_sums(self.positive_masks)

    # ---- connectivity ----------------------------------------------------------------------------
    def reachable_from_first_node(self, masks: list[torch.Tensor]) -> torch.Tensor:
        """(N, n_nodes) bool: nodes reachable from node 0 (batched frontier propagation through the
        layer blocks, forward and backward sweeps until nothing new is reached)."""
        n, sizes = self.n_networks, self.sizes
        reach = [torch.zeros(n, s, dtype=self.dtype, device=self.device) for s in sizes]
        reach[0][:, 0] = 1
        for _ in range(self.n_nodes):
            before = sum(float(r.sum()) for r in reach)
            for l in range(len(masks)):  # forward sweep
                grown = reach[l + 1] + torch.bmm(reach[l].unsqueeze(1), masks[l]).squeeze(1)
                reach[l + 1] = (grown > 0).to(self.dtype)
            for l in reversed(range(len(masks))):  # backward sweep
                grown = reach[l] + torch.bmm(masks[l], reach[l + 1].unsqueeze(2)).squeeze(2)
                reach[l] = (grown > 0).to(self.dtype)
            if sum(float(r.sum()) for r in reach) == before:
                break
        return torch.cat(reach, 1) > 0

    @cached_property
    def signed_connected(self) -> torch.Tensor:
        """(N,) bool: the signed graph is connected."""
        return self.reachable_from_first_node(self.signed_masks).all(1)

    @cached_property
    def positive_connected(self) -> torch.Tensor:
        """(N,) bool: the positive graph is connected."""
        return self.reachable_from_first_node(self.positive_masks).all(1)
