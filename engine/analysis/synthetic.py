"""Synthetic networks/neurons tables with known answers, for tests and the scale benchmark.

Every hidden neuron belongs to one of ``n_types`` planted types: well-separated Gaussian clusters in
(strength, bipartite_clustering, log10 subgraph_centrality). A network's mix of types depends on its
test accuracy: better networks have more low-subgraph-centrality neurons, so (by construction) the
BoN histograms predict the performance class and mean subgraph centrality falls with accuracy.
The other five measures are noise. Per-network summaries are computed from the neurons, as the run does.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from engine.measures.registry import MEASURES

__all__ = ["make_population"]

# planted type centres in (strength, bipartite_clustering, log10 subgraph_centrality) and their spreads
TYPE_CENTRES = np.array([[-6.0, 0.05, 10.0], [0.0, 0.20, 30.0], [6.0, 0.35, 60.0], [12.0, 0.50, 89.0],
                         [-6.0, 0.50, 60.0], [12.0, 0.05, 30.0]])
TYPE_SPREAD = np.array([0.4, 0.01, 1.5])


def make_population(datasets: Sequence[str] = ("digits",), networks: int = 60, layer_sizes: Sequence[int] = (20, 10),
                    epochs: Sequence[int] = (5,), n_types: int = 4, signal: float = 6.0, seed: int = 0,
                    centre_shift: float = 0.0, weight_layers: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """A population with planted neuron types whose mix follows test accuracy: tables with known answers.

    Parameters
    ----------
    datasets : sequence of str
        One population per name, each of ``networks`` networks.
    networks : int
        Networks per dataset; their test accuracies are uniform in [0.5, 0.95].
    layer_sizes : sequence of int
        Hidden neurons per layer (H = their sum neurons rows per network and epoch).
    epochs : sequence of int
        Snapshot epochs; the accuracy's pull on the type mix grows towards the last one, which the
        per-network summaries are computed from.
    n_types : int
        Planted neuron types, 1 to 6 (rows of ``TYPE_CENTRES``).
    signal : float
        How strongly accuracy tilts the type mix (0: types independent of accuracy).
    seed : int
        Seed of the NumPy generator; the same arguments give the same tables.
    centre_shift : float
        Moves every type centre of the i-th dataset by i * centre_shift in strength (a domain change the
        per-dataset z-score absorbs).
    weight_layers : int
        > 0 adds pure-noise ``w_l{layer}_{stat}`` columns for that many layers (a feature set with no signal).

    Returns
    -------
    networks : pandas.DataFrame
        One row per network: ``dataset``, ``network``, ``seed``, losses and accuracies (fractions),
        ``diverged`` and the ``{measure}_l{layer}_{mean,std}`` summaries, as a run's networks.parquet.
    neurons : pandas.DataFrame
        One row per hidden neuron and epoch: ``dataset``, ``network``, ``epoch``, ``layer``, ``neuron`` and
        the eight measures, as a run's neurons.parquet.
    truth : dict
        ``neuron_type`` (the planted type of every neurons row) and ``centres`` (n_types, 3).

    Examples
    --------
    >>> nets, neurons, truth = make_population(networks=5, layer_sizes=(3, 2), n_types=2)
    >>> len(nets), len(neurons), truth["centres"].shape
    (5, 25, (2, 3))
    >>> bool(nets["test_acc"].between(0.5, 0.95).all())
    True
    """
    rng = np.random.default_rng(seed)
    centres = TYPE_CENTRES[:n_types]
    tilt = np.linspace(1.0, -1.0, n_types)          # type 0 for good networks, type k-1 for bad ones
    h = int(sum(layer_sizes))
    layer_of = np.repeat(np.arange(1, len(layer_sizes) + 1), layer_sizes)
    neuron_of = np.concatenate([np.arange(s) for s in layer_sizes])
    net_rows, neuron_parts, truth_types = [], [], []
    for d, ds in enumerate(datasets):
        acc = rng.uniform(0.5, 0.95, networks)
        for e_i, epoch in enumerate(epochs):
            logits = signal * (acc[:, None] - 0.725) / 0.45 * tilt[None, :] * (e_i + 1) / len(epochs)
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            u = rng.random((networks, h))
            types = (u[:, :, None] > np.cumsum(p, axis=1)[:, None, :]).sum(axis=2).clip(0, n_types - 1)
            pts = centres[types] + rng.normal(size=(networks, h, 3)) * TYPE_SPREAD
            pts[..., 0] += d * centre_shift
            vals = np.empty((networks, h, len(MEASURES)))
            vals[..., 0] = pts[..., 0]
            vals[..., 3] = pts[..., 1]
            vals[..., 4] = 10.0 ** pts[..., 2]
            for j in (1, 2, 5, 6, 7):
                vals[..., j] = rng.lognormal(0.0, 0.3, size=(networks, h))
            frame = pd.DataFrame(vals.reshape(-1, len(MEASURES)), columns=list(MEASURES))
            frame.insert(0, "neuron", np.tile(neuron_of, networks))
            frame.insert(0, "layer", np.tile(layer_of, networks))
            frame.insert(0, "epoch", np.full(networks * h, epoch))
            frame.insert(0, "network", np.repeat(np.arange(networks), h))
            frame.insert(0, "dataset", ds)
            neuron_parts.append(frame)
            truth_types.append(types.reshape(-1))
        last = neuron_parts[-1]
        summ = last.groupby(["network", "layer"])[list(MEASURES)].agg(["mean", "std"])
        wide = {}
        for m in MEASURES:
            for L in range(1, len(layer_sizes) + 1):
                for s in ("mean", "std"):
                    wide[f"{m}_l{L}_{s}"] = summ[(m, s)].xs(L, level="layer").to_numpy()
        nets = pd.DataFrame({"dataset": ds, "network": np.arange(networks), "seed": np.arange(networks) + 1000 * d,
                             "train_loss": 1 - acc + 0.01, "train_acc": np.clip(acc + 0.02, 0, 1),
                             "test_loss": 1 - acc + 0.05, "test_acc": acc, "diverged": False, **wide})
        for L in range(1, weight_layers + 1):
            for stat in ("mean", "std", "q0", "q25", "q50", "q75", "q100"):
                nets[f"w_l{L}_{stat}"] = rng.normal(size=networks)
        net_rows.append(nets)
    networks_df = pd.concat(net_rows, ignore_index=True)
    neurons_df = pd.concat(neuron_parts, ignore_index=True)
    return networks_df, neurons_df, {"neuron_type": np.concatenate(truth_types), "centres": centres}
