"""Early prediction: how well the structure at each snapshot epoch predicts the *final* performance.

For every snapshot epoch e (epoch 0 = the random init), each network is described by the feature sets
of that epoch alone: ``cn`` (per-layer mean/std of the measures at e), ``bon`` (its Bag-of-Neurons
histogram at e, types fitted at the last epoch), ``weights`` and ``spectral`` (weight statistics and
WeightWatcher metrics of the weights at e), ``all`` (their union), and the trivial baseline ``curve``:
the learning curve so far (train/test loss and accuracy, silenced share, epochs 0..e). Final test
accuracy is regressed (out-of-fold R^2, Kendall tau) and the final performance class classified
(accuracy against chance), with the same folds and seeds as the main analysis. The curve at the last
epoch holds the target itself, so ``curve`` stops one epoch before it.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import pandas as pd

from engine.analysis.bag_of_neurons import type_histograms
from engine.analysis.classification import classification_for_dataset
from engine.analysis.predictability import best_regression
from engine.config import AnalysisConfig
from engine.measures.table import summarize
from engine.population.train import METRICS
from engine.progress import progress_bar

log = logging.getLogger(__name__)

__all__ = ["early_prediction"]

_COLUMNS = ["dataset", "epoch", "feature_set", "r2", "r2_sd", "kendall_tau", "regressor", "class_acc",
            "class_acc_sd", "chance", "classifier"]


def early_prediction(nets: pd.DataFrame, neurons: pd.DataFrame | None, neuron_types: np.ndarray | None,
                     bon_k: dict[str, int], snapshots: pd.DataFrame | None, curves: pd.DataFrame | None,
                     cfg: AnalysisConfig, backend: str = "cpu", progress: bool = False
                     ) -> tuple[dict[str, Any], pd.DataFrame]:
    """Summary per dataset and a tidy table (``_COLUMNS``), one row per (dataset, epoch, feature set).

    ``nets``: eligible networks with ``performance_class`` and final ``test_acc``; ``neuron_types``:
    the Bag-of-Neurons type of every neurons row (or None); ``bon_k``: its k per dataset;
    ``snapshots``: weight and spectral statistics per network per snapshot epoch (or None).
    ``progress``: a bar over the snapshot epochs of each dataset.
    """
    sub = dataclasses.replace(cfg, classifiers=cfg.early.classifiers, regressors=cfg.early.regressors,
                              feature_sets=cfg.early.feature_sets, repeats=cfg.early.repeats,
                              regression_repeats=cfg.early.repeats,
                              enabled=dict(cfg.enabled, classification=True, regression=True))
    summary: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for ds, g in nets.groupby("dataset", sort=True):
        ds = str(ds)
        epochs = _snapshot_epochs(ds, neurons, snapshots)
        if len(epochs) < 2:
            summary[ds] = {"skipped": f"snapshots at {len(epochs)} epoch(s): early prediction needs several "
                                      "(population.snapshots=early, or a list such as [0, 1, 5, 30])"}
            continue
        last_curve = int(curves.loc[curves["dataset"] == ds, "epoch"].max()) if curves is not None and len(curves) \
            else None
        base = g[["dataset", "network", "test_acc", "performance_class"]].reset_index(drop=True)
        per_epoch: dict[int, Any] = {}
        with progress_bar(len(epochs), progress, f"early prediction {ds}", "epoch") as bar:
            for e in epochs:
                log.info("analysis: early prediction on %s from epoch %d (%d networks)", ds, e, len(base))
                frame = _features_at(base, ds, e, neurons, neuron_types, bon_k.get(ds), snapshots,
                                     curves if last_curve is not None and e < last_curve else None)
                cls, reg = classification_for_dataset(frame, frame["performance_class"].to_numpy(), sub, backend)
                per_epoch[e] = {}
                for fs in sub.feature_sets:
                    row = _row(ds, e, fs, cls.get(fs, {}), reg.get(fs, {}))
                    if row is not None:
                        rows.append(row)
                        per_epoch[e][fs] = {k: row[k] for k in _COLUMNS[3:]}
                bar.update()
        summary[ds] = {"epochs": epochs, "by_epoch": per_epoch}
    return summary, pd.DataFrame(rows, columns=_COLUMNS)


def _snapshot_epochs(ds: str, neurons: pd.DataFrame | None, snapshots: pd.DataFrame | None) -> list[int]:
    found: set[int] = set()
    for t in (neurons, snapshots):
        if t is not None and len(t):
            found |= {int(e) for e in t.loc[t["dataset"] == ds, "epoch"].unique()}
    return sorted(found)


def _features_at(base: pd.DataFrame, ds: str, epoch: int, neurons: pd.DataFrame | None,
                 neuron_types: np.ndarray | None, k: int | None, snapshots: pd.DataFrame | None,
                 curves: pd.DataFrame | None) -> pd.DataFrame:
    """One row per network of ``base``: every feature set's columns at ``epoch`` (absent ones missing)."""
    frame = base
    ids = base["network"].to_numpy()
    if neurons is not None and len(neurons):
        at = neurons[(neurons["dataset"] == ds) & (neurons["epoch"] == epoch)]
        if len(at):
            frame = frame.merge(summarize(at), on=["dataset", "network"], how="left")
        if neuron_types is not None and k:
            frame = frame.merge(type_histograms(neurons, neuron_types, ds, epoch, ids, k),
                                on=["dataset", "network"], how="left")
    if snapshots is not None and len(snapshots):
        at = snapshots[(snapshots["dataset"] == ds) & (snapshots["epoch"] == epoch)].drop(columns="epoch")
        frame = frame.merge(at, on=["dataset", "network"], how="left")
    if curves is not None:
        c = curves[(curves["dataset"] == ds) & (curves["epoch"] <= epoch) & curves["network"].isin(ids)]
        wide = c.pivot(index="network", columns="epoch", values=[m for m in METRICS if m in c.columns])
        wide.columns = [f"curve_{m}_e{int(e)}" for m, e in wide.columns]
        frame = frame.merge(wide.reset_index(), on="network", how="left")
    return frame


def _row(ds: str, epoch: int, fs: str, cls: dict[str, Any], reg: dict[str, Any]) -> dict[str, Any] | None:
    """The best regressor's and the best classifier's scores of one feature set; None if neither ran."""
    best_reg = best_regression({fs: reg})
    best_cls: dict[str, Any] = {}
    for name, r in (cls.get("classifiers") or {}).items():
        if "mean" in r and (not best_cls or r["mean"] > best_cls["mean"]):
            best_cls = {"name": name, "mean": r["mean"], "std": r["std"]}
    if not best_reg and not best_cls:
        return None
    return {"dataset": ds, "epoch": int(epoch), "feature_set": fs,
            "r2": best_reg.get("r2"), "r2_sd": best_reg.get("r2_sd"), "kendall_tau": best_reg.get("kendall_tau"),
            "regressor": best_reg.get("regressor"),
            "class_acc": best_cls.get("mean"), "class_acc_sd": best_cls.get("std"),
            "chance": cls.get("chance"), "classifier": best_cls.get("name")}
