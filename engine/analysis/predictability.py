"""How much of the spread of test accuracy any predictor could explain: the test set's noise ceiling.

A network's test accuracy is measured on a finite test set of n samples, so it carries sampling noise
of variance about acc (1 - acc) / n (binomial) around the accuracy the network would have on the
whole data distribution. Across the networks of a population the measured variance is the variance
of the true accuracies plus the mean noise variance, so no predictor, however good, can explain more
than the share of the measured variance that is not noise:

    ceiling = 1 - mean_i[acc_i (1 - acc_i) / n] / var_i(acc_i)

(the reliability of classical test theory; an R^2 of out-of-fold predictions is bounded by it).
The binomial noise treats test samples as independent draws for every network; networks that share
one test set err together on its hard samples, which makes the noise between networks smaller, so
this ceiling is conservative (the true ceiling is at least as high). With 360 test images and
networks within 1.5 points of each other (digits with torch's cross-entropy) the ceiling is near 0:
nothing is predictable, whatever the features.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def noise_ceiling(acc: np.ndarray, test_samples: int | None) -> dict[str, Any]:
    """Spread of ``acc`` (one dataset's eligible networks), its binomial sampling noise on a test set of
    ``test_samples`` samples, and the share of its variance that is not noise."""
    acc = np.asarray(acc, dtype=float)
    acc = acc[np.isfinite(acc)]
    out: dict[str, Any] = {"networks": int(acc.size), "test_samples": int(test_samples) if test_samples else None,
                           "acc_min": None, "acc_max": None, "acc_mean": None, "acc_sd": None,
                           "noise_sd": None, "ceiling": None}
    if acc.size < 2:
        return out
    var = float(acc.var(ddof=1))
    out.update(acc_min=float(acc.min()), acc_max=float(acc.max()), acc_mean=float(acc.mean()), acc_sd=var ** 0.5)
    if test_samples:
        noise_var = float(np.mean(acc * (1 - acc)) / test_samples)
        out["noise_sd"] = noise_var ** 0.5
        out["ceiling"] = max(0.0, 1.0 - noise_var / var) if var > 0 else 0.0
    return out


def predictability(networks: pd.DataFrame, regression: dict[str, Any]) -> dict[str, Any]:
    """Per dataset: the noise ceiling of test accuracy next to the best cross-validated R^2 and Kendall
    tau reached (over feature sets and regressors) and the share of the ceiling that R^2 is.

    ``networks``: the eligible networks (``test_acc``; ``test_samples`` when the run recorded it).
    ``regression``: the analysis' regression results, dataset -> feature set -> regressors.
    """
    out: dict[str, Any] = {}
    for ds, g in networks.groupby("dataset", sort=True):
        n_test = None
        if "test_samples" in g and g["test_samples"].notna().any():
            n_test = int(g["test_samples"].dropna().iloc[0])
        entry = noise_ceiling(g["test_acc"].to_numpy(), n_test)
        best = best_regression(regression.get(str(ds), {}))
        entry["best"] = best
        if best and entry["ceiling"] and best.get("r2") is not None:
            entry["share_of_ceiling"] = best["r2"] / entry["ceiling"]
        out[str(ds)] = entry
    return out


def best_regression(per_feature_set: dict[str, Any], feature_sets: list[str] | None = None) -> dict[str, Any]:
    """The (feature set, regressor) of highest mean out-of-fold R^2, with its Kendall tau; {} if none ran."""
    best: dict[str, Any] = {}
    for fs, res in per_feature_set.items():
        if feature_sets is not None and fs not in feature_sets:
            continue
        for name, r in (res.get("regressors") or {}).items():
            if r.get("r2_mean") is None:
                continue
            if not best or r["r2_mean"] > best["r2"]:
                best = {"feature_set": fs, "regressor": name, "r2": r["r2_mean"], "r2_sd": r["r2_std"],
                        "kendall_tau": r["kendall_tau"]}
    return best
