"""The analysis' conclusion in plain words: how predictable performance is, from what, how early.

``conclusion(summary)`` reads the numbers the analysis computed (noise ceiling, regression,
classification, early prediction, subgraph verdict) and states per dataset, in a few sentences,
what they say; ``headline`` is the one-line version for the run's final summary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.analysis.classification import BestClassifier
from engine.analysis.correlations import DatasetVerdict, SubgraphVerdict
from engine.analysis.early_prediction import EarlyPrediction
from engine.analysis.lost_classes import headline as lost_headline, sentences as lost_sentences
from engine.analysis.features import FEATURE_SET_NAMES, STRUCTURE, below_mean_note, best_against_curve
from engine.analysis.predictability import BestRegression, Predictability, best_regression
from engine.analysis.results import Record, Skipped, read, typed_parts

__all__ = ["Conclusion", "DatasetConclusion", "conclusion"]

# below this share of non-noise variance, differences between networks are mostly test-set noise
_LOW_CEILING = 0.2


@dataclass
class DatasetConclusion(Record):
    """One dataset's conclusion.

    Attributes
    ----------
    sentences : list of str
    headline : str
        The one-line version for the run's final summary.

    Examples
    --------
    >>> DatasetConclusion(["d: ..."], "d: accuracy sd 0.010").to_dict()
    {'sentences': ['d: ...'], 'headline': 'd: accuracy sd 0.010'}
    """

    sentences: list[str]
    headline: str


@dataclass
class Conclusion(Record):
    """The analysis' conclusion in words (``analysis/conclusion.json``; a paired run adds the key ``paired``).

    Attributes
    ----------
    datasets : dict of str to DatasetConclusion
    text : str
        Every dataset's sentences, one after another.

    Examples
    --------
    >>> Conclusion.from_dict({"datasets": {"d": {"sentences": ["A."], "headline": "d"}}, "text": "A."}).datasets["d"]
    DatasetConclusion(sentences=['A.'], headline='d')
    """

    datasets: dict[str, DatasetConclusion] = field(default_factory=dict)
    text: str = ""                  # every dataset's sentences, one after another


def conclusion(summary: dict[str, Any]) -> dict[str, Any]:
    """The analysis' conclusion in plain words, per dataset, from the numbers of its summary.

    Parameters
    ----------
    summary : dict
        The analysis summary as ``run_analysis`` builds it (its ``predictability``, ``regression``,
        ``best_classifier``, ``early_prediction``, ``subgraph_verdict``, ``lost_classes`` and ``caveats``
        parts are read; absent ones are left out of the words).

    Returns
    -------
    dict
        A ``Conclusion``'s JSON object: ``datasets`` (per dataset ``sentences`` and ``headline``) and ``text``.

    Examples
    --------
    >>> from engine.analysis.predictability import noise_ceiling
    >>> pred = dict(noise_ceiling([0.6, 0.7, 0.8, 0.9], 1000), best={"feature_set": "cn", "regressor": "ridge",
    ...             "r2": -128.153, "r2_sd": 3.0, "kendall_tau": None})
    >>> out = Conclusion.from_dict(conclusion({"predictability": {"toy": pred}}))
    >>> out.datasets["toy"].sentences[1]
    'No feature set predicts final test accuracy better than its mean (best out-of-fold R^2 -128.15, complex-network measures).'
    >>> out.datasets["toy"].headline
    'toy: accuracy sd 0.129, noise ceiling 98%; no feature set beats the mean accuracy'
    """
    out = Conclusion()
    caveats = summary.get("caveats") or {}
    for ds, pred in typed_parts(summary.get("predictability"), Predictability, "networks").items():
        sentences = [f"{ds} is incomplete: {caveats[ds]}."] if ds in caveats else []
        sentences.append(_spread(ds, pred))
        sentences += lost_sentences(summary, ds)   # what the spread is made of (engine.analysis.lost_classes)
        if pred.no_spread:
            sentences.append(f"With no spread of test accuracy to explain ({pred.no_spread}), regression, "
                             "performance classes, classification, correlations with accuracy and early prediction "
                             "are undefined, and none was computed.")
            out.datasets[ds] = DatasetConclusion(sentences, _incomplete(ds, caveats) + ": no spread of test accuracy "
                                                 "beyond the test set's noise, nothing to predict"
                                                 + lost_headline(summary, ds))
            continue
        low = pred.ceiling is not None and pred.ceiling < _LOW_CEILING
        reg = summary.get("regression", {}).get(ds, {})
        if pred.best:
            sentences.append(_best_predictor(pred.best, pred, low))
            sentences.append(_against_baselines(reg))
        found = summary.get("best_classifier", {}).get(ds)
        cls = BestClassifier.from_dict(found) if found else None
        if cls:
            sentences.append(f"Performance classes ({', '.join(cls.class_names)}) are told apart with "
                             f"accuracy {cls.mean:.2f} against a chance level of {cls.chance:.2f} "
                             f"({FEATURE_SET_NAMES.get(cls.feature_set, cls.feature_set)}, {cls.classifier}).")
        early = summary.get("early_prediction")
        early = read(EarlyPrediction | Skipped | None, early.get(ds)) if isinstance(early, dict) else None
        if isinstance(early, EarlyPrediction):
            sentences.append(_early(early))
        verdict = (SubgraphVerdict.from_dict(summary.get("subgraph_verdict") or {}).datasets or {}).get(ds)
        if verdict:
            sentences.append(_verdict(verdict))
        out.datasets[ds] = DatasetConclusion([s for s in sentences if s],
                                             _headline(_incomplete(ds, caveats), pred, cls, verdict)
                                             + lost_headline(summary, ds))
    out.text = " ".join(s for d in out.datasets.values() for s in d.sentences)
    return out.to_dict()


def _spread(ds: str, p: Predictability) -> str:
    if p.acc_sd is None:
        return f"{ds}: too few networks to measure a spread of test accuracy."
    s = (f"{ds}: the {p.networks} networks reach test accuracies from {p.acc_min:.3f} to {p.acc_max:.3f} "
         f"(sd {p.acc_sd:.3f})")
    if p.ceiling is None:
        return s + "; the test-set size is unknown, so its sampling noise is not estimated."
    s += (f"; a test set of {p.test_samples} samples adds sampling noise of sd {p.noise_sd:.3f}, so at most "
          f"{_percent(p.ceiling)} of the variance between networks can be predicted by anything.")
    if p.ceiling < _LOW_CEILING:
        s += (" The networks differ little more than the test set's noise: no feature can predict their ranking "
              "here; use a larger test set or a population with more real spread (from engine.run, e.g. "
              "train.loss=keras).")
    return s


def _best_predictor(best: BestRegression, pred: Predictability, low: bool) -> str:
    name = FEATURE_SET_NAMES.get(best.feature_set, best.feature_set)
    if best.r2 <= 0:
        return (f"No feature set predicts final test accuracy better than its mean (best out-of-fold R^2 "
                f"{best.r2:.2f}, {name}).")
    s = (f"The best predictor of final test accuracy is {name} ({best.regressor}): out-of-fold R^2 "
         f"{best.r2:.2f}")
    if pred.share_of_ceiling is not None and not low:
        s += f" ({pred.share_of_ceiling:.0%} of the ceiling)"
    if best.kendall_tau is not None:
        s += f", Kendall tau {best.kendall_tau:.2f}"
    return s + "."


def _against_baselines(reg: dict[str, Any]) -> str:
    """Complex-network features against each baseline (weight statistics, spectral metrics), by best R^2."""
    r2 = {}
    for fs in ("cn", "weights", "spectral"):
        found = best_regression(reg, [fs])
        r2[fs] = BestRegression.from_dict(found).r2 if found else None
    if r2["cn"] is None:
        return ""
    shown = {fs: v for fs, v in r2.items() if v is not None}
    if len(shown) > 1 and all(v <= 0 for v in shown.values()):   # no ranking among sets that all do worse
        names = [f"complex-network measures (R^2 {r2['cn']:.2f})"] + \
            [f"the {FEATURE_SET_NAMES[fs]} ({v:.2f})" for fs, v in shown.items() if fs != "cn"]
        return ("Neither " + " nor ".join(names) + " predicts final test accuracy better than its mean.")
    parts = []
    for fs in ("weights", "spectral"):
        if r2[fs] is None:
            continue
        how = "beat" if r2["cn"] > r2[fs] + 0.02 else "trail" if r2["cn"] < r2[fs] - 0.02 else "match"
        parts.append(f"{how} the {FEATURE_SET_NAMES[fs]} ({r2[fs]:.2f})")
    if not parts:
        return ""
    return (f"Complex-network measures (R^2 {r2['cn']:.2f}) " + " and ".join(parts)
            + "." + below_mean_note(r2.values(), "the mean accuracy"))


def _early(early: EarlyPrediction) -> str:
    parts, shown = [], []
    for e in early.epochs:
        rows = early.by_epoch.get(e) or {}
        struct = {fs: r.r2 for fs, r in rows.items() if fs in STRUCTURE and r.r2 is not None}
        if not struct:
            continue
        curve = rows["curve"].r2 if "curve" in rows else None
        shown += [max(struct.values()), curve]
        parts.append(f"epoch {e}{' (random init)' if e == 0 else ''} "
                     + best_against_curve(struct, curve, "R^2", " from the learning curve"))
    if not parts:
        return ""
    return ("Predicting final accuracy early, from the structure at each snapshot: " + "; ".join(parts)
            + "." + below_mean_note(shown, "the mean accuracy"))


def _verdict(v: DatasetVerdict) -> str:
    layers = ", ".join(f"layer {k[1:]} rho {d.rho:+.2f}" for k, d in sorted(v.layers.items())
                       if d.rho is not None and d.rho == d.rho)
    return (f"The paper's claim that lower-performing models have higher subgraph centrality is "
            f"{v.verdict} here" + (f" ({layers})." if layers else "."))


def _headline(ds: str, pred: Predictability, cls: BestClassifier | None, verdict: DatasetVerdict | None) -> str:
    parts = []
    if pred.acc_sd is not None:
        parts.append(f"accuracy sd {pred.acc_sd:.3f}"
                     + (f", noise ceiling {_percent(pred.ceiling)}" if pred.ceiling is not None else ""))
    best = pred.best
    if best:
        parts.append(f"best R^2 {best.r2:.2f} from {best.feature_set}" if best.r2 > 0
                     else "no feature set beats the mean accuracy")
    if cls:
        parts.append(f"classes {cls.mean:.2f} vs chance {cls.chance:.2f}")
    if verdict:
        parts.append(f"subgraph claim {verdict.verdict}")
    return f"{ds}: " + "; ".join(parts) if parts else ds


def _incomplete(ds: str, caveats: dict[str, str]) -> str:
    return f"{ds} (INCOMPLETE: networks missing)" if ds in caveats else ds


def _percent(share: float) -> str:
    """A share as a percentage; one decimal near 100 %, where rounding would claim the whole."""
    return f"{share:.1%}" if 0.995 <= share < 1 else f"{share:.0%}"
