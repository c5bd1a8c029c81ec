"""The sections of report.html, one function each, in the order the page shows them (``SECTIONS``).

Each function takes a ``ReportInputs`` and returns ``(heading, inner HTML)``, or None when it has
nothing to show. To add a section, write one such function and put it in ``SECTIONS``.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from engine.analysis.bag_of_neurons import NeuronTypes
from engine.analysis.classification import BestClassifier, Classification, Regression, SkippedFeatureSet
from engine.analysis.conclusion import Conclusion
from engine.analysis.correlations import SubgraphVerdict
from engine.analysis.cross_benchmark import CrossBenchmark
from engine.analysis.early_prediction import EarlyPrediction
from engine.analysis.features import r2_words, worse_than_mean
from engine.analysis.lost_classes import Beyond, LostClasses, RegressionScore
from engine.analysis.performance_classes import PerformanceClasses
from engine.analysis.predictability import Predictability
from engine.analysis.results import Skipped, read, typed_parts
from engine.analysis.run import AnalysisResult
from engine.report import paired as paired_report
from engine.report.html import esc, image, page, table

__all__ = ["SECTIONS", "ReportInputs", "Section", "report_html"]

Section = tuple[str, str]

_TITLE = "Structure and performance of fully connected networks: analysis report"


@dataclass
class ReportInputs:
    """What the sections draw from; each section function takes one and returns ``(heading, inner HTML)``.

    Attributes
    ----------
    run_dir : pathlib.Path
    result : AnalysisResult
        The analysis (its ``summary`` and ``tables``).
    figures : dict of str to bytes
        Name -> PNG bytes; a figure without data is absent.
    protocol : dict or None
        Per dataset, the settings that made the population.

    Examples
    --------
    >>> from engine.analysis.run import AnalysisResult
    >>> inputs = ReportInputs(Path("run"), AnalysisResult(summary={"backend": "cpu"}), {})
    >>> inputs.summary["backend"], inputs.img("bon_centroids")
    ('cpu', '')
    """

    run_dir: Path
    result: AnalysisResult
    figures: dict[str, bytes]
    protocol: dict[str, dict[str, Any]] | None = None   # per dataset, the settings that made the population

    @property
    def summary(self) -> dict[str, Any]:
        return self.result.summary

    def img(self, name: str) -> str:
        """The figure as an inline <img>, or "" if it was not drawn."""
        return image(self.figures[name], name) if name in self.figures else ""


def _fmt(v: Any, spec: str = ".3f") -> str:
    """A number formatted with ``spec``; "" for None and non-finite floats."""
    return "" if v is None or (isinstance(v, float) and not np.isfinite(v)) else format(v, spec)


def _r2(v: Any, spec: str = ".3f") -> str:
    """An out-of-fold R² for a table cell, "" when there is none; below 0 it says so in words (``r2_words``)."""
    return r2_words(v, "the mean", spec) if _fmt(v, spec) else ""


def _paired(r: ReportInputs) -> Section | None:
    """A paired run's comparison of its arms (``population.compare``): the result and its conclusion first."""
    return paired_report.section(r.summary, r.img)


def _conclusion(r: ReportInputs) -> Section | None:
    """The conclusion in words, per dataset."""
    concl = Conclusion.from_dict(r.summary.get("conclusion") or {}).datasets
    if not concl:
        return None
    return ("Conclusion", "".join(f"<p class='verdict'>{esc(' '.join(d.sentences))}</p>" for d in concl.values()))


def _lost_classes(r: ReportInputs) -> Section | None:
    """What the spread of test accuracy is made of: the classes networks never predict (per dataset:
    the words, accuracy per lost-class count, variance explained, structure beyond the count, its
    prediction over the snapshots, when the predicted classes settle), or why not."""
    from engine.analysis.lost_classes import sentences

    lc = r.summary.get("lost_classes")
    if not isinstance(lc, dict) or not lc or "skipped" in lc:
        return None
    inner = ("<p>A network <em>loses</em> a class when no test sample is predicted as that class; its accuracy on "
             "the predicted classes counts only the test samples of the classes it does predict. The count's share of "
             "the variance of test accuracy: R² of a straight line in the count, of any function of it (the "
             "between-count share), and out of fold; structure beyond the count predicts the residual of test "
             "accuracy from the mean of its lost-count group (same folds and regressors as the regression).</p>")
    counts = r.result.tables.get("lost_counts")
    pred = r.result.tables.get("lost_prediction")
    for ds, raw in lc.items():
        inner += f"<h3>{esc(ds)}</h3>"
        d = read(LostClasses | Skipped, raw) if isinstance(raw, dict) else raw
        if not isinstance(d, LostClasses):
            inner += f"<p class='note'>{esc(d.skipped if isinstance(d, Skipped) else d)}</p>"
            continue
        inner += f"<p class='verdict'>{esc(' '.join(sentences(r.summary, ds)))}</p>"
        if counts is not None and len(counts):
            c = counts[counts["dataset"] == ds].drop(columns="dataset")
            inner += table(c.rename(columns={"lost": "classes never predicted", "acc_mean": "test acc mean",
                                             "acc_min": "min", "acc_max": "max",
                                             "acc_predicted_mean": "acc on predicted classes (mean)"}))
        inner += _lost_explained(d) + _lost_beyond(d.beyond) + _lost_prediction(d, pred, ds)
    return ("What the spread is made of: classes networks never predict", inner + r.img("lost_classes"))


def _lost_explained(d: LostClasses) -> str:
    """The lost-class count's share of the variance of test accuracy, as a one-row table."""
    ex = d.explained
    if isinstance(ex, Skipped):
        return f"<p class='note'>Variance explained by the count: {esc(ex.skipped)}</p>"
    cv = ex.cv if isinstance(ex.cv, RegressionScore) else None
    return table(pd.DataFrame([{
        "networks with a lost class": f"{d.lost_any} of {d.networks}",
        "R² (straight line)": _fmt(ex.linear_r2), "R² (any function of the count)": _fmt(ex.eta2),
        "out-of-fold R²": f"{_fmt(cv.r2)} {cv.regressor}{worse_than_mean(cv.r2)}" if cv else " ",
        "Spearman rho": _fmt(ex.spearman_rho), "p": _fmt(ex.spearman_p, ".2g"),
        "noise ceiling": _fmt(ex.ceiling)}]))


def _lost_beyond(b: Beyond | Skipped) -> str:
    """Structure beyond the lost-class count: the residual regressed from each feature set."""
    if isinstance(b, Skipped):
        return f"<p class='note'>Structure beyond the count: {esc(b.skipped)}</p>"
    rows = [{"feature set": fs, "R² of the residual": _r2(v.r2), "Kendall tau": _fmt(v.kendall_tau),
             "regressor": v.regressor, "note": ""} if isinstance(v, RegressionScore) else
            {"feature set": fs, "R² of the residual": "", "Kendall tau": "", "regressor": "", "note": v.skipped}
            for fs, v in b.by_feature_set.items()]
    return (f"<p>Structure beyond the count: residual sd {_fmt(b.residual_sd, '.4f')}, its noise ceiling "
            f"{_fmt(b.residual_ceiling)}; {b.networks} networks ({b.left_out} alone in their "
            "lost-class count left out).</p>" + table(pd.DataFrame(rows)))


def _lost_prediction(d: LostClasses, pred: pd.DataFrame | None, ds: str) -> str:
    """The final lost classes predicted from each snapshot epoch's features (the table), or why not."""
    if isinstance(d.prediction, Skipped):
        return f"<p class='note'>Predicting the lost classes: {esc(d.prediction.skipped)}</p>"
    if pred is None or not len(pred):
        return ""
    rows = pred[pred["dataset"] == ds].drop(columns="dataset")
    below = " An R² below 0 is worse than predicting the mean count." if (rows["count_r2"].astype(float) < 0).any() \
        else ""
    return ("<p>The final lost classes predicted from each snapshot epoch's features: how many (out-of-fold "
            "R², Kendall tau) and which (per class lost in 2 or more and kept in 2 or more networks, "
            "the balanced accuracy of lost against kept, averaged over those classes; chance 0.5). "
            f"<code>curve</code>: the learning curve so far, lost-class count and per-class accuracies "
            f"included.{below}</p>" + table(rows))


def _predictability(r: ReportInputs) -> Section | None:
    """The noise ceiling of test accuracy next to the best R² reached."""
    rows = []
    for ds, p in typed_parts(r.summary.get("predictability"), Predictability, "networks").items():
        best = p.best
        rows.append({"dataset": ds, "networks": p.networks, "test samples": p.test_samples,
                     "accuracy min-max": f"{_fmt(p.acc_min)}-{_fmt(p.acc_max)}",
                     "accuracy sd": _fmt(p.acc_sd, ".4f"), "test-set noise sd": _fmt(p.noise_sd, ".4f"),
                     "noise ceiling (max R²)": _fmt(p.ceiling, ".3f"),
                     "best R²": _r2(best.r2) if best else "",
                     "from": f"{best.feature_set} {best.regressor}" if best else " ",
                     "Kendall tau": _fmt(best.kendall_tau) if best else "",
                     "share of ceiling": _fmt(p.share_of_ceiling, ".0%"),
                     "note": p.no_spread or ""})
    if not rows:
        return None
    return ("How much of performance is predictable",
            f"<p>Each network's test accuracy is measured on a finite test set, so it carries binomial "
            f"sampling noise. {_NOISE_RULE} {_NO_SPREAD_RULE}</p>" + table(pd.DataFrame(rows)))


def _early_prediction(r: ReportInputs) -> Section | None:
    """Final performance predicted from each snapshot epoch (the figure), or why it did not run."""
    if "early_prediction" in r.figures:
        table_ = r.result.tables.get("early")
        below = table_ is not None and len(table_) and (table_["r2"].astype(float) < 0).any()
        return ("Early prediction: final performance from the structure at each epoch",
                "<p>Features of each snapshot epoch alone (0 = the random init) predict the <em>final</em> test "
                "accuracy (R², left) and performance class (right); <code>curve</code> is the trivial "
                "baseline, the learning curve up to that epoch."
                + (" An R² below 0 is worse than predicting the mean accuracy." if below else "")
                + "</p>" + r.img("early_prediction"))
    early = r.summary.get("early_prediction", {})
    if not isinstance(early, dict) or not early:
        return None
    parts = {ds: read(EarlyPrediction | Skipped, d) for ds, d in early.items() if isinstance(d, dict)}
    why = "; ".join(f"{ds}: {d.skipped}" for ds, d in parts.items() if isinstance(d, Skipped))
    if not (why or "skipped" in early):
        return None
    return ("Early prediction", f"<p class='note'>Not run: {esc(why or early['skipped'])}</p>")


def _overview(r: ReportInputs) -> Section:
    """Counts, performance classes per dataset, notes, accuracy distributions and learning curves."""
    s = r.summary
    c = s["counts"]
    pcs = PerformanceClasses.from_dict(s["performance_classes"])
    rows = [{"dataset": ds, "networks": d.networks, "used": d.used, "diverged excluded": d.diverged_excluded,
             "NaN accuracy excluded": d.nan_accuracy_excluded,
             **{f"{n} (n)": d.classes[n].count for n in pcs.names},
             **{f"{n} acc range": f"{_fmt(d.classes[n].min_acc)}-{_fmt(d.classes[n].max_acc)}" for n in pcs.names}}
            for ds, d in pcs.datasets.items()]
    notes = "".join(f"<li>{esc(n)}</li>" for n in s.get("notes", []))
    return ("Overview", f"<p>Run directory: <code>{esc(r.run_dir)}</code>; generated "
            f"{esc(_dt.datetime.now().isoformat(timespec='seconds'))}; analysis backend {esc(s['backend'])}. "
            f"{c['networks']} networks ({c['networks_used']} analysed) in {len(c['datasets'])} dataset(s), "
            f"{c['neuron_rows']} neuron rows, snapshot epochs {esc(c['snapshot_epochs'])}.</p>"
            f"{table(pd.DataFrame(rows))}" + (f"<ul class='note'>{notes}</ul>" if notes else "")
            + r.img("accuracy_distributions") + r.img("learning_curves"))


def _verdict(r: ReportInputs) -> Section:
    """The verdict on 'lower-performing models have higher subgraph centrality', per dataset and layer."""
    v = SubgraphVerdict.from_dict(r.summary.get("subgraph_verdict") or {})
    rows = [{"dataset": ds, "layer": L, "rho": d.rho, "p": d.p, "n": d.n, "verdict": d.verdict}
            for ds, dd in (v.datasets or {}).items() for L, d in dd.layers.items()]
    return ("Verdict: subgraph centrality and performance",
            f"<p class='verdict'>{esc(v.text)}</p>" + table(pd.DataFrame(rows)))


def _classification(r: ReportInputs) -> Section | None:
    """Cross-validated accuracy of every (feature set, classifier), the best per dataset first."""
    s = r.summary
    rows = []
    typed = read(dict[str, dict[str, Classification | SkippedFeatureSet]], s.get("classification", {}))
    for ds, per in typed.items():
        for fs, res in per.items():
            if isinstance(res, Skipped):
                rows.append({"dataset": ds, "feature set": fs, "classifier": "-", "accuracy": "",
                             "chance": "", "folds x repeats": "", "note": res.skipped})
                continue
            for name, a in res.classifiers.items():
                if isinstance(a, Skipped):
                    rows.append({"dataset": ds, "feature set": fs, "classifier": name, "accuracy": "",
                                 "chance": "", "folds x repeats": "", "note": a.skipped})
                    continue
                rows.append({"dataset": ds, "feature set": fs, "classifier": name,
                             "accuracy": f"{a.mean:.3f} ± {a.std:.3f}", "chance": f"{res.chance:.3f}",
                             "folds x repeats": f"{res.folds} x {res.repeats}", "note": "; ".join(res.notes)})
    if not rows:
        return None
    best = [{"dataset": ds, "feature set": b.feature_set, "classifier": b.classifier,
             "accuracy": f"{b.mean:.3f} ± {b.std:.3f}", "chance": f"{b.chance:.3f}"}
            for ds, b in typed_parts(s.get("best_classifier"), BestClassifier, "classifier").items()]
    return ("Classification of performance classes",
            "<h3>Best per dataset</h3>" + table(pd.DataFrame(best)) + r.img("confusion_matrices")
            + "<h3>All</h3>" + table(pd.DataFrame(rows)))


def _regression(r: ReportInputs) -> Section | None:
    """Cross-validated R² and Kendall tau of every (feature set, regressor)."""
    rows = []
    typed = read(dict[str, dict[str, Regression | SkippedFeatureSet]], r.summary.get("regression", {}))
    for ds, per in typed.items():
        for fs, res in per.items():
            if isinstance(res, Skipped):
                rows.append({"dataset": ds, "feature set": fs, "regressor": "-", "R2": "", "Kendall tau": "",
                             "note": res.skipped})
                continue
            for name, a in res.regressors.items():
                if isinstance(a, Skipped):
                    continue
                rows.append({"dataset": ds, "feature set": fs, "regressor": name,
                             "R2": f"{_fmt(a.r2_mean)} ± {_fmt(a.r2_std)}{worse_than_mean(a.r2_mean)}",
                             "Kendall tau": _fmt(a.kendall_tau),
                             "note": f"{res.folds}-fold x {res.repeats}"})
    if not rows:
        return None
    return ("Regression of test accuracy", table(pd.DataFrame(rows)))


def _bag_of_neurons(r: ReportInputs) -> Section | None:
    """Neuron types per dataset: centroids (raw and z), shares, how k was chosen."""
    inner = ""
    typed = typed_parts(r.summary.get("bag_of_neurons"), NeuronTypes, "k")
    for ds, b in r.summary.get("bag_of_neurons", {}).items():
        if str(ds) not in typed:
            inner += f"<p>{esc(ds)}: {esc(b.get('skipped', b) if isinstance(b, dict) else b)}</p>"
            continue
        t = typed[str(ds)]
        cent = pd.DataFrame(t.centroids_raw, columns=t.measures)
        for j, m in enumerate(t.measures):
            cent[f"z {m}"] = [row[j] for row in t.centroids_normalised]
        cent.insert(0, "type", range(t.k))
        cent["share"] = t.type_shares_overall
        inner += (f"<h3>{esc(ds)}</h3><p>k = {t.k} ({esc(t.k_selection.get('method', 'auto silhouette'))}), "
                  f"epoch {t.epoch}, {t.neurons_used} neurons typed, {t.nan_dropped} dropped (NaN); "
                  f"k-means fitted on {t.fit_sample} neurons"
                  f"{' (random subsample)' if t.subsampled else ''}. "
                  f"{esc('; '.join(t.notes))}</p>" + table(cent))
    if not inner:
        return None
    return ("Bag-of-Neurons", inner + r.img("bon_centroids") + r.img("bon_type_shares"))


def _correlations(r: ReportInputs) -> Section | None:
    """Spearman rho of every per-network summary with test accuracy: heat map, table, scatter plots."""
    corr = r.result.tables.get("correlations")
    if corr is None or not len(corr):
        return None
    top = corr.assign(abs_rho=corr["rho"].abs()).sort_values("abs_rho", ascending=False).drop(columns="abs_rho")
    scatter = "".join(r.img(k) for k in r.figures if k.startswith("measures_vs_accuracy_"))
    return ("Correlations with test accuracy (Spearman)", r.img("correlations") + table(top) + scatter)


def _cross_benchmark(r: ReportInputs) -> Section | None:
    """Whether the same neuron types recur across benchmarks (Hungarian matching of centroids)."""
    raw = r.summary.get("cross_benchmark", {})
    if not raw.get("pairs"):
        return None
    cb = CrossBenchmark.from_dict(raw)
    rows = [{"a": p.a, "b": p.b, "matching (type a -> type b)": ", ".join(f"{i}->{j}" for i, j in p.matching),
             "distances": ", ".join(f"{d:.2f}" for d in p.distances), "mean distance": p.mean_distance,
             "relative to within-dataset spread": p.relative_to_within} for p in cb.pairs]
    return ("Neuron types across benchmarks",
            f"<p>Centroids compared in {esc(cb.space)}; Hungarian matching (minimum total Euclidean "
            "distance). A relative distance well below 1 means the same neuron types recur across "
            "domains.</p>" + table(pd.DataFrame(rows)))


def _measure_evolution(r: ReportInputs) -> Section | None:
    """The measures over the snapshot epochs (figure only)."""
    if "measure_evolution" not in r.figures:
        return None
    return ("Measures over training", r.img("measure_evolution"))


_NOISE_RULE = ("the test-set noise is the binomial variance m(1-m)/n of a network at the population's mean test "
              "accuracy m on n test samples (at least the mean noise of the networks, never zero for a tiny test "
              "set), against the population variance of test accuracy between networks; the noise ceiling, "
              "1 - noise/variance, is the share of that variance no predictor's R² can exceed (conservative: "
              "networks sharing one test set err together on its hard samples). With a test set of one sample "
              "every accuracy is 0 or 1 and the ceiling is exactly 0.")
_NO_SPREAD_RULE = ("Where every network has the same test accuracy, or the variance between networks is no larger "
                  "than the noise, there is no spread to explain: regression, performance classes, classification, "
                  "correlations with accuracy and early prediction are undefined for that dataset, and none is "
                  "computed.")
# Settings that change how, not what, is computed: left out of the population's protocol.
_HOW_NOT_WHAT = {"dataset.root", "dataset.cache_dir", "dataset.download", "population.chunk_size",
                 "population.save_weights", "population.shard", "measures.chunk_size"}
_LOSS_WORDS = {"keras": "the paper's Keras loss (softmax probabilities clipped to [1e-7, 1 - 1e-7]: saturated "
                        "samples give no gradient)",
               "cross_entropy": "torch's cross-entropy (every sample trains: not the paper's loss)"}


def _population_settings(protocol: dict[str, dict[str, Any]] | None) -> list[str]:
    """Protocol items: per dataset, every setting that shaped its population (data, model and init, loss,
    training, population, measures), as the run or gather recorded them."""
    if not protocol:
        return ["Population: the settings that trained it are not recorded in this directory (no "
                "<code>.hydra/config.yaml</code>, <code>parts/config.json</code> or <code>gathered.json</code>)."]
    items = []
    for ds, groups in sorted(protocol.items()):
        parts = []
        for group in ("dataset", "model", "train", "population", "measures"):
            flat: dict[str, Any] = {}

            def walk(node: Any, key: str) -> None:
                if isinstance(node, dict) and node:
                    for k, v in node.items():
                        walk(v, f"{key}.{k}")
                elif key not in _HOW_NOT_WHAT:
                    flat[key] = node

            walk(groups.get(group) or {}, group)
            if flat:
                shown = []
                for key, value in flat.items():
                    text = f"<code>{esc(key)}={esc(value)}</code>"
                    if key == "train.loss" and value in _LOSS_WORDS:
                        text += f" ({esc(_LOSS_WORDS[value])})"
                    shown.append(text)
                parts.append(", ".join(shown))
        items.append(f"Population of {esc(ds)}: " + "; ".join(parts) + ".")
    return items


def _protocol(r: ReportInputs) -> Section:
    """The settings that made the population, then the project's choices, stated where the paper's protocol is
    unknown or where we depart from it."""
    cfg = r.summary.get("config", {})
    items = [*_population_settings(r.protocol), *_learning_protocol(cfg), *_structure_protocol(cfg)]
    return ("Protocol", "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>")


def _learning_protocol(cfg: dict[str, Any]) -> list[str]:
    """How accuracy is learnt from structure: classes, estimators, feature sets, early prediction, lost classes."""
    e = cfg.get("early", {})
    classes = (f"{esc(cfg.get('classes'))} quantile classes of test accuracy: in order of increasing accuracy, rank r "
               "of N networks goes to class floor(r classes / N) (equal sizes up to one); tied accuracies are never "
               "split: all networks of one accuracy take the class of their group's middle rank, so classes can "
               "differ in size, and a class is empty where ties cover it (the overview notes say so); 3 classes "
               "are named low/medium/high" if cfg.get("thresholds") is None
               else f"fixed test-accuracy thresholds {esc(cfg.get('thresholds'))} (a network at a threshold goes up)")
    return [
        f"Performance classes: per dataset, {classes}. The paper's exact class boundaries are not given.",
        "Diverged networks (flag <code>diverged</code>) and networks without a finite test accuracy are excluded "
        "from every part and counted in the overview.",
        f"Classifiers: {esc(', '.join(map(str, cfg.get('classifiers', []))))} (scikit-learn; cuML on GPU except LDA), parameters "
        f"{esc(cfg.get('estimator_params', {}))}. Stratified {esc(cfg.get('folds'))}-fold cross-validation repeated "
        f"{esc(cfg.get('repeats'))} times with different shuffles; features scaled inside each training fold "
        f"({'z-scores of each feature clipped to its training-fold 1-99 % range: the measures have tails of 10+ sd that would let single networks steer the linear models' if cfg.get('scaler') == 'winsorized' else 'z-scores (StandardScaler)'}). "
        "When the smallest class has fewer networks than folds, the fold count drops to that size; classes with "
        "fewer than 2 networks are left out. Accuracy is mean ± std over all folds of all repeats; chance is the "
        "majority-class share. The paper's fold count and repetitions are not known.",
        f"Regression of test accuracy: ridge and random forest, plain {esc(cfg.get('folds'))}-fold x "
        f"{esc(cfg.get('regression_repeats'))}; R² per fold (mean ± std), Kendall's tau between out-of-fold predictions "
        "and the truth.",
        "Feature sets: cn = per-layer mean and std of every measure (networks.parquet); bon = Bag-of-Neurons "
        "histograms (joint and per layer); weights = per-layer mean, std and 0/25/50/75/100 % quantiles of the raw "
        "weights (Unterthiner et al. 2020), when present; spectral = per-layer WeightWatcher metrics (power-law "
        "alpha of the eigenvalue spectrum of WᵀW, weighted alpha, log spectral norm, stable rank, log Frobenius "
        "norm; Martin & Mahoney 2021), when present; all = their union. Rows with NaN features are dropped "
        "(counted).",
        f"Early prediction: for every snapshot epoch, the feature sets of that epoch alone predict the final test "
        f"accuracy ({esc(', '.join(map(str, e.get('regressors', []))))}) and the final performance class "
        f"({esc(', '.join(map(str, e.get('classifiers', []))))}), same folds and seeds, {esc(e.get('repeats'))} "
        "repeat(s); Bag-of-Neurons types at earlier epochs use the last epoch's centroids; the baseline "
        "<code>curve</code> is the learning curve (train/test loss and accuracy, silenced share) of epochs 0..e and "
        "stops one epoch before the last, whose curve holds the target.",
        "Lost classes: a network loses a class of the test set when it predicts no test sample as that class "
        "(counted from the test predictions of every epoch, during training). The count's share of the variance "
        "of test accuracy: in-sample R² of a straight line and of the count's group means (any function of the "
        "count), out-of-fold R² of the regressors on the count alone, Spearman rho. Beyond the count: the residual "
        "from the group mean (counts held by one network left out), regressed from each feature set as above; its "
        "noise ceiling is the test set's noise against the residual's variance. "
        "Which and how many: the early-prediction estimators and feature sets at each snapshot epoch, the final "
        "count regressed, each class's loss classified (balanced accuracy from the summed out-of-fold confusion "
        "matrix). Settling: the first epoch from which the set of predicted classes no longer changes.",
    ]


def _structure_protocol(cfg: dict[str, Any]) -> list[str]:
    """The noise ceiling, the no-spread rule, Bag-of-Neurons, correlations and the comparison across benchmarks."""
    b = cfg.get("bon", {})
    return [
        f"Noise ceiling: {_NOISE_RULE}",
        f"No spread: {_NO_SPREAD_RULE}",
        f"Bag-of-Neurons: measures {esc(b.get('measures'))}, log10 of {esc(b.get('log10_measures'))} (subgraph centrality "
        f"reaches 1e89), z-scored over all neurons of the benchmark at the last snapshot epoch; k-means++ with "
        f"k = {esc(b.get('k'))}, n_init = {esc(b.get('n_init'))}, max_iter = {esc(b.get('max_iter'))} (the paper: k = 6, n_init = "
        f"100, max_iter = 100), fitted on a random subsample of {esc(b.get('fit_sample'))} neurons when there are more, "
        "then every neuron assigned to its nearest centroid. Types are numbered by increasing centroid of the first "
        "measure. Neurons of other snapshot epochs are typed with the same centroids and normalisation. "
        "k: auto picks the best silhouette (on a subsample) in k_range; inertia is kept for an elbow reading.",
        f"Correlations: Spearman rho and p-value of every per-network summary with test accuracy, per dataset; "
        f"significance at alpha = {esc(cfg.get('alpha'))} without multiple-comparison correction. Verdict on 'lower-"
        "performing models have higher subgraph centrality': per layer, rho < 0 and p < alpha = supported, rho > 0 "
        "and p < alpha = opposite, otherwise not supported.",
        "Across benchmarks: centroids compared in each dataset's own z-space (each benchmark normalised on its own "
        "neurons, as its k-means was), matched one-to-one by the Hungarian algorithm; distances are reported next "
        "to the mean distance between distinct centroids within a dataset. This absorbs each domain's overall "
        "scale of weights, but different type proportions alone shift z-space centroids a little.",
    ]


# The page, top to bottom: the answers first (a paired run's comparison, conclusion, what the spread is made of,
# predictability, early prediction), then the details.
SECTIONS: tuple[Callable[[ReportInputs], Section | None], ...] = (
    _paired,
    _conclusion, _lost_classes, _predictability, _early_prediction, _overview, _verdict, _classification, _regression,
    _bag_of_neurons,
    _correlations, _cross_benchmark, _measure_evolution, _protocol)


def report_html(run_dir: Path, result: AnalysisResult, figures: dict[str, bytes],
                protocol: dict[str, dict[str, Any]] | None = None) -> str:
    """The whole report page: every section of ``SECTIONS`` that has something to show.

    Parameters
    ----------
    run_dir : pathlib.Path
        The run directory (named in the overview).
    result : AnalysisResult
        The analysis of its tables.
    figures : dict of str to bytes
        Name -> PNG bytes (``engine.report.writer`` renders them).
    protocol : dict, optional
        Per dataset, the settings that made its population (``engine.run_dir.load_protocol``), for the
        Protocol section.

    Returns
    -------
    str
        The HTML page.

    Examples
    --------
    >>> from engine.analysis import run_analysis
    >>> nets = pd.DataFrame({"dataset": "d", "network": range(8), "test_acc": np.linspace(0.5, 0.9, 8),
    ...                      "test_samples": 1000})
    >>> result = run_analysis(nets, None, {"enabled": {"classification": False, "regression": False}})
    >>> page_ = report_html(Path("run"), result, {})
    >>> page_.startswith("<!DOCTYPE html>"), "How much of performance is predictable" in page_
    (True, True)
    """
    inputs = ReportInputs(Path(run_dir), result, figures, protocol)
    return page(_TITLE, [s for s in (make(inputs) for make in SECTIONS) if s is not None])
