"""The analysis' conclusion in plain words: how predictable performance is, from what, how early.

``conclusion(summary)`` reads the numbers the analysis computed (noise ceiling, regression,
classification, early prediction, subgraph verdict) and states per dataset, in a few sentences,
what they say; ``headline`` is the one-line version for the run's final summary.
"""

from __future__ import annotations

from typing import Any

from engine.analysis.lost_classes import headline as lost_headline, sentences as lost_sentences
from engine.analysis.features import FEATURE_SET_NAMES, STRUCTURE, best_against_curve
from engine.analysis.predictability import best_regression

__all__ = ["conclusion"]

# below this share of non-noise variance, differences between networks are mostly test-set noise
_LOW_CEILING = 0.2


def conclusion(summary: dict[str, Any]) -> dict[str, Any]:
    """{"datasets": {ds: {"sentences": [...], "headline": str}}, "text": all sentences}."""
    out: dict[str, Any] = {"datasets": {}}
    caveats = summary.get("caveats") or {}
    for ds, pred in summary.get("predictability", {}).items():
        sentences = [f"{ds} is incomplete: {caveats[ds]}."] if ds in caveats else []
        sentences.append(_spread(ds, pred))
        sentences += lost_sentences(summary, ds)   # what the spread is made of (engine.analysis.lost_classes)
        if pred.get("no_spread"):
            sentences.append(f"With no spread of test accuracy to explain ({pred['no_spread']}), regression, "
                             "performance classes, classification, correlations with accuracy and early prediction "
                             "are undefined, and none was computed.")
            out["datasets"][ds] = {"sentences": sentences,
                                   "headline": _incomplete(ds, caveats) + ": no spread of test accuracy beyond the "
                                               "test set's noise, nothing to predict" + lost_headline(summary, ds)}
            continue
        low = pred.get("ceiling") is not None and pred["ceiling"] < _LOW_CEILING
        reg = summary.get("regression", {}).get(ds, {})
        best = pred.get("best") or {}
        if best:
            sentences.append(_best_predictor(best, pred, low))
            sentences.append(_against_baselines(reg))
        cls = summary.get("best_classifier", {}).get(ds) or {}
        if cls:
            sentences.append(f"Performance classes ({', '.join(cls['class_names'])}) are told apart with "
                             f"accuracy {cls['mean']:.2f} against a chance level of {cls['chance']:.2f} "
                             f"({FEATURE_SET_NAMES.get(cls['feature_set'], cls['feature_set'])}, "
                             f"{cls['classifier']}).")
        early = summary.get("early_prediction", {}).get(ds) if isinstance(summary.get("early_prediction"), dict) \
            else None
        if isinstance(early, dict) and "by_epoch" in early:
            sentences.append(_early(early))
        verdict = summary.get("subgraph_verdict", {}).get("datasets", {}).get(ds)
        if verdict:
            sentences.append(_verdict(verdict))
        out["datasets"][ds] = {"sentences": [s for s in sentences if s],
                               "headline": _headline(_incomplete(ds, caveats), pred, cls, verdict)
                               + lost_headline(summary, ds)}
    out["text"] = " ".join(s for d in out["datasets"].values() for s in d["sentences"])
    return out


def _spread(ds: str, p: dict[str, Any]) -> str:
    if p.get("acc_sd") is None:
        return f"{ds}: too few networks to measure a spread of test accuracy."
    s = (f"{ds}: the {p['networks']} networks reach test accuracies from {p['acc_min']:.3f} to {p['acc_max']:.3f} "
         f"(sd {p['acc_sd']:.3f})")
    if p.get("ceiling") is None:
        return s + "; the test-set size is unknown, so its sampling noise is not estimated."
    s += (f"; a test set of {p['test_samples']} samples adds sampling noise of sd {p['noise_sd']:.3f}, so at most "
          f"{_percent(p['ceiling'])} of the variance between networks can be predicted by anything.")
    if p["ceiling"] < _LOW_CEILING:
        s += (" The networks differ little more than the test set's noise: no feature can predict their ranking "
              "here; use a larger test set or a setting with more real spread (e.g. train.loss=keras).")
    return s


def _best_predictor(best: dict[str, Any], pred: dict[str, Any], low: bool) -> str:
    name = FEATURE_SET_NAMES.get(best["feature_set"], best["feature_set"])
    if best["r2"] <= 0:
        return (f"No feature set predicts final test accuracy better than its mean (best out-of-fold R^2 "
                f"{best['r2']:.2f}, {name}).")
    s = (f"The best predictor of final test accuracy is {name} ({best['regressor']}): out-of-fold R^2 "
         f"{best['r2']:.2f}")
    if pred.get("share_of_ceiling") is not None and not low:
        s += f" ({pred['share_of_ceiling']:.0%} of the ceiling)"
    if best.get("kendall_tau") is not None:
        s += f", Kendall tau {best['kendall_tau']:.2f}"
    return s + "."


def _against_baselines(reg: dict[str, Any]) -> str:
    """Complex-network features against each baseline (weight statistics, spectral metrics), by best R^2."""
    r2 = {fs: best_regression(reg, [fs]).get("r2") for fs in ("cn", "weights", "spectral")}
    if r2["cn"] is None:
        return ""
    parts = []
    for fs in ("weights", "spectral"):
        if r2[fs] is None:
            continue
        how = "beat" if r2["cn"] > r2[fs] + 0.02 else "trail" if r2["cn"] < r2[fs] - 0.02 else "match"
        parts.append(f"{how} the {FEATURE_SET_NAMES[fs]} ({r2[fs]:.2f})")
    if not parts:
        return ""
    return f"Complex-network measures (R^2 {r2['cn']:.2f}) " + " and ".join(parts) + "."


def _early(early: dict[str, Any]) -> str:
    parts = []
    for e in early["epochs"]:
        rows = early["by_epoch"].get(e) or early["by_epoch"].get(str(e)) or {}
        struct = {fs: r["r2"] for fs, r in rows.items() if fs in STRUCTURE and r.get("r2") is not None}
        if not struct:
            continue
        curve = (rows.get("curve") or {}).get("r2")
        parts.append(f"epoch {e}{' (random init)' if e == 0 else ''} "
                     + best_against_curve(struct, curve, "R^2", " from the learning curve"))
    if not parts:
        return ""
    return "Predicting final accuracy early, from the structure at each snapshot: " + "; ".join(parts) + "."


def _verdict(v: dict[str, Any]) -> str:
    layers = ", ".join(f"layer {k[1:]} rho {d['rho']:+.2f}" for k, d in sorted(v.get("layers", {}).items())
                       if d.get("rho") is not None and d["rho"] == d["rho"])
    return (f"The paper's claim that lower-performing models have higher subgraph centrality is "
            f"{v['verdict']} here" + (f" ({layers})." if layers else "."))


def _headline(ds: str, pred: dict[str, Any], cls: dict[str, Any], verdict: dict[str, Any] | None) -> str:
    parts = []
    if pred.get("acc_sd") is not None:
        parts.append(f"accuracy sd {pred['acc_sd']:.3f}"
                     + (f", noise ceiling {_percent(pred['ceiling'])}" if pred.get("ceiling") is not None else ""))
    best = pred.get("best") or {}
    if best:
        parts.append(f"best R^2 {best['r2']:.2f} from {best['feature_set']}" if best["r2"] > 0
                     else "no feature set beats the mean accuracy")
    if cls:
        parts.append(f"classes {cls['mean']:.2f} vs chance {cls['chance']:.2f}")
    if verdict:
        parts.append(f"subgraph claim {verdict['verdict']}")
    return f"{ds}: " + "; ".join(parts) if parts else ds


def _incomplete(ds: str, caveats: dict[str, str]) -> str:
    return f"{ds} (INCOMPLETE: networks missing)" if ds in caveats else ds


def _percent(share: float) -> str:
    """A share as a percentage; one decimal near 100 %, where rounding would claim the whole."""
    return f"{share:.1%}" if 0.995 <= share < 1 else f"{share:.0%}"
