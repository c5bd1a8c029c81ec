"""How much of the spread of test accuracy any predictor could explain: the test set's noise ceiling, and
the one rule that decides whether there is a spread to explain at all.

A network's test accuracy is measured on a finite test set of n samples, so it carries binomial
sampling noise around the accuracy p it would have on the whole data distribution. Across the networks
of a population the measured variance is the variance of the true accuracies plus the mean noise
variance mean_i[p_i (1 - p_i)] / n, so no predictor, however good, can explain more than the share of
the measured variance that is not noise:

    ceiling = 1 - noise / var_i(acc_i),   noise = m (1 - m) / n,   m = mean_i(acc_i)

(the reliability of classical test theory; an R^2 of out-of-fold predictions is bounded by it). The
noise is the binomial variance of a network at the population's mean accuracy: since
mean_i[p_i (1 - p_i)] = m (1 - m) - var_i(p_i), it is at least the mean noise, never less, and it is
not zero when single networks score 0 or 1 (a network's own acc (1 - acc) / n would call a network
that got its one test sample right noiseless). The variance is the population's (divided by the number
of networks), the one m (1 - m) is consistent with: with a test set of one sample every accuracy is 0
or 1, the variance is exactly m (1 - m) and the ceiling exactly 0 (``acc_sd``, the spread reported, is
the usual sample standard deviation). The binomial noise treats test
samples as independent draws for every network; networks that share one test set err together on its
hard samples, which makes the noise between networks smaller, so this ceiling is conservative (the
true ceiling is at least as high).

No spread (``no_spread``): when every network has the same test accuracy, or the variance between
networks is no larger than the noise (ceiling 0), there is nothing a predictor could explain:
regression, performance classes, classification, correlations with accuracy and early prediction are
undefined for that dataset, and the analysis computes none of them and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from engine.analysis.classification import Regression, RegressorScore, SkippedFeatureSet
from engine.analysis.results import Record, read

__all__ = ["BestRegression", "Predictability", "best_regression", "noise_ceiling", "predictability", "without_spread"]


def noise_ceiling(acc: np.ndarray, test_samples: int | None) -> dict[str, Any]:
    """The spread of one dataset's test accuracies, their test-set noise and the share of variance not noise.

    See the module's docstring for the rules.

    Parameters
    ----------
    acc : (N,) float array
        Test accuracy (a fraction) of one dataset's eligible networks; non-finite values are left out.
    test_samples : int or None
        The test set's size (None: unknown, no noise estimate).

    Returns
    -------
    dict
        ``networks``, ``test_samples``, ``acc_min``, ``acc_max``, ``acc_mean``, ``acc_sd`` (sample sd),
        ``noise_sd`` (binomial sampling sd), ``ceiling`` (the highest R^2 any predictor can reach) and
        ``no_spread`` (why there is no spread to explain; None when there is one): the fields of a
        ``Predictability`` but ``best``.

    Examples
    --------
    >>> out = noise_ceiling([0.0, 1.0, 1.0, 0.0], test_samples=1)   # one test sample: all noise
    >>> out["noise_sd"], out["ceiling"], out["no_spread"][:72]
    (0.5, 0.0, 'the spread of test accuracy between networks (population sd 0.500) is no')
    >>> noise_ceiling([0.8, 0.8, 0.8], 100)["no_spread"]
    'every network has the same test accuracy (0.800)'
    """
    acc = np.asarray(acc, dtype=float)
    acc = acc[np.isfinite(acc)]
    out: dict[str, Any] = {"networks": int(acc.size), "test_samples": int(test_samples) if test_samples else None,
                           "acc_min": None, "acc_max": None, "acc_mean": None, "acc_sd": None,
                           "noise_sd": None, "ceiling": None, "no_spread": None}
    if acc.size < 2:
        out["no_spread"] = f"{acc.size} network(s): a spread of test accuracy needs at least 2"
        return out
    mean = float(acc.mean())
    var = float(np.mean((acc - mean) ** 2))   # the population's variance: the one m (1 - m) is consistent with
    out.update(acc_min=float(acc.min()), acc_max=float(acc.max()), acc_mean=mean, acc_sd=float(acc.std(ddof=1)))
    if test_samples:
        noise_var = mean * (1 - mean) / test_samples
        out["noise_sd"] = noise_var ** 0.5
        out["ceiling"] = max(0.0, 1.0 - noise_var / var) if var > 0 else 0.0
    if float(acc.max()) == float(acc.min()):
        out["no_spread"] = f"every network has the same test accuracy ({mean:.3f})"
    elif out["ceiling"] is not None and out["ceiling"] <= 0:
        out["no_spread"] = (f"the spread of test accuracy between networks (population sd {var ** 0.5:.3f}) is no "
                            f"larger than the sampling noise of a test set of {test_samples} sample(s) "
                            f"(sd {out['noise_sd']:.3f})")
    return out


@dataclass
class BestRegression(Record):
    """The (feature set, regressor) of highest mean out-of-fold R^2 of test accuracy (``best_regression``).

    Attributes
    ----------
    feature_set, regressor : str
    r2 : float
        Out-of-fold R^2, mean over folds (below 0: worse than predicting the mean).
    r2_sd : float or None
    kendall_tau : float or None
        Of the out-of-fold predictions with the truth.

    Examples
    --------
    >>> BestRegression("cn", "ridge", 0.4, 0.1, 0.5).to_dict()
    {'feature_set': 'cn', 'regressor': 'ridge', 'r2': 0.4, 'r2_sd': 0.1, 'kendall_tau': 0.5}
    """

    feature_set: str
    regressor: str
    r2: float                       # out-of-fold R^2, mean over folds; below 0: worse than predicting the mean
    r2_sd: float | None
    kendall_tau: float | None


@dataclass
class Predictability(Record):
    """How much of one dataset's spread of test accuracy is predictable.

    ``analysis/predictability.json`` holds one per dataset.

    Attributes
    ----------
    networks, test_samples, acc_min, acc_max, acc_mean, acc_sd, noise_sd, ceiling, no_spread
        ``noise_ceiling``'s numbers (accuracies as fractions).
    best : BestRegression or None
        The best regression (None, {} in the JSON, when none ran).
    share_of_ceiling : float or None
        The best R^2 as a share of the ceiling (left out of the JSON when unknown).

    Examples
    --------
    >>> p = Predictability(**noise_ceiling([0.6, 0.7, 0.8, 0.9], 1000), best=None)
    >>> round(p.ceiling, 3), p.to_dict()["best"]
    (0.985, {})
    """

    networks: int
    test_samples: int | None
    acc_min: float | None
    acc_max: float | None
    acc_mean: float | None
    acc_sd: float | None
    noise_sd: float | None          # binomial sampling sd of test accuracy on the test set
    ceiling: float | None           # the highest R^2 any predictor can reach: the share of variance that is not noise
    no_spread: str | None           # why there is no spread to explain; None when there is one
    best: BestRegression | None
    share_of_ceiling: float | None = None

    _OMIT_IF_NONE = ("share_of_ceiling",)
    _EMPTY_IF_NONE = ("best",)


def predictability(networks: pd.DataFrame, regression: dict[str, Any] | None = None) -> dict[str, Any]:
    """Per dataset: the noise ceiling of test accuracy (and ``no_spread``, see ``noise_ceiling``) next to
    the best cross-validated R^2 and Kendall tau reached (over feature sets and regressors) and the share
    of the ceiling that R^2 is.

    Parameters
    ----------
    networks : pandas.DataFrame
        The eligible networks: ``dataset``, ``test_acc`` (fraction); ``test_samples`` when the run recorded it.
    regression : dict, optional
        The analysis' regression results, dataset -> feature set -> regressors (None: none yet).

    Returns
    -------
    dict
        Per dataset, a ``Predictability``'s JSON object.

    Examples
    --------
    >>> nets = pd.DataFrame({"dataset": "toy", "test_acc": [0.6, 0.7, 0.8, 0.9], "test_samples": 1000})
    >>> p = Predictability.from_dict(predictability(nets)["toy"])
    >>> round(p.ceiling, 3), p.no_spread, p.best
    (0.985, None, None)
    """
    out: dict[str, Any] = {}
    for ds, g in networks.groupby("dataset", sort=True):
        n_test = None
        if "test_samples" in g and g["test_samples"].notna().any():
            n_test = int(g["test_samples"].dropna().iloc[0])
        best = best_regression((regression or {}).get(str(ds), {}))
        entry = Predictability(**noise_ceiling(g["test_acc"].to_numpy(), n_test),
                               best=BestRegression.from_dict(best) if best else None)
        if entry.best and entry.ceiling:
            entry.share_of_ceiling = entry.best.r2 / entry.ceiling
        out[str(ds)] = entry.to_dict()
    return out


def best_regression(per_feature_set: Mapping[str, Any], feature_sets: list[str] | None = None) -> dict[str, Any]:
    """The (feature set, regressor) of highest mean out-of-fold R^2, with its Kendall tau.

    Parameters
    ----------
    per_feature_set : mapping
        One dataset's regression results: per feature set a ``Regression``'s JSON object or a
        ``SkippedFeatureSet``'s (``classification_for_dataset``'s second value).
    feature_sets : list of str, optional
        Only these feature sets (None: all).

    Returns
    -------
    dict
        A ``BestRegression``'s JSON object; {} when no regressor gave an R^2.

    Examples
    --------
    >>> reg = {"cn": {"n": 8, "folds": 4, "repeats": 1, "regressors": {
    ...            "ridge": {"r2_mean": 0.4, "r2_std": 0.1, "kendall_tau": 0.5},
    ...            "random_forest": {"r2_mean": 0.6, "r2_std": 0.2, "kendall_tau": 0.55}}},
    ...        "weights": {"skipped": "no w_l* weight-statistics columns"}}
    >>> best_regression(reg)
    {'feature_set': 'cn', 'regressor': 'random_forest', 'r2': 0.6, 'r2_sd': 0.2, 'kendall_tau': 0.55}
    >>> best_regression(reg, ["weights"])
    {}
    """
    best: BestRegression | None = None
    ran = {fs: res for fs, res in per_feature_set.items() if res}   # {}: a feature set not asked for
    for fs, res in read(dict[str, Regression | SkippedFeatureSet], ran).items():
        if (feature_sets is not None and fs not in feature_sets) or not isinstance(res, Regression):
            continue
        for name, r in res.regressors.items():
            if not isinstance(r, RegressorScore) or r.r2_mean is None:
                continue
            if best is None or r.r2_mean > best.r2:
                best = BestRegression(fs, name, r.r2_mean, r.r2_std, r.kendall_tau)
    return best.to_dict() if best else {}


def without_spread(networks: pd.DataFrame) -> dict[str, str]:
    """The datasets without a spread of test accuracy to explain, and why.

    The one rule every part of the analysis reads: regression, performance classes, classification,
    correlations with accuracy and early prediction are not computed for these datasets.

    Parameters
    ----------
    networks : pandas.DataFrame
        The eligible networks: ``dataset``, ``test_acc`` (a fraction); ``test_samples`` when recorded.

    Returns
    -------
    dict of str to str
        Per dataset without a spread, ``noise_ceiling``'s ``no_spread``.

    Examples
    --------
    >>> nets = pd.DataFrame({"dataset": ["a", "a", "b", "b"], "test_acc": [0.5, 0.5, 0.6, 0.7]})
    >>> without_spread(nets)
    {'a': 'every network has the same test accuracy (0.500)'}
    """
    return {ds: e["no_spread"] for ds, e in predictability(networks).items() if e["no_spread"]}
