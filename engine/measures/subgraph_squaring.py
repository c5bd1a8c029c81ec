"""Subgraph centrality by scaling and squaring: matrix products only, exact entry by entry (the GPU path).

Subgraph centrality (Estrada & Rodriguez-Velazquez, Phys. Rev. E 71 (2005) 056103; networkx's
``subgraph_centrality``) is SC_i = (e^A)_ii, A the binary adjacency. The layered positive graph is
bipartite (even vs odd layers): A = [[0, B], [B^T, 0]] with B the 0/1 biadjacency, and with
M = B^T B (the smaller side, n x n, entrywise >= 0) and the series C(x) = cosh(sqrt x),
D(x) = C(x) - 1 = sum_{k>=1} x^k / (2k)!, f(x) = D(x) / x = sum_{k>=0} x^k / (2k+2)!:

    small side  SC_j = 1 + D(M)_jj,        large side  SC_i = 1 + (B f(M) B^T)_ii.

``torch.linalg.eigh`` of M (``subgraph_centrality.py``) loops over the batch on CUDA for n > 32;
this method uses batched products only. Scaling and squaring (Higham, "The scaling and squaring
method for the matrix exponential revisited", SIAM J. Matrix Anal. Appl. 26 (2005) 1179; Functions
of Matrices, SIAM 2008, ch. 10), on the identities (X = M / 4^s, X_j = 4^j X)

    D(4x) = 4 D(x) + 2 D(x)^2,     f(4x) = f(x) (1 + D(x) / 2)

(from cosh 2t = 2 cosh^2 t - 1): a degree-m Taylor polynomial of f at X (Paterson-Stockmeyer,
every coefficient > 0), D(X) = X f(X) and Y = B_h f(X) for the h large-side rows that are hidden
neurons, then s steps [D; Y] <- [4 D + 2 D^2; Y + Y D / 2], one stacked product [D; Y] @ D each;
the last step needs only diag(D^2) (row sums of squares) and Y D. Nothing is ever subtracted:
every entry is a sum of non-negative terms, so each has a small *relative* error, however small it
is next to the largest (no per-component pass for disconnected graphs: their zero blocks stay
exactly zero, and a small component keeps its own relative accuracy). Truncation: the computed
values are polynomials in M with coefficients between 0 and the exact ones, so by the spectral
theorem each diagonal entry's relative error is at most the scalar error sup_{0<=x<=lambda_max}
of the scaled-and-squared series; ``_THETA`` keeps it at the unit roundoff at X, from where the
squarings amplify it like the rounding there, by at most 2^s. lambda_max is bounded above by
the Collatz-Wielandt ratio max_i (M v)_i / v_i with v = M 1 (valid for any v > 0 on the non-isolated
nodes; 0.1% above the true value on paper-size networks).

Range: values reach 1e89 on paper networks and pass float64's range on denser or larger ones, so
D and Y are renormalised after every step (largest entry in [1/4, 1], per network, the scale kept as
a log) and the results come out as logs. An entry that falls below float64's smallest normal is
lost; a network where a non-isolated hidden neuron's normalised value is below ``TAU`` (values
spanning more than e^460 within one network, e.g. a tiny component beside a giant of e^700) is not
``trusted``: the caller recomputes it by components with the eigendecomposition.

Cost, counted (``_plan_squaring``; ``tests/test_subgraph_centrality.py`` counts the products run):
per paper-size network (784-200-100-10: n = 210 odd-side nodes, h = 100 hidden rows on the even
side, lambda_max <= 44,700) the plan is s = 6, m = 12, q = 3: 5 products of 210^3 for f(X)
(Paterson-Stockmeyer; Horner would take 11), 6 stacked products of 310 x 210 x 210 and one of
100 x 210 x 210: 2.65e8 flops, plus the Gram matrix M (7.8e7, shared with the eigh method).
(s, m) minimise the flops for the batch's largest lambda_max; around the optimum they hardly
differ (s = 4..7: 14.3-14.9 products of 210^3), and the measured accuracy is the same (s = 4..8:
within 9e-14 of an 80-bit reference). A Pade step does not pay: the [6/6] approximant of f is good
to x <= 12.3 (degree-12 Taylor: 11.1), but costs 4 products and a solve (LU and 210 right-hand
sides, ~1.3 products) against 5 products, and its denominator alternates in sign, which would give
up the entrywise relative accuracy. On one CPU core the eigendecomposition is about twice as fast
(5.6 ms against 11.3 ms per paper-size network), so the CPU keeps it; on a GPU this method is
a handful of batched float64 GEMMs (``benchmarks/gpu_check.py`` measures it). It always runs in
float64 (float32's 2^-24 would be amplified by 2^s).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from engine.measures.layered_graph import binary_product

__all__ = ["log_subgraph_squaring", "TAU"]

# _THETA[m]: the largest x at which the degree-m Taylor polynomial of f(x) = (cosh(sqrt x) - 1) / x
# has a relative truncation error <= 2^-53 (the tail sum_{k>m} x^k / (2k+2)! over f(x); computed with
# mpmath at 50 digits by bisection; tests/test_subgraph_centrality.py rechecks them).
_THETA = (1.3322676295501878e-15, 1.9992005754722884e-07, 0.00013080819516352076, 0.003767617499062435,
          0.03055976407494979, 0.13027980883571294, 0.3824792702037303, 0.8865327390070913, 1.7517974712685596,
          3.0916120774274347, 5.020669379039449, 7.654220169386259, 11.107843900602909, 15.497101035078163,
          20.93687616542194, 27.540520714418694, 35.4190048724293, 44.680247571641694, 55.42869487185679,
          67.7651303759471, 81.78665660238659, 97.58678016696459, 115.25554841842293, 134.87970475368041,
          156.54284565620554, 180.32557239490797, 206.30563535308198, 234.558070984627, 265.1553319333286,
          298.167410818445, 333.6619580290144)

# Normalised values are kept with their largest entry in [1/4, 1]. An entry below float64's smallest
# normal (2.2e-308) is lost; what it would have added to any other entry grows by at most ~8n per
# step, so a value above TAU has lost less than 2.2e-308 (8n)^s / TAU of itself (< 1e-70 for n <= 2000,
# s <= 15). Below TAU the network is not trusted and goes to the per-component eigendecomposition.
TAU = 1e-200
_LOG_TAU = math.log(TAU)
_LOG2, _LOG4 = math.log(2.0), math.log(4.0)


class _SquaringPlan(NamedTuple):
    squarings: int  # s: X = M / 4^s
    degree: int     # m: Taylor degree of f at X
    block: int      # q: Paterson-Stockmeyer block (powers X^1..X^q are formed)
    products: int   # n x n x n products for f(X)
    flops: int      # multiply-adds x 2 of every product after the Gram matrix


def _ps_products(m: int, q: int) -> int:
    """Products of Paterson-Stockmeyer for degree m, block q: powers X^2..X^q, then one per block
    (none for a top block that is a multiple of the identity)."""
    r = m // q
    return (q - 1) + r - (1 if r > 0 and m % q == 0 else 0)


def _plan_squaring(_norm_bound: float, n: int, rows: int) -> _SquaringPlan:
    """The cheapest exact plan for lambda_max(M) <= ``_norm_bound``, M n x n, ``rows`` large-side rows
    carried along (Y). Fewer squarings win ties (less amplification of rounding)."""
    best = None
    for s in range(0, 64):
        x = _norm_bound / 4.0**s
        if x > _THETA[-1]:
            continue
        m = next(k for k, theta in enumerate(_THETA) if theta >= x)
        q = min(range(1, max(m, 1) + 1), key=lambda b: (_ps_products(m, b), b))
        products = _ps_products(m, q)
        flops = 2 * n**3 * products + 2 * max(s, 1) * (n + rows) * n * n + (2 * rows * n * n if s else 0)
        if best is None or flops < best.flops:
            best = _SquaringPlan(s, m, q, products, flops)
        if m <= 1:
            break
    return best


def _norm_bound(gram: torch.Tensor) -> float:
    """An upper bound of the largest eigenvalue of every non-negative symmetric (n, n) matrix in the
    batch (Collatz-Wielandt with v = M 1: max_i (M v)_i / v_i over v_i > 0; rows with v_i = 0 are
    zero and decoupled)."""
    v = gram.sum(-1)
    w = (gram @ v.unsqueeze(-1)).squeeze(-1)
    ratio = torch.where(v > 0, w / torch.where(v > 0, v, 1), 0)
    return float(ratio.amax()) if ratio.numel() else 0.0


def _polynomial(x: torch.Tensor, coeffs: list[float], q: int) -> torch.Tensor:
    """sum_k coeffs[k] X^k for a batch of square X, by Paterson-Stockmeyer with block q."""
    m = len(coeffs) - 1
    powers = [x]  # powers[i] = X^(i+1)
    for _ in range(q - 1):
        powers.append(torch.bmm(powers[-1], x))

    def block(lo: int, hi: int) -> torch.Tensor:  # sum_{k=lo}^{hi} c_k X^(k-lo)
        out = torch.zeros_like(x)
        for k in range(lo + 1, hi + 1):
            out.add_(powers[k - lo - 1], alpha=coeffs[k])
        out.diagonal(dim1=-2, dim2=-1).add_(coeffs[lo])
        return out

    r = m // q
    if r == 0:
        return block(0, m)
    if m % q == 0:  # the top block is c_m I
        p = block((r - 1) * q, r * q - 1).add_(powers[q - 1], alpha=coeffs[m])
    else:
        p = torch.baddbmm(block((r - 1) * q, r * q - 1), block(r * q, m), powers[q - 1])
    for j in range(r - 2, -1, -1):
        p = torch.baddbmm(block(j * q, j * q + q - 1), p, powers[q - 1])
    return p


def _normalised(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """a / max(a) per network and log max(a) (0 for an all-zero matrix, which stays zero)."""
    top = a.amax((-2, -1))
    top = torch.where(top > 0, top, 1)
    return a / top[:, None, None], torch.log(top)


def _log_mix(log_a: torch.Tensor, log_b: torch.Tensor) -> torch.Tensor:
    """log(e^a + e^b) with -inf where both are -inf replaced by 0 (an all-zero matrix keeps scale 1)."""
    out = torch.logaddexp(log_a, log_b)
    return torch.where(torch.isneginf(out), 0, out)


def log_subgraph_squaring(tall: torch.Tensor, large_rows: torch.Tensor | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """log subgraph centrality of a batch of bipartite graphs given by their biadjacency, by products only.

    Parameters
    ----------
    tall : torch.Tensor
        (N, large, small) 0/1 biadjacency, float64 (small <= large is the cheap orientation: the
        products are small x small).
    large_rows : torch.Tensor, optional
        Indices of the large-side nodes whose values are wanted (default: all).

    Returns
    -------
    log_small : torch.Tensor
        (N, small) log SC of every small-side node (0 for an isolated node).
    log_large : torch.Tensor
        (N, len(large_rows)) log SC of the chosen large-side nodes.
    trusted : torch.Tensor
        (N,) bool: False for a network whose values span more than float64 carries through the
        squarings (see ``TAU``); recompute those by components.

    References
    ----------
    Estrada & Rodriguez-Velazquez, Phys. Rev. E 71 (2005) 056103; Higham, SIAM J. Matrix Anal.
    Appl. 26 (2005) 1179.

    Examples
    --------
    The complete bipartite graph K_{3,2}: M = 3 J, one eigenvalue 6, so SC = 1 + (cosh sqrt 6 - 1) / k
    on the side of k nodes.

    >>> import math, torch
    >>> log_small, log_large, trusted = log_subgraph_squaring(torch.ones(1, 3, 2, dtype=torch.float64))
    >>> c = math.cosh(math.sqrt(6))
    >>> [round(v, 12) for v in log_small.exp()[0].tolist()], round(1 + (c - 1) / 2, 12)
    ([3.417193204917, 3.417193204917], 3.417193204917)
    >>> round(log_large.exp()[0, 0].item(), 12), round(1 + (c - 1) / 3, 12), trusted.tolist()
    (2.611462136611, 2.611462136611, [True])
    """
    bh = tall if large_rows is None else tall[:, large_rows, :]
    gram = binary_product(tall.transpose(-1, -2), tall)  # M = B^T B, exact integer counts
    n, h = gram.shape[-1], bh.shape[1]
    plan = _plan_squaring(_norm_bound(gram), n, h)
    coeffs = [1.0 / math.factorial(2 * k + 2) for k in range(plan.degree + 1)]
    x = gram * 4.0 ** -plan.squarings  # exact: a power of 2
    f = _polynomial(x, coeffs, plan.block)
    z = torch.bmm(torch.cat([x, bh], 1) if h else x, f)  # [D; Y] = [X; B_h] f(X)
    d, log_d = _normalised(z[:, :n])
    y, log_y = _normalised(z[:, n:]) if h else (z[:, n:], log_d.new_zeros(log_d.shape))
    for step in range(plan.squarings):
        last = step == plan.squarings - 1
        if last:  # only diag(D^2) and Y D are needed
            p_diag = (d * d).sum(-1)
            q_mat = torch.bmm(y, d) if h else y
        else:
            prod = torch.bmm(torch.cat([d, y], 1) if h else d, d)
            p, q_mat = prod[:, :n], prod[:, n:]
            p_diag = p.diagonal(dim1=-2, dim2=-1)
        # D' = c (4 D + 2 c D^2), normalised by its bound 4 max D + 2 c max D^2 (max D^2 on its diagonal)
        log_c = log_d[:, None]
        d_diag = d.diagonal(dim1=-2, dim2=-1)
        log_d_new = _log_mix(_LOG4 + torch.log(d.amax((-2, -1))), _LOG2 + log_d + torch.log(p_diag.amax(-1)))
        log_y_new = log_y
        if h:  # Y' = c_y (Y + (c / 2) Y D)
            log_y_new = _log_mix(torch.log(y.amax((-2, -1))), log_d - _LOG2 + torch.log(q_mat.amax((-2, -1))))
        if last:
            log_small = log_c + torch.logaddexp(_LOG4 + torch.log(d_diag), _LOG2 + log_c + torch.log(p_diag))
            log_large = log_y[:, None] + torch.logaddexp(torch.log((y * bh).sum(-1)),
                                                         log_c - _LOG2 + torch.log((q_mat * bh).sum(-1)))
            break
        d = (torch.exp(_LOG4 - log_d_new)[:, None, None] * d
             + torch.exp(_LOG2 + log_d - log_d_new)[:, None, None] * p)
        if h:
            y = (torch.exp(-log_y_new)[:, None, None] * y
                 + torch.exp(log_d - _LOG2 - log_y_new)[:, None, None] * q_mat)
        log_d, log_y = log_d + log_d_new, log_y + log_y_new
        log_d_new, log_y_new = torch.zeros_like(log_d), torch.zeros_like(log_y)
    else:  # no squaring
        log_small = log_d[:, None] + torch.log(d.diagonal(dim1=-2, dim2=-1))
        log_large = log_y[:, None] + torch.log((y * bh).sum(-1))
        log_d_new, log_y_new = torch.zeros_like(log_d), torch.zeros_like(log_y)
    # normalised values (largest entry of D(M), Y(M) ~ 1): below TAU a value may have lost entries
    low_small = (log_small - (log_d + log_d_new)[:, None] < _LOG_TAU) & (gram.diagonal(dim1=-2, dim2=-1) > 0)
    low_large = (log_large - (log_y + log_y_new)[:, None] < _LOG_TAU) & (bh.sum(-1) > 0)
    trusted = ~(low_small.any(-1) | low_large.any(-1))
    zero = torch.zeros((), dtype=log_small.dtype, device=log_small.device)
    return torch.logaddexp(zero, log_small), torch.logaddexp(zero, log_large), trusted
