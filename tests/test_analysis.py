"""Analysis stage on synthetic populations whose answers are planted (engine.analysis.synthetic)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from engine.analysis import AnalysisConfig, run_analysis
from engine.analysis.classification import classify, regress
from engine.config import BoNConfig
from engine.analysis.correlations import spearman_table, subgraph_verdict
from engine.analysis.cross_benchmark import cross_benchmark, _match_centroids
from engine.analysis.estimators import estimator_class, make_estimator
from engine.analysis.performance_classes import assign_classes
from engine.analysis.synthetic import make_population
from engine.analysis.weight_stats import weight_stats
from engine.errors import EngineError
from engine.storage import _clean

ROOT = Path(__file__).resolve().parents[1]

# small, fast settings: the logic is the same as the defaults
FAST = {"folds": 5, "repeats": 1, "n_jobs": 1,
        "estimator_params": {"random_forest": {"n_estimators": 25},
                             "random_forest_regressor": {"n_estimators": 25, "max_features": 0.33,
                                                         "min_samples_leaf": 5}},
        "bon": {"k": 4, "n_init": 3}}
ONLY_BON = {"enabled": {"classification": False, "regression": False, "correlations": False,
                        "cross_benchmark": False, "early_prediction": False}, "bon": {"k": 4, "n_init": 3}}


def cfg(**over) -> AnalysisConfig:
    d = json.loads(json.dumps(FAST))
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(d.get(k), dict):
            d[k].update(v)
        else:
            d[k] = v
    return AnalysisConfig.from_mapping(d)


# ---------------------------------------------------------------- config, estimators

def test_the_analysis_defaults_are_the_schemas():
    """conf/ holds only what differs from the schema: no file for the analysis group."""
    assert not (ROOT / "conf" / "analysis").exists()
    assert AnalysisConfig.from_mapping({}).to_dict() == AnalysisConfig().to_dict()


@pytest.mark.parametrize("bad,message", [
    ({"nope": 1}, r"^analysis\.nope: unknown setting; known keys of analysis: enabled, classes"),
    ({"bon": {"kk": 3}}, r"^analysis\.bon\.kk: unknown setting; did you mean analysis\.bon\.k\?$"),
    ({"classes": 1}, r"^analysis\.classes=1: must be an integer >= 2"),
    ({"thresholds": [0.8, 0.5]}, r"^analysis\.thresholds=\[0\.8, 0\.5\]: must be strictly increasing"),
    ({"classifiers": ["xgboost"]}, r"^analysis\.classifiers=\['xgboost'\]: item 0 \('xgboost'\) must be one of "
                                   r"logistic_regression, svm"),
    ({"bon": {"k": "many"}}, r"^analysis\.bon\.k='many': must be an integer >= 2 or one of auto"),
    ({"enabled": {"x": True}}, r"^analysis\.enabled\.x: unknown key; known: classification, regression"),
])
def test_bad_config_is_a_clear_error(bad, message):
    with pytest.raises(EngineError, match=message):
        AnalysisConfig.from_mapping(bad)


def test_estimator_factory_cpu_and_gpu_fallback():
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.svm import SVC

    assert estimator_class("svm", "cpu") is SVC
    assert estimator_class("lda", "gpu") is LinearDiscriminantAnalysis   # no cuML LDA
    cls = estimator_class("svm", "gpu")                                    # cuML where it imports
    assert cls is SVC or cls.__module__.startswith("cuml")
    assert make_estimator("random_forest", "cpu", n_estimators=3).n_estimators == 3
    with pytest.raises(EngineError, match=r"unknown estimator 'deep_net'; known: .*'svm'"):
        make_estimator("deep_net")


def test_gpu_backend_without_cuml_fits_in_parallel(monkeypatch):
    """backend=gpu fits serially only where an estimator is cuML's; scikit-learn's (no cuML, or LDA)
    use analysis.n_jobs processes as on the CPU."""
    from engine.analysis import classification as cl

    seen = []

    class Recorder:
        def __init__(self, n_jobs, **_):
            seen.append(n_jobs)

        def __call__(self, tasks):
            return (f(*a, **k) for f, a, k in tasks)

    monkeypatch.setattr(cl, "Parallel", Recorder)
    x, y = np.random.default_rng(0).normal(size=(40, 3)), np.repeat([0, 1], 20)
    tasks = [("lda", {}, x, y, np.arange(0, 40, 2), np.arange(1, 40, 2))] * 2
    cfg = AnalysisConfig.from_mapping({"n_jobs": 2})
    out = cl._run_tasks(tasks, cfg, "gpu")
    assert seen == [2] and len(out) == 2 and out[0].shape == (20,)
    monkeypatch.setattr(cl, "estimator_class", lambda name, backend: type("SVC", (), {"__module__": "cuml.svm"}))
    seen.clear()
    cl._run_tasks(tasks, cfg, "gpu")
    assert seen == []   # cuML: serial, no process pool


def test_an_estimator_that_cannot_fit_constant_features_is_skipped_not_a_crash():
    """scikit-learn's LDA raises IndexError on features constant across a fold (early prediction at the
    random init met it: learning curves identical across networks); the other estimators still score."""
    y = np.repeat([0, 1, 2], 10)
    from engine.analysis.classification import classify
    out = classify(np.ones((30, 3)), y, AnalysisConfig.from_mapping(
        {"classifiers": ["lda", "logistic_regression"], "folds": 3, "repeats": 1, "n_jobs": 1}))
    assert "could not be fitted" in out["classifiers"]["lda"]["skipped"]
    assert out["classifiers"]["logistic_regression"]["mean"] <= 0.5


# ---------------------------------------------------------------- performance classes

def test_quantile_classes_equal_sizes_and_diverged_excluded():
    nets, _, _ = make_population(networks=31, layer_sizes=(3,), seed=1)
    nets.loc[0, "diverged"] = True
    nets.loc[1, "test_acc"] = np.nan
    labels, summ = assign_classes(nets, AnalysisConfig())
    d = summ["datasets"]["digits"]
    assert d["diverged_excluded"] == 1 and d["nan_accuracy_excluded"] == 1 and d["used"] == 29
    counts = [d["classes"][n]["count"] for n in ("low", "medium", "high")]
    assert sum(counts) == 29 and max(counts) - min(counts) <= 1
    assert labels[0] == -1 and labels[1] == -1
    # class order follows accuracy
    acc = nets["test_acc"].to_numpy()
    assert acc[labels == 0].max() <= acc[labels == 2].min()


def test_threshold_classes():
    nets, _, _ = make_population(networks=40, layer_sizes=(3,), seed=2)
    labels, summ = assign_classes(nets, AnalysisConfig.from_mapping({"thresholds": [0.7]}))
    assert summ["names"] == ["low", "high"]
    assert ((nets["test_acc"] >= 0.7).to_numpy() == (labels == 1).to_numpy()).all()


# ---------------------------------------------------------------- Bag-of-Neurons

def test_bon_recovers_planted_types():
    nets, neu, truth = make_population(networks=30, layer_sizes=(20, 10), n_types=4, seed=3)
    res = run_analysis(nets, neu, ONLY_BON)
    types = res.neuron_types.to_numpy()
    assert (types >= 0).all()
    assert adjusted_rand_score(truth["neuron_type"], types) > 0.95
    b = res.summary["bag_of_neurons"]["digits"]
    assert b["k"] == 4 and len(b["centroids_raw"]) == 4
    # raw centroids are in raw units: subgraph centrality back from log10 (planted 1e10 .. 1e89)
    sc = sorted(row[2] for row in b["centroids_raw"])
    assert 1e9 < sc[0] < 1e11 and 1e88 < sc[-1] < 1e90
    # histograms: joint and per layer, each sums to 1
    h = res.tables["networks"]
    joint = h[[f"bon_all_t{j}" for j in range(4)]].to_numpy()
    assert np.allclose(joint.sum(axis=1), 1)
    assert np.allclose(h[[f"bon_l2_t{j}" for j in range(4)]].sum(axis=1), 1)
    shares = b["type_shares_per_class"]
    assert set(shares) == {"low", "medium", "high"} and np.isclose(sum(shares["low"]["all"]), 1)


def test_bon_subsample_fit_and_auto_k():
    nets, neu, truth = make_population(networks=30, layer_sizes=(20, 10), n_types=4, seed=4)
    c = dict(ONLY_BON, bon={"k": "auto", "k_range": [2, 6], "n_init": 2, "fit_sample": 400,
                            "silhouette_sample": 1000})
    res = run_analysis(nets, neu, c)
    b = res.summary["bag_of_neurons"]["digits"]
    assert b["subsampled"] and b["fit_sample"] == 400 and b["neurons_used"] == 900
    assert b["k"] == 4, b["k_selection"]
    assert set(b["k_selection"]["silhouette"]) == {2, 3, 4, 5, 6}
    assert adjusted_rand_score(truth["neuron_type"], res.neuron_types.to_numpy()) > 0.95


# ---------------------------------------------------------------- classification / regression

def test_planted_feature_classifies_noise_does_not():
    rng = np.random.default_rng(0)
    n = 150
    y = np.repeat([0, 1, 2], n // 3)
    planted = np.c_[y + rng.normal(0, 0.1, n), rng.normal(size=(n, 3))]
    noise = rng.normal(size=(n, 4))
    c = cfg()
    good = classify(planted, y, c)
    bad = classify(noise, y, c)
    assert good["chance"] == pytest.approx(1 / 3)
    for name in c.classifiers:
        assert good["classifiers"][name]["mean"] > 0.9, name
        assert bad["classifiers"][name]["mean"] < good["chance"] + 0.2, name
    cm = np.asarray(good["classifiers"]["lda"]["confusion"])
    assert cm.sum() == n and np.trace(cm) > 0.9 * n
    acc = planted[:, 0] / 3
    r = regress(planted, acc, c)["regressors"]
    assert r["ridge"]["r2_mean"] > 0.9 and r["ridge"]["kendall_tau"] > 0.8
    assert regress(noise, acc, c)["regressors"]["ridge"]["r2_mean"] < 0.2


def test_run_analysis_end_to_end_feature_sets():
    nets, neu, _ = make_population(("a", "b"), networks=45, layer_sizes=(12, 6), n_types=4, weight_layers=2, seed=5)
    res = run_analysis(nets, neu, cfg(classifiers=["logistic_regression", "lda"], regressors=["ridge"]))
    s = res.summary
    json.dumps(_clean(s))  # JSON-serialisable
    for ds in ("a", "b"):
        cl = s["classification"][ds]
        assert set(cl) == {"cn", "bon", "weights", "spectral", "all"}
        assert "ww_l*" in cl["spectral"]["skipped"]   # no spectral columns in this table
        chance = cl["bon"]["chance"]
        assert cl["bon"]["classifiers"]["logistic_regression"]["mean"] > chance + 0.3
        assert cl["weights"]["classifiers"]["logistic_regression"]["mean"] < chance + 0.25   # pure noise
        assert s["regression"][ds]["bon"]["regressors"]["ridge"]["kendall_tau"] > 0.5
        assert s["best_classifier"][ds]["feature_set"] in ("cn", "bon", "all")
        assert s["subgraph_verdict"]["datasets"][ds]["verdict"] == "supported"
    assert "supported" in s["subgraph_verdict"]["text"]
    assert s["cross_benchmark"]["pairs"][0]["relative_to_within"] < 0.2


def test_weights_feature_set_skipped_with_note_when_absent():
    nets, neu, _ = make_population(networks=30, layer_sizes=(6, 3), seed=6)
    res = run_analysis(nets, neu, cfg(classifiers=["lda"], regressors=["ridge"]))
    assert "w_l" in res.summary["classification"]["digits"]["weights"]["skipped"]


def test_small_population_with_nan_and_diverged():
    nets, neu, _ = make_population(networks=20, layer_sizes=(6, 3), seed=7)
    nets.loc[3, "diverged"] = True
    nets.loc[3, "test_acc"] = 0.1
    nets.loc[5, "strength_l1_mean"] = np.nan
    nets["current_flow_closeness_l2_std"] = np.nan          # an all-NaN column
    neu.loc[neu.index[:7], "subgraph_centrality"] = np.nan
    neu.loc[neu.index[7], "subgraph_centrality"] = 0.0       # log10 impossible -> dropped
    res = run_analysis(nets, neu, cfg(folds=10, repeats=2, classifiers=["svm", "knn", "lda"]))
    s = res.summary
    assert s["counts"]["diverged_excluded"] == 1 and s["counts"]["networks_used"] == 19
    cn = s["classification"]["digits"]["cn"]
    assert cn["folds"] in (5, 6) and any("folds reduced" in n for n in cn["notes"])
    assert cn["features"]["rows_with_nan_dropped"] == 1 and cn["features"]["all_nan_columns_dropped"] == 1
    assert s["bag_of_neurons"]["digits"]["nan_dropped"] == 8
    types = res.neuron_types.to_numpy()
    assert (types[:8] == -1).all()
    assert (types[(neu["network"] == 3).to_numpy()] == -1).all()     # diverged network untyped
    json.dumps(_clean(s))


def test_tiny_population_does_not_crash():
    nets, neu, _ = make_population(networks=4, layer_sizes=(3,), seed=8)
    res = run_analysis(nets, neu, cfg(classes=3, bon={"k": 6}))
    assert res.summary["classification"]["digits"]["cn"].get("skipped")  # 4 networks, 3 classes: 1-2 per class
    assert res.summary["bag_of_neurons"]["digits"]["k"] <= 6


def test_empty_or_bad_tables_are_clear_errors():
    with pytest.raises(EngineError, match="networks table is empty: nothing to analyse"):
        run_analysis(pd.DataFrame({"dataset": [], "network": [], "test_acc": []}), None)
    with pytest.raises(EngineError, match=r"networks table lacks column\(s\) \['dataset', 'network', 'test_acc'\]"):
        run_analysis(pd.DataFrame({"x": [1]}), None)
    nets, neu, _ = make_population(networks=10, layer_sizes=(3,))
    with pytest.raises(EngineError, match="bon.measures"):
        run_analysis(nets, neu, dict(ONLY_BON, bon={"measures": ["nonexistent"]}))


# ---------------------------------------------------------------- correlations

def _monotone(sign: float, noise: float, n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    acc = rng.uniform(0.5, 0.95, n)
    sc = 10 ** (50 + sign * 30 * acc + noise * rng.normal(size=n))
    return pd.DataFrame({"dataset": "d", "network": range(n), "test_acc": acc, "subgraph_centrality_l1_mean": sc,
                         "subgraph_centrality_l1_std": rng.normal(size=n), "strength_l1_mean": acc ** 2})


@pytest.mark.parametrize("sign,noise,verdict", [(-1, 1.0, "supported"), (1, 1.0, "opposite"),
                                                (0, 1.0, "not supported")])
def test_spearman_sign_significance_and_verdict(sign, noise, verdict):
    t = spearman_table(_monotone(sign, noise), 0.05)
    row = t.set_index("column").loc["subgraph_centrality_l1_mean"]
    if sign:
        assert np.sign(row["rho"]) == sign and row["p"] < 1e-4
    else:
        assert row["p"] > 0.05
    assert t.set_index("column").loc["strength_l1_mean", "rho"] == pytest.approx(1.0)
    v = subgraph_verdict(t, 0.05)
    assert v["datasets"]["d"]["verdict"] == verdict
    assert f"d: {verdict}" in v["text"]


# ---------------------------------------------------------------- across benchmarks

def test_hungarian_recovers_permutation():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(6, 3)) * 3
    perm = rng.permutation(6)
    b = a[perm] + rng.normal(0, 0.05, size=(6, 3))
    pairs, dist = _match_centroids(a, b)
    # a[i] must match the row of b that holds it: b[j] = a[perm[j]]
    assert all(perm[j] == i for i, j in pairs)
    assert dist.max() < 0.3
    out = cross_benchmark({"x": a, "y": b, "z": rng.normal(size=(5, 3))})
    assert len(out["pairs"]) == 3 and len(out["pairs"][1]["matching"]) == 5
    assert out["pairs"][0]["relative_to_within"] < 0.1


def test_cross_benchmark_end_to_end_same_types_in_shifted_domain():
    # a domain shift of every type's strength: the per-dataset z-score absorbs it. (Type proportions do move
    # z-space centroids a little, so the mixture signal is kept weak here.)
    nets, neu, _ = make_population(("p", "q"), networks=40, layer_sizes=(20, 10), n_types=4, centre_shift=50.0,
                                   signal=1.0, seed=9)
    res = run_analysis(nets, neu, dict(ONLY_BON, enabled=dict(ONLY_BON["enabled"], cross_benchmark=True)))
    pair = res.summary["cross_benchmark"]["pairs"][0]
    assert pair["matching"] == [[i, i] for i in range(4)] and pair["relative_to_within"] < 0.15


# ---------------------------------------------------------------- weight statistics, evolution

def test_weight_stats_match_numpy():
    g = torch.Generator().manual_seed(0)
    ws = [torch.randn(3, 7, 5, generator=g), torch.randn(3, 5, 2, generator=g)]
    df = weight_stats(ws)
    assert list(df.columns[:7]) == ["w_l1_mean", "w_l1_std", "w_l1_q0", "w_l1_q25", "w_l1_q50", "w_l1_q75",
                                    "w_l1_q100"]
    for l, w in enumerate(ws, start=1):
        flat = w.reshape(3, -1).double().numpy()
        assert np.allclose(df[f"w_l{l}_mean"], flat.mean(1))
        assert np.allclose(df[f"w_l{l}_std"], flat.std(1))
        for q in (0, 25, 50, 75, 100):
            assert np.allclose(df[f"w_l{l}_q{q}"], np.percentile(flat, q, axis=1))
    with pytest.raises(EngineError, match=r"shape \(3, 4\)"):   # a matrix, not a stack of N matrices
        weight_stats([torch.zeros(3, 4)])


def test_evolution_table_for_several_epochs():
    nets, neu, _ = make_population(networks=10, layer_sizes=(4, 2), epochs=(0, 5, 10), seed=10)
    res = run_analysis(nets, neu, ONLY_BON)
    ev = res.tables["evolution"]
    assert set(ev["epoch"]) == {0, 5, 10} and "log10_subgraph_centrality" in set(ev["measure"])
    assert res.summary["bag_of_neurons"]["digits"]["epoch"] == 10
    assert (res.neuron_types.to_numpy() >= 0).all()   # earlier epochs typed with the same centroids
    assert BoNConfig().k == 6


def test_noise_ceiling_formula_and_low_spread_warning():
    from engine.analysis.conclusion import conclusion
    from engine.analysis.predictability import noise_ceiling

    rng = np.random.default_rng(0)
    acc = rng.uniform(0.5, 0.9, 400)
    out = noise_ceiling(acc, 1000)
    m = acc.mean()
    noise = m * (1 - m) / 1000    # the binomial variance at the population's mean accuracy
    assert noise >= np.mean(acc * (1 - acc)) / 1000   # at least the mean noise of the networks
    assert out["noise_sd"] == pytest.approx(noise ** 0.5)
    assert out["ceiling"] == pytest.approx(1 - noise / acc.var(ddof=0))
    assert out["no_spread"] is None
    assert out["acc_min"] == pytest.approx(acc.min()) and out["test_samples"] == 1000
    assert noise_ceiling(acc, None)["ceiling"] is None
    # digits with torch's cross-entropy: 360 test images, networks within ~1.5 points: noise dominates
    tight = noise_ceiling(rng.normal(0.9, 0.015, 400), 360)
    assert tight["ceiling"] < 0.2
    words = conclusion({"predictability": {"digits": dict(tight, best={})}})["text"]
    assert "no feature can predict" in words
    # a large test set: the ceiling is near, not at, 100 % and the words must not round it up
    wide = noise_ceiling(acc, 10000)
    assert 0.995 < wide["ceiling"] < 1
    assert f"at most {wide['ceiling']:.1%} of the variance" in conclusion({"predictability": {"d": dict(wide, best={})}})["text"]


def _curves(nets: pd.DataFrame, epochs: int, seed: int = 0) -> pd.DataFrame:
    """A learning curve that approaches each network's final accuracy (noisy, like real ones)."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in nets.itertuples():
        for e in range(epochs + 1):
            a = r.test_acc * e / epochs + rng.normal(0, 0.1 * (1 - e / epochs) + 1e-3)
            rows.append({"dataset": r.dataset, "network": r.network, "epoch": e, "train_loss": 1 - a,
                         "train_acc": a, "test_loss": 1 - a, "test_acc": a if e < epochs else r.test_acc,
                         "train_silenced": 0.0})
    return pd.DataFrame(rows)


def test_early_prediction_per_epoch_with_curve_baseline_and_snapshot_features():
    """Planted: the type mix tilts with final accuracy more strongly at later epochs, so structure
    predicts better later; the curve baseline stops before the last epoch (it holds the target)."""
    nets, neu, _ = make_population(networks=90, layer_sizes=(12, 6), epochs=(0, 2, 5), n_types=4, seed=3)
    nets["test_samples"] = 2000
    rng = np.random.default_rng(1)
    snaps = pd.DataFrame([{"dataset": "digits", "network": i, "epoch": e, "w_l1_mean": rng.normal(),
                           "ww_l1_alpha": 3 + rng.normal()} for e in (0, 2, 5) for i in range(90)])
    res = run_analysis(nets, neu, cfg(early={"regressors": ["ridge"], "classifiers": ["lda"]}),
                       snapshots=snaps, curves=_curves(nets, 5))
    early = res.tables["early"]
    assert sorted(early["epoch"].unique()) == [0, 2, 5]
    assert set(early["feature_set"]) == {"cn", "bon", "weights", "spectral", "all", "curve"}
    assert set(early.loc[early["feature_set"] == "curve", "epoch"]) == {0, 2}
    cn = early[early["feature_set"] == "cn"].set_index("epoch")
    assert cn.loc[5, "r2"] > cn.loc[0, "r2"] and cn.loc[5, "r2"] > 0.5
    assert cn.loc[5, "class_acc"] > cn.loc[5, "chance"] + 0.2
    assert early.loc[early["feature_set"] == "weights", "r2"].max() < 0.2     # pure noise
    by = res.summary["early_prediction"]["digits"]["by_epoch"]
    assert by[5]["cn"]["regressor"] == "ridge" and by[2]["curve"]["r2"] > 0.3
    text = res.summary["conclusion"]["text"]
    assert "epoch 0 (random init)" in text and "from the learning curve" in text
    assert "of the ceiling" in text and "subgraph centrality is supported" in text
    headline = res.summary["conclusion"]["datasets"]["digits"]["headline"]
    assert headline.startswith("digits: accuracy sd") and "noise ceiling" in headline


def test_early_prediction_needs_several_snapshot_epochs():
    nets, neu, _ = make_population(networks=30, layer_sizes=(6, 3), seed=8)
    res = run_analysis(nets, neu, dict(ONLY_BON, enabled=dict(ONLY_BON["enabled"], early_prediction=True)))
    assert "needs several" in res.summary["early_prediction"]["digits"]["skipped"]
    assert res.tables["early"].empty


def test_winsorized_scaling_keeps_one_heavy_tailed_network_from_steering_a_linear_model():
    """A measure summary with a 10+ sd tail (as harmonic centrality's): plain z-scores let the outlier
    network dominate ridge; clipped to the training fold's 1-99 % range the planted signal shows."""
    from engine.analysis.classification import _WinsorizedScaler

    rng = np.random.default_rng(3)
    n = 200
    acc = rng.uniform(0.2, 0.9, n)
    x = np.c_[acc + rng.normal(0, 0.05, n), rng.normal(size=n)]
    x[7, 0] = 1e4                                         # one network with an extreme summary
    plain = regress(x, acc, cfg(scaler="standard"))["regressors"]["ridge"]["r2_mean"]
    clipped = regress(x, acc, cfg(scaler="winsorized"))["regressors"]["ridge"]["r2_mean"]
    assert clipped > 0.7 and plain < clipped - 0.3, (plain, clipped)
    # linear inside the clip range: a clean, separable feature keeps its gaps
    z = _WinsorizedScaler().fit(np.arange(100.0)[:, None]).transform(np.array([[10.0], [50.0], [1e9]]))
    assert z[0, 0] < z[1, 0] < z[2, 0] and np.isfinite(z).all()
