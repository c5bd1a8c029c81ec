"""Harmonic centrality on the CPU by condensed, pruned shortest paths between the hidden neurons.

The positive graph of an MLP touches the inputs only from hidden layer 1 and the outputs only from
the last hidden layer, so a shortest path between hidden neurons is a chain of hidden-hidden
synapses and *hops* a-x-b through one leaf x (an input, or an output), of length w(x, a) + w(x, b).
On that condensed graph of the hidden neurons alone:

1. **Bound.** All-pairs path lengths U on a thin subgraph (each leaf's ``_K_BOUND`` lightest
   positive edges, each neuron's ``_K_HIDDEN`` lightest synapses), ``_BOUND_SWEEPS`` relaxation sweeps; every
   entry is the length of a real path, an upper bound of the distance.
2. **Prune.** An edge longer than some path between its ends lies on no shortest path (replace it by
   the path), so dropping every such edge at once changes no distance. Leaf edge (x, a) goes when
   w(x, a) > w(x, b) + U[b, a] for one of x's lightest neighbours b, a synapse or hop when longer
   than U between its ends; "longer" means by more than the relative ``_SLACK_RTOL``, so floating-
   point ties are always kept. On a U(-0.9, 0.9) 784-200-100-10 network about 3,000 of 78,000
   positive input edges and 5,000 condensed edges on 300 nodes are left.
3. **Exact all-pairs** on the pruned condensed graph, warm-started from U, relaxed until a sweep
   changes nothing (compiled: Gauss-Seidel Bellman-Ford vectorised over the sources; twin: SciPy's
   Dijkstra).
4. **Leaves.** d(v, x) = min over x's kept edges (x, a) of D[v, a] + w(x, a); the harmonic
   centrality of v is the sum of 1 / d(v, u) over every other node u it reaches (networkx's
   definition; unreachable nodes add 0).

With one hidden layer, inputs and outputs both hop within it. Distances are float sums along the
same shortest paths as Dijkstra's, in another order of the additions: equal to networkx within a few
units in the last place (the tests allow 1e-12 relative).

``harmonic`` runs the compiled kernel (``engine.measures.condensed_numba``) where Numba imports and
otherwise, with one warning, the pure NumPy/SciPy twin ``_harmonic_numpy``; the tests check each
against the other and both against networkx.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
from scipy.sparse.csgraph import csgraph_from_dense, dijkstra

from engine.errors import EngineError
from engine.weight_stack import layer_sizes

__all__ = ["compiled_kernel", "harmonic"]

log = logging.getLogger("engine.measures")

_K_BOUND = 3        # lightest edges per leaf (input or output) in the bound graph
_K_HIDDEN = 3       # lightest synapses per hidden neuron in the bound graph
_BOUND_SWEEPS = 1   # relaxation sweeps for the bounds (any number gives valid bounds; 1-2 measured best)
_SLACK_RTOL = 1e-9  # an edge is dropped only if longer than a known path by more than this, relatively
_SLACK = 1.0 + _SLACK_RTOL

_compiled_kernel = None  # the condensed_numba module once imported; False: Numba is not available


class _Layout:
    """One batch's weights as the kernels read them: leaves as rows (x, hidden), hidden blocks flat."""

    def __init__(self, weights: Sequence[np.ndarray]):
        ws = [np.asarray(w, dtype=np.float64) for w in weights]
        if len(ws) < 2 or any(w.ndim != 3 for w in ws):
            raise EngineError("condensed shortest paths need at least 2 weight blocks of shape (N, n_l, n_l+1)")
        self.n_networks = ws[0].shape[0]
        self.hidden_sizes = np.array(layer_sizes(ws)[1:-1], dtype=np.int64)
        self.n_hidden = int(self.hidden_sizes.sum())
        self.out_offset = self.n_hidden - int(self.hidden_sizes[-1])
        self.w_in = np.ascontiguousarray(ws[0])                       # (N, inputs, layer 1)
        self.w_out = np.ascontiguousarray(ws[-1].transpose(0, 2, 1))  # (N, outputs, last hidden layer)
        self.hidden_blocks = ws[1:-1]                                 # (N, n_l, n_l+1) between hidden layers
        self.hh = np.ascontiguousarray(np.concatenate([b.reshape(self.n_networks, -1) for b in self.hidden_blocks]
                                                      + [np.zeros((self.n_networks, 0))], axis=1))


def compiled_kernel():
    """The Numba kernel module, or None where Numba cannot be imported (warned once).

    Returns
    -------
    module or None
        ``engine.measures.condensed_numba`` (its ``harmonic_batch``), imported on the first call; None
        where Numba is missing or fails to load, and ``harmonic`` then runs its NumPy/SciPy twin.

    Examples
    --------
    >>> kernel = compiled_kernel()
    >>> kernel is None or callable(kernel.harmonic_batch)
    True
    """
    global _compiled_kernel
    if _compiled_kernel is None:
        try:
            from engine.measures import condensed_numba
        except Exception as e:  # noqa: BLE001 - ImportError, or Numba failing to load its LLVM
            log.warning("Numba cannot be imported (%s: %s): harmonic centrality uses its NumPy/SciPy twin "
                        "(same values, several times slower); pip install numba", type(e).__name__, e)
            _compiled_kernel = False
        else:
            _compiled_kernel = condensed_numba
    return _compiled_kernel or None


def harmonic(weights: Sequence[np.ndarray]) -> np.ndarray:
    """(N, H) harmonic centrality of the hidden neurons of N networks on their positive graphs.

    Parameters
    ----------
    weights : sequence of ndarray
        L >= 2 blocks, block l of shape (N, n_l, n_{l+1}) (float; converted to float64). An edge is a
        weight > 0, its length the weight; zero and negative weights are no edge.

    Returns
    -------
    ndarray
        (N, H) float64, hidden neurons in layer order: sum over the other reachable neurons u of
        1 / d(v, u), as ``networkx.harmonic_centrality(G, distance="weight")``.

    Raises
    ------
    EngineError
        If the relaxation does not converge (it always does on finite weights).

    References
    ----------
    M. Marchiori, V. Latora, "Harmony in the small-world", Physica A 285 (2000) 539 (harmonic
    centrality); R. Bellman, "On a routing problem", Q. Appl. Math. 16 (1958) 87 (the relaxation).

    Examples
    --------
    One input joined to two hidden neurons (weights 1 and 2), one output joined to the first:

    >>> w1 = np.array([[[1.0, 2.0]]]); w2 = np.array([[[1.0], [-1.0]]])
    >>> harmonic([w1, w2])  # 1/1 + 1/1 + 1/3 and 1/2 + 1/3 + 1/4 (the second neuron's paths go via the input)
    array([[2.33333333, 1.08333333]])
    """
    kernel = compiled_kernel()
    if kernel is None:
        return _harmonic_numpy(weights)
    return _harmonic_compiled(weights, kernel)


def _harmonic_compiled(weights: Sequence[np.ndarray], kernel=None) -> np.ndarray:
    """``harmonic`` by the compiled kernel (Numba must be importable)."""
    kernel = kernel or compiled_kernel()
    if kernel is None:
        raise EngineError("the compiled harmonic centrality kernel needs Numba: pip install numba")
    lay = _Layout(weights)
    out = np.empty((lay.n_networks, lay.n_hidden))
    sweeps = np.empty(lay.n_networks, dtype=np.int64)
    kernel.harmonic_batch(lay.w_in, lay.w_out, lay.hh, lay.hidden_sizes, _K_BOUND, _K_HIDDEN, _BOUND_SWEEPS,
                          _SLACK, out, sweeps)
    if (sweeps < 0).any():
        raise EngineError(f"harmonic centrality: shortest paths did not converge for {int((sweeps < 0).sum())} "
                          "networks (non-finite weights?)")
    return out


# --- the pure NumPy/SciPy twin ------------------------------------------------------------------------

def _harmonic_numpy(weights: Sequence[np.ndarray]) -> np.ndarray:
    """``harmonic`` with NumPy and SciPy alone (Dijkstra on the bound graph and on the pruned
    condensed graph): the fallback where Numba is missing, and the tests' check of the kernel."""
    lay = _Layout(weights)
    out = np.empty((lay.n_networks, lay.n_hidden))
    for k in range(lay.n_networks):
        out[k] = _harmonic_one_numpy(lay, k)
    return out


def _hidden_lengths(lay: _Layout, k: int) -> np.ndarray:
    a = np.full((lay.n_hidden, lay.n_hidden), np.inf)
    first = np.concatenate([[0], np.cumsum(lay.hidden_sizes)])
    for l, block in enumerate(lay.hidden_blocks):
        w = block[k]
        lengths = np.where(w > 0, w, np.inf)
        a[first[l]:first[l + 1], first[l + 1]:first[l + 2]] = lengths
        a[first[l + 1]:first[l + 2], first[l]:first[l + 1]] = lengths.T
    return a


def _lightest_numpy(w: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k lightest positive entries: (index, length), length inf where a row has fewer."""
    lengths = np.where(w > 0, w, np.inf)
    k = min(k, w.shape[1])
    idx = np.argpartition(lengths, k - 1, axis=1)[:, :k] if k < w.shape[1] else np.tile(np.arange(k), (len(w), 1))
    return idx, np.take_along_axis(lengths, idx, 1)


def _hops(ptr: np.ndarray, idx: np.ndarray, val: np.ndarray, offset: int):
    """Every hop a-x-b (a before b in x's list) over leaf edges listed per leaf in CSR (ptr, idx, val)."""
    group_end = np.repeat(ptr[1:], np.diff(ptr))  # for each edge, the end of its leaf's list
    later = group_end - np.arange(len(idx)) - 1  # edges after it in the same list
    left = np.repeat(np.arange(len(idx)), later)
    starts = np.cumsum(later) - later
    right = left + 1 + (np.arange(len(left)) - np.repeat(starts, later))
    return offset + idx[left], offset + idx[right], val[left] + val[right]


def _set_min(m: np.ndarray, a: np.ndarray, b: np.ndarray, h: np.ndarray) -> None:
    """m[a, b] = m[b, a] = min(m[a, b], h), duplicates included."""
    np.minimum.at(m, (a, b), h)
    np.minimum.at(m, (b, a), h)


def _leaf_edges(lay: _Layout, k: int):
    """(weights as rows, offset of their hidden layer) of the input and output leaves."""
    return [(lay.w_in[k], 0), (lay.w_out[k], lay.out_offset)]


def _harmonic_one_numpy(lay: _Layout, k: int) -> np.ndarray:
    a = _hidden_lengths(lay, k)
    leaves = _leaf_edges(lay, k)
    # 1. bounds: Dijkstra on every synapse and each leaf's _K_BOUND lightest edges (exact on that graph)
    bound_graph = a.copy()
    lightest = []
    for w, offset in leaves:
        idx, val = _lightest_numpy(w, _K_BOUND)
        lightest.append((idx, val))
        finite = np.isfinite(val)
        count = finite.sum(1)
        ptr = np.concatenate([[0], np.cumsum(count)])
        _set_min(bound_graph, *_hops(ptr, idx[finite], val[finite], offset))
    u = dijkstra(csgraph_from_dense(bound_graph, null_value=np.inf), directed=True)

    # 2. prune leaf edges, synapses and hops that are longer than a known path
    pruned = np.where(a <= u * _SLACK, a, np.inf)
    kept_leaves = []
    for (w, offset), (idx, val) in zip(leaves, lightest):
        n = w.shape[1]
        rows = u[offset + idx][:, :, offset:offset + n]  # (leaves, K, n): bound from each light neighbour
        best = (val[:, :, None] + rows).min(1)
        x, col = np.nonzero((w > 0) & (w <= best * _SLACK))
        ptr = np.concatenate([[0], np.cumsum(np.bincount(x, minlength=w.shape[0]))])
        length = w[x, col]
        kept_leaves.append((ptr, col, length, offset))
        ha, hb, h = _hops(ptr, col, length, offset)
        short = h <= u[ha, hb] * _SLACK
        _set_min(pruned, ha[short], hb[short], h[short])

    # 3. exact all-pairs on the pruned condensed graph; d[s, t] from source s
    d = dijkstra(csgraph_from_dense(pruned, null_value=np.inf), directed=True)

    # 4. reciprocal sums over hidden targets and leaves
    with np.errstate(divide="ignore"):
        total = np.where(np.isfinite(d) & (d > 0), 1.0 / d, 0.0).sum(1)
        for ptr, col, length, offset in kept_leaves:
            nonempty = np.flatnonzero(np.diff(ptr))
            if len(nonempty) == 0:
                continue
            through = d[:, offset + col] + length  # (sources, kept edges), grouped by leaf
            to_leaf = np.minimum.reduceat(through, ptr[nonempty], axis=1)
            total += np.where(np.isfinite(to_leaf), 1.0 / to_leaf, 0.0).sum(1)
    return total
