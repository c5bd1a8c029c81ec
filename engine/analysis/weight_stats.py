"""Weight-statistics baseline features (Unterthiner et al. 2020, "Predicting neural network accuracy
from weights"): per weight layer, mean, std and the 0/25/50/75/100 % quantiles of the raw weights.

The lead adds these columns (`w_l{layer}_{stat}`, layer = 1-based index of the weight matrix, so
l1 is input -> first hidden) to networks.parquet; the analysis uses them as feature set ``weights``.
"""

from __future__ import annotations

import pandas as pd
import torch

from engine.weight_stack import check_weight_stack

QUANTILES = (0, 25, 50, 75, 100)
__all__ = ["QUANTILES", "weight_stats"]

# elements sorted at once per chunk (keeps memory bounded on 1,000 paper-sized networks)
_CHUNK_ELEMENTS = 1 << 25


def weight_stats(weights: list[torch.Tensor]) -> pd.DataFrame:
    """One row per network, columns ``w_l{layer}_{stat}``; computed on the weights' own device.

    ``weights[l]`` has shape (N, fan_in, fan_out). Quantiles interpolate linearly (numpy's default);
    std is the population std (ddof=0, numpy's default).
    """
    weights = check_weight_stack(weights, one_network=False, chained=False)
    n = weights[0].shape[0]
    cols: dict[str, torch.Tensor] = {}
    for l, w in enumerate(weights, start=1):
        flat = w.reshape(n, -1).to(torch.float64)
        m = flat.shape[1]
        cols[f"w_l{l}_mean"] = flat.mean(dim=1)
        cols[f"w_l{l}_std"] = flat.std(dim=1, correction=0)
        qs = torch.tensor([q / 100 for q in QUANTILES], dtype=torch.float64, device=flat.device)
        pos = qs * (m - 1)
        lo, hi = pos.floor().long(), pos.ceil().long()
        frac = pos - lo
        step = max(1, _CHUNK_ELEMENTS // max(m, 1))
        out = []
        for s in range(0, n, step):
            srt = flat[s:s + step].sort(dim=1).values
            out.append(srt[:, lo] + (srt[:, hi] - srt[:, lo]) * frac)
        qv = torch.cat(out)
        for j, q in enumerate(QUANTILES):
            cols[f"w_l{l}_q{q}"] = qv[:, j]
    return pd.DataFrame({k: v.cpu().numpy() for k, v in cols.items()})
