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
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from engine.analysis.bag_of_neurons import type_histograms
from engine.analysis.classification import Classification, ClassifierScore, SkippedFeatureSet, classification_for_dataset
from engine.analysis.predictability import BestRegression, best_regression
from engine.analysis.results import Record, Skipped, read
from engine.config import AnalysisConfig
from engine.measures.table import summarize
from engine.population.train import METRICS
from engine.progress import progress_bar

log = logging.getLogger(__name__)

__all__ = ["EarlyPrediction", "EarlyScore", "early_prediction"]

_COLUMNS = ["dataset", "epoch", "feature_set", "r2", "r2_sd", "kendall_tau", "regressor", "class_acc",
            "class_acc_sd", "chance", "classifier"]


@dataclass
class EarlyScore(Record):
    """What one feature set of one snapshot epoch says of the final performance (None where none ran).

    Attributes
    ----------
    r2, r2_sd, kendall_tau : float or None
        The best regressor's out-of-fold R^2 of final test accuracy (below 0: worse than predicting the mean
        accuracy), its sd over folds, and Kendall's tau.
    regressor : str or None
    class_acc, class_acc_sd : float or None
        The best classifier's out-of-fold accuracy of the final performance class (a fraction).
    chance : float or None
        The share of the largest class.
    classifier : str or None

    Examples
    --------
    >>> EarlyScore(0.6, 0.1, 0.5, "ridge", None, None, None, None).to_dict()["r2"]
    0.6
    """

    r2: float | None                # out-of-fold R^2; below 0: worse than predicting the mean accuracy
    r2_sd: float | None
    kendall_tau: float | None
    regressor: str | None
    class_acc: float | None         # out-of-fold accuracy of the final class, a fraction
    class_acc_sd: float | None
    chance: float | None            # the share of the largest class
    classifier: str | None


@dataclass
class EarlyPrediction(Record):
    """Early prediction on one dataset.

    ``analysis/early_prediction.json`` holds one per dataset, or a ``Skipped``.

    Attributes
    ----------
    epochs : list of int
        The snapshot epochs (0 = the random init).
    by_epoch : dict of int to dict of str to EarlyScore
        Per epoch and feature set (``curve``: the learning-curve baseline).

    Examples
    --------
    >>> e = EarlyPrediction.from_dict({"epochs": [0, 5], "by_epoch": {"5": {"cn": {"r2": 0.6, "r2_sd": 0.1,
    ...     "kendall_tau": 0.5, "regressor": "ridge", "class_acc": 0.7, "class_acc_sd": 0.1, "chance": 0.34,
    ...     "classifier": "lda"}}}})
    >>> e.by_epoch[5]["cn"].r2
    0.6
    """

    epochs: list[int]
    by_epoch: dict[int, dict[str, EarlyScore]]


def early_prediction(nets: pd.DataFrame, neurons: pd.DataFrame | None, neuron_types: np.ndarray | None,
                     bon_k: dict[str, int], snapshots: pd.DataFrame | None, curves: pd.DataFrame | None,
                     cfg: AnalysisConfig, backend: str = "cpu", progress: bool = False
                     ) -> tuple[dict[str, Any], pd.DataFrame]:
    """How well the features of each snapshot epoch predict the final performance, per dataset.

    Parameters
    ----------
    nets : pandas.DataFrame
        The eligible networks of datasets with a spread: ``dataset``, ``network``, ``performance_class`` and
        final ``test_acc`` (a fraction).
    neurons : pandas.DataFrame or None
        neurons.parquet (the measures of every hidden neuron at each snapshot epoch).
    neuron_types : (len(neurons),) int array or None
        The Bag-of-Neurons type of every neurons row.
    bon_k : dict of str to int
        Bag-of-Neurons' k per dataset.
    snapshots : pandas.DataFrame or None
        Weight and spectral statistics per network per snapshot epoch.
    curves : pandas.DataFrame or None
        curves.parquet, for the learning-curve baseline.
    cfg : AnalysisConfig
        Its ``early`` settings choose the estimators, feature sets and repeats.
    backend : {"cpu", "gpu"}
    progress : bool
        A bar over the snapshot epochs of each dataset.

    Returns
    -------
    (dict, pandas.DataFrame)
        Per dataset an ``EarlyPrediction``'s JSON object (or a ``Skipped``'s: fewer than 2 snapshot epochs), and
        the tidy table, one row per (dataset, epoch, feature set) with the ``EarlyScore`` columns.

    Examples
    --------
    >>> from engine.analysis.synthetic import make_population
    >>> nets, neurons, _ = make_population(networks=20, layer_sizes=(4,), epochs=(5,), seed=0)
    >>> summary, table = early_prediction(nets.assign(performance_class=0), neurons, None, {}, None, None,
    ...                                   AnalysisConfig())
    >>> summary["digits"]["skipped"][:38], len(table)
    ('snapshots at 1 epoch(s): early predict', 0)
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
            summary[ds] = Skipped(f"snapshots at {len(epochs)} epoch(s): early prediction needs several "
                                  "(population.snapshots=early, or a list such as [0, 1, 5, 30])").to_dict()
            continue
        last_curve = int(curves.loc[curves["dataset"] == ds, "epoch"].max()) if curves is not None and len(curves) \
            else None
        base = g[["dataset", "network", "test_acc", "performance_class"]].reset_index(drop=True)
        per_epoch: dict[int, dict[str, EarlyScore]] = {}
        with progress_bar(len(epochs), progress, f"early prediction {ds}", "epoch") as bar:
            for e in epochs:
                log.info("analysis: early prediction on %s from epoch %d (%d networks)", ds, e, len(base))
                frame = _features_at(base, ds, e, neurons, neuron_types, bon_k.get(ds), snapshots,
                                     curves if last_curve is not None and e < last_curve else None)
                cls, reg = classification_for_dataset(frame, frame["performance_class"].to_numpy(), sub, backend)
                per_epoch[e] = {}
                for fs in sub.feature_sets:
                    score = _score(fs, cls.get(fs), reg.get(fs))
                    if score is not None:
                        rows.append({"dataset": ds, "epoch": int(e), "feature_set": fs, **score.to_dict()})
                        per_epoch[e][fs] = score
                bar.update()
        summary[ds] = EarlyPrediction(epochs, per_epoch).to_dict()
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


def _score(fs: str, cls: dict[str, Any] | None, reg: dict[str, Any] | None) -> EarlyScore | None:
    """The best regressor's and the best classifier's scores of one feature set (``classification_for_dataset``'s
    JSON objects, None where not asked); None if neither ran."""
    found = best_regression({fs: reg} if reg else {})
    best_reg = BestRegression.from_dict(found) if found else None
    res = read(Classification | SkippedFeatureSet | None, cls)
    res = res if isinstance(res, Classification) else None
    best_cls: tuple[str, ClassifierScore] | None = None
    for name, r in (res.classifiers.items() if res else ()):
        if isinstance(r, ClassifierScore) and (best_cls is None or r.mean > best_cls[1].mean):
            best_cls = (name, r)
    if best_reg is None and best_cls is None:
        return None
    return EarlyScore(r2=best_reg.r2 if best_reg else None, r2_sd=best_reg.r2_sd if best_reg else None,
                      kendall_tau=best_reg.kendall_tau if best_reg else None,
                      regressor=best_reg.regressor if best_reg else None,
                      class_acc=best_cls[1].mean if best_cls else None, class_acc_sd=best_cls[1].std if best_cls else None,
                      chance=res.chance if res else None, classifier=best_cls[0] if best_cls else None)
