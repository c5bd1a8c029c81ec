"""Which columns of networks.parquet are which per-network features."""

from __future__ import annotations

import re
from typing import Iterable

import pandas as pd

__all__ = ["CN_COLUMN", "FEATURE_SET_NAMES", "STRUCTURE", "WEIGHT_COLUMN", "below_mean_note", "best_against_curve",
           "cn_columns", "feature_set_columns", "r2_words", "weight_columns", "worse_than_mean"]

# the feature sets made of the networks' structure (all but the learning-curve baseline), and their names in words
STRUCTURE = ("cn", "bon", "weights", "spectral", "all")
FEATURE_SET_NAMES = {"cn": "complex-network measures", "bon": "Bag-of-Neurons histograms",
                     "weights": "weight statistics", "spectral": "WeightWatcher spectral metrics",
                     "all": "all structural features", "curve": "the learning curve so far"}
# `{measure}_l{layer}_{mean|std}`: complex-network summaries (CN features)
CN_COLUMN = re.compile(r"^(?!w_l\d)(?P<measure>\w+?)_l(?P<layer>\d+)_(?P<stat>mean|std)$")
# `w_l{layer}_{stat}`: weight statistics (Unterthiner et al. 2020 baseline)
WEIGHT_COLUMN = re.compile(r"^w_l(?P<layer>\d+)_(?P<stat>mean|std|q0|q25|q50|q75|q100)$")
# `bon_{all|l{layer}}_t{type}`: Bag-of-Neurons histograms (added by the analysis)
_BON_COLUMN = re.compile(r"^bon_(all|l\d+)_t\d+$")
# `ww_l{layer}_{metric}`: WeightWatcher's spectral metrics (engine.analysis.spectral_stats)
_SPECTRAL_COLUMN = re.compile(r"^ww_l(?P<layer>\d+)_(?P<metric>alpha|alpha_weighted|log_spectral_norm|stable_rank|log_norm)$")
# `curve_{metric}_e{epoch}`: the learning curve up to a snapshot epoch (early-prediction baseline)
_CURVE_COLUMN = re.compile(r"^curve_(?P<metric>\w+)_e(?P<epoch>\d+)$")


_FEATURE_SET_PATTERNS = {"cn": CN_COLUMN, "bon": _BON_COLUMN, "weights": WEIGHT_COLUMN, "spectral": _SPECTRAL_COLUMN,
                         "curve": _CURVE_COLUMN}


def cn_columns(df: pd.DataFrame) -> list[str]:
    """The complex-network summary columns ``{measure}_l{layer}_{mean|std}`` of ``df``, in its order.

    Parameters
    ----------
    df : pandas.DataFrame
        A networks table.

    Returns
    -------
    list of str
        Never a weight statistic ``w_l{layer}_{mean|std}``, which has the same form.

    Examples
    --------
    >>> cn_columns(pd.DataFrame(columns=["network", "strength_l1_mean", "w_l1_std", "strength_l1_std"]))
    ['strength_l1_mean', 'strength_l1_std']
    """
    return feature_set_columns(df, "cn")


def weight_columns(df: pd.DataFrame) -> list[str]:
    """The weight-statistics columns ``w_l{layer}_{stat}`` of ``df``, in its order.

    Parameters
    ----------
    df : pandas.DataFrame
        As for ``cn_columns``.

    Returns
    -------
    list of str
        Only ``weight_stats``' statistics: ``mean, std, q0, q25, q50, q75, q100``.

    Examples
    --------
    >>> weight_columns(pd.DataFrame(columns=["strength_l1_mean", "w_l1_std", "w_l2_q50", "w_l2_skew"]))
    ['w_l1_std', 'w_l2_q50']
    """
    return feature_set_columns(df, "weights")


def feature_set_columns(df: pd.DataFrame, name: str) -> list[str]:
    """The columns of one feature set in ``df``, in its order.

    Parameters
    ----------
    df : pandas.DataFrame
        A networks table (or one epoch's features).
    name : {"cn", "bon", "weights", "spectral", "curve", "all"}
        ``all`` is the union of the structural ones (cn, bon, weights, spectral), never the learning curve.

    Returns
    -------
    list of str
        Empty when ``df`` has none of the set.

    Examples
    --------
    >>> df = pd.DataFrame(columns=["network", "strength_l1_mean", "w_l1_q50", "bon_all_t0", "curve_test_acc_e1"])
    >>> feature_set_columns(df, "all")
    ['strength_l1_mean', 'bon_all_t0', 'w_l1_q50']
    >>> feature_set_columns(df, "curve")
    ['curve_test_acc_e1']
    """
    if name == "all":
        return [c for fs in ("cn", "bon", "weights", "spectral") for c in feature_set_columns(df, fs)]
    return [c for c in df.columns if _FEATURE_SET_PATTERNS[name].match(c)]


def r2_words(r2: float, mean: str = "the mean", spec: str = ".2f") -> str:
    """An out-of-fold R^2 as text; one below 0 also says, in words, that it is worse than predicting the mean.

    Parameters
    ----------
    r2 : float
        The R^2 (1 = perfect, 0 = as good as predicting the mean of the held-out values, below 0 = worse).
    mean : str
        What predicting the mean means here, e.g. "the mean accuracy".
    spec : str
        The number's format.

    Returns
    -------
    str

    Examples
    --------
    >>> r2_words(0.71, "the mean accuracy")
    '0.71'
    >>> r2_words(-128.153, "the mean accuracy")
    '-128.15, worse than predicting the mean accuracy'
    """
    return format(r2, spec) + worse_than_mean(r2, mean)


def worse_than_mean(r2: float | None, mean: str = "the mean") -> str:
    """The words that follow an R^2 below 0 (", worse than predicting ..."), or "" for any other value.

    Parameters
    ----------
    r2 : float or None
        An out-of-fold R^2 (None: none was computed).
    mean : str
        What predicting the mean means here, e.g. "the mean accuracy".

    Returns
    -------
    str

    Examples
    --------
    >>> worse_than_mean(-0.4), worse_than_mean(0.3), worse_than_mean(None)
    (', worse than predicting the mean', '', '')
    """
    return f", worse than predicting {mean}" if r2 is not None and r2 < 0 else ""


def below_mean_note(values: Iterable[float | None], mean: str = "the mean") -> str:
    """Once after a sentence that prints several R^2: what those below 0 mean, or "" when none is.

    Parameters
    ----------
    values : iterable of float or None
        The R^2 the sentence prints (None: not printed).
    mean : str
        What predicting the mean means here, e.g. "the mean accuracy".

    Returns
    -------
    str
        " An R^2 below 0 is worse than predicting {mean}." (a sentence of its own) or "".

    Examples
    --------
    >>> below_mean_note([0.4, -1.25], "the mean accuracy")
    ' An R^2 below 0 is worse than predicting the mean accuracy.'
    >>> below_mean_note([0.4, None])
    ''
    """
    return f" An R^2 below 0 is worse than predicting {mean}." if any(v is not None and v < 0 for v in values) else ""


def best_against_curve(scores: dict[str, float], curve: float | None, what: str, curve_words: str = "") -> str:
    """The best feature set's score in words, against the learning curve's where there is one.

    Parameters
    ----------
    scores : dict of str to float
        Per feature set, its score (higher is better).
    curve : float or None
        The learning curve's score (None: no curve baseline).
    what : str
        The score's name, e.g. "R^2".
    curve_words : str
        Said after the curve's score, e.g. " from the learning curve".

    Returns
    -------
    str
        Scores below 0 are printed as they are; the sentence says once what they mean (``below_mean_note``).

    Examples
    --------
    >>> best_against_curve({"cn": 0.2, "weights": 0.5}, 0.3, "R^2", " from the learning curve")
    'R^2 0.50 (weights) vs 0.30 from the learning curve'
    """
    fs = max(scores, key=scores.get)
    text = f"{what} {scores[fs]:.2f} ({fs})"
    return text if curve is None else text + f" vs {curve:.2f}{curve_words}"