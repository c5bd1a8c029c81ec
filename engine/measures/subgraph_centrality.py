"""subgraph_centrality: ``nx.subgraph_centrality(G)`` on the positive graph: diag(expm(A)), A binary.

The layered graph is bipartite (even layers vs odd layers): A = [[0, B], [B^T, 0]] and
expm(A) = [[cosh(sqrt(B B^T)), .], [., cosh(sqrt(B^T B))]]. With the thin SVD B = U S V^T,
SC of an even-layer node i = 1 + sum_k U_ik^2 (cosh s_k - 1) (odd-layer nodes: V): one batched
SVD of an (n_even, n_odd) matrix (through the eigh of its smaller Gram matrix) instead of an
eigendecomposition of the n_nodes matrix. Values reach 1e89, so the sum is taken in the log domain
(cosh s - 1 = 2 sinh^2(s / 2)) and exponentiated unless ``log_subgraph``. Disconnected graphs are done component by component, so that a small component
does not inherit rounding noise scaled by the giant component's e^{s_max}.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from engine.measures.layered_graph import LayeredGraph, MeasureValues, binary_product
from engine.measures.threads import single_threaded_lapack

log = logging.getLogger("engine.measures")


def _log_sinh(x: torch.Tensor) -> torch.Tensor:
    """log(sinh(x)) for x >= 0, accurate for small and huge x (-inf at 0)."""
    return x + torch.log(-torch.expm1(-2 * x)) - math.log(2.0)


def _log_sc(u: torch.Tensor, log_weight: torch.Tensor) -> torch.Tensor:
    """log(1 + sum_k u_ik^2 exp(log_weight_k)) for u (..., rows, k) and log_weight (..., k).

    One matrix product instead of an exp and a log per entry: the weights are scaled by the largest,
    m, so log SC = m + log(e^-m + u^2 exp(log_weight - m)). A term that underflows there is below
    tiny / eps of the largest weight, invisible next to any row whose sum is not itself that small;
    the rows whose sum is (a node far from every dominant mode) are summed term by term in the log
    domain instead."""
    m = log_weight.amax(-1, keepdim=True).clamp_min(0)  # (..., 1); >= 0 so the 1 scales down too
    scaled = torch.exp(log_weight - m)
    total = (u * u) @ scaled.unsqueeze(-1)  # (..., rows, 1)
    total = total.squeeze(-1) + torch.exp(-m)
    out = m + torch.log(total)
    info = torch.finfo(total.dtype)
    small = total < info.tiny / info.eps * u.shape[-1]
    if small.any():
        terms = 2 * torch.log(u.abs()) + log_weight.unsqueeze(-2)
        one = torch.zeros(terms.shape[:-1] + (1,), dtype=terms.dtype, device=terms.device)  # log 1
        out = torch.where(small, torch.logsumexp(torch.cat([one, terms], -1), -1), out)
    return out


def _sides(graph: LayeredGraph) -> tuple[list[int], list[int], np.ndarray, np.ndarray]:
    """Offsets of each layer within its side (even or odd layers), and for every node its side
    (0 even, 1 odd) and index within that side."""
    side_off, counts = [], [0, 0]
    for l, size in enumerate(graph.sizes):
        side_off.append(counts[l % 2])
        counts[l % 2] += size
    side = np.concatenate([np.full(size, l % 2) for l, size in enumerate(graph.sizes)])
    index = np.concatenate([side_off[l] + np.arange(size) for l, size in enumerate(graph.sizes)])
    return side_off, counts, side, index


def biadjacency(graph: LayeredGraph) -> torch.Tensor:
    """(N, n_even, n_odd) binary biadjacency of the positive graph (rows: even-layer nodes)."""
    side_off, counts, _, _ = _sides(graph)
    b = torch.zeros(graph.n_networks, counts[0], counts[1], dtype=graph.dtype, device=graph.device)
    for l, p in enumerate(graph.positive_masks):
        a, c = graph.sizes[l], graph.sizes[l + 1]
        if l % 2 == 0:  # layer l even, l + 1 odd
            b[:, side_off[l]:side_off[l] + a, side_off[l + 1]:side_off[l + 1] + c] = p
        else:
            b[:, side_off[l + 1]:side_off[l + 1] + c, side_off[l]:side_off[l] + a] = p.transpose(1, 2)
    return b


def _log_sc_sides(b: torch.Tensor, rows: torch.Tensor | None = None,
                  cols: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """log SC of the row nodes and of the column nodes of biadjacency b (..., rows, cols); only of
    the row and column indices ``rows`` and ``cols`` where given.

    The SVD comes from the eigendecomposition of the smaller Gram matrix (G = B^T B if cols <= rows):
    G = V diag(s^2) V^T. Small side: 1 + sum_k V_jk^2 (cosh s_k - 1). Large side, with U S = B V:
    1 + sum_k (B V)_ik^2 (cosh s_k - 1) / s_k^2, which needs no division by small s_k (the factor
    tends to 1/2). A batched symmetric eigh is several times faster than a batched SVD on CPU."""
    transposed = b.shape[-1] > b.shape[-2]
    tall = b.transpose(-1, -2) if transposed else b  # (..., large, small)
    large_sel, small_sel = (cols, rows) if transposed else (rows, cols)
    gram = binary_product(tall.transpose(-1, -2), tall)
    with single_threaded_lapack(b.device):
        lam, v = torch.linalg.eigh(gram)
    s = lam.clamp_min(0).sqrt()
    log_cosh_m1 = math.log(2.0) + 2 * _log_sinh(s / 2)  # cosh s - 1 = 2 sinh^2(s / 2)
    tiny = s < 1e-4
    log_ratio = torch.where(tiny, torch.log(0.5 + s * s / 24), log_cosh_m1 - 2 * torch.log(torch.where(tiny, 1, s)))
    log_small = _log_sc(v if small_sel is None else v[..., small_sel, :], log_cosh_m1)
    log_large = _log_sc((tall if large_sel is None else tall[..., large_sel, :]) @ v, log_ratio)
    return (log_small, log_large) if transposed else (log_large, log_small)


def subgraph_centrality(graph: LayeredGraph, log_subgraph: bool = False) -> MeasureValues:
    """(N, H) subgraph centrality (or its log) of each hidden neuron."""
    _, counts, side, index = _sides(graph)
    b = biadjacency(graph)
    hidden = graph.hidden_nodes
    side_h = torch.as_tensor(side[hidden], device=graph.device)
    index_h = torch.as_tensor(index[hidden], device=graph.device)
    # only the hidden neurons' rows and columns (the inputs are most of the even side)
    rows = torch.as_tensor(index[hidden][side[hidden] == 0], device=graph.device)
    cols = torch.as_tensor(index[hidden][side[hidden] == 1], device=graph.device)
    log_even = torch.zeros(graph.n_networks, counts[0], dtype=graph.dtype, device=graph.device)
    log_odd = torch.zeros(graph.n_networks, counts[1], dtype=graph.dtype, device=graph.device)
    log_even[:, rows], log_odd[:, cols] = _log_sc_sides(b, rows, cols)
    for net in (~graph.positive_connected).nonzero().squeeze(1).tolist():
        log_even[net], log_odd[net] = _log_sc_by_component(b[net])
    n_even = log_even.shape[1]
    both = torch.cat([log_even, log_odd], 1)
    log_values = both[:, index_h + side_h * n_even]
    if log_subgraph:
        return MeasureValues(log_values)
    values = torch.exp(log_values)
    if torch.isinf(values).any():
        wider = (" or compute in float64 (measures.dtype=float64; --dtype float64; dtype=torch.float64)"
                 if graph.dtype != torch.float64 else "")
        log.warning("subgraph_centrality overflows %s (values up to e^%.0f) for %d networks: report its log "
                    "(in a run measures.log_subgraph=true; in engine.inspect --log-subgraph; in Python "
                    "log_subgraph=True)%s", graph.dtype, float(log_values.max()),
                    int(torch.isinf(values).any(1).sum()), wider)
    return MeasureValues(values)


def _log_sc_by_component(b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact per-component log SC for one disconnected network (isolated nodes: SC = 1)."""
    bn = b.detach().cpu().numpy()
    n_even, n_odd = bn.shape
    # bipartite graph on even (0..n_even-1) and odd (n_even..) nodes
    rows, cols = np.nonzero(bn)
    g = csr_matrix((np.ones(len(rows)), (rows, cols + n_even)), shape=(n_even + n_odd,) * 2)
    _, labels = connected_components(g, directed=False)
    log_even = torch.zeros(n_even, dtype=b.dtype, device=b.device)
    log_odd = torch.zeros(n_odd, dtype=b.dtype, device=b.device)
    for c in np.unique(labels):
        ev = np.nonzero(labels[:n_even] == c)[0]
        od = np.nonzero(labels[n_even:] == c)[0]
        if len(ev) == 0 or len(od) == 0:
            continue  # an isolated node: SC = 1, log 0
        ev_t, od_t = torch.as_tensor(ev, device=b.device), torch.as_tensor(od, device=b.device)
        le, lo = _log_sc_sides(b[ev_t][:, od_t])
        log_even[ev_t], log_odd[od_t] = le, lo
    return log_even, log_odd
