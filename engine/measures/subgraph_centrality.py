"""subgraph_centrality: ``nx.subgraph_centrality(G)`` on the positive graph: diag(expm(A)), A binary.

SC_i = (e^A)_ii, the weighted count of closed walks from i (Estrada & Rodriguez-Velazquez,
"Subgraph centrality in complex networks", Phys. Rev. E 71 (2005) 056103). The layered graph is
bipartite (even layers vs odd layers): A = [[0, B], [B^T, 0]] and
expm(A) = [[cosh(sqrt(B B^T)), .], [., cosh(sqrt(B^T B))]]. Two exact methods, both from the Gram
matrix M of the smaller side (210 x 210 for 784-200-100-10), for the hidden neurons' rows only:

- ``"eigh"`` (the CPU's): with the thin SVD B = U S V^T, SC of an even-layer node i is
  1 + sum_k U_ik^2 (cosh s_k - 1) (odd-layer nodes: V), from one batched symmetric eigendecomposition
  of M (several times faster than a batched SVD on CPU). Values reach 1e89, so the sum is taken in
  the log domain (cosh s - 1 = 2 sinh^2(s / 2)). Disconnected graphs are done component by
  component, so that a small component does not inherit rounding noise scaled by the giant
  component's e^{s_max}.
- ``"gemm"`` (every other device's): scaling and squaring with batched matrix products only
  (``engine.measures.subgraph_squaring``: its docstring has the identities, the accuracy argument
  and the flop count, 2.65e8 per paper-size network after M). torch's batched ``eigh`` loops over
  the batch on CUDA for n > 32 (92% of the GPU's measures time before this method); the products
  are what a GPU does best. Every entry is a sum of non-negative terms, so disconnected graphs need
  no per-component pass; networks whose values span more than float64 can carry through the
  squarings (beyond e^460 within one network) fall back to the per-component eigendecomposition.

On one CPU core the eigendecomposition measured about twice as fast per paper-size network
(5.6 ms against 11.3 ms, 20 networks, within 1.7e-13 of each other), so it stays the CPU's method. ``method=``
forces either (the tests hold both to networkx and to each other on CPU). Results are logs,
exponentiated (in float64, then cast) unless ``log_subgraph``; an overflow is warned once.
"""
from __future__ import annotations

import logging
import math

import numpy as np
import torch
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from engine.errors import EngineError
from engine.measures.citations import CITATIONS
from engine.measures.layered_graph import LayeredGraph, MeasureValues, binary_product
from engine.measures.subgraph_squaring import log_subgraph_squaring
from engine.measures.threads import single_threaded_lapack
from engine.shared_docs import shared_docs

__all__ = ["biadjacency", "METHODS", "subgraph_centrality", "subgraph_method"]

log = logging.getLogger("engine.measures")

METHODS = ("eigh", "gemm")


def subgraph_method(device: torch.device) -> str:
    """The method subgraph centrality uses by default on ``device``.

    Parameters
    ----------
    device : torch.device or str
        Where the measures run.

    Returns
    -------
    {"eigh", "gemm"}
        "eigh" on CPU (the faster there), "gemm" (scaling and squaring, products only) elsewhere.

    Examples
    --------
    >>> subgraph_method(torch.device("cpu")), subgraph_method("cuda:0")
    ('eigh', 'gemm')
    """
    return "eigh" if torch.device(device).type == "cpu" else "gemm"


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
    """The binary biadjacency B of the positive graph: A = [[0, B], [B^T, 0]], even layers against odd.

    Parameters
    ----------
    graph : LayeredGraph
        N networks.

    Returns
    -------
    torch.Tensor
        (N, n_even, n_odd) 0/1 in the graph's dtype and device: rows the nodes of the even layers
        (inputs, layer 2, ...), columns those of the odd layers, each side in layer order; 1 where
        the synapse is > 0.

    Examples
    --------
    >>> g = LayeredGraph.of([[[1.0, -0.5], [2.0, 0.0]], [[1.0], [3.0]]])  # one 2-2-1 network
    >>> biadjacency(g)  # rows: the 2 inputs, the output; columns: the 2 hidden neurons
    tensor([[[1., 0.],
             [1., 0.],
             [1., 1.]]], dtype=torch.float64)
    """
    side_off, counts, _, _ = _sides(graph)
    b = torch.zeros(graph.n_networks, counts[0], counts[1], dtype=graph.dtype, device=graph.device)
    for l, p in enumerate(graph.positive_masks):
        a, c = graph.sizes[l], graph.sizes[l + 1]
        if l % 2 == 0:  # layer l even, l + 1 odd
            b[:, side_off[l]:side_off[l] + a, side_off[l + 1]:side_off[l + 1] + c] = p
        else:
            b[:, side_off[l + 1]:side_off[l + 1] + c, side_off[l]:side_off[l] + a] = p.transpose(1, 2)
    return b


def _log_sc_sides(b: torch.Tensor, rows: torch.Tensor | None = None, cols: torch.Tensor | None = None,
                  method: str = "eigh") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """log SC of the row nodes and of the column nodes of biadjacency b (..., rows, cols); only of
    the row and column indices ``rows`` and ``cols`` where given; and, for "gemm", which networks
    are trusted (``subgraph_squaring.TAU``; None for "eigh"). Both methods work on the smaller side's
    Gram matrix: the biadjacency is taken as (large, small)."""
    transposed = b.shape[-1] > b.shape[-2]
    tall = b.transpose(-1, -2) if transposed else b  # (..., large, small)
    large_sel, small_sel = (cols, rows) if transposed else (rows, cols)
    if method == "gemm":
        log_small, log_large, trusted = log_subgraph_squaring(tall, large_sel)
        if small_sel is not None:
            log_small = log_small[..., small_sel]
    else:
        (log_small, log_large), trusted = _log_sc_eigh(tall, large_sel, small_sel), None
    return (log_small, log_large, trusted) if transposed else (log_large, log_small, trusted)


def _log_sc_eigh(tall: torch.Tensor, large_sel: torch.Tensor | None, small_sel: torch.Tensor | None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """log SC of the small side's and the large side's selected nodes of ``tall`` (..., large, small).

    The SVD comes from the eigendecomposition of the Gram matrix G = B^T B: G = V diag(s^2) V^T.
    Small side: 1 + sum_k V_jk^2 (cosh s_k - 1). Large side, with U S = B V:
    1 + sum_k (B V)_ik^2 (cosh s_k - 1) / s_k^2, which needs no division by small s_k (the factor
    tends to 1/2). A batched symmetric eigh is several times faster than a batched SVD on CPU."""
    gram = binary_product(tall.transpose(-1, -2), tall)
    with single_threaded_lapack(tall.device):
        lam, v = torch.linalg.eigh(gram)
    s = lam.clamp_min(0).sqrt()
    log_cosh_m1 = math.log(2.0) + 2 * _log_sinh(s / 2)  # cosh s - 1 = 2 sinh^2(s / 2)
    tiny = s < 1e-4
    log_ratio = torch.where(tiny, torch.log(0.5 + s * s / 24), log_cosh_m1 - 2 * torch.log(torch.where(tiny, 1, s)))
    log_small = _log_sc(v if small_sel is None else v[..., small_sel, :], log_cosh_m1)
    log_large = _log_sc((tall if large_sel is None else tall[..., large_sel, :]) @ v, log_ratio)
    return log_small, log_large


@shared_docs(references=CITATIONS["subgraph_centrality"])
def subgraph_centrality(graph: LayeredGraph, log_subgraph: bool = False, method: str | None = None) -> MeasureValues:
    """Subgraph centrality of every hidden neuron on the positive graph, weights ignored.

    ``nx.subgraph_centrality(G)``: SC_i = (e^A)_ii with A the binary adjacency, the count of closed
    walks from i, a walk of length k weighted 1 / k!.

    Parameters
    ----------
    graph : LayeredGraph
        N networks' layered graph (``LayeredGraph.of(weights)``); the positive graph's edges are used.
    log_subgraph : bool
        Return log(SC) (natural log; SC reaches 1e89 on trained networks, past float32).
    method : {"eigh", "gemm"} or None
        The exact method (module docstring); None: ``subgraph_method(graph.device)``, "eigh" on CPU.

    Returns
    -------
    MeasureValues
        ``values`` (N, H): per hidden neuron (layer order), SC >= 1 (or its log). Always defined.

    Raises
    ------
    EngineError
        If ``method`` is not one of ``METHODS``.

    References
    ----------
    {{references}}

    Examples
    --------
    >>> graph = LayeredGraph.of([[[1.0, -0.5], [2.0, 0.0]], [[1.0], [3.0]]], dtype=torch.float32)  # one 2-2-1 network
    >>> subgraph_centrality(graph).values
    tensor([[2.9669, 1.5922]])
    >>> subgraph_centrality(graph, log_subgraph=True, method="gemm").values  # in float64, returned in float32
    tensor([[1.0875, 0.4651]])
    """
    method = subgraph_method(graph.device) if method is None else method
    if method not in METHODS:
        raise EngineError(f"subgraph centrality method {method!r}: use one of {', '.join(METHODS)}")
    _, counts, side, index = _sides(graph)
    b = biadjacency(graph)
    hidden = graph.hidden_nodes
    side_h = torch.as_tensor(side[hidden], device=graph.device)
    index_h = torch.as_tensor(index[hidden], device=graph.device)
    # only the hidden neurons' rows and columns (the inputs are most of the even side)
    rows = torch.as_tensor(index[hidden][side[hidden] == 0], device=graph.device)
    cols = torch.as_tensor(index[hidden][side[hidden] == 1], device=graph.device)
    # logs in float64 (the gemm method always computes in float64; eigh in the graph's dtype)
    log_even = torch.zeros(graph.n_networks, counts[0], dtype=torch.float64, device=graph.device)
    log_odd = torch.zeros(graph.n_networks, counts[1], dtype=torch.float64, device=graph.device)
    if method == "gemm":
        log_rows, log_cols, trusted = _log_sc_sides(b.to(torch.float64), rows, cols, "gemm")
        redo = ~trusted
    else:
        log_rows, log_cols, _ = _log_sc_sides(b, rows, cols)
        redo = ~graph.positive_connected
    log_even[:, rows], log_odd[:, cols] = log_rows.to(torch.float64), log_cols.to(torch.float64)
    redo = redo.nonzero().squeeze(1).tolist()
    if method == "gemm" and redo:
        log.debug("subgraph_centrality: %d networks span more than float64 carries through the squarings: "
                  "eigendecomposition by components for them", len(redo))
    for net in redo:
        log_even[net], log_odd[net] = _log_sc_by_component(b[net])
    n_even = log_even.shape[1]
    both = torch.cat([log_even, log_odd], 1)
    log_values = both[:, index_h + side_h * n_even]
    if log_subgraph:
        return MeasureValues(log_values.to(graph.dtype))
    values = torch.exp(log_values).to(graph.dtype)
    if torch.isinf(values).any():
        wider = (" or compute in float64 (measures.dtype=float64; --dtype float64; dtype=torch.float64)"
                 if graph.dtype != torch.float64 else "")
        log.warning("subgraph_centrality overflows %s (values up to e^%.0f) for %d networks: report its log "
                    "(in a run measures.log_subgraph=true; in engine.inspect --log-subgraph; in Python "
                    "log_subgraph=True)%s", graph.dtype, float(log_values.max()),
                    int(torch.isinf(values).any(1).sum()), wider)
    return MeasureValues(values)


def _log_sc_by_component(b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact per-component log SC (float64) for one disconnected network (isolated nodes: SC = 1), by
    the eigendecomposition."""
    bn = b.detach().cpu().numpy()
    n_even, n_odd = bn.shape
    # bipartite graph on even (0..n_even-1) and odd (n_even..) nodes
    rows, cols = np.nonzero(bn)
    g = csr_matrix((np.ones(len(rows)), (rows, cols + n_even)), shape=(n_even + n_odd,) * 2)
    _, labels = connected_components(g, directed=False)
    log_even = torch.zeros(n_even, dtype=torch.float64, device=b.device)
    log_odd = torch.zeros(n_odd, dtype=torch.float64, device=b.device)
    for c in np.unique(labels):
        ev = np.nonzero(labels[:n_even] == c)[0]
        od = np.nonzero(labels[n_even:] == c)[0]
        if len(ev) == 0 or len(od) == 0:
            continue  # an isolated node: SC = 1, log 0
        ev_t, od_t = torch.as_tensor(ev, device=b.device), torch.as_tensor(od, device=b.device)
        le, lo, _ = _log_sc_sides(b[ev_t][:, od_t])
        log_even[ev_t], log_odd[od_t] = le.to(torch.float64), lo.to(torch.float64)
    return log_even, log_odd
