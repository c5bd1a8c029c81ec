"""Performance classes: per dataset, networks split by test accuracy (quantiles or fixed thresholds), ties never split."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from engine.analysis.results import Record
from engine.config import AnalysisConfig

__all__ = ["ClassRange", "DatasetClasses", "PerformanceClasses", "assign_classes", "eligible_mask",
           "eligible_rows"]


@dataclass
class ClassRange(Record):
    """One performance class of one dataset.

    Attributes
    ----------
    count : int
        Its networks.
    min_acc, max_acc, mean_acc : float or None
        Their test accuracies (fractions; None when the class is empty).

    Examples
    --------
    >>> ClassRange(0, None, None, None).to_dict()
    {'count': 0, 'min_acc': None, 'max_acc': None, 'mean_acc': None}
    """

    count: int
    min_acc: float | None
    max_acc: float | None
    mean_acc: float | None


@dataclass
class DatasetClasses(Record):
    """One dataset's performance classes.

    Attributes
    ----------
    networks, used, diverged_excluded, nan_accuracy_excluded : int
        Networks in the table, taking part, and left out (diverged; no finite test accuracy).
    undefined : str or None
        Why the dataset has no classes (no spread); left out of the JSON while None.
    note : str or None
        Empty classes, in words; left out of the JSON while None.
    classes : dict of str to ClassRange
        Per class name.
    thresholds : list of float
        The fixed thresholds, or the lowest accuracy of each non-empty class above the first.

    Examples
    --------
    >>> d = DatasetClasses(4, 4, 0, 0, None, None, {"low": ClassRange(2, 0.5, 0.6, 0.55)}, [0.7])
    >>> list(d.to_dict())
    ['networks', 'used', 'diverged_excluded', 'nan_accuracy_excluded', 'classes', 'thresholds']
    """

    networks: int
    used: int
    diverged_excluded: int
    nan_accuracy_excluded: int
    undefined: str | None           # why the dataset has no classes (no spread); None when it has them
    note: str | None                # empty classes, in words; None when there are none
    classes: dict[str, ClassRange]
    thresholds: list[float]         # the fixed thresholds, or the lowest accuracy of each class above the first

    _OMIT_IF_NONE = ("undefined", "note")


@dataclass
class PerformanceClasses(Record):
    """The performance classes of every dataset (``analysis/performance_classes.json``).

    Attributes
    ----------
    names : list of str
        The classes' names, by index (low/medium/high for 3, low/high for 2, q1..qn otherwise).
    method : {"quantiles", "thresholds"}
    datasets : dict of str to DatasetClasses

    Examples
    --------
    >>> PerformanceClasses(["low", "high"], "quantiles").to_dict()
    {'names': ['low', 'high'], 'method': 'quantiles', 'datasets': {}}
    """

    names: list[str]
    method: str                     # "quantiles" or "thresholds"
    datasets: dict[str, DatasetClasses] = field(default_factory=dict)


def _class_names(n: int) -> list[str]:
    """low/medium/high for 3 classes, low/high for 2, q1..qn otherwise."""
    if n == 2:
        return ["low", "high"]
    if n == 3:
        return ["low", "medium", "high"]
    return [f"q{i + 1}" for i in range(n)]


def eligible_mask(networks: pd.DataFrame) -> pd.Series:
    """Networks that take part in the analysis: not diverged, finite test accuracy.

    Parameters
    ----------
    networks : pandas.DataFrame
        ``test_acc``; ``diverged`` when recorded.

    Returns
    -------
    pandas.Series of bool
        On ``networks``' index.

    Examples
    --------
    >>> nets = pd.DataFrame({"test_acc": [0.9, float("nan"), 0.8], "diverged": [False, False, True]})
    >>> eligible_mask(nets).tolist()
    [True, False, False]
    """
    diverged = networks["diverged"].fillna(False).astype(bool) if "diverged" in networks else False
    return ~diverged & np.isfinite(networks["test_acc"].astype(float))


def eligible_rows(table: pd.DataFrame | None, networks: pd.DataFrame) -> pd.DataFrame | None:
    """The rows of a per-network table that belong to the networks ``eligible_mask`` keeps.

    Excluded networks are excluded from every part, figures included.

    Parameters
    ----------
    table : pandas.DataFrame or None
        Neurons, curves or snapshots: ``dataset`` and ``network`` columns.
    networks : pandas.DataFrame
        The networks table (``dataset``, ``network``, ``test_acc``, ``diverged``).

    Returns
    -------
    pandas.DataFrame or None
        ``table`` itself when every row is kept (or it is None or empty).

    Examples
    --------
    >>> nets = pd.DataFrame({"dataset": "d", "network": [0, 1], "test_acc": [0.9, 0.8], "diverged": [False, True]})
    >>> curves = pd.DataFrame({"dataset": "d", "network": [0, 0, 1], "epoch": [0, 1, 0]})
    >>> eligible_rows(curves, nets)["network"].tolist()
    [0, 0]
    """
    if table is None or not len(table):
        return table
    keep = networks[eligible_mask(networks).to_numpy()]
    keys = pd.MultiIndex.from_arrays([keep["dataset"].astype(str), keep["network"]])
    rows = pd.MultiIndex.from_arrays([table["dataset"].astype(str), table["network"]]).isin(keys)
    return table if rows.all() else table[rows]


def assign_classes(networks: pd.DataFrame, cfg: AnalysisConfig,
                   undefined: Mapping[str, str] | None = None) -> tuple[pd.Series, dict[str, Any]]:
    """Class index per network (-1 for excluded ones) and a summary per dataset.

    Tied accuracies always share a class. Quantile classes (q of them, N eligible networks): in order of
    increasing accuracy, rank r (0-based) goes to class floor(r q / N), so that without ties every class
    holds N/q networks up to one; all networks of one accuracy take the class of their group's middle
    rank ((first + last) // 2), so classes can differ in size, and a class is empty where ties cover it
    (the dataset's summary says so in ``note``). Fixed thresholds: a network at a threshold goes up.

    Parameters
    ----------
    networks : pandas.DataFrame
        ``dataset``, ``test_acc`` (a fraction); ``diverged`` when recorded.
    cfg : AnalysisConfig
        ``classes`` (quantile classes) or ``thresholds``.
    undefined : mapping of str to str, optional
        Datasets without a spread of test accuracy (``predictability.without_spread``): none of their networks
        gets a class, and the summary says why.

    Returns
    -------
    (pandas.Series, dict)
        The class per network (int64, on ``networks``' index) and a ``PerformanceClasses``' JSON object.

    Examples
    --------
    >>> nets = pd.DataFrame({"dataset": "d", "network": range(6), "test_acc": [.5, .5, .5, .5, .6, .7]})
    >>> labels, summary = assign_classes(nets, AnalysisConfig(classes=3))
    >>> labels.tolist()     # the four tied networks are not split between low and medium
    [0, 0, 0, 0, 2, 2]
    >>> summary["datasets"]["d"]["note"]
    'd: 1 of 3 performance classes are empty (medium): tied accuracies span a whole class (ties are never split)'
    """
    undefined = undefined or {}
    labels = pd.Series(-1, index=networks.index, dtype="int64")
    ok = eligible_mask(networks)
    n_classes = cfg.classes if cfg.thresholds is None else len(cfg.thresholds) + 1
    names = _class_names(n_classes)
    summary = PerformanceClasses(names, "quantiles" if cfg.thresholds is None else "thresholds")
    for ds, grp in networks.groupby("dataset", sort=True):
        n_div = int(grp["diverged"].fillna(False).astype(bool).sum()) if "diverged" in grp else 0
        n_nan = int((~ok[grp.index]).sum()) - n_div
        g = grp[ok[grp.index]]
        acc = g["test_acc"].astype(float).to_numpy()
        entry = DatasetClasses(networks=int(len(grp)), used=int(len(g)), diverged_excluded=n_div,
                               nan_accuracy_excluded=n_nan, undefined=None, note=None, classes={}, thresholds=[])
        if str(ds) in undefined:
            cls = np.full(len(acc), -1)
            entry.undefined = f"no performance classes: {undefined[str(ds)]}"
        else:
            cls = _quantile_classes(acc, n_classes) if cfg.thresholds is None else \
                np.searchsorted(np.asarray(cfg.thresholds, dtype=float), acc, side="right")
            labels.loc[g.index] = cls
        for c, name in enumerate(names):
            a = acc[cls == c]
            entry.classes[name] = ClassRange(int(a.size), float(a.min()) if a.size else None,
                                             float(a.max()) if a.size else None, float(a.mean()) if a.size else None)
        empty = [name for name in names if not entry.classes[name].count]
        if empty and str(ds) not in undefined and len(acc):
            entry.note = (f"{ds}: {len(empty)} of {n_classes} performance classes are empty ({', '.join(empty)}): "
                          + ("tied accuracies span a whole class (ties are never split)" if cfg.thresholds is None
                             else "no network falls between those thresholds"))
        entry.thresholds = list(map(float, cfg.thresholds)) if cfg.thresholds is not None else \
            [float(acc[cls == c].min()) for c in range(1, n_classes) if (cls == c).any()]
        summary.datasets[str(ds)] = entry
    return labels, summary.to_dict()


def _quantile_classes(acc: np.ndarray, q: int) -> np.ndarray:
    """Quantile class of every accuracy, ties kept together (see ``assign_classes``)."""
    n = len(acc)
    if not n:
        return np.zeros(0, dtype=np.int64)
    _, inverse, counts = np.unique(acc, return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts          # rank of the first network of each accuracy
    middle = (2 * first + counts - 1) // 2      # (first + last) // 2
    return ((middle * q) // n)[inverse].astype(np.int64)
