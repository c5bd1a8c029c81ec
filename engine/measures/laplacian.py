"""Diagonal and row sums of a grounded inverse Laplacian of a layered graph (batched).

Current-flow closeness needs sum_w R(v, w) = n X_vv - 2 (X 1)_v + tr X and second-order
centrality needs L+_vv = X_vv - 2 (X 1)_v / n + 1^T X 1 / n^2, where X is the inverse of the
Laplacian with one node grounded (its row and column removed, padded back with zeros): any such X
is a generalised inverse of L, so only diag(X) and X 1 are needed, never the whole pseudo-inverse.

Speed: the input layer only touches hidden layer 1, so its Laplacian block is diagonal (the input
strengths). Inputs are eliminated with a Schur complement, leaving one dense inverse of about
n_nodes - n_0 per network (309 + a few instead of 1093 for 784-200-100-10). The Schur step divides
by the input strengths, and signed strengths can cancel to ~0 (error grows like
(max |s| / |s_0|)^2 eps): the inputs with |s_0| <= _PIVOT_RTOL * max |s| are not eliminated but kept
in the dense system (the r smallest per network, r the largest such count in the batch).
"""

from __future__ import annotations

import torch

from engine.measures.layered_graph import LayeredGraph
from engine.measures.threads import single_threaded_lapack

__all__ = ["grounded_inverse_summary"]

# Inputs whose |strength| / max |strength| is at most this stay in the dense solve; above it the
# Schur elimination loses at most ~(1 / _PIVOT_RTOL)^2 * eps ~ 1e-10 relative accuracy.
_PIVOT_RTOL = 1e-3


def grounded_inverse_summary(graph: LayeredGraph, blocks: list[torch.Tensor], usable: torch.Tensor, *,
                             input_diag: bool = True, definite: bool = False
                             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """diag(X) and X 1 of X, the inverse of the Laplacian grounded at the last node, for N layered graphs.

    The Laplacian is diag(strength) - A(blocks), strength the blocks' node sums; X is its inverse with
    the last node's row and column removed, padded back with zeros (a generalised inverse of L).
    Always computed in float64, whatever the graph's dtype: the closeness sums cancel heavily
    (float32 solves lost ~1e-3 relative accuracy on the golden network), and this step is cheap.

    Parameters
    ----------
    graph : LayeredGraph
        The N networks (their layer sizes, device).
    blocks : list of torch.Tensor
        The edge weights, L blocks (N, n_l, n_{l+1}) (``graph.weights`` for the signed graph,
        ``graph.positive_weights`` for the positive one).
    usable : torch.Tensor
        (N,) bool: the networks to compute (e.g. connected); the others get NaN.
    input_diag : bool
        False leaves diag(X) of the input nodes NaN: it is the one costly part of the elimination
        (784 x 200 x 200 multiply-adds on a paper-size network), and only the trace of X needs it.
    definite : bool
        True says the grounded Laplacian is positive definite where ``usable`` (positive weights,
        connected): a Cholesky inverse, half the work of LU, with LU where it fails.

    Returns
    -------
    diag : torch.Tensor
        (N, n_nodes) float64: diag(X), 0 at the grounded node, in 1 / (units of the weights).
    rowsum : torch.Tensor
        (N, n_nodes) float64: X 1, 0 at the grounded node.
    ok : torch.Tensor
        (N,) bool: False where a network was not ``usable`` or its grounded Laplacian is singular;
        its rows of ``diag`` and ``rowsum`` are NaN.

    Examples
    --------
    >>> import torch
    >>> from engine.measures.layered_graph import LayeredGraph
    >>> g = LayeredGraph.of([[[1.0, -0.5], [2.0, 0.0]], [[1.0], [3.0]]])  # one 2-2-1 network
    >>> diag, rowsum, ok = grounded_inverse_summary(g, g.weights, g.signed_connected)
    >>> ok
    tensor([True])
    >>> lap = torch.diag(g.signed_strength[0]) - torch.tensor(
    ...     [[0, 0, 1, -0.5, 0], [0, 0, 2, 0, 0], [1, 2, 0, 0, 1], [-0.5, 0, 0, 0, 3], [0, 0, 1, 3, 0]],
    ...     dtype=torch.float64)
    >>> x = torch.linalg.inv(lap[:4, :4])  # grounded at node 4, the output
    >>> torch.allclose(diag[0, :4], x.diagonal()), torch.allclose(rowsum[0, :4], x.sum(1))
    (True, True)
    """
    n, dtype, device = graph.n_networks, torch.float64, graph.device
    blocks = [b.to(dtype) for b in blocks]
    strength = graph.node_sums(blocks)  # float64 sums: input strengths can cancel to near 0
    diag = torch.full((n, graph.n_nodes), float("nan"), dtype=dtype, device=device)
    rowsum = torch.full_like(diag, float("nan"))
    ok = torch.zeros(n, dtype=torch.bool, device=device)
    idx = usable.nonzero().squeeze(1)
    if len(idx) == 0:
        return diag, rowsum, ok
    strength, blocks = strength[idx], [b[idx] for b in blocks]
    kept, inv_s = _inputs_to_eliminate(strength, graph.sizes[0])
    k_mat = inv_s.unsqueeze(2) * blocks[0]  # K = D^-1 W0, (k, n0, n1): an eliminated input's row
    system = _dense_system(graph, blocks, strength, kept, k_mat)
    y, info = _inverse(system, definite)
    diag[idx], rowsum[idx] = _back_substitute(y, k_mat, inv_s, kept, input_diag)
    ok[idx] = info == 0
    computed = slice(None) if input_diag else slice(graph.sizes[0], None)
    ok &= torch.isfinite(diag[:, computed]).all(1) & torch.isfinite(rowsum).all(1)
    diag[~ok] = float("nan")
    rowsum[~ok] = float("nan")
    return diag, rowsum, ok


def _inputs_to_eliminate(strength: torch.Tensor, n0: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The r inputs of smallest |strength| per network stay in the dense system (``kept``, (k, r)), the rest
    are eliminated: ``inv_s`` (k, n0) is 1 / strength of an eliminated input, 0 of a kept one. An input
    is kept where its |strength| is at most ``_PIVOT_RTOL`` times the network's largest node strength."""
    s0 = strength[:, :n0]
    scale = strength.abs().amax(1, keepdim=True).clamp_min(torch.finfo(strength.dtype).tiny)
    r = int((s0.abs() <= _PIVOT_RTOL * scale).sum(1).max())
    eliminated = torch.ones_like(s0, dtype=torch.bool)
    kept = torch.argsort(s0.abs(), dim=1)[:, :r]
    eliminated.scatter_(1, kept, False)
    return kept, torch.where(eliminated, 1.0 / torch.where(eliminated, s0, 1), 0)


def _dense_system(graph: LayeredGraph, blocks: list[torch.Tensor], strength: torch.Tensor, kept: torch.Tensor,
                  k_mat: torch.Tensor) -> torch.Tensor:
    """The grounded Laplacian on [kept inputs (r), layers 1..L without the grounded last node], with the
    eliminated inputs' Schur complement on layer 1: (k, m, m)."""
    o, n1, r = graph.offsets, graph.sizes[1], kept.shape[1]
    w0, base = blocks[0], o[1]
    w_kept = w0.gather(1, kept.unsqueeze(2).expand(-1, -1, n1))
    m = r + o[-1] - base - 1
    system = torch.zeros(w0.shape[0], m + 1, m + 1, dtype=w0.dtype, device=w0.device)  # with the last node
    for l in range(1, len(blocks)):
        a0, a1, b1 = r + o[l] - base, r + o[l + 1] - base, r + o[l + 2] - base
        system[:, a0:a1, a1:b1] = -blocks[l]
        system[:, a1:b1, a0:a1] = -blocks[l].transpose(1, 2)
    system[:, :r, r:r + n1] = -w_kept
    system[:, r:r + n1, :r] = -w_kept.transpose(1, 2)
    s0 = strength[:, :graph.sizes[0]]
    system.diagonal(dim1=1, dim2=2).add_(torch.cat([s0.gather(1, kept), strength[:, base:]], 1))
    system = system[:, :-1, :-1]
    system[:, r:r + n1, r:r + n1] -= torch.bmm(w0.transpose(1, 2), k_mat)  # Schur complement
    return system


def _back_substitute(y: torch.Tensor, k_mat: torch.Tensor, inv_s: torch.Tensor, kept: torch.Tensor,
                     input_diag: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """diag(X) and X 1 of every node (the grounded one 0) from Y, the dense system's inverse. Eliminated
    inputs: X 1 = D^-1 1 + K Y (K^T 1 + 1), diag X = diag(D^-1 + K Y K^T); K's columns are layer 1's."""
    k, n0, n1 = k_mat.shape
    r, m = kept.shape[1], y.shape[1]
    k_sum = torch.zeros(k, m, dtype=y.dtype, device=y.device)
    k_sum[:, r:r + n1] = k_mat.sum(1)  # K^T 1
    x1_sys = torch.bmm(y, (k_sum + 1).unsqueeze(2)).squeeze(2)  # X 1 on the dense system's nodes
    y_diag = y.diagonal(dim1=1, dim2=2)
    x1_in = inv_s + torch.bmm(k_mat, x1_sys[:, r:r + n1].unsqueeze(2)).squeeze(2)
    x1_in.scatter_(1, kept, x1_sys[:, :r])
    if input_diag:
        diag_in = inv_s + (torch.bmm(k_mat, y[:, r:r + n1, r:r + n1]) * k_mat).sum(2)
        diag_in.scatter_(1, kept, y_diag[:, :r])
    else:
        diag_in = torch.full((k, n0), float("nan"), dtype=y.dtype, device=y.device)
    zero = torch.zeros(k, 1, dtype=y.dtype, device=y.device)
    return torch.cat([diag_in, y_diag[:, r:], zero], 1), torch.cat([x1_in, x1_sys[:, r:], zero], 1)


def _inverse(system: torch.Tensor, definite: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The inverses of a batch of matrices and an info code per matrix (0: fine), single-threaded on
    CPU; by Cholesky where ``definite`` (LU for the matrices where it fails), else by LU."""
    with single_threaded_lapack(system.device):
        if definite:
            factor, info = torch.linalg.cholesky_ex(system)
            if not bool((info != 0).any()):
                return torch.cholesky_inverse(factor), info
        return torch.linalg.inv_ex(system)
