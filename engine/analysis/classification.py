"""Performance-class classification and test-accuracy regression from per-network features.

Stratified k-fold (repeated with different seeds), a scaler (``analysis.scaler``: z-scores of features
clipped to their 1-99 % range, or plain z-scores) fitted inside each training fold
(Pipeline), accuracy mean/std over all folds of all repeats, and the chance level (majority-class
share). Regression of test accuracy itself: cross-validated R^2 (mean/std over folds) and Kendall's
tau between out-of-fold predictions and the truth (mean over repeats).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.stats import kendalltau
from sklearn.metrics import confusion_matrix, r2_score
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import StandardScaler

from engine.analysis.estimators import estimator_class, make_estimator
from engine.analysis.results import Record, Skipped, read
from engine.analysis.features import feature_set_columns
from engine.config import AnalysisConfig
from engine.progress import progress_bar

log = logging.getLogger(__name__)

__all__ = ["BestClassifier", "Classification", "ClassifierScore", "FeatureCounts", "Regression", "RegressorScore",
           "SkippedFeatureSet", "best_classifier", "classification_for_dataset", "classify", "regress"]

_FOREST_NAMES = ("random_forest", "random_forest_regressor")


@dataclass
class FeatureCounts(Record):
    """What of a feature set's columns the estimators saw.

    Attributes
    ----------
    columns : int
        Columns kept.
    all_nan_columns_dropped : int
        Columns dropped for being NaN for every network.
    rows_with_nan_dropped : int
        Networks dropped for a NaN in a kept column.

    Examples
    --------
    >>> FeatureCounts(columns=12, all_nan_columns_dropped=2, rows_with_nan_dropped=0).to_dict()["columns"]
    12
    """

    columns: int
    all_nan_columns_dropped: int
    rows_with_nan_dropped: int


@dataclass
class SkippedFeatureSet(Skipped):
    """A feature set that gave nothing to fit on one dataset, and why.

    Attributes
    ----------
    skipped : str
        Why, in words.
    features : FeatureCounts or None
        Its column counts when it had columns (left out of the JSON while None).

    Examples
    --------
    >>> SkippedFeatureSet("no ww_l* spectral columns in networks.parquet").to_dict()
    {'skipped': 'no ww_l* spectral columns in networks.parquet'}
    """

    features: FeatureCounts | None = None

    _OMIT_IF_NONE = ("features",)


@dataclass
class ClassifierScore(Record):
    """One classifier's out-of-fold accuracy on one feature set.

    ``Classification.classifiers`` holds one per configured classifier (a ``Skipped`` where it could not be fitted).

    Attributes
    ----------
    mean, std : float
        Accuracy (a fraction) over all folds of all repeats.
    confusion : list of list of int
        The summed out-of-fold confusion matrix, (classes, classes), true class by row.

    Examples
    --------
    >>> ClassifierScore(0.8, 0.1, [[4, 1], [1, 4]]).mean
    0.8
    """

    mean: float                     # over all folds of all repeats
    std: float
    confusion: list[list[int]]      # summed out-of-fold confusion matrix, true class by row


@dataclass
class Classification(Record):
    """The performance classes classified from one feature set of one dataset.

    ``analysis/classification.json`` holds, per dataset and feature set, one of these or a
    ``SkippedFeatureSet``; ``read(dict[str, Classification | SkippedFeatureSet], ...)`` reads one dataset's.

    Attributes
    ----------
    n : int
        Networks classified.
    folds, repeats : int
        Stratified folds (reduced to the smallest class when it is smaller) and repeats.
    chance : float
        The share of the largest class.
    classes, class_counts : list of int
        The class indices present, and their networks.
    notes : list of str
        Classes left out, folds reduced.
    features : FeatureCounts or None
        The feature set's column counts (None, left out of the JSON, from ``classify``).
    classifiers : dict of str to ClassifierScore or Skipped
        Per configured classifier.

    Examples
    --------
    >>> c = Classification.from_dict({"n": 10, "folds": 5, "repeats": 1, "chance": 0.5, "classes": [0, 1],
    ...     "class_counts": [5, 5], "notes": [], "classifiers": {"svm": {"mean": 0.8, "std": 0.1,
    ...     "confusion": [[4, 1], [1, 4]]}, "lda": {"skipped": "could not be fitted"}}})
    >>> c.classifiers["svm"].mean, c.classifiers["lda"].skipped
    (0.8, 'could not be fitted')
    """

    n: int                          # networks classified
    folds: int
    repeats: int
    chance: float                   # the share of the largest class
    classes: list[int]              # the class indices present
    class_counts: list[int]
    notes: list[str]                # classes left out, folds reduced
    features: FeatureCounts | None = None
    classifiers: dict[str, ClassifierScore | Skipped] = field(default_factory=dict)

    _OMIT_IF_NONE = ("features",)


@dataclass
class RegressorScore(Record):
    """One regressor's cross-validated scores of test accuracy on one feature set.

    Attributes
    ----------
    r2_mean, r2_std : float or None
        Out-of-fold R^2 over folds (below 0: worse than predicting the mean); None where no fold gave one.
    kendall_tau : float or None
        Kendall's tau of the out-of-fold predictions with the truth, mean over repeats.

    Examples
    --------
    >>> RegressorScore(0.4, 0.1, 0.5).to_dict()
    {'r2_mean': 0.4, 'r2_std': 0.1, 'kendall_tau': 0.5}
    """

    r2_mean: float | None           # out-of-fold R^2, mean over folds; below 0: worse than predicting the mean
    r2_std: float | None
    kendall_tau: float | None       # of the out-of-fold predictions with the truth, mean over repeats


@dataclass
class Regression(Record):
    """Test accuracy regressed from one feature set of one dataset.

    ``analysis/regression.json`` holds, per dataset and feature set, one of these or a ``SkippedFeatureSet``.

    Attributes
    ----------
    n, folds, repeats : int
        Networks, folds and repeats.
    features : FeatureCounts or None
        As in ``Classification`` (None from ``regress``).
    regressors : dict of str to RegressorScore or Skipped
        Per configured regressor.

    Examples
    --------
    >>> r = Regression.from_dict({"n": 8, "folds": 4, "repeats": 1,
    ...                           "regressors": {"ridge": {"r2_mean": 0.4, "r2_std": 0.1, "kendall_tau": 0.5}}})
    >>> r.regressors["ridge"].r2_mean, r.features
    (0.4, None)
    """

    n: int
    folds: int
    repeats: int
    features: FeatureCounts | None = None
    regressors: dict[str, RegressorScore | Skipped] = field(default_factory=dict)

    _OMIT_IF_NONE = ("features",)


def _feature_matrix(df: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, np.ndarray, FeatureCounts]:
    """X of the usable columns and a row mask; all-NaN columns and then rows with any NaN are dropped."""
    sub = df[columns].astype(float)
    all_nan = [c for c in columns if sub[c].isna().all()]
    sub = sub.drop(columns=all_nan)
    rows = np.isfinite(sub.to_numpy()).all(axis=1)
    return sub.to_numpy()[rows], rows, FeatureCounts(int(sub.shape[1]), len(all_nan), int((~rows).sum()))


def _undefined_features(fs: str, columns: list[str], feat: FeatureCounts, n: int) -> str | None:
    """Why a feature set gives nothing to learn from (every column undefined, or every network has an
    undefined value), in words; None if it has usable rows and columns."""
    if feat.columns == 0:
        return (f"feature set {fs!r} is undefined for these networks: all {len(columns)} of its columns (e.g. "
                f"{columns[0]}) are NaN for every network, as statistics of layers too small for them are "
                "(e.g. a standard deviation or spectral metric of a 1-neuron layer)")
    if feat.rows_with_nan_dropped >= n:
        return f"feature set {fs!r} is undefined for these networks: every network has a NaN in it"
    return None


def _params(cfg: AnalysisConfig, name: str, n_train: int) -> dict[str, Any]:
    p = dict(cfg.estimator_params.get(name, {}))
    if name in _FOREST_NAMES:
        p.setdefault("random_state", cfg.seed)
        p.setdefault("n_jobs", 1)  # parallelism is over folds (see _run_tasks), not inside one forest
    if name in ("logistic_regression", "svm"):
        p.setdefault("random_state", cfg.seed)
    if name == "knn":  # k-NN cannot ask for more neighbours than there are training points
        p["n_neighbors"] = max(1, min(int(p.get("n_neighbors", 5)), n_train))
    return p


def _host(a: Any) -> Any:
    return a.get() if hasattr(a, "get") else a


class _WinsorizedScaler(TransformerMixin, BaseEstimator):
    """z-scores after clipping each feature to its training-fold [q, 1 - q] quantiles.

    The measures' summaries have tails of 10+ standard deviations (harmonic centrality, average
    neighbour strength, current-flow closeness): without the clip one network of a training fold
    steers a linear model, and a test network far outside the fold's range is extrapolated to absurd
    predictions (R^2 of -500 measured on Fashion-MNIST). Inside the clip range the map is linear, so
    gaps between groups of networks survive (a rank transform would erase them)."""

    def __init__(self, q: float = 0.01):
        self.q = q

    def fit(self, x, y=None):
        x = np.asarray(x, dtype=float)
        self.low_, self.high_ = np.quantile(x, [self.q, 1 - self.q], axis=0)
        clipped = np.clip(x, self.low_, self.high_)
        self.mean_ = clipped.mean(axis=0)
        sd = clipped.std(axis=0)
        self.scale_ = np.where(sd > 0, sd, 1.0)
        return self

    def transform(self, x):
        return (np.clip(np.asarray(x, dtype=float), self.low_, self.high_) - self.mean_) / self.scale_


def _scaler(name: str):
    return StandardScaler() if name == "standard" else _WinsorizedScaler()


def _fit_predict(name: str, params: dict[str, Any], scaler: str, backend: str, x: np.ndarray, y: np.ndarray,
                 tr: np.ndarray, te: np.ndarray) -> np.ndarray | str:
    """Fit scaler + estimator on the training fold, predict the test fold (one joblib task).

    An estimator that cannot fit this fold (e.g. LDA with fewer samples than classes in a tiny
    population, or on features that are constant across the fold: scikit-learn's LDA then fails with an
    IndexError) returns the reason instead; the estimator is then reported as skipped."""
    model = make_pipeline(_scaler(scaler), make_estimator(name, backend, **params))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # collinear histograms (LDA), convergence chatter
        try:
            model.fit(x[tr], y[tr])
        except (ValueError, IndexError, np.linalg.LinAlgError) as e:
            return f"{name} could not be fitted on a fold of {len(tr)} networks: {e}"
        return np.asarray(_host(model.predict(x[te])))


def _run_tasks(tasks: list[tuple], cfg: AnalysisConfig, backend: str, progress: bool = False,
               desc: str = "classifiers") -> list[np.ndarray]:
    """Run (name, params, x, y, tr, te) tasks (scaled with cfg.scaler) in cfg.n_jobs parallel processes,
    serially where a task's estimator is cuML's (one GPU, not one per process); ``progress``: a bar over
    the tasks as they finish."""
    # backend=gpu without cuML fits scikit-learn's estimators: they run in parallel as on the CPU (serial,
    # the default run's analysis took 77 s on a 16-core H200 host against 33 s on a 2-core CPU)
    on_gpu = backend == "gpu" and any(not estimator_class(t[0], backend).__module__.startswith("sklearn")
                                      for t in tasks)
    n_jobs = 1 if on_gpu else cfg.n_jobs
    if n_jobs == 1 or len(tasks) < 2:
        results = (_fit_predict(n, p, cfg.scaler, backend, x, y, tr, te) for n, p, x, y, tr, te in tasks)
    else:  # joblib's generator yields in task order as the results come in
        results = Parallel(n_jobs=n_jobs, return_as="generator")(
            delayed(_fit_predict)(n, p, cfg.scaler, backend, x, y, tr, te) for n, p, x, y, tr, te in tasks)
    out = []
    with progress_bar(len(tasks), progress, desc, "fit") as bar:
        for r in results:
            out.append(r)
            bar.update()
    return out


def _prepare_classes(y: np.ndarray, cfg: AnalysisConfig) -> tuple[np.ndarray, int, list[str]] | str:
    """Rows kept and the fold count, or why classification cannot run."""
    classes, counts = np.unique(y, return_counts=True)
    notes: list[str] = []
    keep = np.isin(y, classes[counts >= 2])
    if not keep.all():
        notes.append(f"classes {classes[counts < 2].tolist()} have fewer than 2 networks: left out")
    classes, counts = np.unique(y[keep], return_counts=True)
    if len(classes) < 2:
        return "fewer than 2 classes with at least 2 networks"
    folds = min(cfg.folds, int(counts.min()))
    if folds < cfg.folds:
        notes.append(f"folds reduced from {cfg.folds} to {folds} (smallest class has {int(counts.min())} networks)")
    return keep, folds, notes


def _classification_tasks(x: np.ndarray, y: np.ndarray, cfg: AnalysisConfig) -> tuple[dict[str, Any], list[tuple]]:
    prep = _prepare_classes(y, cfg)
    if isinstance(prep, str):
        return {"skipped": prep}, []
    keep, folds, notes = prep
    x, y = x[keep], y[keep]
    classes, counts = np.unique(y, return_counts=True)
    info = {"n": int(len(y)), "folds": folds, "repeats": cfg.repeats, "chance": float(counts.max() / counts.sum()),
            "classes": classes.tolist(), "class_counts": counts.tolist(), "notes": notes,
            "_y": y, "_splits": []}
    tasks = []
    for r in range(cfg.repeats):
        for tr, te in StratifiedKFold(folds, shuffle=True, random_state=cfg.seed + r).split(x, y):
            info["_splits"].append(te)
            for name in cfg.classifiers:
                tasks.append((name, _params(cfg, name, len(tr)), x, y, tr, te))
    return info, tasks


def _fold_predictions(preds: list, splits: list, names: list[str], failed: dict[str, str]):
    """(split, name, prediction) for each fold and estimator, in the order the tasks were made; an
    estimator whose fit failed (its prediction is the reason, a str) goes into ``failed`` instead."""
    it = iter(preds)
    for split in splits:
        for name in names:
            pred = next(it)
            if isinstance(pred, str):
                failed[name] = pred
            else:
                yield split, name, pred


def _classification_result(info: dict[str, Any], preds: list[np.ndarray], cfg: AnalysisConfig) -> Classification:
    y, splits = info.pop("_y"), info.pop("_splits")
    classes = np.asarray(info["classes"])
    out = Classification(**info)
    per: dict[str, list] = {n: [] for n in cfg.classifiers}
    cms = {n: np.zeros((len(classes), len(classes)), dtype=np.int64) for n in cfg.classifiers}
    failed: dict[str, str] = {}
    for te, name, pred in _fold_predictions(preds, splits, cfg.classifiers, failed):
        per[name].append(float((pred == y[te]).mean()))
        cms[name] += confusion_matrix(y[te], pred, labels=classes)
    for name in cfg.classifiers:
        out.classifiers[name] = Skipped(failed[name]) if name in failed else \
            ClassifierScore(float(np.mean(per[name])), float(np.std(per[name])), cms[name].tolist())
    return out


def _regression_tasks(x: np.ndarray, acc: np.ndarray, cfg: AnalysisConfig) -> tuple[dict[str, Any], list[tuple]]:
    folds = min(cfg.folds, len(acc))
    if len(acc) < 4:
        return {"skipped": f"only {len(acc)} networks"}, []
    info = {"n": int(len(acc)), "folds": folds, "repeats": cfg.regression_repeats, "_y": acc, "_splits": []}
    tasks = []
    for r in range(cfg.regression_repeats):
        for tr, te in KFold(folds, shuffle=True, random_state=cfg.seed + r).split(x):
            info["_splits"].append((r, te))
            for short in cfg.regressors:
                name = _regressor_name(short)
                tasks.append((name, _params(cfg, name, len(tr)), x, acc, tr, te))
    return info, tasks


def _regressor_name(short: str) -> str:
    return "random_forest_regressor" if short == "random_forest" else short


def _regression_result(info: dict[str, Any], preds: list[np.ndarray], cfg: AnalysisConfig) -> Regression:
    acc, splits = info.pop("_y"), info.pop("_splits")
    out = Regression(**info)
    oof = {(s, r): np.empty_like(acc) for s in cfg.regressors for r in range(cfg.regression_repeats)}
    r2s: dict[str, list] = {s: [] for s in cfg.regressors}
    failed: dict[str, str] = {}
    for (r, te), short, pred in _fold_predictions(preds, splits, cfg.regressors, failed):
        oof[(short, r)][te] = pred
        r2s[short].append(float(r2_score(acc[te], pred)) if len(te) > 1 else np.nan)
    for short in cfg.regressors:
        if short in failed:
            out.regressors[short] = Skipped(failed[short])
            continue
        taus = np.array([kendalltau(oof[(short, r)], acc).statistic for r in range(cfg.regression_repeats)])
        r2 = np.array(r2s[short], dtype=float)
        r2 = r2[np.isfinite(r2)]   # folds of one network have no R^2
        out.regressors[short] = RegressorScore(float(r2.mean()) if r2.size else None,
                                               float(r2.std()) if r2.size else None,
                                               float(taus[np.isfinite(taus)].mean()) if np.isfinite(taus).any()
                                               else None)
    return out


def classify(x: np.ndarray, y: np.ndarray, cfg: AnalysisConfig, backend: str = "cpu") -> dict[str, Any]:
    """Cross-validated accuracy of every configured classifier on (x, y).

    Stratified k-fold (``cfg.folds``, reduced to the smallest class), repeated ``cfg.repeats`` times; classes
    with fewer than 2 networks are left out.

    Parameters
    ----------
    x : (N, F) float array
        Features, one row per network (finite).
    y : (N,) int array
        Class per network.
    cfg : AnalysisConfig
        ``classifiers``, ``folds``, ``repeats``, ``seed``, ``scaler``, ``n_jobs``, ``estimator_params``.
    backend : {"cpu", "gpu"}
        Where the estimators run ("gpu": cuML where installed).

    Returns
    -------
    dict
        A ``Classification``'s JSON object, or ``{"skipped": why}`` when fewer than 2 classes have 2 networks.

    Examples
    --------
    >>> from engine.config import AnalysisConfig
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 10)
    >>> x = (y + rng.normal(0, 0.1, 20))[:, None]
    >>> out = classify(x, y, AnalysisConfig(classifiers=["lda"], folds=5, repeats=1, n_jobs=1))
    >>> out["classifiers"]["lda"]["mean"], out["chance"]
    (1.0, 0.5)
    """
    info, tasks = _classification_tasks(x, y, cfg)
    return info if "skipped" in info else _classification_result(info, _run_tasks(tasks, cfg, backend), cfg).to_dict()


def regress(x: np.ndarray, acc: np.ndarray, cfg: AnalysisConfig, backend: str = "cpu") -> dict[str, Any]:
    """Cross-validated regression of test accuracy: R^2 over folds, Kendall's tau of out-of-fold predictions.

    Parameters
    ----------
    x : (N, F) float array
        Features, one row per network (finite).
    acc : (N,) float array
        Test accuracy (a fraction) per network.
    cfg : AnalysisConfig
        ``regressors``, ``folds``, ``regression_repeats``, ``seed``, ``scaler``, ``n_jobs``, ``estimator_params``.
    backend : {"cpu", "gpu"}
        Where the estimators run.

    Returns
    -------
    dict
        A ``Regression``'s JSON object, or ``{"skipped": why}`` for fewer than 4 networks.

    Examples
    --------
    >>> from engine.config import AnalysisConfig
    >>> acc = np.linspace(0.5, 0.9, 20)
    >>> out = regress(acc[:, None] * 2, acc, AnalysisConfig(regressors=["ridge"], folds=5, regression_repeats=1,
    ...                                                     n_jobs=1))
    >>> out["regressors"]["ridge"]["r2_mean"] > 0.9
    True
    """
    info, tasks = _regression_tasks(x, acc, cfg)
    return info if "skipped" in info else _regression_result(info, _run_tasks(tasks, cfg, backend), cfg).to_dict()


def classification_for_dataset(df: pd.DataFrame, labels: np.ndarray, cfg: AnalysisConfig,
                               backend: str = "cpu", progress: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """Classification and regression for every feature set on one dataset's eligible networks.

    All folds of all feature sets and estimators go to one parallel batch (``cfg.n_jobs`` processes).

    Parameters
    ----------
    df : pandas.DataFrame
        One dataset's networks: ``test_acc`` (a fraction) and the feature sets' columns
        (``engine.analysis.features.feature_set_columns``).
    labels : (N,) int array
        The performance class of each row of ``df``.
    cfg : AnalysisConfig
        ``feature_sets``, the estimators and folds, and ``enabled["classification"]``/``["regression"]``.
    backend : {"cpu", "gpu"}
        Where the estimators run.
    progress : bool
        A bar over the fits.

    Returns
    -------
    (dict, dict)
        Per feature set (in ``cfg.feature_sets``' order), a ``Classification``'s and a ``Regression``'s JSON
        object, or a ``SkippedFeatureSet``'s; a part not enabled is {}.

    Examples
    --------
    >>> from engine.config import AnalysisConfig
    >>> acc = np.linspace(0.5, 0.9, 20)
    >>> df = pd.DataFrame({"test_acc": acc, "strength_l1_mean": acc * 3, "strength_l1_std": acc ** 2})
    >>> cfg = AnalysisConfig(feature_sets=["cn", "weights"], classifiers=["lda"], regressors=["ridge"], folds=5,
    ...                      repeats=1, regression_repeats=1, n_jobs=1)
    >>> cls, reg = classification_for_dataset(df, (acc > 0.7).astype(int), cfg)
    >>> cls["cn"]["classifiers"]["lda"]["mean"], reg["weights"]["skipped"][:17]
    (1.0, 'no w_l* weight-st')
    """
    cls_out: dict[str, Record] = {}
    reg_out: dict[str, Record] = {}
    pending: list[tuple] = []   # (out dict, feature set, kind, info, first task, last task + 1)
    tasks: list[tuple] = []
    for fs in cfg.feature_sets:
        cols = feature_set_columns(df, fs)
        if not cols:
            why = {"weights": "no w_l* weight-statistics columns in networks.parquet (weight_stats() adds them)",
                   "spectral": "no ww_l* spectral columns in networks.parquet (spectral_stats() adds them)",
                   "bon": "Bag-of-Neurons disabled or produced no histograms",
                   "cn": "no {measure}_l{layer}_mean/std columns in networks.parquet",
                   "curve": "no learning curve (curves.parquet) up to this epoch",
                   "all": "no feature columns at all"}[fs]
            cls_out[fs] = reg_out[fs] = SkippedFeatureSet(why)
            continue
        x, rows, feat = _feature_matrix(df, cols)
        undefined = _undefined_features(fs, cols, feat, len(df))
        if undefined:
            cls_out[fs] = reg_out[fs] = SkippedFeatureSet(undefined, feat)
            continue
        jobs = []
        if cfg.enabled.get("classification", True):
            jobs.append((cls_out, "cls", *_classification_tasks(x, labels[rows], cfg)))
        if cfg.enabled.get("regression", True):
            jobs.append((reg_out, "reg", *_regression_tasks(x, df["test_acc"].astype(float).to_numpy()[rows], cfg)))
        for out, kind, info, t in jobs:
            info["features"] = feat
            pending.append((out, fs, kind, info, len(tasks), len(tasks) + len(t)))
            tasks.extend(t)
    desc = f"classifiers, regressors {df['dataset'].iloc[0]}" if "dataset" in df and len(df) else "classifiers"
    preds = _run_tasks(tasks, cfg, backend, progress, desc)
    for out, fs, kind, info, a, b in pending:
        if "skipped" in info:
            out[fs] = SkippedFeatureSet(info["skipped"], info["features"])
        elif kind == "cls":
            out[fs] = _classification_result(info, preds[a:b], cfg)
        else:
            out[fs] = _regression_result(info, preds[a:b], cfg)
    order = {fs: i for i, fs in enumerate(cfg.feature_sets)}
    return ({fs: r.to_dict() for fs, r in sorted(cls_out.items(), key=lambda kv: order[kv[0]])},
            {fs: r.to_dict() for fs, r in sorted(reg_out.items(), key=lambda kv: order[kv[0]])})


@dataclass
class BestClassifier(Record):
    """The (feature set, classifier) of highest mean out-of-fold accuracy on one dataset.

    ``analysis/best_classifier.json`` holds one per dataset ({} where none ran).

    Attributes
    ----------
    feature_set, classifier : str
    mean, std : float
        Accuracy, a fraction, over folds and repeats.
    chance : float
        The share of the largest class.
    confusion : list of list of int
        The summed out-of-fold confusion matrix, true class by row.
    class_names : list of str
        The classes of ``confusion``'s rows and columns.

    Examples
    --------
    >>> b = BestClassifier("cn", "svm", 0.8, 0.1, 0.5, [[4, 1], [1, 4]], ["low", "high"])
    >>> BestClassifier.from_dict(b.to_dict()) == b
    True
    """

    feature_set: str
    classifier: str
    mean: float                     # accuracy, a fraction, mean over folds and repeats
    std: float
    chance: float                   # the share of the largest class
    confusion: list[list[int]]      # summed out-of-fold confusion matrix, true class by row
    class_names: list[str]


def best_classifier(cls_out: Mapping[str, Any], names: list[str]) -> BestClassifier | None:
    """The (feature set, classifier) of highest mean accuracy in one dataset's classification results
    (``classification_for_dataset``'s first value), with its confusion matrix; None when none ran.

    Parameters
    ----------
    cls_out : mapping
        Per feature set, a ``Classification``'s JSON object or a ``SkippedFeatureSet``'s.
    names : list of str
        The performance classes' names, by index.

    Returns
    -------
    BestClassifier or None

    Examples
    --------
    >>> out = {"cn": {"n": 10, "folds": 5, "repeats": 1, "chance": 0.5, "classes": [0, 1], "class_counts": [5, 5],
    ...               "notes": [], "classifiers": {"svm": {"mean": 0.8, "std": 0.1, "confusion": [[4, 1], [1, 4]]},
    ...                                            "knn": {"skipped": "too few networks"}}},
    ...        "bon": {"skipped": "Bag-of-Neurons disabled or produced no histograms"}}
    >>> b = best_classifier(out, ["low", "high"])
    >>> b.classifier, b.mean, b.class_names
    ('svm', 0.8, ['low', 'high'])
    >>> best_classifier({}, ["low", "high"]) is None
    True
    """
    best: BestClassifier | None = None
    for fs, res in read(dict[str, Classification | SkippedFeatureSet], cls_out).items():
        for name, r in (res.classifiers.items() if isinstance(res, Classification) else ()):
            if isinstance(r, Skipped):
                continue
            if best is None or r.mean > best.mean:
                best = BestClassifier(feature_set=fs, classifier=name, mean=r.mean, std=r.std, chance=res.chance,
                                      confusion=r.confusion, class_names=[names[c] for c in res.classes])
    return best

