"""Typed analysis results: every part the analysis writes reads back as its record and writes the same JSON,
the words read the summary in memory and from JSON alike, and an R^2 below 0 says it is worse than the mean."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine.analysis import run_analysis
from engine.analysis.classification import (BestClassifier, Classification, Regression, RegressorScore,
                                            SkippedFeatureSet)
from engine.analysis.conclusion import Conclusion, conclusion
from engine.analysis.correlations import Correlation, SubgraphVerdict
from engine.analysis.cross_benchmark import CrossBenchmark
from engine.analysis.early_prediction import EarlyPrediction
from engine.analysis.features import below_mean_note, best_against_curve, r2_words
from engine.analysis.lost_classes import LostClasses, RegressionScore, sentences
from engine.analysis.paired import (Arm, ArmStrengthVariance, Comparison, DatasetPairs, EpochDifference, Paired,
                                    PairedConclusion, Silenced, StrengthVarianceRatio, paired_analysis)
from engine.analysis.performance_classes import PerformanceClasses
from engine.analysis.predictability import Predictability, noise_ceiling
from engine.analysis.results import Skipped, read
from engine.analysis.synthetic import make_population
from engine.report.paired import section as paired_section
from engine.report.sections import ReportInputs, _lost_classes as lost_section, _regression as regression_section

from test_analysis import _curves
from test_lost_classes import MASKS, cfg as lost_cfg, hand_built, lost_matrix
from test_paired import hand_built as paired_population

# per part of the summary: the type of its JSON value
PARTS = {
    "performance_classes": PerformanceClasses,
    "classification": dict[str, dict[str, Classification | SkippedFeatureSet]],
    "regression": dict[str, dict[str, Regression | SkippedFeatureSet]],
    "best_classifier": dict[str, BestClassifier],
    "predictability": dict[str, Predictability],
    "subgraph_verdict": SubgraphVerdict,
    "correlations": dict[str, dict[str, Correlation]],
    "cross_benchmark": CrossBenchmark,
    "early_prediction": dict[str, EarlyPrediction | Skipped],
    "lost_classes": dict[str, LostClasses | Skipped],
    "conclusion": Conclusion,
}


def _json(v) -> str:
    return json.dumps(v, default=float)


def _written(part):
    """The part as analysis/*.json holds it (int keys as strings)."""
    return json.loads(_json(part))


def _back(tp, value):
    """The typed value written again."""
    typed = read(tp, value)
    if isinstance(typed, dict):
        return {k: _back_value(v) for k, v in typed.items()}
    return typed.to_dict()


def _back_value(v):
    if isinstance(v, dict):
        return {k: _back_value(x) for k, x in v.items()}
    return v.to_dict()


@pytest.fixture(scope="module")
def population_summary():
    """Two datasets, three snapshot epochs with curves: every part but lost classes computed."""
    nets, neu, _ = make_population(("a", "b"), networks=30, layer_sizes=(6, 3), epochs=(0, 2, 5), n_types=3, seed=5,
                                   weight_layers=1)
    nets["test_samples"] = 1000
    cfg = {"folds": 3, "repeats": 1, "regression_repeats": 1, "n_jobs": 1, "bon": {"k": 3},
           "early": {"regressors": ["ridge"], "classifiers": ["lda"], "repeats": 1}}
    return run_analysis(nets, neu, cfg, curves=_curves(nets, 5)).summary


@pytest.fixture(scope="module")
def lost_summary():
    """Hand-built lost classes with silenced shares and curves: every part of lost classes computed."""
    lost = lost_matrix(MASKS[:, -1], 4)
    silenced = np.where(lost, 1.0, 0.5)
    nets, curves = hand_built(silenced)
    return run_analysis(nets, None, lost_cfg(), curves=curves).summary


@pytest.mark.parametrize("part", list(PARTS))
def test_every_part_reads_back_as_its_record_and_writes_the_same_json(population_summary, lost_summary, part):
    for summary in (population_summary, lost_summary):
        if part not in summary or (isinstance(summary[part], dict) and "skipped" in summary[part]):
            continue
        for value in (summary[part], _written(summary[part])):   # in memory, and read back from its JSON file
            assert _json(_back(PARTS[part], value)) == _json(summary[part])


def test_typed_parts_hold_records_with_their_numbers(population_summary, lost_summary):
    early = read(PARTS["early_prediction"], _written(population_summary["early_prediction"]))["a"]
    assert isinstance(early, EarlyPrediction) and early.epochs == [0, 2, 5]
    assert set(early.by_epoch) == {0, 2, 5}                       # int epochs again, not JSON's strings
    assert early.by_epoch[5]["cn"].regressor == "ridge" and early.by_epoch[5]["cn"].classifier == "lda"
    reg = read(PARTS["regression"], population_summary["regression"])["a"]
    assert isinstance(reg["cn"], Regression) and isinstance(reg["cn"].regressors["ridge"], RegressorScore)
    assert isinstance(reg["spectral"], SkippedFeatureSet) and "ww_l*" in reg["spectral"].skipped
    lc = read(PARTS["lost_classes"], _written(lost_summary["lost_classes"]))["toy"]
    assert isinstance(lc, LostClasses) and (lc.networks, lc.lost_any, lc.lost_max) == (12, 9, 3)
    assert [b.networks for b in lc.by_count] == [3, 4, 3, 2]
    assert isinstance(lc.explained.cv, RegressionScore) and lc.explained.cv.regressor == "ridge"
    assert lc.settling.q90 == 2 and set(lc.settling.lost_share) == {0, 1, 2, 3}
    assert isinstance(lc.prediction, Skipped) and "no snapshot features" in lc.prediction.skipped
    p = read(PARTS["predictability"], population_summary["predictability"])["a"]
    assert p.best.feature_set in ("cn", "bon", "weights", "all") and p.share_of_ceiling == p.best.r2 / p.ceiling


def test_the_words_read_the_summary_in_memory_and_from_its_json_alike(population_summary, lost_summary):
    for summary in (population_summary, lost_summary):
        from_json = _written({k: v for k, v in summary.items() if k != "conclusion"})
        assert conclusion(from_json) == conclusion(summary) == summary["conclusion"]


def test_skipped_parts_and_empty_best_read_back():
    assert read(LostClasses | Skipped, {"skipped": "disabled"}) == Skipped("disabled")
    p = Predictability.from_dict({"networks": 3, "test_samples": None, "acc_min": 0.1, "acc_max": 0.2,
                                  "acc_mean": 0.15, "acc_sd": 0.05, "noise_sd": None, "ceiling": None,
                                  "no_spread": None, "best": {}})
    assert p.best is None and p.share_of_ceiling is None
    assert p.to_dict()["best"] == {} and "share_of_ceiling" not in p.to_dict()
    assert SubgraphVerdict.from_dict({"text": "correlations disabled"}).to_dict() == {"text": "correlations disabled"}


def test_an_r2_below_zero_says_it_is_worse_than_the_mean():
    assert r2_words(-128.153, "the mean accuracy") == "-128.15, worse than predicting the mean accuracy"
    assert r2_words(0.0, "the mean accuracy") == "0.00" and r2_words(0.5) == "0.50"
    assert best_against_curve({"cn": 0.3}, 0.1, "R^2", " from the learning curve") == \
        "R^2 0.30 (cn) vs 0.10 from the learning curve"
    assert below_mean_note([0.3, None, -2.0], "the mean accuracy") == \
        " An R^2 below 0 is worse than predicting the mean accuracy."
    assert below_mean_note([0.3, None]) == ""


def test_the_conclusion_and_report_put_a_negative_r2_in_words():
    """A tiny population: negative out-of-fold R^2 everywhere; every one stated says it is worse than the mean."""
    rng = np.random.default_rng(0)
    count = np.array([0, 0, 1, 1, 2, 2, 0, 1])
    acc = 0.9 - 0.05 * count + rng.normal(0, 0.05, 8)
    nets = pd.DataFrame({"dataset": "t", "network": np.arange(8), "test_acc": acc, "diverged": False,
                         "test_samples": 100, "test_lost": count, "test_lost_classes": count,
                         "test_acc_predicted": acc, "w_l1_mean": rng.normal(size=8), "w_l1_std": rng.normal(size=8),
                         **{f"test_acc_c{c}": acc for c in range(3)}})
    res = run_analysis(nets, None, lost_cfg(enabled={"bag_of_neurons": False, "classification": False,
                                                     "correlations": False, "cross_benchmark": False,
                                                     "early_prediction": False}, feature_sets=["weights"]))
    reg = res.summary["regression"]["t"]["weights"]["regressors"]["ridge"]["r2_mean"]
    cv = res.summary["lost_classes"]["t"]["explained"]["cv"]["r2"]
    assert reg < 0 and cv < 0
    text = " ".join(sentences(res.summary, "t"))
    assert f"out of fold R^2 {cv:.2f}, worse than predicting the mean accuracy" in text
    html = regression_section(ReportInputs(".", res, {}))[1]
    assert f"{reg:.3f} ± " in html and "worse than predicting the mean" in html
    html = lost_section(ReportInputs(".", res, {}))[1]
    assert f"{cv:.3f} ridge, worse than predicting the mean" in html


def test_the_baselines_and_early_sentences_put_a_negative_r2_in_words():
    def reg(r2):
        return {"n": 8, "folds": 4, "repeats": 1, "regressors": {"ridge": {"r2_mean": r2, "r2_std": 0.1,
                                                                           "kendall_tau": 0.0}}}

    pred = {"networks": 8, "test_samples": 100, "acc_min": 0.5, "acc_max": 0.9, "acc_mean": 0.7, "acc_sd": 0.1,
            "noise_sd": 0.04, "ceiling": 0.8, "no_spread": None,
            "best": {"feature_set": "cn", "regressor": "ridge", "r2": 0.2, "r2_sd": 0.1, "kendall_tau": 0.3}}
    score = {"r2": -128.153, "r2_sd": 1.0, "kendall_tau": 0.0, "regressor": "ridge", "class_acc": None,
             "class_acc_sd": None, "chance": None, "classifier": None}
    summary = {"predictability": {"t": pred}, "regression": {"t": {"cn": reg(0.2), "weights": reg(-3.5)}},
               "early_prediction": {"t": {"epochs": [0], "by_epoch": {"0": {"cn": score}}}}}
    text = conclusion(summary)["text"]
    assert ("beat the weight statistics (-3.50). An R^2 below 0 is worse than predicting the mean accuracy."
            in text)
    assert ("epoch 0 (random init) R^2 -128.15 (cn). An R^2 below 0 is worse than predicting the mean accuracy."
            in text)
    assert text.count("worse than predicting") == 2     # once per sentence, not once per number
    assert "Complex-network measures (R^2 0.20) beat" in text     # a positive R^2 as before
    # every set worse than the mean: no ranking among them ("beat" would read as a success)
    summary["regression"]["t"] = {"cn": reg(-2.09), "weights": reg(-12.26), "spectral": reg(-11.26)}
    text = conclusion(summary)["text"]
    assert ("Neither complex-network measures (R^2 -2.09) nor the weight statistics (-12.26) nor the "
            "WeightWatcher spectral metrics (-11.26) predicts final test accuracy better than its mean.") in text
    assert " beat " not in text


def _paired_results():
    """The paired analysis in every shape its JSON takes: with curves and the strength variance at init; an arm
    missing from a benchmark (a skipped comparison); neither curves nor strength variance; an arm whose
    regression gave no R^2 (best {}) beside one without regression, and a noise ceiling."""
    nets, curves = paired_population()
    small, small_curves = paired_population(n=6)
    solo = pd.concat([small, small[small["arm"] == "zeta"].assign(dataset="solo")], ignore_index=True)
    summary = {"regression": {"toy/zeta": {"cn": {"skipped": "constant features"}}},
               "predictability": {"toy/zeta": Predictability(**noise_ceiling([0.5, 0.6, 0.7], 1000), best=None).to_dict()}}
    return {"full": paired_analysis(nets, curves)[0], "skipped": paired_analysis(solo, small_curves)[0],
            "bare": paired_analysis(nets.drop(columns="init_strength_var"))[0],
            "predictors": paired_analysis(nets, summary=summary)[0]}


def test_the_paired_analysis_reads_back_as_records_and_writes_the_same_json():
    for name, out in _paired_results().items():
        for value in (out, _written(out)):   # in memory, and read back from analysis/paired.json
            assert _json(Paired.from_dict(value).to_dict()) == _json(out), name
    p = {k: Paired.from_dict(_written(v)) for k, v in _paired_results().items()}
    comp = p["full"].datasets["toy"].comparisons["alpha"]
    assert isinstance(comp, Comparison) and comp.pairs == 38 and comp.final_test_acc.n == 38
    assert comp.init_strength_var.lower_share == 1.0 and [r.epoch for r in comp.by_epoch["test_acc"]] == [0, 1, 2, 3]
    zeta = p["full"].datasets["toy"].arms["zeta"]
    assert zeta.silenced.init == pytest.approx(0.8) and zeta.init_strength_var.vs_acc.n == 40
    assert p["full"].conclusion["toy"].headline.startswith("toy: alpha - zeta")
    for value, record in ((p["full"].datasets["toy"], DatasetPairs), (zeta, Arm), (zeta.silenced, Silenced),
                          (zeta.init_strength_var, ArmStrengthVariance), (comp.by_epoch["test_acc"][0], EpochDifference),
                          (comp.init_strength_var, StrengthVarianceRatio), (p["full"].conclusion["toy"], PairedConclusion),
                          (zeta.init_strength_var.vs_acc, Correlation)):
        assert isinstance(value, record)
    assert isinstance(p["skipped"].datasets["solo"].comparisons["alpha"], Skipped)
    empty = p["skipped"].datasets["solo"].arms["alpha"]
    assert empty.used == 0 and empty.init_strength_var.median is None     # the keys are there, as nulls
    assert "init_strength_var_median" in empty.to_dict()
    bare = p["bare"].datasets["toy"]
    assert bare.comparisons["alpha"].init_strength_var is None and bare.comparisons["alpha"].by_epoch is None
    assert "init_strength_var_median" not in bare.arms["zeta"].to_dict()
    ref, other = p["predictors"].datasets["toy"].arms["zeta"], p["predictors"].datasets["toy"].arms["alpha"]
    assert ref.best_r2 == {"cn": None} and ref.best is None and ref.to_dict()["best"] == {}
    assert ref.noise_ceiling == pytest.approx(Predictability(**noise_ceiling([0.5, 0.6, 0.7], 1000), best=None).ceiling)
    assert other.best_r2 is None and "best" not in other.to_dict() and "noise_ceiling" not in other.to_dict()


def test_the_paired_report_reads_the_records():
    results = _paired_results()
    for out in results.values():   # the same section from the summary in memory and from its JSON
        assert paired_section({"paired": out}, lambda name: "") == paired_section({"paired": _written(out)},
                                                                                  lambda name: "")
    p = Paired.from_dict(results["full"])
    html = paired_section({"paired": results["full"]}, lambda name: "")[1]
    s = p.datasets["toy"].comparisons["alpha"].final_test_acc
    assert f"{s.mean:+.4f} [{s.mean_ci[0]:+.4f}, {s.mean_ci[1]:+.4f}]" in html
    rho = p.datasets["toy"].arms["zeta"].init_strength_var.vs_acc
    assert f"{rho.rho:+.2f} (p {rho.p:.2g})" in html and "80% / 40% / 40%" in html
    assert "1 pair(s) with a diverged network left out" in html
    assert "no networks of arm alpha" in paired_section({"paired": results["skipped"]}, lambda name: "")[1]


def test_correlations_read_back_as_records(population_summary):
    corr = read(dict[str, dict[str, Correlation]], _written(population_summary["correlations"]))
    one = next(iter(corr["a"].values()))
    assert isinstance(one, Correlation) and one.n == 30 and -1 <= one.rho <= 1
