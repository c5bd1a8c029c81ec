"""Bag-of-Neurons (Scabini & Bruno 2023, sec. 4): neuron types by k-means, networks as type histograms.

Per benchmark (dataset), every hidden neuron of every eligible network at the last snapshot epoch is
a point of its measures (default strength, bipartite clustering, subgraph centrality; subgraph
centrality reaches 1e89, so it enters as log10). The points are z-scored over all those neurons, one
k-means is fitted (on a random subsample when there are more than ``fit_sample`` neurons, then every
neuron is assigned to its nearest centroid), and each network becomes the normalised histogram of
its neurons' types, jointly and per layer. Neurons of other snapshot epochs get types from the same
centroids and the same normalisation (so type shares over epochs are comparable). Types are numbered
in increasing order of the first measure's centroid value, so numbering is stable across runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import silhouette_score

from engine.analysis.estimators import make_estimator
from engine.analysis.results import Record
from engine.config import BoNConfig
from engine.errors import EngineError
from engine.shared_docs import shared_docs

log = logging.getLogger(__name__)

__all__ = ["BoNResult", "NeuronTypes", "bag_of_neurons", "transform_measures", "type_histograms"]

# the examples' population: six synthetic networks of 6 + 3 hidden neurons, typed with k = 2
_SIX_NETWORKS = """>>> from engine.analysis.synthetic import make_population
>>> from engine.config import BoNConfig
>>> nets, neurons, _ = make_population(networks=6, layer_sizes=(6, 3), seed=0)
>>> bon = bag_of_neurons(neurons, nets[["dataset", "network"]], None, [], BoNConfig(k=2, n_init=1))"""


@shared_docs(six_networks=_SIX_NETWORKS)
@dataclass
class NeuronTypes(Record):
    """The neuron types of one dataset (``analysis/bag_of_neurons.json``, one object per dataset).

    Made by ``bag_of_neurons`` (``BoNResult.types``), read back with ``NeuronTypes.from_dict`` by the
    report.

    Attributes
    ----------
    k : int
        Number of types.
    k_selection : dict
        ``{"method": "given"}``, or for ``k: auto`` the silhouette and inertia per k tried.
    epoch : int
        The snapshot epoch the types were fitted at (the last).
    neurons_used, nan_dropped : int
        Neurons typed at ``epoch``; neurons left untyped there (a NaN or, for a log10 measure, a
        non-positive value).
    fit_sample : int
        Neurons k-means was fitted on.
    subsampled : bool
        They were a random subsample (more than ``analysis.bon.fit_sample`` neurons); every neuron is
        then assigned to its nearest centroid.
    inertia : float
        k-means' within-cluster sum of squares, in z-units squared.
    measures, log10_measures : list of str
        The measures (columns of the centroids); those taken as log10.
    normalisation : dict of str to list of float
        ``{"mean": [m], "std": [m]}`` of the (log10) measures over the neurons at ``epoch``.
    centroids_normalised, centroids_raw : list of list of float
        (k, m): k types by the m measures; in z-units of the neurons they were fitted on / in the
        measures' own units (log10 undone). Types are numbered by increasing first measure.
    type_shares_overall : list of float or None
        (k,) fraction of the neurons at ``epoch`` of each type.
    type_shares_per_class : dict
        Performance class -> ``"all"`` or ``"l{layer}"`` -> (k,) fractions (None where a class has no neurons).
    notes : list of str
        What a reader should know (dropped neurons, subsampling).

    Examples
    --------
    {{six_networks}}
    >>> types = bon.types["digits"]
    >>> types.k, types.epoch, types.neurons_used, types.log10_measures
    (2, 5, 54, ['subgraph_centrality'])
    >>> [round(c[0], 2) for c in types.centroids_raw]  # the types' strength, in increasing order
    [-3.88, 10.79]
    """

    k: int
    k_selection: dict[str, Any]             # {"method": "given"} or silhouette and inertia per k
    epoch: int                              # the snapshot epoch the types were fitted at (the last)
    neurons_used: int
    nan_dropped: int
    fit_sample: int
    subsampled: bool
    inertia: float
    measures: list[str]
    log10_measures: list[str]
    normalisation: dict[str, list[float]]   # {"mean": [m], "std": [m]} of the (log10) measures
    centroids_normalised: list[list[float]]
    centroids_raw: list[list[float]]
    type_shares_overall: list[float] | None
    type_shares_per_class: dict[str, dict[str, list[float] | None]]   # class -> "all" | "l{layer}" -> shares
    notes: list[str]


@shared_docs(six_networks=_SIX_NETWORKS)
@dataclass
class BoNResult:
    """What ``bag_of_neurons`` found: a type per neurons row, each network's histograms, per dataset its types.

    Attributes
    ----------
    labels : np.ndarray
        (len(neurons),) int64: the type of each row of the neurons table (every snapshot epoch), -1
        where untyped (a non-eligible network, a non-finite measure, a skipped dataset).
    histograms : pd.DataFrame
        One row per eligible network at the last epoch: ``dataset``, ``network``, ``bon_all_t{j}`` (the
        fraction of its hidden neurons of type j) and ``bon_l{layer}_t{j}`` (per hidden layer); NaN
        where a network has no typed neuron.
    summary : dict
        Per dataset, the JSON of its ``NeuronTypes``, or ``{"skipped": why}``.
    centroids : dict of str to np.ndarray
        Per dataset, the (k, m) centroids in z-units.
    types : dict of str to NeuronTypes
        Per dataset with types.

    Examples
    --------
    {{six_networks}}
    >>> bon.labels[:6], bon.centroids["digits"].shape
    (array([0, 0, 0, 1, 1, 0]), (2, 3))
    >>> bon.histograms.iloc[:2, :4].round(3)
      dataset  network  bon_all_t0  bon_all_t1
    0  digits        0       0.667       0.333
    1  digits        1       0.222       0.778
    """

    labels: np.ndarray                      # type per neurons row, -1 where untyped
    histograms: pd.DataFrame                # dataset, network, bon_all_t{j}, bon_l{layer}_t{j}
    summary: dict[str, Any] = field(default_factory=dict)
    centroids: dict[str, np.ndarray] = field(default_factory=dict)   # dataset -> (k, m) in z-space
    types: dict[str, NeuronTypes] = field(default_factory=dict)


def _to_numpy(a: Any) -> np.ndarray:
    """cuML may hand back CuPy arrays; everything downstream is NumPy."""
    return np.asarray(a.get() if hasattr(a, "get") else a)


def transform_measures(values: np.ndarray, measures: list[str], log10_measures: list[str]) -> np.ndarray:
    """The measures as Bag-of-Neurons reads them: log10 of the listed ones (non-positive values become NaN).

    Parameters
    ----------
    values : np.ndarray
        (n, m): n neurons by the m ``measures``, in the measures' own units.
    measures : list of str
        The names of the m columns.
    log10_measures : list of str
        Those taken as log10 (subgraph centrality reaches 1e89).

    Returns
    -------
    np.ndarray
        (n, m) float64, a copy.

    Examples
    --------
    >>> transform_measures(np.array([[2.0, 100.0], [3.0, 0.0]]), ["strength", "subgraph_centrality"],
    ...                    ["subgraph_centrality"])
    array([[ 2.,  2.],
           [ 3., nan]])
    """
    x = np.array(values, dtype=np.float64, copy=True)
    for j, m in enumerate(measures):
        if m in log10_measures:
            col = x[:, j]
            with np.errstate(divide="ignore", invalid="ignore"):
                x[:, j] = np.where(col > 0, np.log10(np.where(col > 0, col, 1.0)), np.nan)
    return x


def _kmeans(x: np.ndarray, k: int, cfg: BoNConfig, backend: str, seed: int) -> Any:
    km = make_estimator("kmeans", backend, n_clusters=k, init="k-means++", n_init=cfg.n_init,
                        max_iter=cfg.max_iter, random_state=seed)
    km.fit(x)
    return km


def _choose_k(x: np.ndarray, cfg: BoNConfig, backend: str) -> tuple[int, dict[str, Any]]:
    """k with the best silhouette (scored on a subsample) over ``k_range``; inertia kept for the elbow."""
    rng = np.random.default_rng(cfg.seed + 1)
    kmin, kmax = cfg.k_range
    kmax = min(kmax, len(x) - 1)
    if kmax < kmin:
        raise EngineError(f"k: auto needs more than {kmin} neurons, got {len(x)}")
    sub = x if len(x) <= cfg.silhouette_sample else x[rng.choice(len(x), cfg.silhouette_sample, replace=False)]
    scores, inertias = {}, {}
    for k in range(kmin, kmax + 1):
        km = _kmeans(x, k, cfg, backend, cfg.seed)
        inertias[k] = float(km.inertia_)
        lab = _to_numpy(km.predict(sub))
        scores[k] = float(silhouette_score(sub, lab)) if len(np.unique(lab)) > 1 else -1.0
    best = max(scores, key=lambda k: scores[k])
    return best, {"silhouette": scores, "inertia": inertias, "silhouette_sample": int(len(sub))}


def bag_of_neurons(neurons: pd.DataFrame, eligible: pd.DataFrame, network_class: pd.Series | None,
                   class_names: list[str], cfg: BoNConfig, backend: str = "cpu") -> BoNResult:
    """Fit neuron types per dataset and build per-network type histograms (the module docstring says how).

    Parameters
    ----------
    neurons : pandas.DataFrame
        One row per hidden neuron and snapshot epoch: ``dataset``, ``network``, ``epoch``, ``layer`` and
        the measures ``cfg.measures``.
    eligible : pandas.DataFrame
        ``dataset``, ``network`` of the networks that take part (not diverged).
    network_class : pandas.Series or None
        Performance class index per eligible network, indexed by (dataset, network); None: no shares.
    class_names : list of str
        The classes' names, by index.
    cfg : BoNConfig
        The ``analysis.bon`` settings.
    backend : {"cpu", "cuda"}
        Where k-means runs.

    Returns
    -------
    BoNResult
        ``labels`` (type per neurons row, -1 = untyped), ``histograms``, per dataset its ``types`` and
        ``centroids`` (z-units), and ``summary`` (the JSON of ``analysis/bag_of_neurons.json``).

    Raises
    ------
    EngineError
        A measure of ``cfg.measures`` is not a column of ``neurons``, or ``k: auto`` has too few neurons.

    References
    ----------
    .. [1] L. Scabini and O. Bruno, "Structure and performance of fully connected neural networks:
       emerging complex network properties", Physica A 615 (2023), sec. 4.

    Examples
    --------
    >>> from engine.analysis.synthetic import make_population
    >>> from engine.config import BoNConfig
    >>> nets, neurons, _ = make_population(networks=20, layer_sizes=(6, 3), seed=0)
    >>> bon = bag_of_neurons(neurons, nets[["dataset", "network"]], None, [], BoNConfig(k=3))
    >>> bon.types["digits"].k, len(bon.types["digits"].centroids_raw), int((bon.labels >= 0).sum())
    (3, 3, 180)
    >>> [c for c in bon.histograms.columns][:4]
    ['dataset', 'network', 'bon_all_t0', 'bon_all_t1']
    """
    missing = [m for m in cfg.measures if m not in neurons.columns]
    if missing:
        raise EngineError(f"Bag-of-Neurons measures {missing} are not columns of neurons.parquet; "
                          f"set analysis.bon.measures to some of the measure columns")
    labels = np.full(len(neurons), -1, dtype=np.int64)
    row_ok = pd.MultiIndex.from_arrays([neurons["dataset"].to_numpy(), neurons["network"].to_numpy()]).isin(
        pd.MultiIndex.from_frame(eligible[["dataset", "network"]]))
    all_x = transform_measures(neurons[cfg.measures].to_numpy(), cfg.measures, cfg.log10_measures)
    finite = np.isfinite(all_x).all(axis=1)
    layers = sorted(int(v) for v in neurons["layer"].unique()) if len(neurons) else []

    out = BoNResult(labels=labels, histograms=pd.DataFrame())
    hist_tables = []
    for ds in sorted(neurons["dataset"].unique()):
        in_ds = (neurons["dataset"].to_numpy() == ds) & row_ok
        if not in_ds.any():
            out.summary[str(ds)] = {"skipped": "no neurons of eligible networks"}
            continue
        epochs = neurons["epoch"].to_numpy()
        last = int(epochs[in_ds].max())
        at_last = in_ds & (epochs == last)
        fit_rows = np.flatnonzero(at_last & finite)
        n_nan = int((at_last & ~finite).sum())
        if len(fit_rows) < 2:
            out.summary[str(ds)] = {"skipped": "fewer than 2 neurons with finite measures", "nan_dropped": n_nan}
            continue
        note = [f"{n_nan} neurons with NaN/non-positive measures dropped (type -1)"] if n_nan else []
        mu, sd, z_last = _standardise(all_x[fit_rows])
        fit = _fit_types(z_last, cfg, backend, note)
        rows = np.flatnonzero(in_ds & finite)   # every finite neuron of the dataset, all epochs, one normalisation
        labels[rows] = _assign((all_x[rows] - mu) / sd, fit.centers)
        out.centroids[str(ds)] = fit.centers
        sub = neurons.iloc[fit_rows]
        net_ids = np.sort(eligible.loc[eligible["dataset"] == ds, "network"].to_numpy())
        hist_tables.append(_histograms(ds, net_ids, sub["network"].to_numpy(), sub["layer"].to_numpy(),
                                       labels[fit_rows], fit.k, layers))
        shares = _class_shares(ds, sub, labels[fit_rows], fit.k, layers, network_class, class_names)
        types = NeuronTypes(
            k=int(fit.k), k_selection=fit.k_info or {"method": "given"}, epoch=last, neurons_used=int(len(fit_rows)),
            nan_dropped=n_nan, fit_sample=fit.fit_sample, subsampled=fit.subsampled, inertia=fit.inertia,
            measures=list(cfg.measures), log10_measures=[m for m in cfg.measures if m in cfg.log10_measures],
            normalisation={"mean": mu.tolist(), "std": sd.tolist()}, centroids_normalised=fit.centers.tolist(),
            centroids_raw=_raw_centroids(fit.centers, mu, sd, cfg).tolist(),
            type_shares_overall=_shares(labels[fit_rows], fit.k), type_shares_per_class=shares, notes=note)
        out.types[str(ds)] = types
        out.summary[str(ds)] = types.to_dict()
    out.histograms = pd.concat(hist_tables, ignore_index=True) if hist_tables else pd.DataFrame(
        {"dataset": pd.Series(dtype=object), "network": pd.Series(dtype="int64")})
    return out


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, std, z-scores) per column; a constant measure carries no information: its std is taken as 1."""
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return mu, sd, (x - mu) / sd


@dataclass
class _Fit:
    """One dataset's k-means: centroids in stable order (by measure 1, then 2, ...), in z-units."""

    centers: np.ndarray
    k: int
    k_info: dict[str, Any]
    inertia: float
    fit_sample: int
    subsampled: bool


def _fit_types(z_last: np.ndarray, cfg: BoNConfig, backend: str, note: list[str]) -> _Fit:
    """k (given or by silhouette) and k-means on the neurons at the last epoch (a random subsample of
    ``fit_sample`` when there are more); notes a k reduced to the neurons there are."""
    rng = np.random.default_rng(cfg.seed)
    sampled = cfg.fit_sample is not None and len(z_last) > cfg.fit_sample
    z_fit = z_last[rng.choice(len(z_last), cfg.fit_sample, replace=False)] if sampled else z_last
    k_info: dict[str, Any] = {}
    if cfg.k == "auto":
        k, k_info = _choose_k(z_fit, cfg, backend)
    else:
        k = int(cfg.k)
    if k > len(z_fit):
        note.append(f"k reduced from {k} to {len(z_fit)} (only {len(z_fit)} neurons)")
        k = len(z_fit)
    km = _kmeans(z_fit, k, cfg, backend, cfg.seed)
    centers = _to_numpy(km.cluster_centers_).astype(np.float64)
    centers = centers[np.lexsort(centers.T[::-1])]   # stable numbering: sort by measure 1, then 2, ...
    return _Fit(centers=centers, k=k, k_info=k_info, inertia=float(km.inertia_), fit_sample=int(len(z_fit)),
                subsampled=bool(sampled))


def _raw_centroids(centers: np.ndarray, mu: np.ndarray, sd: np.ndarray, cfg: BoNConfig) -> np.ndarray:
    """The centroids in the measures' own units: z-scoring and log10 undone."""
    raw = centers * sd + mu
    for j, m in enumerate(cfg.measures):
        if m in cfg.log10_measures:
            raw[:, j] = 10.0 ** raw[:, j]
    return raw


def _class_shares(ds: str, sub: pd.DataFrame, lab: np.ndarray, k: int, layers: list[int],
                  network_class: pd.Series | None, class_names: list[str]) -> dict[str, Any]:
    """Share of each type among the neurons of each performance class (pooled), jointly and per layer."""
    shares: dict[str, Any] = {}
    if network_class is None:
        return shares
    lay = sub["layer"].to_numpy()
    cls_of = network_class.reindex(pd.MultiIndex.from_arrays(
        [np.full(len(sub), ds, dtype=object), sub["network"].to_numpy()])).to_numpy()
    for c, name in enumerate(class_names):
        sel = cls_of == c
        shares[name] = {"all": _shares(lab[sel], k)}
        for L in layers:
            shares[name][f"l{L}"] = _shares(lab[sel & (lay == L)], k)
    return shares


@shared_docs(six_networks=_SIX_NETWORKS)
def type_histograms(neurons: pd.DataFrame, labels: np.ndarray, dataset: str, epoch: int, net_ids: np.ndarray,
                    k: int) -> pd.DataFrame:
    """The Bag-of-Neurons histograms of some networks of one dataset at one snapshot epoch.

    Used to follow the type shares over the epochs with the types fitted at the last one.

    Parameters
    ----------
    neurons : pd.DataFrame
        The neurons table (``dataset``, ``network``, ``epoch``, ``layer``), as given to ``bag_of_neurons``.
    labels : np.ndarray
        (len(neurons),) the type per row, -1 = untyped (``BoNResult.labels``).
    dataset : str
        The benchmark.
    epoch : int
        The snapshot epoch.
    net_ids : np.ndarray
        The networks (ids), any order.
    k : int
        Number of types.

    Returns
    -------
    pd.DataFrame
        One row per network of ``net_ids``, sorted: ``dataset``, ``network``, ``bon_all_t{j}`` and
        ``bon_l{layer}_t{j}``, fractions of the network's typed neurons (NaN where it has none).

    Examples
    --------
    {{six_networks}}
    >>> type_histograms(neurons, bon.labels, "digits", 5, np.array([1, 0]), 2).iloc[:, :4].round(3)
      dataset  network  bon_all_t0  bon_all_t1
    0  digits        0       0.667       0.333
    1  digits        1       0.222       0.778
    """
    rows = np.flatnonzero((neurons["dataset"].to_numpy() == dataset) & (neurons["epoch"].to_numpy() == epoch)
                          & (labels >= 0) & np.isin(neurons["network"].to_numpy(), net_ids))
    layers = sorted(int(v) for v in neurons["layer"].unique())
    return _histograms(dataset, np.sort(net_ids), neurons["network"].to_numpy()[rows],
                       neurons["layer"].to_numpy()[rows], labels[rows], k, layers)


def _histograms(ds: str, net_ids: np.ndarray, network: np.ndarray, layer: np.ndarray, lab: np.ndarray, k: int,
                layers: list[int]) -> pd.DataFrame:
    """dataset, network, bon_all_t{j} and bon_l{layer}_t{j} for sorted ``net_ids``, from typed neurons."""
    net_code = np.searchsorted(net_ids, network)
    hist = {"dataset": np.full(len(net_ids), ds, dtype=object), "network": net_ids}
    joint = _histogram(net_code, lab, len(net_ids), k)
    for j in range(k):
        hist[f"bon_all_t{j}"] = joint[:, j]
    for L in layers:
        m_l = layer == L
        h = _histogram(net_code[m_l], lab[m_l], len(net_ids), k)
        for j in range(k):
            hist[f"bon_l{L}_t{j}"] = h[:, j]
    return pd.DataFrame(hist)


def _assign(z: np.ndarray, centers: np.ndarray, chunk: int = 1 << 18) -> np.ndarray:
    """Nearest centroid for each row (chunked: 1.2 M rows x k centroids stays small)."""
    out = np.empty(len(z), dtype=np.int64)
    c2 = (centers ** 2).sum(axis=1)
    for s in range(0, len(z), chunk):
        b = z[s:s + chunk]
        out[s:s + chunk] = np.argmin(c2[None, :] - 2.0 * b @ centers.T, axis=1)
    return out


def _histogram(net_code: np.ndarray, lab: np.ndarray, n_net: int, k: int) -> np.ndarray:
    counts = np.bincount(net_code * k + lab, minlength=n_net * k).reshape(n_net, k).astype(np.float64)
    tot = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, counts / np.where(tot > 0, tot, 1.0), np.nan)


def _shares(lab: np.ndarray, k: int) -> list[float] | None:
    if lab.size == 0:
        return None
    return (np.bincount(lab, minlength=k) / lab.size).tolist()
