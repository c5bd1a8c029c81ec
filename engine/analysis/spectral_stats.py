"""WeightWatcher spectral baseline features (Martin & Mahoney): per weight layer, the power-law exponent
of the tail of the layer's eigenvalue spectrum and the norm metrics WeightWatcher reports next to it.

References: C. H. Martin, M. W. Mahoney, "Implicit self-regularization in deep neural networks:
evidence from random matrix theory and implications for learning", JMLR 22 (2021) 165 ("heavy-tailed
self-regularization"); C. H. Martin, T. S. Peng, M. W. Mahoney, "Predicting trends in the quality of
state-of-the-art neural networks without access to training or testing data", Nat. Commun. 12, 4122
(2021). Definitions transcribed from the ``weightwatcher`` package, release 0.7.7 (PyPI; files
``weightwatcher/weightwatcher.py``, ``WW_powerlaw.py``, ``constants.py``), i.e. what
``WeightWatcher(model).analyze()`` returns with its default arguments. GitHub master at d6fd015
(version string 0.7.5.5) differs only in the two small-layer rules marked (*) below.

Definitions, for one network and one layer with kernel W of shape (fan_in, fan_out):

* Eigenvalues: ``lambda = sigma**2`` for the M = min(fan_in, fan_out) singular values sigma of W
  (``combined_eigenvalues``: ``evals = sv * sv`` of a full SVD, n_comp = M for dense layers), i.e. the
  eigenvalues of the smaller Gram matrix, W^T W when fan_in >= fan_out (all the paper's layers), else
  W W^T. No normalisation by N: the default ``normalize=False`` leaves W as is
  (``apply_normalize_Wmats``; the ``evals / N`` line in ``combined_eigenvalues`` is commented out),
  ``glorot_fix=False``, and the conv2d rescaling does not apply to dense layers; biases are not
  included (``add_biases=False``). Here: ``eigvalsh`` of the Gram matrix in float64 (twice as fast as
  a batched SVD on CPU; absolute error ~1e-16 lambda_max, negative round-off clamped to 0).
  WeightWatcher takes an SVD in float64 of the weights as it reads them: float32 for PyTorch models
  on a machine without CUDA (``torch_T_to_np`` casts with ``.float()``; with CUDA it casts to float16),
  so float64 kernels agree with it only after that rounding.
* ``log_norm = log10(sum(lambda))`` = log10 of the squared Frobenius norm, ``log_spectral_norm =
  log10(lambda_max)`` (WeightWatcher's "spectral_norm" is lambda_max = sigma_max**2),
  ``stable_rank = sum(lambda) / lambda_max``, ``alpha_weighted = alpha * log_spectral_norm``
  (``apply_norm_metrics``; these use all M eigenvalues).
* ``alpha`` (``fit_powerlaw`` with the defaults ``fix_fingers=False``, ``xmax=None``, ``fit='PL'``,
  ``pl_package='ww'``, i.e. WeightWatcher's own ``WWFit``, not ``powerlaw.Fit``): only eigenvalues
  ``> 1e-5`` (``EVALS_THRESH``) enter the fit; call them x_0 <= ... <= x_{K-1}. Every x_i except the
  largest is a candidate xmin, with tail x_i..x_{K-1} of n = K - i values,
  ``s_i = sum_{j>=i} log(x_j / x_i)``, the theoretical CDF ``F(x) = 1 - (x / x_i)**(1 - alpha)`` and
  the empirical CDF ``(j - i) / n`` at x_j; ``D_i = max_{j>=i} |F(x_j) - (j - i) / n|`` (KS distance).
  - K >= 20 (``fit_power_law_standard``): ``alpha_i = 1 + n / s_i`` (continuous MLE); D_i = 1 where
    alpha_i <= 1; alpha is alpha_i at the first i minimising D_i.
  - K < 20 (``fit_powerlaw_smallN``, ``SMALL_N_CUTOFF = 20``, k_min = 8) (*): only candidates with
    n >= 8 and s_i > 1e-12 count (the others get D = 1, alpha = 0); bias-corrected
    ``alpha_i = 1 + (n - 1) / s_i``; alpha is alpha_i at the first i minimising D_i. (fit_powerlaw_smallN
    also picks a winner by ``D_i - 0.868 / sqrt(n)``, but ``WWFit.__init__`` then re-selects by
    ``argmin(Ds)`` over all candidates, so that objective has no effect on the reported alpha.) With no
    such candidate (K < 8, or degenerate tails): the whole fitted range, ``alpha = 1 + (K - 1) / s_0``,
    or alpha = 0 when s_0 <= 1e-12 (all fitted eigenvalues equal, e.g. an orthogonal kernel).
  So the paper's 100x10 output layer (10 eigenvalues) gets an alpha from at most 3 candidate tails
  (n = 10, 9, 8); treat it with caution.
* Skipped layers: WeightWatcher does not report a dense layer with M < 8 eigenvalues
  (``min_evals=8``, ``layer_supported``) (*), with M > 15000 (``max_evals``) or with
  max(fan_in, fan_out) > 50000 (``max_N``); all five metrics are NaN for such a layer.

(*) On GitHub master (0.7.5.5) ``min_evals`` is 10 and the K >= 20 rule is used for every K.

NaN cases beyond skipped layers: ``alpha`` and ``alpha_weighted`` are NaN where the fit fails, which is
when fewer than 2 eigenvalues exceed 1e-5 (``WWFit`` takes the argmin of an empty candidate list and
raises; WeightWatcher then reports alpha = -1 and alpha_weighted = -log_spectral_norm; NaN says the
same without a sentinel). A network whose kernel in a layer has a non-finite entry (diverged
training) gets NaN for all five metrics of that layer. An all-zero kernel gives log_norm =
log_spectral_norm = -inf and stable_rank = NaN, as in WeightWatcher.

The lead adds these columns (``ww_l{layer}_{metric}``, layer = 1-based index of the weight matrix, so
l1 is input -> first hidden) to networks.parquet; the analysis uses them as a baseline feature set.
"""

from __future__ import annotations

import math

import pandas as pd
import torch

from engine.measures.threads import single_threaded_lapack
from engine.weight_stack import check_weight_stack

METRICS = ("alpha", "alpha_weighted", "log_spectral_norm", "stable_rank", "log_norm")
__all__ = ["METRICS", "spectral_stats"]

# weightwatcher 0.7.7 defaults (constants.py, WW_powerlaw.py)
MIN_EVALS = 8            # DEFAULT_MIN_EVALS: smaller layers are not analysed
MAX_EVALS = 15000        # DEFAULT_MAX_EVALS
MAX_N = 50000            # DEFAULT_MAX_N
EVALS_THRESH = 1e-5      # eigenvalues <= this are left out of the power-law fit
SMALL_N_CUTOFF = 20      # fewer fitted eigenvalues -> small-N fit
SMALL_N_K_MIN = 8        # small-N fit: smallest tail
DEGENERATE_TAIL = 1e-12  # small-N fit: tails with sum log(x / xmin) <= this are skipped

# float64 elements per chunk (memory stays bounded on 1,000 paper-size networks): kernels copied to
# float64 for one batched Gram product and eigvalsh, and (candidate xmin x eigenvalue) grids of the
# fit, of which a few temporaries live at once
_GRAM_CHUNK_ELEMENTS = 1 << 24
_FIT_CHUNK_ELEMENTS = 1 << 22


def spectral_stats(weights: list[torch.Tensor]) -> pd.DataFrame:
    """Per network and weight layer, WeightWatcher's five spectral metrics: the ``spectral`` baseline.

    With lambda the M = min(fan_in, fan_out) eigenvalues of the smaller Gram matrix of the layer's
    kernel W (lambda = sigma^2, sigma the singular values; W not normalised):

    * ``alpha``: the exponent of a power law p(lambda) ~ lambda^-alpha fitted to the tail of the
      eigenvalues > 1e-5: per candidate xmin = x_i, the MLE 1 + n / sum_{j>=i} log(x_j / x_i)
      (1 + (n - 1) / ... with fewer than 20 fitted eigenvalues), the xmin minimising the
      Kolmogorov-Smirnov distance wins (WeightWatcher's ``WWFit``; the module docstring has every rule);
    * ``alpha_weighted`` = alpha * log_spectral_norm;
    * ``log_spectral_norm`` = log10(lambda_max) (WeightWatcher's "spectral norm" is sigma_max^2);
    * ``stable_rank`` = sum(lambda) / lambda_max;
    * ``log_norm`` = log10(sum(lambda)) = log10 ||W||_F^2.

    What ``WeightWatcher(model).analyze()`` of weightwatcher 0.7.7 returns with its defaults (within
    2e-14: ``benchmarks/spectral_vs_weightwatcher.py``). Computed in float64 on the weights' own device.

    Parameters
    ----------
    weights : list of torch.Tensor
        L blocks, ``weights[l]`` of shape (N, fan_in, fan_out), float32 or float64, N >= 0; each layer
        is read alone (the blocks need not chain).

    Returns
    -------
    pd.DataFrame
        N rows (network order), columns ``ww_l{layer}_{metric}``, layer the 1-based index of the weight
        matrix (l1: input -> first hidden), metric in ``METRICS`` order; float64, dimensionless
        (log10 of squared weight units for the norms). NaN: every metric of a layer WeightWatcher
        skips (M < 8, M > 15000 or max(fan_in, fan_out) > 50000) or of a network with a non-finite
        weight in it; alpha and alpha_weighted where fewer than 2 eigenvalues exceed 1e-5 (WeightWatcher's
        alpha = -1). An all-zero kernel: log norms -inf, stable_rank NaN; an orthogonal one: alpha 0.

    Raises
    ------
    EngineError
        From ``engine.weight_stack.check_weight_stack``, if ``weights`` is not a non-empty list of 3-D
        floating-point blocks with one N.

    References
    ----------
    .. [1] C. H. Martin, M. W. Mahoney, "Implicit self-regularization in deep neural networks: evidence
       from random matrix theory and implications for learning", JMLR 22 (2021) 165.
    .. [2] C. H. Martin, T. S. Peng, M. W. Mahoney, "Predicting trends in the quality of state-of-the-art
       neural networks without access to training or testing data", Nat. Commun. 12 (2021) 4122.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> w1 = torch.randn(1, 100, 30, generator=g, dtype=torch.float64)  # one network: 100-30-5
    >>> w2 = torch.randn(1, 30, 5, generator=g, dtype=torch.float64)
    >>> stats = spectral_stats([w1, w2])
    >>> list(stats.columns[:5])
    ['ww_l1_alpha', 'ww_l1_alpha_weighted', 'ww_l1_log_spectral_norm', 'ww_l1_stable_rank', 'ww_l1_log_norm']
    >>> stats.iloc[0, :5].round(2).tolist()  # Gaussian weights: no heavy tail, a large alpha
    [12.34, 29.25, 2.37, 12.7, 3.47]
    >>> bool(stats.filter(like="ww_l2_").isna().all(axis=None))  # 5 eigenvalues: WeightWatcher skips the layer
    True
    >>> spectral_stats([torch.eye(8).expand(1, 8, 8)]).round(3).iloc[0].tolist()  # orthogonal: all lambda = 1
    [0.0, 0.0, 0.0, 8.0, 0.903]
    """
    weights = check_weight_stack(weights, one_network=False, chained=False, floating=True, no_networks=True)
    cols: dict[str, torch.Tensor] = {}
    with single_threaded_lapack(weights[0].device):   # batched eigvalsh: see engine.measures.threads
        for l, w in enumerate(weights, start=1):
            for name, values in zip(METRICS, _layer_metrics(w)):
                cols[f"ww_l{l}_{name}"] = values
    return pd.DataFrame({k: v.cpu().numpy() for k, v in cols.items()})


def _layer_metrics(w: torch.Tensor) -> tuple[torch.Tensor, ...]:
    n, fan_in, fan_out = w.shape
    m = min(fan_in, fan_out)
    nan = torch.full((n,), float("nan"), dtype=torch.float64, device=w.device)
    if n == 0 or m < MIN_EVALS or m > MAX_EVALS or max(fan_in, fan_out) > MAX_N:
        return (nan,) * len(METRICS)
    step = max(1, _GRAM_CHUNK_ELEMENTS // (fan_in * fan_out))
    evals, finite = [], []
    for s in range(0, n, step):
        chunk = w[s:s + step].to(torch.float64)      # no copy for float64 input: never written to
        ok = torch.isfinite(chunk).flatten(1).all(dim=1)
        if not bool(ok.all()):                        # diverged networks: zeros here, NaN rows below
            chunk = torch.where(ok[:, None, None], chunk, torch.zeros((), dtype=chunk.dtype, device=chunk.device))
        gram = chunk.mT @ chunk if fan_in >= fan_out else chunk @ chunk.mT      # (B, m, m)
        evals.append(torch.linalg.eigvalsh(gram).clamp_min(0))                  # ascending
        finite.append(ok)
    ev = torch.cat(evals)          # (n, m), ascending
    ok = torch.cat(finite)
    total = ev.sum(dim=1)
    lam_max = ev[:, -1]
    log_spectral_norm = torch.log10(lam_max)
    log_norm = torch.log10(total)
    stable_rank = total / lam_max
    step = max(1, _FIT_CHUNK_ELEMENTS // (m * m))
    alpha = torch.cat([_fit_alpha(ev[s:s + step]) for s in range(0, n, step)])
    out = (alpha, alpha * log_spectral_norm, log_spectral_norm, stable_rank, log_norm)
    return tuple(torch.where(ok, v, nan) for v in out)


def _fit_alpha(x: torch.Tensor) -> torch.Tensor:
    """WWFit power-law exponent for each row of ``x`` (B, M), ascending eigenvalues, all at once.

    Candidates are indexed by their position i in the full row; eigenvalues <= EVALS_THRESH form a
    prefix of the row, so the fitted data are x[first:], and a candidate's tail x[i:] (n = M - i values)
    is the same as in WeightWatcher's filtered array.
    """
    b, m = x.shape
    dev, f64 = x.device, torch.float64
    keep = x > EVALS_THRESH
    k = keep.sum(dim=1)                                        # fitted eigenvalues per network
    first = m - k                                              # index of the smallest fitted one
    safe = torch.where(keep, x, torch.ones((), dtype=f64, device=dev))
    logx = safe.log()
    i = torch.arange(m - 1, device=dev)                        # candidate xmin positions (not the last)
    j = torch.arange(m, device=dev)
    tri = j[None, :] >= i[:, None]                             # (M-1, M): j in the tail of i
    n_i = (m - i).to(f64)                                      # tail sizes
    valid = i[None, :] >= first[:, None]                       # (B, M-1)

    zero = torch.zeros((), dtype=f64, device=dev)
    d = torch.where(tri, logx[:, None, :] - logx[:, :-1, None], zero)  # log(x_j / x_i), 0 outside the tail
    s = d.sum(dim=2)                                           # sum_{j>=i} log(x_j / x_i)
    small = (k < SMALL_N_CUTOFF)[:, None]
    alpha_i = torch.where(small, 1 + (n_i - 1) / s, 1 + n_i / s)
    # KS distance: F(x_j) = 1 - (x_j / x_i) ** (1 - alpha) = 1 - exp((1 - alpha) d); outside the tail
    # d = 0 and emp = 0 give 0. alpha = inf (s = 0: all tail values equal) is clamped to a finite huge
    # value so that the exponent is 0 * huge = 0 (x ** -inf = 1 for x = 1, 0 for x > 1, as in NumPy).
    emp = torch.where(tri, (j[None, :] - i[:, None]).to(f64) / n_i[:, None], zero)
    gap = d.mul_((1 - alpha_i.clamp(max=1e300))[:, :, None]).exp_()
    ks = gap.neg_().add_(1).sub_(emp).abs_().amax(dim=2)       # max_j |F(x_j) - (j - i) / n|
    del d, gap
    inf = torch.full((), math.inf, dtype=f64, device=dev)

    # K >= 20: argmin of D over the fitted candidates, D = 1 where alpha <= 1
    d_std = torch.where(valid, torch.where(alpha_i > 1, ks, torch.ones((), dtype=f64, device=dev)), inf)
    a_std = alpha_i.gather(1, d_std.argmin(dim=1, keepdim=True))[:, 0]

    # K < 20: argmin of D over candidates with n >= 8, s > 1e-12, alpha > 1 (the others have D = 1)
    ok_small = valid & (n_i >= SMALL_N_K_MIN) & (s > DEGENERATE_TAIL) & (alpha_i > 1)
    d_small = torch.where(ok_small, ks, inf)
    a_small = alpha_i.gather(1, d_small.argmin(dim=1, keepdim=True))[:, 0]
    # no candidate: whole fitted range, bias-corrected MLE, or 0 (alphas[0] unset) for a degenerate range
    s0 = s.gather(1, first.clamp(max=m - 2)[:, None])[:, 0]
    s0 = torch.where(k >= 2, s0, torch.zeros((), dtype=f64, device=dev))
    a_fallback = torch.where(s0 > DEGENERATE_TAIL, 1 + (k.to(f64) - 1) / s0, torch.zeros((), dtype=f64, device=dev))
    a_small = torch.where(ok_small.any(dim=1), a_small, a_fallback)

    alpha = torch.where(k < SMALL_N_CUTOFF, a_small, a_std)
    # K <= 1: no candidate xmin, argmin of an empty sequence raises in WWFit: the fit fails
    return torch.where(k >= 2, alpha, torch.full((), math.nan, dtype=f64, device=dev))
