"""The condensed harmonic centrality (``engine.measures.condensed_paths``), compiled with Numba.

One network at a time, single-threaded (the worker processes fill the cores), every step a loop
over the network's own arrays: the k lightest leaf edges, the bound graph and its relaxation, the
pruning, the pruned condensed graph, its exact all-pairs relaxation warm-started from the bounds,
and the reciprocal sums. ``engine.measures.condensed_paths`` documents the method and why it is
exact; this module is imported only when Numba is (the NumPy/SciPy twin runs without it).

Compiled on first use and cached on disk (``cache=True``: about a second to load in a fresh
process instead of several to compile); where no cache directory is writable (a read-only install
without a writable home), each process compiles its own copy instead.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["harmonic_batch"]

_INF = np.inf


def _jit(fn):
    try:
        return numba.njit(cache=True, nogil=True, boundscheck=False)(fn)
    except RuntimeError:  # numba found no writable cache directory: compile in every process instead
        return numba.njit(cache=False, nogil=True, boundscheck=False)(fn)


@_jit
def _hidden_lengths(hh, hidden_sizes, n_h):
    """Dense (n_h, n_h) edge lengths between hidden neurons (synapse weight where > 0, else inf)."""
    a = np.full((n_h, n_h), _INF)
    pos = 0
    first = 0
    for l in range(len(hidden_sizes) - 1):
        n_a, n_b = hidden_sizes[l], hidden_sizes[l + 1]
        second = first + n_a
        for i in range(n_a):
            for j in range(n_b):
                w = hh[pos + i * n_b + j]
                if w > 0:
                    a[first + i, second + j] = w
                    a[second + j, first + i] = w
        pos += n_a * n_b
        first = second
    return a


@_jit
def _insert_lightest(row, k, idx, val):
    """The k lightest finite entries of ``row`` into idx, val (ascending); returns how many there are.
    (Numba compiles the scan to one rarely taken branch per entry: most entries are no lighter.)"""
    c = 0
    worst = _INF  # the k-th lightest so far
    for a in range(len(row)):
        v = row[a]
        if v < worst:
            j = c if c < k else k - 1
            c = min(c + 1, k)
            while j > 0 and val[j - 1] > v:
                val[j] = val[j - 1]
                idx[j] = idx[j - 1]
                j -= 1
            val[j] = v
            idx[j] = a
            if c == k:
                worst = val[k - 1]
    return c


@_jit
def _lightest(w, k):
    """Per row of ``w`` (leaf x hidden, raw weights): its k lightest positive entries, ascending
    (index, length; ``count`` of them, fewer where the row has fewer positive entries)."""
    n, m = w.shape
    idx = np.zeros((n, k), np.int64)
    val = np.full((n, k), _INF)
    count = np.zeros(n, np.int64)
    lengths = np.empty(m)
    for x in range(n):
        for a in range(m):
            v = w[x, a]
            lengths[a] = v if v > 0 else _INF
        count[x] = _insert_lightest(lengths, k, idx[x], val[x])
    return idx, val, count


@_jit
def _lightest_edges(a, k):
    """The bound graph's hidden-hidden part: each neuron's k lightest edges of ``a`` (union, so
    symmetric), the rest inf."""
    n = a.shape[0]
    out = np.full((n, n), _INF)
    best_i = np.zeros(k, np.int64)
    best_v = np.full(k, _INF)
    for r in range(n):
        c = _insert_lightest(a[r], k, best_i, best_v)
        for j in range(c):
            out[r, best_i[j]] = best_v[j]
            out[best_i[j], r] = best_v[j]
    return out


@_jit
def _add_hops(m, offset, idx, val, count):
    """m[a, b] = min(m[a, b], w(x, a) + w(x, b)) over each leaf x's listed edges (a hop a-x-b)."""
    for x in range(idx.shape[0]):
        c = count[x]
        for i in range(c):
            a = offset + idx[x, i]
            wa = val[x, i]
            for j in range(i + 1, c):
                b = offset + idx[x, j]
                h = wa + val[x, j]
                if h < m[a, b]:
                    m[a, b] = h
                    m[b, a] = h


@_jit
def _csr(m):
    """Adjacency lists (CSR: ptr, neighbour, length) of the finite off-diagonal entries of m."""
    n = m.shape[0]
    ptr = np.zeros(n + 1, np.int64)
    for r in range(n):
        c = 0
        for s in range(n):
            if m[r, s] < _INF and s != r:
                c += 1
        ptr[r + 1] = ptr[r] + c
    nbr = np.empty(ptr[n], np.int64)
    length = np.empty(ptr[n])
    p = 0
    for r in range(n):
        for s in range(n):
            if m[r, s] < _INF and s != r:
                nbr[p] = s
                length[p] = m[r, s]
                p += 1
    return ptr, nbr, length


@_jit
def _relax(d, ptr, nbr, length, max_sweeps):
    """Gauss-Seidel Bellman-Ford on all sources at once, in place; returns the sweeps run, or -1 if
    ``max_sweeps`` ended before a sweep changed nothing.

    Row b of d holds the lengths of paths from every source s to b (d[b, b] = 0): pulling from each
    neighbour a, d[b, :] = min(d[b, :], d[a, :] + w(a, b)), vectorised over the sources. A lowered
    row is also written into its column (the same path, reversed), so paths grow at both ends and
    a sweep settles about twice as many hops. Sweeps alternate direction; a row is pulled again only
    if a neighbour changed since its last pull. Every entry stays the length of a real path, so
    stopping early gives upper bounds; a sweep that changes nothing is a fixed point: then
    d[b, s] <= the left-to-right float sum from s along any path, Dijkstra's value from s."""
    n = d.shape[0]
    old = np.empty(n)
    pulled_at = np.zeros(n, np.int64)
    changed_at = np.ones(n, np.int64)
    clock = 1
    for sweep in range(max_sweeps):
        any_change = False
        for t in range(n):
            b = t if sweep % 2 == 0 else n - 1 - t
            stale = False
            for e in range(ptr[b], ptr[b + 1]):
                if changed_at[nbr[e]] > pulled_at[b]:
                    stale = True
                    break
            if not stale:
                continue
            clock += 1
            pulled_at[b] = clock
            row = d[b]
            for s in range(n):
                old[s] = row[s]
            e, end = ptr[b], ptr[b + 1]
            while e + 3 < end:  # four neighbours per pass over the row: a quarter of its loads and stores
                s0, s1, s2, s3 = d[nbr[e]], d[nbr[e + 1]], d[nbr[e + 2]], d[nbr[e + 3]]
                w0, w1, w2, w3 = length[e], length[e + 1], length[e + 2], length[e + 3]
                for s in range(n):
                    row[s] = min(min(row[s], min(s0[s] + w0, s1[s] + w1)), min(s2[s] + w2, s3[s] + w3))
                e += 4
            while e < end:
                src = d[nbr[e]]
                w = length[e]
                for s in range(n):
                    row[s] = min(row[s], src[s] + w)
                e += 1
            lowered = False
            for s in range(n):
                if row[s] < old[s]:
                    lowered = True
                    break
            if not lowered:
                continue
            any_change = True
            changed_at[b] = clock
            for s in range(n):
                if row[s] < d[s, b]:
                    d[s, b] = row[s]
                    changed_at[s] = clock
        if not any_change:
            return sweep + 1
    return -1


@_jit
def _kept_leaf_edges(w, offset, s_idx, s_val, s_count, u, slack):
    """The leaf edges a shortest path may use, as CSR over leaves (ptr, hidden index, length).

    Edge (x, a) is dropped when some path from x to a is shorter by more than the slack: through
    one of x's k lightest neighbours b, w(x, b) + u[b, a] with u the bound graph's path lengths. An
    edge longer than a path between its ends lies on no shortest path (replace it by the path), so
    every distance survives the pruning."""
    n, m = w.shape
    best = np.empty(m)
    ptr = np.zeros(n + 1, np.int64)
    idx = np.empty(n * m, np.int64)
    val = np.empty(n * m)
    p = 0
    for x in range(n):
        for a in range(m):
            best[a] = _INF
        for i in range(s_count[x]):
            row = u[offset + s_idx[x, i]]
            wb = s_val[x, i]
            for a in range(m):
                best[a] = min(best[a], wb + row[offset + a])
        for a in range(m):  # margin >= 0 where the edge is kept (a separate pass vectorises)
            v = w[x, a]
            best[a] = best[a] * slack - v if v > 0 else -1.0
        for a in range(m):
            if best[a] >= 0:
                idx[p] = a
                val[p] = w[x, a]
                p += 1
        ptr[x + 1] = p
    return ptr, idx[:p].copy(), val[:p].copy()


@_jit
def _add_kept_hops(m, offset, ptr, idx, val, u, slack):
    """Hops a-x-b over the kept leaf edges into m, where not longer than the bound u[a, b] (a
    longer hop is no shortest path either)."""
    for x in range(len(ptr) - 1):
        for i in range(ptr[x], ptr[x + 1]):
            a = offset + idx[i]
            wa = val[i]
            for j in range(i + 1, ptr[x + 1]):
                b = offset + idx[j]
                h = wa + val[j]
                if h < m[a, b] and h <= u[a, b] * slack:
                    m[a, b] = h
                    m[b, a] = h


@_jit
def _leaf_reciprocals(d, offset, ptr, idx, val, acc):
    """acc[s] += 1 / d(s, x) for every leaf x reached from hidden source s, with
    d(s, x) = min over x's kept edges (x, a) of d[a, s] + w(x, a)."""
    n = d.shape[0]
    dist = np.empty(n)
    for x in range(len(ptr) - 1):
        if ptr[x] == ptr[x + 1]:
            continue
        for s in range(n):
            dist[s] = _INF
        for e in range(ptr[x], ptr[x + 1]):
            src = d[offset + idx[e]]
            w = val[e]
            for s in range(n):
                dist[s] = min(dist[s], src[s] + w)
        for s in range(n):
            if dist[s] < _INF:
                acc[s] += 1.0 / dist[s]


@_jit
def _harmonic_one(w_in, w_out, hh, hidden_sizes, k_bound, k_hidden, bound_sweeps, slack, out):
    """Harmonic centrality of one network's hidden neurons into ``out``; returns the exact
    relaxation's sweeps (-1: it did not converge)."""
    n_h = 0
    for s in hidden_sizes:
        n_h += s
    off_out = n_h - hidden_sizes[len(hidden_sizes) - 1]
    a = _hidden_lengths(hh, hidden_sizes, n_h)

    # 1. bounds: all-pairs path lengths on a thin subgraph (k lightest edges per leaf and per neuron)
    in_idx, in_val, in_count = _lightest(w_in, k_bound)
    out_idx, out_val, out_count = _lightest(w_out, k_bound)
    m = _lightest_edges(a, k_hidden)
    _add_hops(m, 0, in_idx, in_val, in_count)
    _add_hops(m, off_out, out_idx, out_val, out_count)
    d = np.full((n_h, n_h), _INF)
    for i in range(n_h):
        d[i, i] = 0.0
    ptr, nbr, length = _csr(m)
    _relax(d, ptr, nbr, length, bound_sweeps)

    # 2. prune: leaf edges, hidden synapses and hops longer than a known path
    kin_ptr, kin_idx, kin_val = _kept_leaf_edges(w_in, 0, in_idx, in_val, in_count, d, slack)
    kout_ptr, kout_idx, kout_val = _kept_leaf_edges(w_out, off_out, out_idx, out_val, out_count, d, slack)
    for i in range(n_h):
        for j in range(n_h):
            if not a[i, j] <= d[i, j] * slack:
                a[i, j] = _INF
    _add_kept_hops(a, 0, kin_ptr, kin_idx, kin_val, d, slack)
    _add_kept_hops(a, off_out, kout_ptr, kout_idx, kout_val, d, slack)

    # 3. exact all-pairs on the pruned condensed graph, warm-started from the bounds
    ptr, nbr, length = _csr(a)
    sweeps = _relax(d, ptr, nbr, length, 4 * n_h + 16)

    # 4. reciprocal sums: hidden targets, then the leaves through their kept edges
    for s in range(n_h):
        out[s] = 0.0
    for r in range(n_h):
        for s in range(n_h):
            v = d[r, s]
            if v > 0 and v < _INF:
                out[s] += 1.0 / v
    _leaf_reciprocals(d, 0, kin_ptr, kin_idx, kin_val, out)
    _leaf_reciprocals(d, off_out, kout_ptr, kout_idx, kout_val, out)
    return sweeps


@_jit
def harmonic_batch(w_in, w_out, hh, hidden_sizes, k_bound, k_hidden, bound_sweeps, slack, out, sweeps):
    """Harmonic centrality of the hidden neurons of N networks by condensed, pruned shortest paths.

    The compiled kernel of ``engine.measures.condensed_paths.harmonic`` (which lays out the arrays and
    checks ``sweeps``): ``_harmonic_one`` for every network k. Results are written into ``out`` and
    ``sweeps``.

    Parameters
    ----------
    w_in : ndarray
        (N, inputs, n_1) float64, C-contiguous: the input block.
    w_out : ndarray
        (N, outputs, n_last) float64, C-contiguous: the output block transposed (outputs as rows).
    hh : ndarray
        (N, S) float64: the blocks between hidden layers, each raveled, one after the other (S = 0 with
        one hidden layer).
    hidden_sizes : ndarray
        (L - 1,) int64: neurons per hidden layer.
    k_bound, k_hidden : int
        Lightest edges kept per leaf and per hidden neuron in the bound graph.
    bound_sweeps : int
        Relaxation sweeps for the upper bounds.
    slack : float
        1 + the relative tolerance under which an edge longer than a known path is still kept.
    out : ndarray
        (N, H) float64, written: the harmonic centrality (1 / units of the weights), layer order.
    sweeps : ndarray
        (N,) int64, written: relaxation sweeps to converge, negative where it did not.

    Returns
    -------
    None
        The results are in ``out`` and ``sweeps``.

    Examples
    --------
    One input joined to two hidden neurons (weights 1 and 2), one output joined to the first:

    >>> import numpy as np
    >>> w_in = np.array([[[1.0, 2.0]]]); w_out = np.array([[[1.0, -1.0]]])
    >>> out, sweeps = np.empty((1, 2)), np.empty(1, dtype=np.int64)
    >>> harmonic_batch(w_in, w_out, np.zeros((1, 0)), np.array([2]), 3, 3, 1, 1 + 1e-9, out, sweeps)
    >>> out
    array([[2.33333333, 1.08333333]])
    """
    for k in range(w_in.shape[0]):
        sweeps[k] = _harmonic_one(w_in[k], w_out[k], hh[k], hidden_sizes, k_bound, k_hidden, bound_sweeps,
                                  slack, out[k])
