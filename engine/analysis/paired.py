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

``paired_analysis`` returns these numbers with a conclusion in words, as the JSON object of a ``Paired``
record (``analysis/paired.json``; its parts: ``DatasetPairs``, ``Arm``, ``Comparison``, ``PairedStatistics``,
``EpochDifference``, ``PairedConclusion``), which the report reads back with ``Paired.from_dict``, and a table
of the per-epoch differences for the figures.
"""

from __future__ import annotations

import typing
import warnings
from dataclasses import dataclass
from typing import Any, Mapping, TypeVar

import numpy as np
import pandas as pd
from scipy import stats

from engine.analysis.correlations import Correlation
from engine.analysis.features import STRUCTURE
from engine.analysis.performance_classes import eligible_mask
from engine.analysis.predictability import BestRegression, Predictability, best_regression
from engine.analysis.results import Record, Skipped, read

__all__ = ["Arm", "ArmStrengthVariance", "Comparison", "DatasetPairs", "EpochDifference", "Paired",
           "PairedConclusion", "PairedStatistics", "Silenced", "StrengthVarianceRatio", "arm_label",
           "arm_populations", "paired_analysis", "paired_statistics"]

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


_F = TypeVar("_F", bound="_Flattened")


class _Flattened(Record):
    """A record some of whose fields are records written inline: the keys of a field named in ``_FLAT`` are its
    record's keys prefixed with the field's name (``init_strength_var`` + ``median`` ->
    ``init_strength_var_median``), all of them left out while it is None. So a group of keys the JSON holds
    only together (even as nulls), where the run had their input, is one optional object here."""

    _FLAT: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, v in super().to_dict().items():
            if key in self._FLAT:
                out.update({f"{key}_{k}": x for k, x in v.items()})
            else:
                out[key] = v
        return out

    @classmethod
    def from_dict(cls: type[_F], data: Mapping[str, Any]) -> _F:
        obj = super().from_dict(data)
        hints = typing.get_type_hints(cls)
        for name in cls._FLAT:
            inner = {k[len(name) + 1:]: v for k, v in data.items() if k.startswith(name + "_")}
            setattr(obj, name, read(hints[name], inner) if inner else None)
        return obj


@dataclass
class EpochDifference(Record):
    """The paired differences (arm - reference) of one metric at one epoch (a row of ``by_epoch``).

    Attributes
    ----------
    epoch : int
        0 = at init.
    n : int
        Pairs with a finite difference.
    mean, median : float
        Of the differences, in the metric's units (test accuracy or silenced share: fractions).
    low, high : float or None
        The 1 - alpha t interval of the mean (None for a single pair).
    improved : float
        Share of pairs with a difference > 0.

    Examples
    --------
    >>> EpochDifference(1, 8, 0.01, -0.01, 0.03, 0.02, 0.75).to_dict()
    {'epoch': 1, 'n': 8, 'mean': 0.01, 'low': -0.01, 'high': 0.03, 'median': 0.02, 'improved': 0.75}
    """

    epoch: int
    n: int
    mean: float
    low: float | None
    high: float | None
    median: float
    improved: float


@dataclass
class StrengthVarianceRatio(Record):
    """The strength variance at init of an arm's networks over their reference partners' (written inline in a
    ``Comparison``, as ``init_strength_var_ratio_median`` and ``init_strength_var_lower_share``).

    Attributes
    ----------
    ratio_median : float or None
        Median over the pairs of arm / reference (None without a pair).
    lower_share : float or None
        Share of the pairs where the ratio is below 1.

    Examples
    --------
    >>> StrengthVarianceRatio(0.03, 1.0).to_dict()
    {'ratio_median': 0.03, 'lower_share': 1.0}
    """

    ratio_median: float | None
    lower_share: float | None


@dataclass
class Comparison(_Flattened):
    """One arm against the reference on one benchmark (``comparisons`` of a ``DatasetPairs``).

    Attributes
    ----------
    pairs : int
        Network ids in both arms, neither network diverged: the pairs compared.
    pairs_incomplete : int
        Ids with a network in only one arm.
    pairs_excluded_diverged : int
        Ids in both arms left out because a network diverged.
    final_test_acc : PairedStatistics
        Of the final test accuracy's paired differences.
    init_strength_var : StrengthVarianceRatio or None
        Where the networks table has ``init_strength_var`` (None: its keys left out of the JSON).
    by_epoch : dict of str to list of EpochDifference, or None
        Metric (``test_acc``, ``train_silenced``) -> one per epoch; None (left out) without curves.

    Examples
    --------
    >>> c = Comparison.from_dict({"pairs": 3, "pairs_incomplete": 0, "pairs_excluded_diverged": 1,
    ...                           "final_test_acc": {"n": 3, "mean": 0.02},
    ...                           "init_strength_var_ratio_median": 0.03, "init_strength_var_lower_share": 1.0})
    >>> c.final_test_acc.mean, c.init_strength_var.ratio_median, c.by_epoch
    (0.02, 0.03, None)
    """

    pairs: int
    pairs_incomplete: int
    pairs_excluded_diverged: int
    final_test_acc: PairedStatistics
    init_strength_var: StrengthVarianceRatio | None = None
    by_epoch: dict[str, list[EpochDifference]] | None = None

    _OMIT_IF_NONE = ("init_strength_var", "by_epoch")
    _FLAT = ("init_strength_var",)


@dataclass
class ArmStrengthVariance(Record):
    """An arm's strength variance at init (written inline in an ``Arm``, as ``init_strength_var_median``,
    ``init_strength_var_mean`` and ``init_strength_var_vs_acc``).

    Attributes
    ----------
    median, mean : float or None
        Over the arm's networks used (None without one).
    vs_acc : Correlation or None
        Spearman's rho of it with final test accuracy over the arm's networks (None with fewer than 3 or
        without a spread).

    Examples
    --------
    >>> ArmStrengthVariance(4.1, 4.2, Correlation(-0.3, 0.04, 50)).to_dict()
    {'median': 4.1, 'mean': 4.2, 'vs_acc': {'rho': -0.3, 'p': 0.04, 'n': 50}}
    """

    median: float | None
    mean: float | None
    vs_acc: Correlation | None


@dataclass
class Silenced(Record):
    """The share of training samples the Keras clip silences, mean over an arm's networks used.

    Attributes
    ----------
    init, epoch1, last : float
        At init, in the first epoch, in the last (fractions; NaN where the curves lack the epoch).
    mean_over_training : float or None
        Over the epochs after init (None without one).

    Examples
    --------
    >>> Silenced(0.8, 0.4, 0.1, 0.2).to_dict()
    {'init': 0.8, 'epoch1': 0.4, 'last': 0.1, 'mean_over_training': 0.2}
    """

    init: float
    epoch1: float
    last: float
    mean_over_training: float | None


@dataclass
class Arm(_Flattened):
    """One arm of one benchmark, as a population of its own (``arms`` of a ``DatasetPairs``).

    Attributes
    ----------
    networks, used : int
        The arm's networks; those used (not diverged).
    acc_mean, acc_median, acc_sd, acc_min, acc_max : float or None
        Final test accuracy (fraction) over the networks used (sd with ddof=1; None where too few).
    init_strength_var : ArmStrengthVariance or None
        Where the networks table has ``init_strength_var`` (None: its keys left out of the JSON).
    hidden_strength_var_init : dict of str to float, or None
        ``"l{layer}"`` -> median over networks of the variance of the hidden layer's neurons' strength at
        epoch 0 (None, left out, where epoch 0 was not measured).
    silenced : Silenced or None
        With the Keras loss's curves (None, left out, without ``train_silenced``).
    best_r2 : dict of str to float or None, or None
        Feature set -> its best out-of-fold R^2 of final accuracy in this arm (None, left out with ``best``,
        where the arm had no regression).
    best : BestRegression or None
        The best of them ({} in the JSON where none gave an R^2).
    noise_ceiling : float or None
        The arm's noise ceiling of R^2 (left out while None).

    Examples
    --------
    >>> a = Arm.from_dict({"networks": 4, "used": 4, "acc_mean": 0.9, "acc_median": 0.9, "acc_sd": 0.01,
    ...                    "acc_min": 0.89, "acc_max": 0.91, "best_r2": {"cn": 0.2}, "best": {}})
    >>> a.best_r2, a.best, a.init_strength_var, "noise_ceiling" in a.to_dict()
    ({'cn': 0.2}, None, None, False)
    """

    networks: int
    used: int
    acc_mean: float | None
    acc_median: float | None
    acc_sd: float | None
    acc_min: float | None
    acc_max: float | None
    init_strength_var: ArmStrengthVariance | None = None
    hidden_strength_var_init: dict[str, float | None] | None = None
    silenced: Silenced | None = None
    best_r2: dict[str, float | None] | None = None
    best: BestRegression | None = None
    noise_ceiling: float | None = None

    _OMIT_IF_NONE = ("init_strength_var", "hidden_strength_var_init", "silenced", "best_r2", "noise_ceiling")
    _EMPTY_IF_NONE = ("best",)
    _FLAT = ("init_strength_var",)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if self.best_r2 is None:   # best and best_r2 come together, from the arm's regression
            out.pop("best")
        return out


@dataclass
class DatasetPairs(Record):
    """The paired comparison on one benchmark (``datasets`` of ``Paired``).

    Attributes
    ----------
    arms : dict of str to Arm
        Every arm, the reference first.
    comparisons : dict of str to Comparison or Skipped
        Every arm but the reference against it (``Skipped`` where an arm has no networks on the benchmark).

    Examples
    --------
    >>> DatasetPairs.from_dict({"arms": {}, "comparisons": {"pa": {"skipped": "no networks of arm pa"}}}).comparisons
    {'pa': Skipped(skipped='no networks of arm pa')}
    """

    arms: dict[str, Arm]
    comparisons: dict[str, Comparison | Skipped]


@dataclass
class PairedConclusion(Record):
    """The paired comparison on one benchmark in words.

    Attributes
    ----------
    sentences : list of str
        The conclusion, sentence by sentence.
    headline : str
        One line (the run's last line).

    Examples
    --------
    >>> PairedConclusion(["No difference is detected."], "digits: no detectable difference").headline
    'digits: no detectable difference'
    """

    sentences: list[str]
    headline: str


@dataclass
class Paired(Record):
    """The paired analysis of a run with ``population.compare`` (``analysis/paired.json``, the summary's
    ``paired``): ``paired_analysis`` builds it; the report reads it back with ``Paired.from_dict``.

    Attributes
    ----------
    reference : str
        The reference arm (the first of ``population.compare``).
    arms : list of str
        Every arm, the reference first.
    alpha : float
        1 - the confidence level of the intervals, and the level of the tests.
    method : str
        How the pairs are formed and compared, in words.
    datasets : dict of str to DatasetPairs
        Per benchmark.
    conclusion : dict of str to PairedConclusion
        Per benchmark.

    Examples
    --------
    >>> nets = pd.DataFrame({"dataset": "toy", "arm": ["none"] * 4 + ["pa"] * 4, "network": [0, 1, 2, 3] * 2,
    ...                      "test_acc": [0.5, 0.6, 0.7, 0.8, 0.55, 0.62, 0.71, 0.86]})
    >>> p = Paired.from_dict(paired_analysis(nets)[0])
    >>> p.reference, p.datasets["toy"].comparisons["pa"].final_test_acc.improved, p.datasets["toy"].arms["pa"].used
    ('none', 1.0, 4)
    """

    reference: str
    arms: list[str]
    alpha: float
    method: str
    datasets: dict[str, DatasetPairs]
    conclusion: dict[str, PairedConclusion]


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
    return _paired_statistics(diff, alpha, seed).to_dict()


def _paired_statistics(diff: np.ndarray, alpha: float, seed: int) -> PairedStatistics:
    d = np.asarray(diff, dtype=float)
    d = d[np.isfinite(d)]
    out = PairedStatistics(n=int(d.size))
    if out.n == 0:
        return out
    out.mean, out.median = float(d.mean()), float(np.median(d))
    out.improved, out.tied, out.worse = float((d > 0).mean()), float((d == 0).mean()), float((d < 0).mean())
    if out.n < 2:
        return out
    out.sd = float(d.std(ddof=1))
    out.mean_ci = _t_interval(d, alpha)
    out.dz = out.mean / out.sd if out.sd > 0 else None
    out.median_ci = _median_interval(d, alpha, seed)
    out.wilcoxon_stat, out.wilcoxon_p = _wilcoxon(d)
    return out


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
        A ``Paired``'s JSON object (``{"reference", "arms", "alpha", "method", "datasets": {ds: {"arms": {arm:
        Arm}, "comparisons": {arm: Comparison or Skipped}}}, "conclusion": {ds: PairedConclusion}}``) and the
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
    out = Paired(reference=ref, arms=arms, alpha=alpha, method=_METHOD, datasets={}, conclusion={})
    regression, predictable = (summary or {}).get("regression", {}), (summary or {}).get("predictability", {})
    epoch_rows: list[dict[str, Any]] = []
    nets = networks.assign(arm=networks["arm"].astype(str), dataset=networks["dataset"].astype(str))
    nets = nets.assign(eligible=eligible_mask(nets).to_numpy())
    for ds, g in nets.groupby("dataset", sort=True):
        acc = g.pivot(index="network", columns="arm", values="test_acc")
        ok = g.pivot(index="network", columns="arm", values="eligible").reindex(columns=arms)
        entry = DatasetPairs(arms={}, comparisons={})
        cur = _for_dataset(curves, ds)
        for arm in arms:
            entry.arms[arm] = _arm_numbers(g[g["arm"] == arm], cur, _for_dataset(neurons, ds), arm,
                                           regression.get(arm_label(ds, arm), {}),
                                           predictable.get(arm_label(ds, arm), {}))
        for arm in arms[1:]:
            entry.comparisons[arm], rows = _comparison(g, acc, ok, ref, arm, cur, alpha, seed)
            epoch_rows += [{"dataset": ds, **r} for r in rows]
        out.datasets[ds] = entry
        out.conclusion[ds] = _conclusion(ds, ref, entry, alpha)
    columns = ["dataset", "arm", "metric", "epoch", "n", "mean", "low", "high", "median", "improved"]
    return out.to_dict(), pd.DataFrame(epoch_rows, columns=columns)


def _comparison(g: pd.DataFrame, acc: pd.DataFrame, ok: pd.DataFrame, ref: str, arm: str, cur: pd.DataFrame | None,
                alpha: float, seed: int) -> tuple[Comparison | Skipped, list[dict[str, Any]]]:
    """One arm against the reference on one benchmark: the pairs, the final accuracy's paired statistics,
    the strength variance at init, and the per-epoch differences (also as rows of the epochs table)."""
    if arm not in acc.columns or ref not in acc.columns:
        return Skipped(f"no networks of arm {arm if arm not in acc else ref}"), []
    both = ok[ref].fillna(False).astype(bool) & ok[arm].fillna(False).astype(bool)
    pairs = both.index[both.to_numpy()]
    comp = Comparison(pairs=int(len(pairs)),
                      pairs_incomplete=int(acc[[ref, arm]].isna().any(axis=1).sum()),
                      pairs_excluded_diverged=int((~both & acc[[ref, arm]].notna().all(axis=1)).sum()),
                      final_test_acc=_paired_statistics((acc.loc[pairs, arm] - acc.loc[pairs, ref]).to_numpy(),
                                                        alpha, seed))
    if "init_strength_var" in g.columns:
        sv = g.pivot(index="network", columns="arm", values="init_strength_var")
        ratio = (sv.loc[pairs, arm] / sv.loc[pairs, ref]).to_numpy(dtype=float)
        comp.init_strength_var = StrengthVarianceRatio(_median(ratio),
                                                       float((ratio < 1).mean()) if len(ratio) else None)
    rows: list[dict[str, Any]] = []
    if cur is not None:
        comp.by_epoch = _by_epoch(cur, ref, arm, pairs, alpha)
        rows = [{"arm": arm, "metric": m, **r.to_dict()} for m, ms in comp.by_epoch.items() for r in ms]
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
                 regression: dict[str, Any], predictability: dict[str, Any]) -> Arm:
    """One arm of one benchmark: its accuracy, initial strength variance, silenced shares, predictors."""
    used = g[g["eligible"]]
    acc = used["test_acc"].astype(float).to_numpy()
    out = Arm(networks=int(len(g)), used=int(len(used)), acc_mean=float(acc.mean()) if acc.size else None,
              acc_median=_median(acc), acc_sd=float(acc.std(ddof=1)) if acc.size > 1 else None,
              acc_min=float(acc.min()) if acc.size else None, acc_max=float(acc.max()) if acc.size else None)
    if "init_strength_var" in g.columns:
        sv = used["init_strength_var"].astype(float).to_numpy()
        out.init_strength_var = ArmStrengthVariance(
            median=_median(sv), mean=float(np.nanmean(sv)) if np.isfinite(sv).any() else None,
            vs_acc=_spearman(sv, acc))
    if neurons is not None and "strength" in neurons.columns:
        init = neurons[(neurons["arm"] == arm) & (neurons["epoch"] == 0)]
        if len(init):
            var = init.groupby(["network", "layer"])["strength"].var(ddof=1)
            out.hidden_strength_var_init = {f"l{int(layer)}": _median(v.to_numpy())
                                            for layer, v in var.groupby(level="layer")}
    if curves is not None and "train_silenced" in curves.columns:
        c = curves[(curves["arm"] == arm) & curves["network"].isin(used["network"])]
        sil = c.groupby("epoch")["train_silenced"].mean()
        if len(sil):
            out.silenced = Silenced(init=float(sil.get(0, np.nan)), epoch1=float(sil.get(1, np.nan)),
                                    last=float(sil.iloc[-1]),
                                    mean_over_training=float(sil[sil.index > 0].mean()) if (sil.index > 0).any()
                                    else None)
    if regression:
        out.best_r2 = {fs: (b.r2 if b else None) for fs in STRUCTURE if fs in regression
                       for b in [_best(regression, [fs])]}
        out.best = _best(regression, [fs for fs in STRUCTURE if fs in regression])
    if predictability:
        out.noise_ceiling = Predictability.from_dict(predictability).ceiling
    return out


def _best(regression: dict[str, Any], feature_sets: list[str]) -> BestRegression | None:
    best = best_regression(regression, feature_sets)
    return BestRegression.from_dict(best) if best else None


def _spearman(x: np.ndarray, y: np.ndarray) -> Correlation | None:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return None
    r = stats.spearmanr(x[ok], y[ok])
    return Correlation(rho=float(r.statistic), p=float(r.pvalue), n=int(ok.sum()))


def _by_epoch(curves: pd.DataFrame, ref: str, arm: str, pairs: pd.Index,
              alpha: float) -> dict[str, list[EpochDifference]]:
    """Paired differences of test accuracy (and of the silenced share, when there is one) at every epoch."""
    c = curves[curves["network"].isin(pairs)]
    metrics = ["test_acc"] + (["train_silenced"] if "train_silenced" in c and (c["train_silenced"] > 0).any() else [])
    out: dict[str, list[EpochDifference]] = {}
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
            rows.append(EpochDifference(epoch=int(epoch), n=int(d.size), mean=float(d.mean()), low=lo, high=hi,
                                        median=float(np.median(d)), improved=float((d > 0).mean())))
        out[m] = rows
    return out


# --- in words ---------------------------------------------------------------------------------------------

def _conclusion(ds: str, ref: str, entry: DatasetPairs, alpha: float) -> PairedConclusion:
    sentences, heads = [], []
    for arm, comp in entry.comparisons.items():
        if isinstance(comp, Skipped):
            sentences.append(f"{ds}: {arm} against {ref} not compared: {comp.skipped}.")
            continue
        s = comp.final_test_acc
        if s.n < 2:
            sentences.append(f"{ds}: {s.n} complete pair(s) of {arm} and {ref}: too few to compare.")
            continue
        a, r = entry.arms[arm], entry.arms[ref]
        sentences.append(
            f"{ds}, {s.n} pairs of networks (same init seed and data order), {arm} against {ref}: final test "
            f"accuracy {_f(r.acc_mean)} -> {_f(a.acc_mean)} on average; paired difference mean "
            f"{_s(s.mean)} (95% CI {_ci(s.mean_ci)}), median {_s(s.median)} (95% CI {_ci(s.median_ci)}); "
            f"{arm} is better in {s.improved:.0%} of the pairs, worse in {s.worse:.0%}, tied in "
            f"{s.tied:.0%}; Wilcoxon signed-rank p = {_p(s.wilcoxon_p)}.")
        verdict = _verdict(s, alpha)
        effect = f" ({_effect_size(s.dz)} effect, d_z = {s.dz:+.2f})" if s.dz is not None else ""
        sentences.append(f"No difference in final test accuracy is detected at alpha = {alpha:g}{effect}."
                         if verdict == "no detectable difference" else
                         f"So {arm} {verdict} final test accuracy{effect}.")
        lower = comp.init_strength_var.ratio_median if comp.init_strength_var else None
        rv, av = r.init_strength_var, a.init_strength_var
        if lower is not None and rv is not None and rv.median is not None:
            sentences.append(f"At init, the strength variance of {arm}'s networks is {lower:.0%} of their {ref} "
                             f"partners' (median; {rv.median:.3g} -> {av.median:.3g}).")
            if lower < 1:
                sentences.append(_claim(s, alpha))
            rho = rv.vs_acc
            if rho is not None:
                sentences.append(f"Within the {ref} arm, the initial strength variance correlates with final accuracy "
                                 f"at Spearman rho {rho.rho:+.2f} (p = {_p(rho.p)}).")
        by_epoch = comp.by_epoch or {}
        early = _early(by_epoch.get("test_acc", []))
        if early:
            sentences.append(early)
        if any(x.silenced is not None and (x.silenced.init > 0 or x.silenced.epoch1 > 0)
               for x in (a, r)):   # the Keras clip silenced samples (never with cross_entropy)
            sentences.append(_silenced(arm, ref, a.silenced, r.silenced, by_epoch.get("train_silenced", [])))
        pred = _predictors(arm, ref, a, r)
        if pred:
            sentences.append(pred)
        heads.append(f"{ds}: {arm} - {ref} test accuracy {_s(s.mean)} (95% CI {_ci(s.mean_ci)}), median "
                     f"{_s(s.median)}, better in {s.improved:.0%} of {s.n} pairs, Wilcoxon p = "
                     f"{_p(s.wilcoxon_p)}: {verdict}")
    return PairedConclusion(sentences=sentences, headline="; ".join(heads) or ds)


def _raises(s: PairedStatistics) -> bool:
    return s.median > 0 or (s.median == 0 and s.mean > 0)


def _verdict(s: PairedStatistics, alpha: float) -> str:
    if s.wilcoxon_p is None or s.wilcoxon_p >= alpha:
        return "no detectable difference"
    return "raises" if _raises(s) else "lowers"


def _claim(s: PairedStatistics, alpha: float) -> str:
    claim = ("The rewiring paper's claim (Scabini, De Baets & Bruno 2024) that lowering the strength variance "
             "at init improves accuracy")
    if s.wilcoxon_p is None or s.wilcoxon_p >= alpha:
        return f"{claim} is not supported here: no detectable difference."
    if not _raises(s):
        return f"{claim} is contradicted here: accuracy falls ({_effect_size(s.dz)} effect)."
    how = {"negligible": "holds here, but the gain is negligible", "small": "holds here, with a small effect",
           "medium": "holds here, with a medium effect", "large": "holds here, strongly"}.get(_effect_size(s.dz),
                                                                                          "holds here")
    return f"{claim} {how} (d_z = {s.dz:+.2f})."


def _early(rows: list[EpochDifference]) -> str:
    if len(rows) < 2:
        return ""
    by = {r.epoch: r for r in rows}
    last = rows[-1]
    peak = max(rows, key=lambda r: abs(r.mean))
    parts = [f"epoch {e}: {_s(by[e].mean)}" for e in (1, 2, 5) if e in by and e < last.epoch]
    text = "Over training, the mean paired difference of test accuracy is " + ", ".join(
        parts + [f"epoch {last.epoch} (the end): {_s(last.mean)}"])
    if peak.epoch != last.epoch:
        text += f"; largest in size at epoch {peak.epoch} ({_s(peak.mean)})"
    return text + "."


def _silenced(arm: str, ref: str, a: Silenced | None, r: Silenced | None, rows: list[EpochDifference]) -> str:
    text = (f"With the Keras loss, the clip silences {_pc(a.init if a else None)} of the training samples at init and "
            f"{_pc(a.epoch1 if a else None)} in the first epoch for {arm}, against {_pc(r.init if r else None)} and "
            f"{_pc(r.epoch1 if r else None)} for {ref}")
    e1 = next((row for row in rows if row.epoch == 1), None)
    if e1 and e1.low is not None:
        text += (f" (paired difference in the first epoch {e1.mean:+.1%}, 95% CI {e1.low:+.1%} to "
                 f"{e1.high:+.1%})")
    return text + "."


def _predictors(arm: str, ref: str, a: Arm, r: Arm) -> str:
    ra, rr = a.best_r2 or {}, r.best_r2 or {}
    common = [fs for fs in STRUCTURE if ra.get(fs) is not None and rr.get(fs) is not None]
    if not common:
        return ""
    per = ", ".join(f"{fs} {rr[fs]:.2f} -> {ra[fs]:.2f}" for fs in common)
    text = f"Structural predictors of final accuracy (best out-of-fold R^2, {ref} -> {arm}): {per}"
    if max(rr[fs] for fs in common) < _NO_PREDICTION and max(ra[fs] for fs in common) < _NO_PREDICTION:
        return text + f"; structure predicts final accuracy in neither arm (R^2 below {_NO_PREDICTION:g})."
    if a.best is not None and r.best is not None:
        same = a.best.feature_set == r.best.feature_set
        text += (f"; the best feature set is {r.best.feature_set} in both arms" if same else
                 f"; the best feature set changes from {r.best.feature_set} to {a.best.feature_set}")
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
