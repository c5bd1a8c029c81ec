"""Per-neuron tables (neurons.parquet rows) and per-network summaries of the measures."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch

from engine.errors import EngineError
from engine.measures.compute import compute_measures, resolve_measures
from engine.measures.registry import MEASURES
from engine.weight_stack import layer_sizes, orient_weights

__all__ = ["neuron_table", "summarize"]

_KEYS = ["dataset", "network", "epoch", "layer", "neuron"]


def neuron_table(weights: Sequence[torch.Tensor], *, dataset: str, epoch: int,
                 network_ids: Sequence[int] | None = None, measures: Sequence[str] | None = None,
                 orientation: str | None = None, dtype: torch.dtype = torch.float64, log_subgraph: bool = False,
                 chunk_size: int | None = None, progress: bool = False) -> pd.DataFrame:
    """The measures as a table, one row per hidden neuron per network (neurons.parquet's schema).

    Parameters
    ----------
    weights : sequence of torch.Tensor or array-like
        The weight stack, as in ``compute_measures``: blocks (N, n_l, n_{l+1}).
    dataset : str
        The ``dataset`` column's value.
    epoch : int
        The ``epoch`` column's value.
    network_ids : sequence of int, optional
        One id per network for the ``network`` column (default 0 .. N-1).
    measures, orientation, dtype, log_subgraph, chunk_size, progress
        As in ``compute_measures``.

    Returns
    -------
    pandas.DataFrame
        Columns dataset, network, epoch, layer (1 = first hidden layer), neuron (0-based within its
        layer), then the measures as float64; N * H rows. ``df.attrs["log_subgraph"]`` says whether
        subgraph_centrality holds logs.

    Raises
    ------
    EngineError
        As ``compute_measures``; or ``network_ids`` does not give one id per network.

    Examples
    --------
    >>> w1 = torch.tensor([[[1.0, -0.5], [2.0, 0.0]]]); w2 = torch.tensor([[[1.0], [3.0]]])
    >>> neuron_table([w1, w2], dataset="toy", epoch=3, measures=["strength"])
      dataset  network  epoch  layer  neuron  strength
    0     toy        0      3      1       0       4.0
    1     toy        0      3      1       1       2.5
    """
    names = resolve_measures(measures)
    weights = orient_weights(weights, orientation)
    values = compute_measures(weights, names, orientation="in_out", dtype=dtype, log_subgraph=log_subgraph,
                              chunk_size=chunk_size, progress=progress)
    n, h, _ = values.shape
    ids = np.arange(n) if network_ids is None else np.asarray(list(network_ids), dtype=np.int64)
    if ids.shape != (n,):
        raise EngineError(f"network_ids has {ids.size} ids for {n} networks: give one id per network")
    hidden_sizes = layer_sizes(weights)[1:-1]
    layer = np.concatenate([np.full(s, l + 1) for l, s in enumerate(hidden_sizes)])
    neuron = np.concatenate([np.arange(s) for s in hidden_sizes])
    table = pd.DataFrame({
        "dataset": pd.Series([dataset] * (n * h), dtype=object),
        "network": np.repeat(ids, h).astype(np.int64),
        "epoch": np.full(n * h, int(epoch), dtype=np.int64),
        "layer": np.tile(layer, n).astype(np.int64),
        "neuron": np.tile(neuron, n).astype(np.int64),
    })
    flat = values.detach().to("cpu", torch.float64).reshape(n * h, len(names)).numpy()
    for k, name in enumerate(names):
        table[name] = flat[:, k]
    table.attrs["log_subgraph"] = bool(log_subgraph)
    return table


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per-network features: the mean and std of each measure over each layer's neurons.

    Parameters
    ----------
    table : pandas.DataFrame
        A ``neuron_table`` frame (neurons.parquet), one or several epochs.

    Returns
    -------
    pandas.DataFrame
        One row per (dataset, network), at that network's last epoch in the table: dataset,
        network, then ``{measure}_l{layer}_mean`` and ``_std`` (population std, ddof=0), measure
        major, layer, mean before std; NaN-aware (NaN neurons skipped, all-NaN gives NaN).

    Raises
    ------
    EngineError
        If ``table`` lacks the key columns of a neuron table.

    Examples
    --------
    >>> w1 = torch.tensor([[[1.0, -0.5], [2.0, 0.0]]]); w2 = torch.tensor([[[1.0], [3.0]]])
    >>> summarize(neuron_table([w1, w2], dataset="toy", epoch=3, measures=["strength"]))
      dataset  network  strength_l1_mean  strength_l1_std
    0     toy        0              3.25             0.75
    """
    missing = [c for c in _KEYS if c not in table.columns]
    if missing:
        raise EngineError(f"table lacks column(s) {missing}: expected a neuron_table (neurons.parquet) frame")
    names = [m for m in MEASURES if m in table.columns]
    if table.empty:
        return pd.DataFrame(columns=["dataset", "network"])
    last = table.groupby(["dataset", "network"])["epoch"].transform("max")
    final = table[table["epoch"] == last]
    grouped = final.groupby(["dataset", "network", "layer"])[names]
    mean = grouped.mean()
    std = grouped.std(ddof=0)
    out = {}
    for name in names:
        for layer in sorted(final["layer"].unique()):
            out[f"{name}_l{layer}_mean"] = mean[name].xs(layer, level="layer")
            out[f"{name}_l{layer}_std"] = std[name].xs(layer, level="layer")
    return pd.DataFrame(out).reset_index()
