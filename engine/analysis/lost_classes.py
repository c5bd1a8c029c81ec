"""What the spread of test accuracy is made of: the classes a network never predicts ("lost" classes).

With the paper's loss, the Keras clip silences most training samples from the first step; a network
whose samples of a class give no gradient may never learn to predict that class at all, and each
such class costs it about one class's share of the test set. Training records, per network and
epoch, the test classes it never predicts (``test_lost``, which ones as the bit mask
``test_lost_classes``), its accuracy on the classes it does predict (``test_acc_predicted``), per-class
accuracy (``test_acc_c{k}``), and per class the share of training samples silenced in epoch 1
(``train_silenced_e1_c{k}``). Per dataset, over the eligible networks, this module measures:

* **composition**: networks and test accuracy per lost-class count; how much of the variance of
  test accuracy the count explains: a straight line in the count (R^2, in sample), any function of
  it (the between-count share, eta^2), out-of-fold R^2 of the configured regressors on the count
  alone (``classification.regress``, the main regression's folds), Spearman's rho; beside the test
  set's noise ceiling;
* **beyond**: the residual of test accuracy from the mean of its lost-count group, regressed from
  every structural feature set (``classification.classification_for_dataset``, the main analysis'
  folds and regressors; counts held by a single network are left out), with that residual's own
  noise ceiling: whether structure says anything the count does not;
* **prediction**: from each snapshot epoch's features (``early_prediction``'s feature sets and
  estimators), the final number of lost classes (out-of-fold R^2, Kendall tau) and which classes
  (per class, lost against kept: balanced accuracy from the out-of-fold confusion matrix, chance
  0.5), against the learning curve so far (``curve``: the METRICS, the lost-class count, accuracy on
  predicted classes and per-class accuracy of epochs 0..e, and after epoch 1 the per-class silenced
  shares of epoch 1; it stops one epoch before the last, whose curve holds the target);
* **when**: the epoch from which a network's set of predicted classes no longer changes, and the
  share of the finally lost classes already never predicted at each epoch;
* **mechanism**: how often a class all of whose training samples were silenced in epoch 1 ends up
  lost, against the other classes (and the AUC of the silenced share for lost classes).

Nothing is computed where the data cannot say it: no lost class, a count that does not vary, or too
few networks per group give a ``skipped`` reason instead of a number.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from engine.analysis.classification import (Classification, ClassifierScore, SkippedFeatureSet,
                                            classification_for_dataset, regress)
from engine.analysis.early_prediction import _features_at, _snapshot_epochs
from engine.analysis.features import FEATURE_SET_NAMES, STRUCTURE, below_mean_note, best_against_curve, r2_words
from engine.analysis.predictability import BestRegression, Predictability, best_regression
from engine.analysis.results import Record, Skipped, read
from engine.config import AnalysisConfig
from engine.population.train import LOST_METRICS, MASK_BITS, METRICS
from engine.progress import progress_bar

log = logging.getLogger(__name__)

__all__ = ["AccuracyOnPredicted", "Beyond", "CountExplained", "LostClasses", "LostCount", "LostEpochScore",
           "LostPrediction", "Mechanism", "RegressionScore", "Settling", "WhichLost", "headline", "lost_classes",
           "lost_matrix", "sentences", "settled_epoch"]

_CLASS_ACC = re.compile(r"^test_acc_c(\d+)$")
_SILENCED = re.compile(r"^train_silenced_e1_c(\d+)$")
_PREDICTION_COLUMNS = ["dataset", "epoch", "feature_set", "count_r2", "count_r2_sd", "count_tau", "regressor",
                       "which_balanced_acc", "which_classes", "classifier"]
# below this share of networks with a lost class, the words say "almost no lost classes"
_FEW = 0.05


@dataclass
class LostCount(Record):
    """The networks that lost one number of classes, and their test accuracy.

    Attributes
    ----------
    lost : int
        Classes never predicted.
    networks : int
    acc_mean, acc_min, acc_max : float
        Their test accuracy (fractions).
    acc_predicted_mean : float or None
        Their mean accuracy on the classes they do predict.

    Examples
    --------
    >>> LostCount(1, 4, 0.7, 0.68, 0.72, 0.9).to_dict()["acc_mean"]
    0.7
    """

    lost: int
    networks: int
    acc_mean: float
    acc_min: float
    acc_max: float
    acc_predicted_mean: float | None    # mean accuracy on the classes they do predict


@dataclass
class AccuracyOnPredicted(Record):
    """Test accuracy on the classes a network does predict, over the networks (fractions).

    Attributes
    ----------
    mean, min, max : float
    sd : float or None
        None for a single network.

    Examples
    --------
    >>> AccuracyOnPredicted(0.9, None, 0.9, 0.9).sd is None
    True
    """

    mean: float
    sd: float | None                    # None for a single network
    min: float
    max: float


@dataclass
class RegressionScore(Record):
    """The best regressor's cross-validated scores of one target from one feature set.

    The target: the lost-class count, or the accuracy left after it.

    Attributes
    ----------
    r2 : float
        Out-of-fold R^2 (below 0: worse than predicting the mean).
    r2_sd, kendall_tau : float or None
    regressor : str
    folds : int or None
        Where it is said (left out of the JSON while None).

    Examples
    --------
    >>> RegressionScore(0.9, 0.05, 0.8, "ridge").to_dict()
    {'r2': 0.9, 'r2_sd': 0.05, 'kendall_tau': 0.8, 'regressor': 'ridge'}
    """

    r2: float                           # out-of-fold R^2; below 0: worse than predicting the mean
    r2_sd: float | None
    kendall_tau: float | None
    regressor: str
    folds: int | None = None

    _OMIT_IF_NONE = ("folds",)


@dataclass
class CountExplained(Record):
    """How much of the variance of test accuracy the lost-class count explains (shares in [0, 1]).

    ``LostClasses.explained`` holds one, or a ``Skipped`` where the count cannot explain anything.

    Attributes
    ----------
    linear_r2 : float
        A straight line in the count, in sample.
    slope, intercept : float
        The line (accuracy per lost class).
    eta2 : float
        The count's group means (any function of the count), in sample.
    spearman_rho, spearman_p : float
    ceiling : float or None
        The test set's noise ceiling.
    cv : RegressionScore or Skipped
        The configured regressors on the count alone, out of fold.

    Examples
    --------
    >>> CountExplained(0.8, -0.2, 0.9, 0.85, -0.9, 0.001, 0.99, Skipped("no regressor ran")).to_dict()["cv"]
    {'skipped': 'no regressor ran'}
    """

    linear_r2: float                    # a straight line in the count, in sample
    slope: float                        # accuracy per lost class
    intercept: float
    eta2: float                         # the count's group means (any function of the count), in sample
    spearman_rho: float
    spearman_p: float
    ceiling: float | None               # the test set's noise ceiling
    cv: RegressionScore | Skipped       # the configured regressors on the count alone, out of fold


@dataclass
class Beyond(Record):
    """Structure against the accuracy left after the lost-class count.

    The residual of test accuracy from its lost-count group's mean, regressed from each feature set.

    Attributes
    ----------
    networks, left_out : int
        Networks used, and left out (alone in their lost-class count).
    residual_sd, residual_share, residual_ceiling : float or None
        The residual's sd, its share of the variance of test accuracy, and its noise ceiling.
    by_feature_set : dict of str to RegressionScore or Skipped
    best : BestRegression or None
        The best structural feature set (None, {} in the JSON, when none was fitted).
    share_of_total : float or None
        The best R^2 as a share of the variance of test accuracy (left out of the JSON while None).

    Examples
    --------
    >>> b = Beyond(10, 2, 0.01, 0.05, 0.6, {"cn": Skipped("no fit")}, None)
    >>> b.to_dict()["best"], "share_of_total" in b.to_dict()
    ({}, False)
    """

    networks: int
    left_out: int                       # networks alone in their lost-class count
    residual_sd: float | None
    residual_share: float | None        # of the variance of test accuracy
    residual_ceiling: float | None      # the residual's noise ceiling
    by_feature_set: dict[str, RegressionScore | Skipped]
    best: BestRegression | None
    share_of_total: float | None = None # the best R^2 as a share of the variance of test accuracy

    _OMIT_IF_NONE = ("share_of_total",)
    _EMPTY_IF_NONE = ("best",)


@dataclass
class Settling(Record):
    """When the networks' sets of predicted classes stop changing (epochs of curves.parquet).

    ``LostClasses.settling`` holds one, or a ``Skipped`` where curves.parquet lacks the per-epoch lost classes.

    Attributes
    ----------
    epochs : list of int
    median : float
    q90, max : int
        Epochs by which half, 90 % and all of the networks have settled.
    settled_share : dict of int to float
        Per epoch, the share of networks settled by then.
    final_lost_pairs : int
        (network, class) pairs lost at the end.
    lost_share : dict of int to float or None
        Per epoch, the share of those pairs already never predicted (None when there are none).

    Examples
    --------
    >>> Settling.from_dict({"epochs": [0, 1], "median": 1.0, "q90": 1, "max": 1, "settled_share": {"0": 0.2, "1": 1.0},
    ...                     "final_lost_pairs": 3, "lost_share": {"0": 0.5, "1": 1.0}}).settled_share
    {0: 0.2, 1: 1.0}
    """

    epochs: list[int]
    median: float
    q90: int
    max: int
    settled_share: dict[int, float]     # per epoch, the share of networks settled by then
    final_lost_pairs: int               # (network, class) pairs lost at the end
    lost_share: dict[int, float | None] # per epoch, the share of those pairs already never predicted


@dataclass
class Mechanism(Record):
    """Classes whose training samples were all silenced in epoch 1 against the final lost classes.

    Over (network, class) pairs; shares in [0, 1], None where a group is empty.

    Attributes
    ----------
    pairs, lost_pairs, all_silenced_pairs : int
    p_lost_all_silenced, p_lost_otherwise : float or None
        The share lost among the all-silenced pairs and among the others.
    mean_silenced_lost, mean_silenced_kept : float or None
        The mean silenced share of lost and of kept pairs.
    auc : float or None
        Of the silenced share for a lost class (left out of the JSON while None).

    Examples
    --------
    >>> Mechanism(48, 19, 20, 0.8, 0.03, 0.95, 0.5).to_dict()["p_lost_all_silenced"]
    0.8
    """

    pairs: int
    lost_pairs: int
    all_silenced_pairs: int
    p_lost_all_silenced: float | None
    p_lost_otherwise: float | None
    mean_silenced_lost: float | None
    mean_silenced_kept: float | None
    auc: float | None = None            # of the silenced share for a lost class

    _OMIT_IF_NONE = ("auc",)


@dataclass
class WhichLost(Record):
    """Which classes are lost, classified from one feature set.

    ``LostEpochScore.which`` holds one per (snapshot epoch, feature set), None where it was not fitted.

    Attributes
    ----------
    balanced_acc : float
        Balanced accuracy (chance 0.5) of lost against kept, averaged over the classes it could be fitted for.
    classes : list of int
        Those classes.
    classifier : str
        The best classifiers' names, joined.
    per_class : dict of int to float
        Per class, its balanced accuracy.

    Examples
    --------
    >>> WhichLost(0.75, [0, 1], "lda", {0: 0.7, 1: 0.8}).per_class[1]
    0.8
    """

    balanced_acc: float
    classes: list[int]
    classifier: str                     # the best classifiers' names, joined
    per_class: dict[int, float]


@dataclass
class LostEpochScore(Record):
    """What one feature set of one snapshot epoch predicts of the final lost classes.

    Attributes
    ----------
    count : RegressionScore or None
        How many (None: not fitted).
    which : WhichLost or None
        Which (None: not fitted).

    Examples
    --------
    >>> LostEpochScore(None, WhichLost(0.75, [0], "lda", {0: 0.75})).to_dict()["count"] is None
    True
    """

    count: RegressionScore | None
    which: WhichLost | None


@dataclass
class LostPrediction(Record):
    """The final lost classes predicted from each snapshot epoch's features.

    Attributes
    ----------
    epochs : list of int
    count_varies : bool
        Whether the number of lost classes varies (else it is not regressed).
    which_classes : list of int
        The classes lost in 2+ and kept in 2+ networks (classified).
    by_epoch : dict of int to dict of str to LostEpochScore
        Keyed as ``EarlyPrediction.by_epoch``: snapshot epoch, then feature set or ``curve``.

    Examples
    --------
    >>> LostPrediction([0, 5], True, [], {}).to_dict()["count_varies"]
    True
    """

    epochs: list[int]
    count_varies: bool
    which_classes: list[int]            # the classes lost in 2+ and kept in 2+ networks
    by_epoch: dict[int, dict[str, LostEpochScore]]


@dataclass
class LostClasses(Record):
    """What one dataset's spread of test accuracy is made of: the classes its networks never predict.

    ``analysis/lost_classes.json`` holds one per dataset, or a ``Skipped``; each part is a ``Skipped`` where
    the data cannot say it.

    Attributes
    ----------
    networks, classes : int
        Eligible networks, and the test set's classes.
    test_samples : int or None
    ceiling : float or None
        The noise ceiling of test accuracy.
    lost_any, lost_max : int
        Networks that lost at least one class; the most classes one network lost.
    lost_mean : float or None
    by_count : list of LostCount
        Per lost-class count.
    acc_predicted : AccuracyOnPredicted or None
    lost_share_per_class : list of float or None
        Per class, the share of networks that lost it (None, left out of the JSON, when which is unknown).
    explained : CountExplained or Skipped
    beyond : Beyond or Skipped
    settling : Settling or Skipped
    mechanism : Mechanism or Skipped
    prediction : LostPrediction or Skipped

    Examples
    --------
    >>> lc = LostClasses(networks=9, classes=10, test_samples=None, ceiling=None, lost_any=0, lost_max=0,
    ...                  lost_mean=0.0, by_count=[LostCount(0, 9, 0.9, 0.88, 0.92, 0.9)], acc_predicted=None,
    ...                  lost_share_per_class=None, explained=Skipped("no network lost a class"),
    ...                  beyond=Skipped("-"), settling=Skipped("-"), mechanism=Skipped("-"), prediction=Skipped("-"))
    >>> LostClasses.from_dict(lc.to_dict()) == lc
    True
    """

    networks: int
    classes: int
    test_samples: int | None
    ceiling: float | None
    lost_any: int                       # networks that lost at least one class
    lost_max: int
    lost_mean: float | None
    by_count: list[LostCount]
    acc_predicted: AccuracyOnPredicted | None
    lost_share_per_class: list[float] | None   # per class, the share of networks that lost it; None: unknown
    explained: CountExplained | Skipped
    beyond: Beyond | Skipped
    settling: Settling | Skipped
    mechanism: Mechanism | Skipped
    prediction: LostPrediction | Skipped

    _OMIT_IF_NONE = ("lost_share_per_class",)


def lost_matrix(masks: np.ndarray, n_classes: int) -> np.ndarray:
    """Which classes each bit mask ``test_lost_classes`` holds.

    Parameters
    ----------
    masks : (N,) or (N, E) int array
        Bit c set: class c never predicted.
    n_classes : int
        Classes of the data set (at most ``MASK_BITS``).

    Returns
    -------
    (..., n_classes) bool array

    Examples
    --------
    >>> lost_matrix(np.array([0, 5]), 4).astype(int).tolist()
    [[0, 0, 0, 0], [1, 0, 1, 0]]
    """
    masks = np.asarray(masks, dtype=np.int64)
    return ((masks[..., None] >> np.arange(n_classes, dtype=np.int64)) & 1).astype(bool)


def settled_epoch(masks: np.ndarray) -> np.ndarray:
    """The epoch from which each network's set of predicted classes no longer changes.

    Parameters
    ----------
    masks : (N, E + 1) int array
        ``test_lost_classes`` at epochs 0..E (any per-epoch encoding of the set works).

    Returns
    -------
    (N,) int array
        The smallest e with masks[e:] all equal to masks[E]; 0 for a network that never changes.

    Examples
    --------
    >>> settled_epoch(np.array([[7, 3, 3, 3], [1, 1, 1, 1], [6, 2, 6, 4]])).tolist()
    [1, 0, 3]
    """
    masks = np.asarray(masks)
    changed = masks[:, 1:] != masks[:, :-1]
    last = np.where(changed.any(1), masks.shape[1] - 1 - np.argmax(changed[:, ::-1], axis=1), 0)
    return last.astype(np.int64)


def _class_columns(df: pd.DataFrame, pattern: re.Pattern) -> dict[int, str]:
    return dict(sorted((int(m[1]), c) for c in df.columns if (m := pattern.match(c))))


def lost_classes(nets: pd.DataFrame, neurons: pd.DataFrame | None, neuron_types: np.ndarray | None,
                 bon_k: dict[str, int], snapshots: pd.DataFrame | None, curves: pd.DataFrame | None,
                 predictability: dict[str, Any], cfg: AnalysisConfig, backend: str = "cpu",
                 progress: bool = False) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """Every part (see the module docstring) per dataset of ``nets``.

    Parameters
    ----------
    nets : DataFrame
        The eligible networks (``test_acc``, ``test_lost``, ``test_lost_classes``, ``test_acc_predicted``,
        ``test_acc_c{k}``; feature columns of the final epoch; ``train_silenced_e1_c{k}`` if recorded).
    neurons, neuron_types, bon_k, snapshots
        As ``early_prediction`` takes them: the features at each snapshot epoch.
    curves : DataFrame or None
        curves.parquet (per epoch ``test_lost_classes`` and the rest): when classes are lost, the
        curve baseline.
    predictability : dict
        ``predictability``'s output: the noise ceiling per dataset.
    cfg : AnalysisConfig
    backend : {"cpu", "gpu"}
    progress : bool
        Per dataset, a bar "lost classes {dataset}" over its snapshot epochs.

    Returns
    -------
    (dict, dict of DataFrame)
        Summary per dataset (``{"skipped": why}`` where the data cannot say anything), and the tables
        ``lost_counts`` (dataset, lost, networks, accuracy mean/min/max), ``lost_networks`` (per network:
        test_acc, test_lost, test_acc_predicted, settled_epoch: -1 where unknown), ``lost_prediction`` (_PREDICTION_COLUMNS),
        ``lost_settling`` (dataset, epoch, share of networks settled, share of final lost classes lost).
        A dataset's summary is a ``LostClasses``'s JSON object, or a ``Skipped``'s.

    Examples
    --------
    >>> from engine.analysis.predictability import predictability
    >>> count = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    >>> acc = 0.9 - 0.3 * count + np.linspace(-0.01, 0.01, 8)
    >>> nets = pd.DataFrame({"dataset": "d", "network": range(8), "test_acc": acc, "test_samples": 1000,
    ...                      "test_lost": count, "test_lost_classes": [0, 0, 0, 4, 4, 4, 6, 6],
    ...                      "test_acc_predicted": 0.9, "test_acc_c0": 0.9, "test_acc_c1": 0.9, "test_acc_c2": 0.9})
    >>> cfg = AnalysisConfig(regressors=["ridge"], folds=3, regression_repeats=1, n_jobs=1)
    >>> summary, tables = lost_classes(nets, None, None, {}, None, None, predictability(nets), cfg)
    >>> lc = LostClasses.from_dict(summary["d"])
    >>> lc.lost_any, round(lc.explained.linear_r2, 3), lc.lost_share_per_class
    (5, 1.0, [0.0, 0.25, 0.625])
    >>> lc.settling.skipped
    'no per-epoch lost classes (curves.parquet without test_lost_classes)'
    """
    summary: dict[str, Any] = {}
    tables: dict[str, list[pd.DataFrame]] = {"lost_counts": [], "lost_networks": [], "lost_prediction": [],
                                             "lost_settling": []}
    for ds, g in nets.groupby("dataset", sort=True):
        ds = str(ds)
        out = _dataset(ds, g.reset_index(drop=True), neurons, neuron_types, bon_k.get(ds), snapshots, curves,
                       _noise(predictability.get(ds)), cfg, backend, progress, tables)
        summary[ds] = out.to_dict()
    empty = {"lost_counts": ["dataset", "lost", "networks", "acc_mean", "acc_min", "acc_max", "acc_predicted_mean"],
             "lost_networks": ["dataset", "network", "test_acc", "test_lost", "test_acc_predicted", "settled_epoch"],
             "lost_prediction": _PREDICTION_COLUMNS,
             "lost_settling": ["dataset", "epoch", "settled_share", "lost_share"]}
    return summary, {k: pd.concat(v, ignore_index=True) if v else pd.DataFrame(columns=empty[k])
                     for k, v in tables.items()}


def _noise(found: dict[str, Any] | None) -> Predictability:
    """The dataset's noise ceiling (``predictability``'s object); all unknown where it has none."""
    return Predictability.from_dict(found) if found else Predictability(
        networks=0, test_samples=None, acc_min=None, acc_max=None, acc_mean=None, acc_sd=None, noise_sd=None,
        ceiling=None, no_spread=None, best=None)


def _dataset(ds: str, g: pd.DataFrame, neurons, neuron_types, k, snapshots, curves, pred: Predictability,
             cfg: AnalysisConfig, backend: str, progress: bool, tables: dict[str, list]) -> LostClasses | Skipped:
    missing = [c for c in LOST_METRICS if c not in g.columns]
    # gathered benchmarks of fewer classes have all-NaN columns for the classes they lack
    acc_cols = {k: c for k, c in _class_columns(g, _CLASS_ACC).items() if g[c].notna().any()}
    if missing or not acc_cols:
        return Skipped(f"networks.parquet has no lost-class columns ({', '.join(missing or ['test_acc_c*'])}): "
                       "a run of an older version; train again to record them")
    if g[list(LOST_METRICS[:2])].isna().any().any():
        return Skipped("some networks lack the lost-class columns (tables of an older version merged in)")
    n_classes = max(acc_cols) + 1
    acc = g["test_acc"].astype(float).to_numpy()
    count = g["test_lost"].astype(int).to_numpy()
    acc_pred = g["test_acc_predicted"].astype(float).to_numpy()
    by = []
    for c in np.unique(count):
        a = acc[count == c]
        by.append(LostCount(lost=int(c), networks=int(a.size), acc_mean=float(a.mean()), acc_min=float(a.min()),
                            acc_max=float(a.max()), acc_predicted_mean=float(np.nanmean(acc_pred[count == c]))
                            if np.isfinite(acc_pred[count == c]).any() else None))
    tables["lost_counts"].append(pd.DataFrame([b.to_dict() for b in by]).assign(dataset=ds)[
        ["dataset", "lost", "networks", "acc_mean", "acc_min", "acc_max", "acc_predicted_mean"]])
    ok = np.isfinite(acc_pred)
    masks = g["test_lost_classes"].astype(np.int64).to_numpy()
    which_known = n_classes <= MASK_BITS and (masks >= 0).all()
    lost = lost_matrix(masks, n_classes) if which_known else None
    explained = _explained(acc, count, pred, cfg, backend)
    beyond = _beyond(g, acc, count, pred, explained, cfg, backend)
    settle, settled_at = _settling(ds, g, curves, n_classes, tables) if which_known else \
        (Skipped(f"{n_classes} classes: the bit mask test_lost_classes holds at most {MASK_BITS}"), None)
    tables["lost_networks"].append(pd.DataFrame({
        "dataset": ds, "network": g["network"].to_numpy(), "test_acc": acc, "test_lost": count,
        "test_acc_predicted": acc_pred,
        "settled_epoch": settled_at if settled_at is not None else np.full(len(g), -1)}))
    return LostClasses(
        networks=int(len(g)), classes=n_classes, test_samples=pred.test_samples, ceiling=pred.ceiling,
        lost_any=int((count > 0).sum()), lost_max=int(count.max()) if len(g) else 0,
        lost_mean=float(count.mean()) if len(g) else None, by_count=by,
        acc_predicted=AccuracyOnPredicted(float(acc_pred[ok].mean()),
                                          float(acc_pred[ok].std(ddof=1)) if ok.sum() > 1 else None,
                                          float(acc_pred[ok].min()), float(acc_pred[ok].max())) if ok.any() else None,
        lost_share_per_class=lost.mean(0).tolist() if lost is not None else None,
        explained=explained, beyond=beyond, settling=settle,
        mechanism=_mechanism(g, lost) if lost is not None else Skipped("which classes are lost is unknown"),
        prediction=_prediction(ds, g, count, lost, neurons, neuron_types, k, snapshots, curves, cfg, backend,
                               progress, tables))


def _explained(acc: np.ndarray, count: np.ndarray, pred: Predictability, cfg: AnalysisConfig,
               backend: str) -> CountExplained | Skipped:
    """Share of the variance of test accuracy the lost-class count explains, or why it cannot be said."""
    if (count == 0).all():
        return Skipped("no network lost a class")
    if pred.no_spread:
        return Skipped(f"no spread of test accuracy to explain: {pred.no_spread}")
    values, sizes = np.unique(count, return_counts=True)
    if len(values) < 2:
        return Skipped(f"every network lost {int(values[0])} class(es): the count does not vary")
    if (sizes >= 2).sum() < 2:
        return Skipped("fewer than two lost-class counts held by 2 or more networks each")
    if np.ptp(acc) == 0:
        return Skipped("test accuracy does not vary")
    total = float(((acc - acc.mean()) ** 2).sum())
    slope, intercept = np.polyfit(count, acc, 1)
    linear = 1.0 - float(((acc - (slope * count + intercept)) ** 2).sum()) / total
    means = {v: acc[count == v].mean() for v in values}
    eta2 = 1.0 - float(((acc - np.array([means[v] for v in count])) ** 2).sum()) / total
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rho = spearmanr(count, acc)
    reg = regress(count[:, None].astype(float), acc, cfg, backend)
    best = best_regression({"count": reg})
    cv = RegressionScore(best["r2"], best["r2_sd"], best["kendall_tau"], best["regressor"], reg["folds"]) if best \
        else Skipped(reg.get("skipped", "no regressor ran"))
    return CountExplained(linear_r2=linear, slope=float(slope), intercept=float(intercept), eta2=eta2,
                          spearman_rho=float(rho.statistic), spearman_p=float(rho.pvalue), ceiling=pred.ceiling,
                          cv=cv)


def _beyond(g: pd.DataFrame, acc: np.ndarray, count: np.ndarray, pred: Predictability,
            explained: CountExplained | Skipped, cfg: AnalysisConfig, backend: str) -> Beyond | Skipped:
    """Structure against the accuracy left after the lost-class count (residual from the count's group mean)."""
    if isinstance(explained, Skipped):
        return Skipped(f"the lost-class count explains nothing to go beyond ({explained.skipped})")
    values, sizes = np.unique(count, return_counts=True)
    keep = np.isin(count, values[sizes >= 2])
    means = {v: acc[count == v].mean() for v in values}
    resid = acc - np.array([means[v] for v in count])
    frame = g[keep].assign(test_acc=resid[keep]).reset_index(drop=True)
    sub = dataclasses.replace(cfg, enabled=dict(cfg.enabled, classification=False, regression=True))
    _, reg = classification_for_dataset(frame, np.zeros(len(frame), dtype=int), sub, backend)
    # the remainder's noise ceiling: the dataset's test-set noise (predictability's, conservative) against
    # the residual's population variance, as the ceiling of test accuracy itself
    var = float(resid[keep].var()) if keep.sum() > 1 else 0.0
    noise_var = pred.noise_sd ** 2 if pred.noise_sd is not None else None
    by_feature_set: dict[str, RegressionScore | Skipped] = {}
    for fs, res in reg.items():
        b = best_regression({fs: res})
        by_feature_set[fs] = RegressionScore(b["r2"], b["r2_sd"], b["kendall_tau"], b["regressor"]) if b \
            else Skipped(res.get("skipped", "no fit"))
    found = best_regression(reg, list(STRUCTURE))
    out = Beyond(networks=int(keep.sum()), left_out=int((~keep).sum()),
                 residual_sd=float(resid[keep].std(ddof=1)) if keep.sum() > 1 else None,
                 residual_share=var / float(acc[keep].var()) if acc[keep].var() > 0 else None,
                 residual_ceiling=(max(0.0, 1.0 - noise_var / var) if var > 0 else 0.0)
                 if noise_var is not None else None,
                 by_feature_set=by_feature_set, best=BestRegression.from_dict(found) if found else None)
    if out.best and out.residual_share is not None:
        out.share_of_total = max(0.0, out.best.r2) * out.residual_share
    return out


def _settling(ds: str, g: pd.DataFrame, curves: pd.DataFrame | None, n_classes: int,
              tables: dict[str, list]) -> tuple[Settling | Skipped, np.ndarray | None]:
    """When each network's set of predicted classes stops changing, from curves.parquet; and the epoch each
    network settled at (None where unknown)."""
    if curves is None or not len(curves) or "test_lost_classes" not in curves.columns:
        return Skipped("no per-epoch lost classes (curves.parquet without test_lost_classes)"), None
    c = curves[(curves["dataset"] == ds) & curves["network"].isin(g["network"])]
    wide = c.pivot(index="network", columns="epoch", values="test_lost_classes").reindex(g["network"].to_numpy())
    if wide.isna().any().any():
        return Skipped("curves.parquet lacks epochs of some networks"), None
    masks = wide.to_numpy().astype(np.int64)
    epochs = [int(e) for e in wide.columns]
    settled = settled_epoch(masks)
    final = lost_matrix(masks[:, -1], n_classes)
    n_final = int(final.sum())
    share_settled = [(settled <= i).mean() for i in range(len(epochs))]
    share_lost = [float((lost_matrix(masks[:, i], n_classes) & final).sum() / n_final) if n_final else None
                  for i in range(len(epochs))]
    tables["lost_settling"].append(pd.DataFrame({"dataset": ds, "epoch": epochs, "settled_share": share_settled,
                                                 "lost_share": share_lost}))
    at = np.asarray([epochs[i] for i in settled])
    return Settling(epochs=epochs, median=float(np.median(at)), q90=int(np.quantile(at, 0.9, method="higher")),
                    max=int(at.max()), settled_share=dict(zip(epochs, map(float, share_settled))),
                    final_lost_pairs=n_final, lost_share=dict(zip(epochs, share_lost))), at


def _mechanism(g: pd.DataFrame, lost: np.ndarray) -> Mechanism | Skipped:
    """Classes whose training samples were all silenced in epoch 1 against the final lost classes."""
    cols = _class_columns(g, _SILENCED)
    if not cols:
        return Skipped("no per-class silenced shares (train_silenced_e1_c*) in networks.parquet")
    share = np.column_stack([g[cols[c]].astype(float).to_numpy() if c in cols else np.full(len(g), np.nan)
                             for c in range(lost.shape[1])])
    ok = np.isfinite(share)
    if not ok.any():
        return Skipped("no training epoch: nothing was silenced yet")
    s, y = share[ok], lost[ok]
    if (s == 0).all():
        return Skipped("no training sample was silenced in epoch 1 (the loss has no clip)")
    all_silenced = s >= 1.0
    out = Mechanism(pairs=int(s.size), lost_pairs=int(y.sum()), all_silenced_pairs=int(all_silenced.sum()),
                    p_lost_all_silenced=float(y[all_silenced].mean()) if all_silenced.any() else None,
                    p_lost_otherwise=float(y[~all_silenced].mean()) if (~all_silenced).any() else None,
                    mean_silenced_lost=float(s[y].mean()) if y.any() else None,
                    mean_silenced_kept=float(s[~y].mean()) if (~y).any() else None)
    if y.any() and (~y).any():
        from sklearn.metrics import roc_auc_score

        out.auc = float(roc_auc_score(y, s))
    return out


def _curve_features(g: pd.DataFrame, ds: str, epoch: int, curves: pd.DataFrame) -> pd.DataFrame:
    """The learning curve of epochs 0..epoch, per-class accuracies and lost count included (``curve_*``
    columns), and after epoch 1 the per-class silenced shares of epoch 1."""
    ids = g["network"].to_numpy()
    c = curves[(curves["dataset"] == ds) & (curves["epoch"] <= epoch) & curves["network"].isin(ids)]
    metrics = [m for m in (*METRICS, "test_lost", "test_acc_predicted") if m in c.columns]
    metrics += [col for col in c.columns if _CLASS_ACC.match(col)]
    wide = c.pivot(index="network", columns="epoch", values=metrics)
    wide.columns = [f"curve_{m}_e{int(e)}" for m, e in wide.columns]
    wide = wide.reindex(ids)
    if epoch >= 1:
        for k, col in _class_columns(g, _SILENCED).items():
            wide[f"curve_train_silenced_c{k}_e1"] = g[col].to_numpy()
    return wide.reset_index(names="network")


def _prediction(ds: str, g: pd.DataFrame, count: np.ndarray, lost: np.ndarray | None, neurons, neuron_types, k,
                snapshots, curves, cfg: AnalysisConfig, backend: str, progress: bool,
                tables: dict[str, list]) -> LostPrediction | Skipped:
    """How many and which classes are lost at the end, predicted from each snapshot epoch's features."""
    if (count == 0).all():
        return Skipped("no network lost a class: nothing to predict")
    vary_count = np.ptp(count) > 0 and len(g) >= 4
    classes = [] if lost is None else [c for c in range(lost.shape[1]) if 2 <= lost[:, c].sum() <= len(g) - 2]
    if not vary_count and not classes:
        return Skipped("neither the number of lost classes nor any class's loss varies across 2+ networks")
    epochs = _snapshot_epochs(ds, neurons, snapshots)
    if not epochs:
        return Skipped("no snapshot features (neurons.parquet, snapshots.parquet) to predict from")
    last_curve = int(curves.loc[curves["dataset"] == ds, "epoch"].max()) \
        if curves is not None and len(curves) and (curves["dataset"] == ds).any() else None
    sub = dataclasses.replace(cfg, classifiers=cfg.early.classifiers, regressors=cfg.early.regressors,
                              feature_sets=cfg.early.feature_sets, repeats=cfg.early.repeats,
                              regression_repeats=cfg.early.repeats)
    count_cfg = dataclasses.replace(sub, enabled=dict(cfg.enabled, classification=False, regression=True))
    which_cfg = dataclasses.replace(sub, enabled=dict(cfg.enabled, classification=True, regression=False))
    base = g[["dataset", "network"]].assign(test_acc=count.astype(float)).reset_index(drop=True)
    by_epoch: dict[int, dict[str, LostEpochScore]] = {}
    rows = []
    with progress_bar(len(epochs), progress, f"lost classes {ds}", "epoch") as bar:
        for e in epochs:
            log.info("analysis: lost classes on %s predicted from epoch %d (%d networks)", ds, e, len(base))
            frame = _features_at(base, ds, e, neurons, neuron_types, k, snapshots, None)
            if last_curve is not None and e < last_curve:
                frame = frame.merge(_curve_features(g, ds, e, curves), on="network", how="left")
            reg = classification_for_dataset(frame, np.zeros(len(frame), dtype=int), count_cfg, backend)[1] \
                if vary_count else {}
            which: dict[str, dict[int, tuple[float, str] | None]] = {}
            for c in classes:
                cls = classification_for_dataset(frame, lost[:, c].astype(int), which_cfg, backend)[0]
                for fs, res in cls.items():
                    which.setdefault(fs, {})[c] = _balanced(res)
            by_epoch[e], epoch_rows = _epoch_results(ds, e, reg, which, sub.feature_sets)
            rows += epoch_rows
            bar.update()
    tables["lost_prediction"].append(pd.DataFrame(rows, columns=_PREDICTION_COLUMNS))
    return LostPrediction(epochs=epochs, count_varies=bool(vary_count), which_classes=classes, by_epoch=by_epoch)


def _epoch_results(ds: str, e: int, reg: dict[str, Any], which: dict[str, dict[int, tuple[float, str] | None]],
                   feature_sets: list[str]) -> tuple[dict[str, LostEpochScore], list[dict[str, Any]]]:
    """Per feature set at one snapshot epoch: the best regression of the final lost-class count, and the
    mean balanced accuracy of each class's loss over the classes it could be fitted for; also as table rows."""
    out: dict[str, LostEpochScore] = {}
    rows = []
    for fs in feature_sets:
        b = best_regression({fs: reg[fs]}) if fs in reg else {}
        count = RegressionScore(b["r2"], b["r2_sd"], b["kendall_tau"], b["regressor"]) if b else None
        per_class = {c: v for c, v in (which.get(fs) or {}).items() if v is not None}
        if count is None and not per_class:
            continue
        best_cls = WhichLost(balanced_acc=float(np.mean([v[0] for v in per_class.values()])),
                             classes=sorted(per_class), classifier=", ".join(sorted({v[1] for v in per_class.values()})),
                             per_class={c: v[0] for c, v in per_class.items()}) if per_class else None
        rows.append({"dataset": ds, "epoch": int(e), "feature_set": fs, "count_r2": count and count.r2,
                     "count_r2_sd": count and count.r2_sd, "count_tau": count and count.kendall_tau,
                     "regressor": count and count.regressor, "which_balanced_acc": best_cls and best_cls.balanced_acc,
                     "which_classes": len(best_cls.classes) if best_cls else 0,
                     "classifier": best_cls and best_cls.classifier})
        out[fs] = LostEpochScore(count=count, which=best_cls)
    return out, rows


def _balanced(res: dict[str, Any]) -> tuple[float, str] | None:
    """The best classifier's balanced accuracy (mean recall of lost and kept, chance 0.5) from its
    out-of-fold confusion matrix, and its name; None if none ran."""
    best = None
    typed = read(Classification | SkippedFeatureSet, res)
    for name, r in (typed.classifiers.items() if isinstance(typed, Classification) else ()):
        if not isinstance(r, ClassifierScore):
            continue
        cm = np.asarray(r.confusion, dtype=float)
        rows = cm.sum(1)
        if len(rows) < 2 or (rows == 0).any():
            continue
        value = float(np.mean(np.diag(cm) / rows))
        if best is None or value > best[0]:
            best = (value, name)
    return best


# ---------------------------------------------------------------- words

def _pct(x: float) -> str:
    from engine.analysis.conclusion import _percent   # one decimal near 100 %, as the rest of the conclusion

    return _percent(x)


def _typed(summary: dict[str, Any], ds: str) -> LostClasses | None:
    """The dataset's lost-class result, typed; None where the part did not run or was skipped."""
    lc = read(LostClasses | Skipped | None, (summary.get("lost_classes") or {}).get(ds))
    return lc if isinstance(lc, LostClasses) else None


def sentences(summary: dict[str, Any], ds: str) -> list[str]:
    """The conclusion's sentences on what the spread of ``ds`` is made of (none if the part did not run).

    Parameters
    ----------
    summary : dict
        The analysis summary (``run_analysis(...).summary``, or analysis/summary.json read back); its
        ``lost_classes`` part is read: dataset -> a ``LostClasses``'s JSON object, or a ``Skipped``'s.
    ds : str
        The dataset.

    Returns
    -------
    list of str
        In the order the conclusion prints them.

    Examples
    --------
    >>> lc = LostClasses(networks=9, classes=10, test_samples=None, ceiling=None, lost_any=0, lost_max=0,
    ...                  lost_mean=0.0, by_count=[], acc_predicted=None, lost_share_per_class=None,
    ...                  explained=Skipped("no network lost a class"), beyond=Skipped("-"), settling=Skipped("-"),
    ...                  mechanism=Skipped("-"), prediction=Skipped("-"))
    >>> sentences({"lost_classes": {"d": lc.to_dict()}}, "d")
    ['What the spread is made of: none of the 9 networks lost a class (every network predicts every test class), so the spread is not made of lost classes.']
    >>> sentences({"lost_classes": {"skipped": "disabled"}}, "d")
    []
    """
    lc = _typed(summary, ds)
    if lc is None:
        return []
    n, k, any_ = lc.networks, lc.classes, lc.lost_any
    if any_ == 0:
        return [f"What the spread is made of: none of the {n} networks lost a class (every network predicts every "
                "test class), so the spread is not made of lost classes."]
    out = []
    s = (f"What the spread is made of: {any_} of the {n} networks ({_pct(any_ / n)}) never predict at least one of "
         f"the {k} test classes (up to {lc.lost_max})")
    if any_ / n < _FEW:
        s += ": almost no lost classes"
    ex = lc.explained
    if isinstance(ex, Skipped):
        s += f"; how much of the spread the count explains cannot be said ({ex.skipped})."
    else:
        cv = ex.cv if isinstance(ex.cv, RegressionScore) else None
        s += (f"; the number of lost classes alone explains {_pct(ex.linear_r2)} of the variance of test accuracy "
              f"(a straight line in the count; any function of it {_pct(ex.eta2)}"
              + (f", out of fold R^2 {r2_words(cv.r2, 'the mean accuracy')}" if cv is not None and cv.r2 is not None
                 else "")
              + f"; Spearman rho {ex.spearman_rho:+.2f})")
        if ex.ceiling is not None:
            s += f", of a noise ceiling of {_pct(ex.ceiling)}"
        s += "."
    out.append(s)
    ap = lc.acc_predicted
    if ap:
        out.append(f"On the classes they do predict, networks reach a test accuracy of {ap.mean:.2f} on average "
                   f"({ap.min:.2f}-{ap.max:.2f}" + (f", sd {ap.sd:.3f}" if ap.sd is not None else "") + ").")
    out.append(_beyond_sentence(lc.beyond))
    out.append(_prediction_sentence(lc.prediction))
    out.append(_settling_sentence(lc.settling))
    out.append(_mechanism_sentence(lc.mechanism))
    return [x for x in out if x]


def _name(fs: str) -> str:
    return FEATURE_SET_NAMES.get(fs, fs)


def _beyond_sentence(b: Beyond | Skipped) -> str:
    if isinstance(b, Skipped):
        return ""
    best = b.best
    if best is None:
        return "No structural feature set could be fitted to the accuracy left after the lost-class count."
    ceiling = f"; that remainder's noise ceiling {_pct(b.residual_ceiling)}" if b.residual_ceiling is not None else ""
    if best.r2 <= 0:
        return (f"Beyond the lost-class count, structure says nothing: no feature set predicts the accuracy left "
                f"within networks that lost the same number of classes (best out-of-fold R^2 "
                f"{r2_words(best.r2, 'its mean')}, {_name(best.feature_set)}{ceiling}).")
    return (f"Beyond the lost-class count, {_name(best.feature_set)} predict the accuracy left within networks "
            f"that lost the same number of classes with out-of-fold R^2 {best.r2:.2f}"
            + (f", {_pct(b.share_of_total)} of the total variance" if b.share_of_total is not None else "")
            + f"{ceiling}.")


def _prediction_sentence(p: LostPrediction | Skipped) -> str:
    if isinstance(p, Skipped):
        return ""
    parts, shown = [], []
    for e in p.epochs:
        rows = p.by_epoch.get(e) or {}
        struct = {fs: r for fs, r in rows.items() if fs in STRUCTURE}
        count = {fs: r.count.r2 for fs, r in struct.items() if r.count}
        which = {fs: r.which.balanced_acc for fs, r in struct.items() if r.which}
        if not count and not which:
            continue
        text = f"epoch {e}{' (random init)' if e == 0 else ''}:"
        curve = rows.get("curve")
        if count:
            curve_r2 = curve.count.r2 if curve and curve.count else None
            shown += [max(count.values()), curve_r2]
            text += " " + best_against_curve(count, curve_r2, "how many R^2", " from the learning curve")
        if which:
            text += f"{',' if count else ''} " + best_against_curve(
                which, curve.which.balanced_acc if curve and curve.which else None, "which balanced accuracy")
        parts.append(text)
    if not parts:
        return ""
    return ("Predicting the final lost classes from the structure at each snapshot (how many: out-of-fold R^2; "
            "which: balanced accuracy per class, chance 0.50): " + "; ".join(parts)
            + "." + below_mean_note(shown, "the mean count"))


def _settling_sentence(s: Settling | Skipped) -> str:
    if isinstance(s, Skipped):
        return ""
    text = (f"A network's set of predicted classes stops changing at epoch {s.median:g} (median; 90 % by epoch "
            f"{s.q90}, the last at {s.max})")
    first = [(e, v) for e, v in s.lost_share.items() if v is not None][:2]
    if first:
        text += "; of the classes lost at the end, " + " and ".join(
            f"{_pct(v)} were already never predicted at epoch {e}" for e, v in first)
    return text + "."


def _mechanism_sentence(m: Mechanism | Skipped) -> str:
    if isinstance(m, Skipped) or m.p_lost_all_silenced is None or m.p_lost_otherwise is None:
        return ""
    s = (f"Of the classes whose training samples were all silenced by the clip in epoch 1, "
         f"{_pct(m.p_lost_all_silenced)} are lost at the end, against {_pct(m.p_lost_otherwise)} of the others "
         f"({m.all_silenced_pairs} of {m.pairs} network-class pairs")
    if m.auc is not None:
        s += f"; AUC of the silenced share for a lost class {m.auc:.2f}"
    return s + ")."


def headline(summary: dict[str, Any], ds: str) -> str:
    """The one-line summary's part on lost classes ("" when the part did not run).

    Parameters
    ----------
    summary : dict
        The analysis summary, as ``sentences`` reads it.
    ds : str
        The dataset.

    Returns
    -------
    str
        To append to the dataset's headline.

    Examples
    --------
    >>> lc = LostClasses(networks=4, classes=3, test_samples=None, ceiling=None, lost_any=2, lost_max=1,
    ...                  lost_mean=0.5, by_count=[], acc_predicted=None, lost_share_per_class=None,
    ...                  explained=CountExplained(0.8, -0.2, 0.9, 0.8, -0.9, 0.01, None, Skipped("-")),
    ...                  beyond=Skipped("-"), settling=Skipped("-"), mechanism=Skipped("-"), prediction=Skipped("-"))
    >>> headline({"lost_classes": {"d": lc.to_dict()}}, "d")
    '; 50% lost a class, the count explains 80% of the variance'
    """
    lc = _typed(summary, ds)
    if lc is None:
        return ""
    s = f"; {_pct(lc.lost_any / lc.networks)} lost a class"
    if isinstance(lc.explained, CountExplained):
        s += f", the count explains {_pct(lc.explained.linear_r2)} of the variance"
    return s
