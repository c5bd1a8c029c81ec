"""Performance classes: per dataset, networks split by test accuracy (quantiles or fixed thresholds)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from engine.analysis.config import AnalysisConfig


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


def assign_classes(networks: pd.DataFrame, cfg: AnalysisConfig) -> tuple[pd.Series, dict[str, Any]]:
    """Class index per network (-1 for excluded ones) and a summary per dataset.

    Quantile classes are rank based (ties broken by row order), so every class of a dataset has
    the same size up to one network even when many accuracies tie.
    """
    labels = pd.Series(-1, index=networks.index, dtype="int64")
    ok = eligible_mask(networks)
    n_classes = cfg.classes if cfg.thresholds is None else len(cfg.thresholds) + 1
    names = class_names(n_classes)
    summary: dict[str, Any] = {"names": names, "method": "quantiles" if cfg.thresholds is None else "thresholds",
                               "datasets": {}}
    for ds, grp in networks.groupby("dataset", sort=True):
        n_div = int(grp["diverged"].fillna(False).astype(bool).sum()) if "diverged" in grp else 0
        n_nan = int((~ok[grp.index]).sum()) - n_div
        g = grp[ok[grp.index]]
        acc = g["test_acc"].astype(float).to_numpy()
        if cfg.thresholds is None:
            order = np.argsort(acc, kind="stable")
            rank = np.empty(len(acc), dtype=np.int64)
            rank[order] = np.arange(len(acc))
            cls = (rank * n_classes) // max(len(acc), 1)
        else:
            cls = np.digitize(acc, np.asarray(cfg.thresholds, dtype=float))
        labels.loc[g.index] = cls
        per = {}
        for c, name in enumerate(names):
            a = acc[cls == c]
            per[name] = {"count": int(a.size),
                         "min_acc": float(a.min()) if a.size else None,
                         "max_acc": float(a.max()) if a.size else None,
                         "mean_acc": float(a.mean()) if a.size else None}
        summary["datasets"][str(ds)] = {
            "networks": int(len(grp)), "used": int(len(g)), "diverged_excluded": n_div,
            "nan_accuracy_excluded": n_nan, "classes": per,
            "thresholds": list(map(float, cfg.thresholds)) if cfg.thresholds is not None else
            [float(acc[cls == c].min()) for c in range(1, n_classes) if (cls == c).any()],
        }
    return labels, summary
