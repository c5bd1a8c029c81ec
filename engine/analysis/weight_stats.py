"""Weight-statistics baseline features (Unterthiner et al. 2020, "Predicting neural network accuracy
from weights"): per weight layer, mean, std and the 0/25/50/75/100 % quantiles of the raw weights.

The lead adds these columns (`w_l{layer}_{stat}`, layer = 1-based index of the weight matrix, so
l1 is input -> first hidden) to networks.parquet; the analysis uses them as feature set ``weights``.
"""

from __future__ import annotations

import pandas as pd
import torch

from engine.weight_stack import check_weight_stack

_QUANTILES = (0, 25, 50, 75, 100)
__all__ = ["weight_stats"]

# elements sorted at once per chunk (keeps memory bounded on 1,000 paper-sized networks)
_CHUNK_ELEMENTS = 1 << 25


def weight_stats(weights: list[torch.Tensor]) -> pd.DataFrame:
    """Per network and weight layer, the mean, std and quantiles of the raw weights: the ``weights`` baseline.

    For the m = fan_in * fan_out weights x of one layer of one network: ``mean`` = sum(x) / m;
    ``std`` = sqrt(sum((x - mean)^2) / m) (population std, ddof=0, numpy's default); ``q0``, ``q25``,
    ``q50``, ``q75``, ``q100``: the quantiles of x, interpolated linearly between order statistics
    (numpy's default: position q / 100 * (m - 1) in the sorted weights), so q0 is the minimum and
    q100 the maximum. Unterthiner et al. take the mean, the variance and these five percentiles per
    layer, of kernels and biases; here the std (the variance's square root) of the kernels. Computed
    in float64 on the weights' own device.

    Parameters
    ----------
    weights : list of torch.Tensor
        L blocks, ``weights[l]`` of shape (N, fan_in, fan_out), N >= 1; each layer is read alone (the
        blocks need not chain). Units: those of the weights.

    Returns
    -------
    pd.DataFrame
        N rows (network order), columns ``w_l{layer}_{stat}``, layer the 1-based index of the weight
        matrix (l1: input -> first hidden), stat in ``mean, std, q0, q25, q50, q75, q100``; float64, in
        the units of the weights.

    Raises
    ------
    EngineError
        If ``weights`` is not a non-empty list of 3-D real-valued blocks with one N
        (``engine.weight_stack.check_weight_stack``).

    References
    ----------
    .. [1] T. Unterthiner, D. Keysers, S. Gelly, O. Bousquet, I. Tolstikhin, "Predicting neural network
       accuracy from weights", arXiv:2002.11448 (2020).

    Examples
    --------
    >>> w = torch.tensor([[[1.0, -1.0], [0.5, 2.0]], [[0.0, 0.0], [0.0, 4.0]]])  # two networks, one 2x2 layer
    >>> weight_stats([w])[["w_l1_mean", "w_l1_std", "w_l1_q0", "w_l1_q25", "w_l1_q100"]]
       w_l1_mean  w_l1_std  w_l1_q0  w_l1_q25  w_l1_q100
    0      0.625  1.082532     -1.0     0.125        2.0
    1      1.000  1.732051      0.0     0.000        4.0
    """
    weights = check_weight_stack(weights, one_network=False, chained=False)
    n = weights[0].shape[0]
    cols: dict[str, torch.Tensor] = {}
    for l, w in enumerate(weights, start=1):
        flat = w.reshape(n, -1).to(torch.float64)
        m = flat.shape[1]
        cols[f"w_l{l}_mean"] = flat.mean(dim=1)
        cols[f"w_l{l}_std"] = flat.std(dim=1, correction=0)
        qs = torch.tensor([q / 100 for q in _QUANTILES], dtype=torch.float64, device=flat.device)
        pos = qs * (m - 1)
        lo, hi = pos.floor().long(), pos.ceil().long()
        frac = pos - lo
        step = max(1, _CHUNK_ELEMENTS // max(m, 1))
        out = []
        for s in range(0, n, step):
            srt = flat[s:s + step].sort(dim=1).values
            out.append(srt[:, lo] + (srt[:, hi] - srt[:, lo]) * frac)
        qv = torch.cat(out)
        for j, q in enumerate(_QUANTILES):
            cols[f"w_l{l}_q{q}"] = qv[:, j]
    return pd.DataFrame({k: v.cpu().numpy() for k, v in cols.items()})
