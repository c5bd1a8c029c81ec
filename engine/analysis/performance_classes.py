"""Performance classes: per dataset, networks split by test accuracy (quantiles or fixed thresholds), ties never split."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from engine.analysis.results import Record
from engine.config import AnalysisConfig

__all__ = ["ClassRange", "DatasetClasses", "PerformanceClasses", "assign_classes", "class_names", "eligible_mask",
           "eligible_rows"]


@dataclass
class ClassRange(Record):
    """One performance class of one dataset: its networks and their test accuracies (fractions; None when
    the class is empty)."""

    count: int
    min_acc: float | None
    max_acc: float | None
    mean_acc: float | None


@dataclass
class DatasetClasses(Record):
    """One dataset's performance classes: who took part, each class by name, the class boundaries."""

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
    """The performance classes of every dataset (``analysis/performance_classes.json``)."""

    names: list[str]
    method: str                     # "quantiles" or "thresholds"
    datasets: dict[str, DatasetClasses] = field(default_factory=dict)


def class_names(n: int) -> list[str]:
    """low/medium/high for 3 classes, low/high for 2, q1..qn otherwise."""
    if n == 2:
        return ["low", "high"]
    if n == 3:
        return ["low", "medium", "high"]
    return [f"q{i + 1}" for i in range(n)]


def eligible_mask(networks: pd.DataFrame) -> pd.Series:
    """Networks that take part in the analysis: not diverged, finite test accuracy."""
    diverged = networks["diverged"].fillna(False).astype(bool) if "diverged" in networks else False
    return ~diverged & np.isfinite(networks["test_acc"].astype(float))


def eligible_rows(table: pd.DataFrame | None, networks: pd.DataFrame) -> pd.DataFrame | None:
    """The rows of a per-network table (neurons, curves, snapshots) that belong to networks ``eligible_mask``
    keeps: excluded networks are excluded from every part, figures included."""
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
    ``undefined``: datasets without a spread of test accuracy (``predictability.without_spread``): none
    of their networks gets a class, and the summary says why.

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
    names = class_names(n_classes)
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
