"""Paired populations (``population.compare``): what one arm changes against the other, seed by seed.

A paired run trains every network id once per arm, from the same init seed and data order
(``engine.arms``), so each id gives a pair: the two networks differ only in what the arms set (e.g.
``model.init.rewire``: the paper's init against its preferential-attachment rewiring). The first arm
(the first of ``population.compare``, the first in the tables' order) is the reference; every other
arm is compared with it, per benchmark, on the pairs where neither network diverged:

* final test accuracy: the paired differences (arm - reference), their mean with a t confidence
  interval, their median with a percentile bootstrap interval (``_BOOTSTRAP`` resamples, seeded), a
  two-sided Wilcoxon signed-rank test (zero differences ranked, then dropped: Pratt's method, since a
  finite test set makes ties common), the shares of pairs improved, tied and worse, and the effect
  size d_z = mean / sd of the differences;
* the difference at every epoch of the learning curves (does the arm speed up early training?);
* the strength variance of the initial networks per arm (``init_strength_var``, the quantity the
  rewiring paper lowers) and, where the measures ran at epoch 0, the variance of the hidden neurons'
  strength per layer; within each arm, the Spearman correlation of the initial strength variance with
  final accuracy (the rewiring paper's premise: higher variance, lower accuracy);
* with the Keras loss, the share of training samples the clip silences, per arm, at init and in the
  first epoch, and its paired difference;
* whether the structural predictors of performance change: the best out-of-fold R^2 of each feature
  set in each arm (each arm is analysed as a population of its own, ``arm_populations``).

``paired_analysis`` returns these numbers (JSON-ready) with a conclusion in words, and a table of the
per-epoch differences for the figures.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from engine.analysis.features import STRUCTURE
from engine.analysis.performance_classes import eligible_mask
from engine.analysis.predictability import best_regression
from engine.analysis.results import Record

__all__ = ["PairedStatistics", "arm_label", "arm_populations", "paired_analysis", "paired_statistics"]

_BOOTSTRAP = 9999
# below this out-of-fold R^2, a feature set predicts (next to) nothing: which one is "best" says nothing
_NO_PREDICTION = 0.05
# |d_z| thresholds of a small, medium and large effect (Cohen 1988)
_EFFECT_SIZES = ((0.2, "negligible"), (0.5, "small"), (0.8, "medium"), (np.inf, "large"))


def arm_label(dataset: Any, arm: Any) -> str:
    """The name one arm of one benchmark is analysed under, e.g. ``digits/pa``.

    Parameters
    ----------
    dataset : str
        The benchmark.
    arm : str
        The arm's name (``population.compare``).

    Returns
    -------
    str
        ``"{dataset}/{arm}"``.

    Examples
    --------
    >>> arm_label("digits", "pa")
    'digits/pa'
    """
    return f"{dataset}/{arm}"


def arm_populations(table: pd.DataFrame | None) -> pd.DataFrame | None:
    """``table`` with each arm as a dataset of its own: what every part of the analysis made for one population runs on.

    Parameters
    ----------
    table : pd.DataFrame or None
        A networks or neurons table with ``dataset`` and, in a paired run, ``arm`` columns.

    Returns
    -------
    pd.DataFrame or None
        A copy with ``dataset`` = ``arm_label(dataset, arm)`` and no ``arm`` column, the index kept;
        ``table`` itself where it is None, empty or has no ``arm`` column.

    Examples
    --------
    >>> t = pd.DataFrame({"dataset": ["digits"] * 4, "arm": ["paper", "pa"] * 2, "network": [0, 0, 1, 1],
    ...                   "test_acc": [0.9, 0.92, 0.8, 0.85]})
    >>> arm_populations(t)
            dataset  network  test_acc
    0  digits/paper        0      0.90
    1     digits/pa        0      0.92
    2  digits/paper        1      0.80
    3     digits/pa        1      0.85
    """
    if table is None or not len(table) or "arm" not in table.columns:
        return table
    return table.assign(dataset=[arm_label(d, a) for d, a in zip(table["dataset"], table["arm"])]).drop(columns="arm")


@dataclass
class PairedStatistics(Record):
    """Statistics of one set of paired differences (arm - reference), the JSON object ``paired_statistics`` returns.

    E.g. ``final_test_acc`` of each comparison in ``analysis/paired.json``; the report reads it back with
    ``PairedStatistics.from_dict``. A field is None where n is too small (below 1 for the mean,
    median and shares; below 2 for the rest).

    Attributes
    ----------
    n : int
        Pairs with a finite difference.
    mean, median, sd : float or None
        Of the differences (sd with ddof=1), in their units (e.g. test accuracy, a fraction).
    mean_ci : list of float or None
        [low, high]: the t interval of the mean.
    median_ci : list of float or None
        [low, high]: the percentile bootstrap interval of the median.
    dz : float or None
        Cohen's d_z = mean / sd (None where sd is 0).
    wilcoxon_stat, wilcoxon_p : float or None
        The two-sided Wilcoxon signed-rank test, zeros by Pratt's method (p = 1 when no pair differs).
    improved, tied, worse : float or None
        Shares of pairs with a difference > 0, = 0, < 0.

    Examples
    --------
    >>> s = PairedStatistics.from_dict(paired_statistics(np.array([0.02, 0.01, 0.03, 0.0, 0.02, -0.01])))
    >>> s.n, s.median, s.median_ci, s.wilcoxon_p
    (6, 0.015, [-0.005, 0.025], 0.1875)
    """

    n: int
    mean: float | None = None
    mean_ci: list[float] | None = None        # t interval on the differences
    median: float | None = None
    median_ci: list[float] | None = None      # percentile bootstrap interval
    sd: float | None = None
    dz: float | None = None                   # mean / sd (Cohen's d_z)
    wilcoxon_stat: float | None = None
    wilcoxon_p: float | None = None           # two-sided signed-rank, zeros by Pratt's method
    improved: float | None = None             # shares of pairs
    tied: float | None = None
    worse: float | None = None


def paired_statistics(diff: np.ndarray, alpha: float = 0.05, seed: int = 0) -> dict[str, Any]:
    """Statistics of paired differences (one per pair).

    Parameters
    ----------
    diff : numpy.ndarray
        (n,) differences arm - reference; non-finite values are left out.
    alpha : float
        1 - the confidence level of the intervals.
    seed : int
        Seed of the bootstrap resampling.

    Returns
    -------
    dict
        ``n``; ``mean`` with ``mean_ci`` (t interval on the differences); ``median`` with ``median_ci``
        (percentile bootstrap, ``_BOOTSTRAP`` resamples); ``sd``; ``dz`` (mean / sd); ``wilcoxon_p``
        (two-sided signed-rank, Pratt's treatment of zeros; 1 when no pair differs) and its statistic;
        ``improved``, ``tied``, ``worse`` (shares of pairs). None where n is too small.

    References
    ----------
    Wilcoxon, Biometrics Bulletin 1 (1945) 80; Pratt, JASA 54 (1959) 655; Efron & Tibshirani,
    An Introduction to the Bootstrap (1993).

    Examples
    --------
    >>> s = paired_statistics(np.array([0.02, 0.01, 0.03, 0.0, 0.02, -0.01]))
    >>> s["n"], round(s["mean"], 4), s["median"], round(s["improved"], 3)
    (6, 0.0117, 0.015, 0.667)
    """
    d = np.asarray(diff, dtype=float)
    d = d[np.isfinite(d)]
    out = PairedStatistics(n=int(d.size))
    if out.n == 0:
        return out.to_dict()
    out.mean, out.median = float(d.mean()), float(np.median(d))
    out.improved, out.tied, out.worse = float((d > 0).mean()), float((d == 0).mean()), float((d < 0).mean())
    if out.n < 2:
        return out.to_dict()
    out.sd = float(d.std(ddof=1))
    out.mean_ci = _t_interval(d, alpha)
    out.dz = out.mean / out.sd if out.sd > 0 else None
    out.median_ci = _median_interval(d, alpha, seed)
    out.wilcoxon_stat, out.wilcoxon_p = _wilcoxon(d)
    return out.to_dict()


def _median_interval(d: np.ndarray, alpha: float, seed: int) -> list[float]:
    """Percentile bootstrap interval of the median (``_BOOTSTRAP`` resamples); a point when all d are equal."""
    if np.ptp(d) == 0:
        return [float(np.median(d))] * 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ci = stats.bootstrap((d,), np.median, confidence_level=1 - alpha, n_resamples=_BOOTSTRAP,
                             method="percentile", random_state=seed, batch=500).confidence_interval
    return [float(ci.low), float(ci.high)]


def _wilcoxon(d: np.ndarray) -> tuple[float | None, float]:
    """(statistic, p) of the two-sided signed-rank test, zeros by Pratt's method; (None, 1) when no pair differs."""
    if not (d != 0).any():
        return None, 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = stats.wilcoxon(d, zero_method="pratt", alternative="two-sided")
    return float(w.statistic), float(w.pvalue)


def _t_interval(d: np.ndarray, alpha: float) -> list[float]:
    half = stats.t.ppf(1 - alpha / 2, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
    return [float(d.mean() - half), float(d.mean() + half)]


def _effect_size(dz: float | None) -> str:
    """Cohen's words for |d_z|: negligible (< 0.2), small, medium (>= 0.5), large (>= 0.8)."""
    if dz is None:
        return "undetermined"
    return next(word for limit, word in _EFFECT_SIZES if abs(dz) < limit)


def _arms_of(networks: pd.DataFrame) -> list[str]:
    """The arms of a paired networks table, the reference first (their order of first appearance)."""
    return [str(a) for a in dict.fromkeys(networks["arm"])]


def paired_analysis(networks: pd.DataFrame, curves: pd.DataFrame | None = None,
                    neurons: pd.DataFrame | None = None, summary: dict[str, Any] | None = None,
                    alpha: float = 0.05, seed: int = 0) -> tuple[dict[str, Any], pd.DataFrame]:
    """Every arm against the reference, per benchmark (see the module docstring).

    Parameters
    ----------
    networks : pandas.DataFrame
        One row per network and arm: ``dataset``, ``arm``, ``network``, ``test_acc``; optional
        ``diverged``, ``init_strength_var``.
    curves : pandas.DataFrame, optional
        ``dataset``, ``arm``, ``network``, ``epoch``, ``test_acc`` (and ``train_silenced``).
    neurons : pandas.DataFrame, optional
        ``dataset``, ``arm``, ``network``, ``epoch``, ``layer``, ``strength``: epoch 0 gives the
        strength variance of the hidden layers at init.
    summary : dict, optional
        The analysis summary of the arms as populations of their own (``arm_populations``): its
        ``regression`` gives the best R^2 per feature set and arm.
    alpha, seed : float, int
        Confidence level 1 - alpha of the intervals and test level; bootstrap seed.

    Returns
    -------
    (dict, pandas.DataFrame)
        ``{"reference", "arms", "alpha", "method", "datasets": {ds: {"arms": per-arm numbers,
        "comparisons": {arm: numbers}}}, "conclusion": {ds: {"sentences", "headline"}}}`` and the
        per-epoch differences (``dataset``, ``arm``, ``metric``, ``epoch``, ``n``, ``mean``, ``low``,
        ``high``, ``median``, ``improved``).

    Examples
    --------
    >>> nets = pd.DataFrame({"dataset": "toy", "arm": ["none"] * 4 + ["pa"] * 4, "network": [0, 1, 2, 3] * 2,
    ...                      "test_acc": [0.5, 0.6, 0.7, 0.8, 0.55, 0.62, 0.71, 0.86]})
    >>> out, _ = paired_analysis(nets)
    >>> c = out["datasets"]["toy"]["comparisons"]["pa"]["final_test_acc"]
    >>> round(c["mean"], 3), c["improved"]
    (0.035, 1.0)
    """
    arms = _arms_of(networks)
    ref = arms[0]
    out: dict[str, Any] = {"reference": ref, "arms": arms, "alpha": alpha, "method": _METHOD, "datasets": {},
                           "conclusion": {}}
    epoch_rows: list[dict[str, Any]] = []
    nets = networks.assign(arm=networks["arm"].astype(str), dataset=networks["dataset"].astype(str))
    nets = nets.assign(eligible=eligible_mask(nets).to_numpy())
    for ds, g in nets.groupby("dataset", sort=True):
        acc = g.pivot(index="network", columns="arm", values="test_acc")
        ok = g.pivot(index="network", columns="arm", values="eligible").reindex(columns=arms)
        entry: dict[str, Any] = {"arms": {}, "comparisons": {}}
        cur = _for_dataset(curves, ds)
        for arm in arms:
            entry["arms"][arm] = _arm_numbers(g[g["arm"] == arm], cur, _for_dataset(neurons, ds), arm,
                                              (summary or {}).get("regression", {}).get(arm_label(ds, arm), {}),
                                              (summary or {}).get("predictability", {}).get(arm_label(ds, arm), {}))
        for arm in arms[1:]:
            entry["comparisons"][arm], rows = _comparison(g, acc, ok, ref, arm, cur, alpha, seed)
            epoch_rows += [{"dataset": ds, **r} for r in rows]
        out["datasets"][ds] = entry
        out["conclusion"][ds] = _conclusion(ds, ref, entry, alpha)
    columns = ["dataset", "arm", "metric", "epoch", "n", "mean", "low", "high", "median", "improved"]
    return out, pd.DataFrame(epoch_rows, columns=columns)


def _comparison(g: pd.DataFrame, acc: pd.DataFrame, ok: pd.DataFrame, ref: str, arm: str, cur: pd.DataFrame | None,
                alpha: float, seed: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One arm against the reference on one benchmark: the pairs, the final accuracy's paired statistics,
    the strength variance at init, and the per-epoch differences (also as rows of the epochs table)."""
    if arm not in acc.columns or ref not in acc.columns:
        return {"skipped": f"no networks of arm {arm if arm not in acc else ref}"}, []
    both = ok[ref].fillna(False).astype(bool) & ok[arm].fillna(False).astype(bool)
    pairs = both.index[both.to_numpy()]
    comp = {"pairs": int(len(pairs)),
            "pairs_incomplete": int(acc[[ref, arm]].isna().any(axis=1).sum()),
            "pairs_excluded_diverged": int((~both & acc[[ref, arm]].notna().all(axis=1)).sum()),
            "final_test_acc": paired_statistics((acc.loc[pairs, arm] - acc.loc[pairs, ref]).to_numpy(), alpha, seed)}
    if "init_strength_var" in g.columns:
        sv = g.pivot(index="network", columns="arm", values="init_strength_var")
        ratio = (sv.loc[pairs, arm] / sv.loc[pairs, ref]).to_numpy(dtype=float)
        comp["init_strength_var_ratio_median"] = _median(ratio)
        comp["init_strength_var_lower_share"] = float((ratio < 1).mean()) if len(ratio) else None
    rows: list[dict[str, Any]] = []
    if cur is not None:
        by_epoch = _by_epoch(cur, ref, arm, pairs, alpha)
        comp["by_epoch"] = {m: r for m, r in by_epoch.items()}
        rows = [{"arm": arm, "metric": m, **r} for m, ms in by_epoch.items() for r in ms]
    return comp, rows


_METHOD = ("pairs: the same network id (init seed and data order) in each arm, both networks not diverged; "
           "differences arm - reference; mean with a t interval on the differences, median with a percentile "
           f"bootstrap interval ({_BOOTSTRAP} resamples); two-sided Wilcoxon signed-rank test, zero differences "
           "by Pratt's method; d_z = mean / sd of the differences (Cohen: 0.2 small, 0.5 medium, 0.8 large)")


def _for_dataset(table: pd.DataFrame | None, ds: str) -> pd.DataFrame | None:
    if table is None or not len(table) or "arm" not in table.columns:
        return None
    rows = table[table["dataset"].astype(str) == ds]
    return rows.assign(arm=rows["arm"].astype(str)) if len(rows) else None


def _median(v: np.ndarray) -> float | None:
    v = np.asarray(v, dtype=float)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else None


def _arm_numbers(g: pd.DataFrame, curves: pd.DataFrame | None, neurons: pd.DataFrame | None, arm: str,
                 regression: dict[str, Any], predictability: dict[str, Any]) -> dict[str, Any]:
    """One arm of one benchmark: its accuracy, initial strength variance, silenced shares, predictors."""
    used = g[g["eligible"]]
    acc = used["test_acc"].astype(float).to_numpy()
    out: dict[str, Any] = {"networks": int(len(g)), "used": int(len(used)),
                           "acc_mean": float(acc.mean()) if acc.size else None,
                           "acc_median": _median(acc), "acc_sd": float(acc.std(ddof=1)) if acc.size > 1 else None,
                           "acc_min": float(acc.min()) if acc.size else None,
                           "acc_max": float(acc.max()) if acc.size else None}
    if "init_strength_var" in g.columns:
        sv = used["init_strength_var"].astype(float).to_numpy()
        out["init_strength_var_median"] = _median(sv)
        out["init_strength_var_mean"] = float(np.nanmean(sv)) if np.isfinite(sv).any() else None
        out["init_strength_var_vs_acc"] = _spearman(sv, acc)
    if neurons is not None and "strength" in neurons.columns:
        init = neurons[(neurons["arm"] == arm) & (neurons["epoch"] == 0)]
        if len(init):
            var = init.groupby(["network", "layer"])["strength"].var(ddof=1)
            out["hidden_strength_var_init"] = {f"l{int(layer)}": _median(v.to_numpy())
                                               for layer, v in var.groupby(level="layer")}
    if curves is not None and "train_silenced" in curves.columns:
        c = curves[(curves["arm"] == arm) & curves["network"].isin(used["network"])]
        sil = c.groupby("epoch")["train_silenced"].mean()
        if len(sil):
            out["silenced"] = {"init": float(sil.get(0, np.nan)), "epoch1": float(sil.get(1, np.nan)),
                               "last": float(sil.iloc[-1]),
                               "mean_over_training": float(sil[sil.index > 0].mean()) if (sil.index > 0).any()
                               else None}
    if regression:
        out["best_r2"] = {fs: best_regression(regression, [fs]).get("r2") for fs in STRUCTURE if fs in regression}
        out["best"] = best_regression(regression, [fs for fs in STRUCTURE if fs in regression])
    if predictability.get("ceiling") is not None:
        out["noise_ceiling"] = predictability["ceiling"]
    return out


def _spearman(x: np.ndarray, y: np.ndarray) -> dict[str, Any] | None:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return None
    r = stats.spearmanr(x[ok], y[ok])
    return {"rho": float(r.statistic), "p": float(r.pvalue), "n": int(ok.sum())}


def _by_epoch(curves: pd.DataFrame, ref: str, arm: str, pairs: pd.Index, alpha: float) -> dict[str, list[dict]]:
    """Paired differences of test accuracy (and of the silenced share, when there is one) at every epoch."""
    c = curves[curves["network"].isin(pairs)]
    metrics = ["test_acc"] + (["train_silenced"] if "train_silenced" in c and (c["train_silenced"] > 0).any() else [])
    out: dict[str, list[dict]] = {}
    for m in metrics:
        wide = c.pivot_table(index=["epoch", "network"], columns="arm", values=m, aggfunc="first")
        if ref not in wide or arm not in wide:
            continue
        rows = []
        for epoch, w in (wide[arm] - wide[ref]).groupby(level="epoch"):
            d = w.to_numpy(dtype=float)
            d = d[np.isfinite(d)]
            if not d.size:
                continue
            lo, hi = _t_interval(d, alpha) if d.size > 1 else (None, None)
            rows.append({"epoch": int(epoch), "n": int(d.size), "mean": float(d.mean()), "low": lo, "high": hi,
                         "median": float(np.median(d)), "improved": float((d > 0).mean())})
        out[m] = rows
    return out


# --- in words ---------------------------------------------------------------------------------------------

def _conclusion(ds: str, ref: str, entry: dict[str, Any], alpha: float) -> dict[str, Any]:
    sentences, heads = [], []
    for arm, comp in entry["comparisons"].items():
        if "skipped" in comp:
            sentences.append(f"{ds}: {arm} against {ref} not compared: {comp['skipped']}.")
            continue
        s = comp["final_test_acc"]
        if s["n"] < 2:
            sentences.append(f"{ds}: {s['n']} complete pair(s) of {arm} and {ref}: too few to compare.")
            continue
        a, r = entry["arms"][arm], entry["arms"][ref]
        sentences.append(
            f"{ds}, {s['n']} pairs of networks (same init seed and data order), {arm} against {ref}: final test "
            f"accuracy {_f(r['acc_mean'])} -> {_f(a['acc_mean'])} on average; paired difference mean "
            f"{_s(s['mean'])} (95% CI {_ci(s['mean_ci'])}), median {_s(s['median'])} (95% CI {_ci(s['median_ci'])}); "
            f"{arm} is better in {s['improved']:.0%} of the pairs, worse in {s['worse']:.0%}, tied in "
            f"{s['tied']:.0%}; Wilcoxon signed-rank p = {_p(s['wilcoxon_p'])}.")
        verdict = _verdict(s, alpha)
        effect = f" ({_effect_size(s['dz'])} effect, d_z = {s['dz']:+.2f})" if s["dz"] is not None else ""
        sentences.append(f"No difference in final test accuracy is detected at alpha = {alpha:g}{effect}."
                         if verdict == "no detectable difference" else
                         f"So {arm} {verdict} final test accuracy{effect}.")
        lower = comp.get("init_strength_var_ratio_median")
        if lower is not None and r.get("init_strength_var_median") is not None:
            sentences.append(f"At init, the strength variance of {arm}'s networks is {lower:.0%} of their {ref} "
                             f"partners' (median; {r['init_strength_var_median']:.3g} -> "
                             f"{a['init_strength_var_median']:.3g}).")
            if lower < 1:
                sentences.append(_claim(s, alpha))
            rho = r.get("init_strength_var_vs_acc")
            if rho:
                sentences.append(f"Within the {ref} arm, the initial strength variance correlates with final accuracy "
                                 f"at Spearman rho {rho['rho']:+.2f} (p = {_p(rho['p'])}).")
        early = _early(comp.get("by_epoch", {}).get("test_acc", []))
        if early:
            sentences.append(early)
        if any((x.get("silenced") or {}).get("init", 0) > 0 or (x.get("silenced") or {}).get("epoch1", 0) > 0
               for x in (a, r)):   # the Keras clip silenced samples (never with cross_entropy)
            sentences.append(_silenced(arm, ref, a.get("silenced") or {}, r.get("silenced") or {},
                                       comp.get("by_epoch", {}).get("train_silenced", [])))
        pred = _predictors(arm, ref, a, r)
        if pred:
            sentences.append(pred)
        heads.append(f"{ds}: {arm} - {ref} test accuracy {_s(s['mean'])} (95% CI {_ci(s['mean_ci'])}), median "
                     f"{_s(s['median'])}, better in {s['improved']:.0%} of {s['n']} pairs, Wilcoxon p = "
                     f"{_p(s['wilcoxon_p'])}: {verdict}")
    return {"sentences": sentences, "headline": "; ".join(heads) or ds}


def _verdict(s: dict[str, Any], alpha: float) -> str:
    if s["wilcoxon_p"] is None or s["wilcoxon_p"] >= alpha:
        return "no detectable difference"
    return "raises" if (s["median"] > 0 or (s["median"] == 0 and s["mean"] > 0)) else "lowers"


def _claim(s: dict[str, Any], alpha: float) -> str:
    claim = ("The rewiring paper's claim (Scabini, De Baets & Bruno 2024) that lowering the strength variance "
             "at init improves accuracy")
    if s["wilcoxon_p"] is None or s["wilcoxon_p"] >= alpha:
        return f"{claim} is not supported here: no detectable difference."
    up = s["median"] > 0 or (s["median"] == 0 and s["mean"] > 0)
    if not up:
        return f"{claim} is contradicted here: accuracy falls ({_effect_size(s['dz'])} effect)."
    how = {"negligible": "holds here, but the gain is negligible", "small": "holds here, with a small effect",
           "medium": "holds here, with a medium effect", "large": "holds here, strongly"}.get(_effect_size(s["dz"]),
                                                                                          "holds here")
    return f"{claim} {how} (d_z = {s['dz']:+.2f})."


def _early(rows: list[dict[str, Any]]) -> str:
    if len(rows) < 2:
        return ""
    by = {r["epoch"]: r for r in rows}
    last = rows[-1]
    peak = max(rows, key=lambda r: abs(r["mean"]))
    parts = [f"epoch {e}: {_s(by[e]['mean'])}" for e in (1, 2, 5) if e in by and e < last["epoch"]]
    text = "Over training, the mean paired difference of test accuracy is " + ", ".join(
        parts + [f"epoch {last['epoch']} (the end): {_s(last['mean'])}"])
    if peak["epoch"] != last["epoch"]:
        text += f"; largest in size at epoch {peak['epoch']} ({_s(peak['mean'])})"
    return text + "."


def _silenced(arm: str, ref: str, a: dict, r: dict, rows: list[dict]) -> str:
    text = (f"With the Keras loss, the clip silences {_pc(a.get('init'))} of the training samples at init and "
            f"{_pc(a.get('epoch1'))} in the first epoch for {arm}, against {_pc(r.get('init'))} and "
            f"{_pc(r.get('epoch1'))} for {ref}")
    e1 = next((row for row in rows if row["epoch"] == 1), None)
    if e1 and e1["low"] is not None:
        text += (f" (paired difference in the first epoch {e1['mean']:+.1%}, 95% CI {e1['low']:+.1%} to "
                 f"{e1['high']:+.1%})")
    return text + "."


def _predictors(arm: str, ref: str, a: dict, r: dict) -> str:
    ra, rr = a.get("best_r2") or {}, r.get("best_r2") or {}
    common = [fs for fs in STRUCTURE if ra.get(fs) is not None and rr.get(fs) is not None]
    if not common:
        return ""
    per = ", ".join(f"{fs} {rr[fs]:.2f} -> {ra[fs]:.2f}" for fs in common)
    ba, br = a.get("best") or {}, r.get("best") or {}
    text = f"Structural predictors of final accuracy (best out-of-fold R^2, {ref} -> {arm}): {per}"
    if max(rr[fs] for fs in common) < _NO_PREDICTION and max(ra[fs] for fs in common) < _NO_PREDICTION:
        return text + f"; structure predicts final accuracy in neither arm (R^2 below {_NO_PREDICTION:g})."
    if ba and br:
        same = ba["feature_set"] == br["feature_set"]
        text += (f"; the best feature set is {br['feature_set']} in both arms" if same else
                 f"; the best feature set changes from {br['feature_set']} to {ba['feature_set']}")
    return text + "."


def _f(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _s(v: float | None) -> str:
    return "n/a" if v is None else f"{v:+.4f}"


def _ci(ci: list[float] | None) -> str:
    return "n/a" if not ci else f"{ci[0]:+.4f} to {ci[1]:+.4f}"


def _p(p: float | None) -> str:
    return "n/a" if p is None else f"{p:.2g}"


def _pc(v: float | None) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.0%}"
