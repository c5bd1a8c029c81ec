"""Do Bag-of-Neurons types look the same across benchmarks? Hungarian matching of centroids.

Choice (documented in the report's Protocol): centroids are compared in each dataset's own z-space
(each benchmark's neurons z-scored over that benchmark, as the BoN fit itself does). This asks
whether the *shapes* of the type distributions agree, independent of each domain's overall scale
of weights. For each pair of datasets the centroids are matched one-to-one by minimum total
Euclidean distance (scipy's linear_sum_assignment; with different k only min(k) pairs match). As a
yardstick, the mean distance between distinct centroids within each dataset is reported: matched
distances well below it mean the same neuron types recur across domains. Caveat of the z-space
choice: the z-score depends on how common each type is, so different type proportions alone move
matched centroids apart somewhat (the raw-unit centroids are in the BoN summary for a direct look).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from engine.analysis.results import Record

__all__ = ["CentroidPair", "CrossBenchmark", "cross_benchmark"]


@dataclass
class CentroidPair(Record):
    """Two datasets' Bag-of-Neurons centroids matched one-to-one.

    Attributes
    ----------
    a, b : str
        The datasets.
    matching : list of [int, int]
        Index pairs (type in a, type in b).
    distances : list of float
        Their Euclidean distances in z-units.
    mean_distance : float
    relative_to_within : float or None
        The mean against the mean distance between distinct centroids within the two datasets (None when that is 0).

    Examples
    --------
    >>> CentroidPair("a", "b", [[0, 1], [1, 0]], [0.1, 0.2], 0.15, 0.07).mean_distance
    0.15
    """

    a: str
    b: str
    matching: list[list[int]]
    distances: list[float]
    mean_distance: float
    relative_to_within: float | None


@dataclass
class CrossBenchmark(Record):
    """Neuron types across benchmarks (``analysis/cross_benchmark.json``).

    Attributes
    ----------
    space : str
        Where the centroids are compared.
    datasets : list of str
    within_dataset_mean_distance : dict of str to float
        Mean distance between distinct centroids per dataset (NaN for k = 1).
    pairs : list of CentroidPair
        Every pair of datasets.
    note : str or None
        E.g. only one dataset (left out of the JSON while None).

    Examples
    --------
    >>> CrossBenchmark("each dataset's own z-space", ["a"], {"a": 1.0}, note="only one dataset").to_dict()["pairs"]
    []
    """

    space: str
    datasets: list[str]
    within_dataset_mean_distance: dict[str, float]  # mean distance between distinct centroids (NaN for k = 1)
    pairs: list[CentroidPair] = field(default_factory=list)
    note: str | None = None

    _OMIT_IF_NONE = ("note",)


def _match_centroids(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i in a, j in b) of minimum total distance and their distances."""
    d = cdist(a, b)
    r, c = linear_sum_assignment(d)
    return np.stack([r, c], axis=1), d[r, c]


def _within(c: np.ndarray) -> float:
    if len(c) < 2:
        return float("nan")
    d = cdist(c, c)
    return float(d[np.triu_indices(len(c), 1)].mean())


def cross_benchmark(centroids: dict[str, np.ndarray]) -> dict[str, Any]:
    """Match every two datasets' Bag-of-Neurons centroids one-to-one (Hungarian algorithm).

    Each dataset's centroids live in its own z-space (its neurons' normalisation); distances are set
    beside the mean distance between distinct centroids within the two datasets.

    Parameters
    ----------
    centroids : dict of str to numpy.ndarray
        Per dataset, its (k, m) centroids in z-units.

    Returns
    -------
    dict
        A ``CrossBenchmark``'s JSON object: ``space``, ``datasets``, ``within_dataset_mean_distance`` per
        dataset, and per pair of datasets ``matching`` (index pairs), ``distances``, ``mean_distance``,
        ``relative_to_within``.

    Examples
    --------
    >>> a = np.array([[0.0, 0.0], [2.0, 0.0]])
    >>> out = CrossBenchmark.from_dict(cross_benchmark({"a": a, "b": a[::-1] + 0.1}))
    >>> out.pairs[0].matching, round(out.pairs[0].relative_to_within, 3)
    ([[0, 1], [1, 0]], 0.071)
    """
    names = sorted(centroids)
    out = CrossBenchmark(space="each dataset's own z-space", datasets=names,
                         within_dataset_mean_distance={n: _within(centroids[n]) for n in names})
    if len(names) < 2:
        out.note = "only one dataset: nothing to compare"
        return out.to_dict()
    for a, b in combinations(names, 2):
        pairs, dist = _match_centroids(centroids[a], centroids[b])
        ref = np.nanmean([out.within_dataset_mean_distance[a], out.within_dataset_mean_distance[b]])
        out.pairs.append(CentroidPair(a, b, pairs.tolist(), dist.tolist(), float(dist.mean()),
                                      float(dist.mean() / ref) if ref > 0 else None))
    return out.to_dict()
