"""What the spread is made of: populations built by hand with known lost classes, every number checked."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata

from engine.analysis import AnalysisConfig, run_analysis
from engine.analysis.lost_classes import headline, lost_matrix, sentences, settled_epoch
from engine.analysis.predictability import noise_ceiling

FAST = {"folds": 5, "repeats": 1, "n_jobs": 1, "regressors": ["ridge"],
        "enabled": {"bag_of_neurons": False, "classification": False, "correlations": False,
                    "cross_benchmark": False, "early_prediction": False}}

# 12 networks, 4 classes: lost-class count, the final mask (bit c = class c never predicted) and the masks of
# epochs 0..3 (settling at the epoch in SETTLED), test accuracy = 0.9 - 0.2 count + OFF
COUNT = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 3])
OFF = np.array([0.01, -0.01, 0.0, 0.02, -0.02, 0.01, -0.01, 0.03, -0.03, 0.0, 0.01, -0.01])
MASKS = np.array([[0, 0, 0, 0], [1, 0, 0, 0], [3, 1, 0, 0], [8, 8, 8, 8], [12, 8, 8, 8], [4, 0, 4, 4],
                  [6, 6, 6, 4], [12, 12, 12, 12], [14, 12, 12, 12], [15, 14, 12, 12], [14, 14, 14, 14],
                  [15, 15, 14, 14]])
SETTLED = [0, 1, 2, 0, 1, 2, 3, 0, 1, 2, 0, 2]


def cfg(**over) -> AnalysisConfig:
    d = json.loads(json.dumps(FAST))
    d.update(over)
    return AnalysisConfig.from_mapping(d)


def hand_built(silenced: np.ndarray | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = len(COUNT)
    acc = 0.9 - 0.2 * COUNT + OFF
    nets = pd.DataFrame({"dataset": "toy", "network": np.arange(n), "test_acc": acc, "diverged": False,
                         "test_samples": 1000, "test_lost": COUNT, "test_lost_classes": MASKS[:, -1],
                         "test_acc_predicted": 0.9 + OFF})
    for c in range(4):
        nets[f"test_acc_c{c}"] = np.where(lost_matrix(MASKS[:, -1], 4)[:, c], 0.0, 0.9)
    if silenced is not None:
        for c in range(4):
            nets[f"train_silenced_e1_c{c}"] = silenced[:, c]
    curves = pd.DataFrame([{"dataset": "toy", "network": i, "epoch": e, "train_loss": 1.0, "train_acc": 0.5,
                            "test_loss": 1.0, "test_acc": 0.5, "train_silenced": 0.5,
                            "test_lost": int(bin(MASKS[i, e]).count("1")), "test_lost_classes": MASKS[i, e],
                            "test_acc_predicted": 0.8, **{f"test_acc_c{c}": 0.5 for c in range(4)}}
                           for i in range(n) for e in range(4)])
    return nets, curves


def test_encodings():
    assert lost_matrix(np.array([5, 0, 8]), 4).astype(int).tolist() == [[1, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1]]
    assert settled_epoch(MASKS).tolist() == SETTLED


def test_composition_variance_explained_settling_and_mechanism_of_a_hand_built_population():
    lost = lost_matrix(MASKS[:, -1], 4)
    silenced = np.where(lost, 1.0, 0.5)
    silenced[3, 3] = 0.9          # a lost class not all silenced
    silenced[0] = 1.0             # a network all of whose classes were silenced, none lost
    nets, curves = hand_built(silenced)
    res = run_analysis(nets, None, cfg(), curves=curves)
    lc = res.summary["lost_classes"]["toy"]
    acc = nets["test_acc"].to_numpy()

    # composition: networks and accuracy per count
    assert (lc["networks"], lc["classes"], lc["lost_any"], lc["lost_max"]) == (12, 4, 9, 3)
    by = {b["lost"]: b for b in lc["by_count"]}
    assert [by[k]["networks"] for k in range(4)] == [3, 4, 3, 2]
    for k, mean in zip(range(4), (0.9, 0.7, 0.5, 0.3)):
        assert by[k]["acc_mean"] == pytest.approx(mean)
        assert by[k]["acc_min"] == pytest.approx(mean + OFF[COUNT == k].min())
        assert by[k]["acc_max"] == pytest.approx(mean + OFF[COUNT == k].max())
        assert by[k]["acc_predicted_mean"] == pytest.approx(0.9)
    assert lc["lost_share_per_class"] == pytest.approx([0, 2 / 12, 7 / 12, 7 / 12])
    assert lc["acc_predicted"]["mean"] == pytest.approx(0.9) and lc["acc_predicted"]["sd"] == pytest.approx(OFF.std(ddof=1))
    table = res.tables["lost_counts"]
    assert table["networks"].tolist() == [3, 4, 3, 2] and table["acc_mean"].to_numpy() == pytest.approx([0.9, 0.7, 0.5, 0.3])

    # variance explained: a straight line (Pearson r^2), the count's group means (eta^2), Spearman on ranks
    ex = lc["explained"]
    assert ex["linear_r2"] == pytest.approx(np.corrcoef(COUNT, acc)[0, 1] ** 2)
    total = ((acc - acc.mean()) ** 2).sum()
    assert ex["eta2"] == pytest.approx(1 - (OFF ** 2).sum() / total)     # the offsets average 0 per count
    assert ex["spearman_rho"] == pytest.approx(np.corrcoef(rankdata(COUNT), rankdata(acc))[0, 1])
    assert ex["spearman_p"] < 1e-3
    assert ex["ceiling"] == pytest.approx(noise_ceiling(acc, 1000)["ceiling"])
    assert ex["cv"]["r2"] > 0.9 and ex["cv"]["regressor"] == "ridge"

    # beyond: the residual is OFF itself (the group means of OFF are 0); no feature columns to fit
    b = lc["beyond"]
    assert b["networks"] == 12 and b["left_out"] == 0
    assert b["residual_sd"] == pytest.approx(OFF.std(ddof=1))
    noise = acc.mean() * (1 - acc.mean()) / 1000         # the test set's noise, as predictability states it
    assert b["residual_ceiling"] == pytest.approx(max(0.0, 1 - noise / OFF.var()))
    assert b["residual_share"] == pytest.approx(OFF.var() / acc.var())
    assert b["best"] == {} and all("skipped" in v for v in b["by_feature_set"].values())

    # when: the epoch each network's predicted classes settle; the share of the 16 final lost (network,
    # class) pairs already never predicted at each epoch (network 5 predicts class 2 again at epoch 1)
    s = lc["settling"]
    assert res.tables["lost_networks"]["settled_epoch"].tolist() == SETTLED
    assert s["median"] == 1.0 and s["q90"] == 2 and s["max"] == 3   # 90 % of the networks settle by epoch 2
    assert [s["settled_share"][e] for e in range(4)] == pytest.approx([4 / 12, 7 / 12, 11 / 12, 1])
    assert s["final_lost_pairs"] == 16
    assert [s["lost_share"][e] for e in range(4)] == pytest.approx([1, 15 / 16, 1, 1])

    # mechanism: 15 of the 19 all-silenced pairs are lost, 1 of the other 29; AUC by hand: each of the 15
    # lost pairs at 1.0 beats the 28 kept pairs at 0.5 and ties the 4 at 1.0, the one at 0.9 beats 28
    m = lc["mechanism"]
    assert (m["pairs"], m["lost_pairs"], m["all_silenced_pairs"]) == (48, 16, 19)
    assert m["p_lost_all_silenced"] == pytest.approx(15 / 19) and m["p_lost_otherwise"] == pytest.approx(1 / 29)
    assert m["auc"] == pytest.approx((15 * (28 + 0.5 * 4) + 28) / (16 * 32))

    # no snapshot features: nothing to predict the lost classes from, and it says so
    assert "no snapshot features" in lc["prediction"]["skipped"]

    # the words: the conclusion opens with the spread, then what it is made of
    words = res.summary["conclusion"]["datasets"]["toy"]["sentences"]
    assert words[0].startswith("toy: the 12 networks") and words[1].startswith("What the spread is made of: 9 of the 12")
    text = " ".join(words)
    assert f"explains {ex['linear_r2']:.0%} of the variance" in text and f"rho {ex['spearman_rho']:+.2f}" in text
    assert "stops changing at epoch 1 (median" in text and "the last at 3" in text
    assert "100% were already never predicted at epoch 0 and 94% were already never predicted at epoch 1" in text
    assert "79% are lost at the end, against 3% of the others" in text
    assert res.summary["conclusion"]["datasets"]["toy"]["headline"].endswith(
        f"; 75% lost a class, the count explains {ex['linear_r2']:.0%} of the variance")


def test_no_lost_class_says_so_and_computes_nothing():
    nets, curves = hand_built()
    nets["test_lost"] = 0
    nets["test_lost_classes"] = 0
    curves["test_lost_classes"] = 0
    res = run_analysis(nets, None, cfg(), curves=curves)
    lc = res.summary["lost_classes"]["toy"]
    assert lc["lost_any"] == 0
    assert lc["explained"] == {"skipped": "no network lost a class"}
    assert "skipped" in lc["beyond"] and "skipped" in lc["prediction"]
    assert lc["settling"]["final_lost_pairs"] == 0 and lc["settling"]["max"] == 0
    text = " ".join(sentences(res.summary, "toy"))
    assert "none of the 12 networks lost a class" in text and "R^2" not in text and "%" not in text


def test_a_constant_count_explains_nothing_and_few_lost_classes_are_almost_none():
    nets, curves = hand_built()
    nets["test_lost"] = 1
    nets["test_lost_classes"] = np.where(np.arange(12) % 2, 1, 2)
    lc = run_analysis(nets, None, cfg(), curves=curves).summary["lost_classes"]["toy"]
    assert "does not vary" in lc["explained"]["skipped"] and "skipped" in lc["beyond"]
    # 2 of 60 networks lost one class (as with torch's cross-entropy): said in words, the count's share computed
    rng = np.random.default_rng(0)
    n = 60
    count = np.zeros(n, dtype=int)
    count[[5, 40]] = 1
    acc = 0.9 + rng.normal(0, 0.01, n) - 0.1 * count
    few = pd.DataFrame({"dataset": "ce", "network": np.arange(n), "test_acc": acc, "diverged": False,
                        "test_samples": 1000, "test_lost": count, "test_lost_classes": count * 8,
                        "test_acc_predicted": acc, **{f"test_acc_c{c}": acc for c in range(4)}})
    res = run_analysis(few, None, cfg())
    text = " ".join(sentences(res.summary, "ce"))
    assert "2 of the 60 networks (3%) never predict at least one of the 4 test classes (up to 1): almost no lost " \
           "classes" in text
    assert "explains" in text


def test_structure_beyond_the_count_and_which_classes_predicted_early():
    """Planted, 3 classes: the residual of accuracy is w_l1_mean, the count is ww_l1_alpha (+ noise), and
    whether class 0 or 1 goes when one class is lost is the sign of w_l1_std; all at epoch 5, noise at 0."""
    rng = np.random.default_rng(4)
    n = 150
    count = rng.integers(0, 3, n)
    side = rng.normal(size=n)
    resid = rng.normal(size=n)
    lost = np.zeros((n, 3), dtype=bool)
    lost[:, 0] = (count == 2) | ((count == 1) & (side > 0))
    lost[:, 1] = (count == 2) | ((count == 1) & (side <= 0))
    masks = (lost * [1, 2, 4]).sum(1)
    acc = 0.9 - 0.25 * count + 0.03 * resid
    final = {"w_l1_mean": resid, "w_l1_std": side, "ww_l1_alpha": count + rng.normal(0, 0.1, n)}
    nets = pd.DataFrame({"dataset": "toy", "network": np.arange(n), "test_acc": acc, "diverged": False,
                         "test_samples": 10000, "test_lost": count, "test_lost_classes": masks,
                         "test_acc_predicted": 0.9 + 0.03 * resid, **final,
                         **{f"test_acc_c{c}": np.where(lost[:, c], 0.0, 0.9) for c in range(3)}})
    snaps = pd.concat([pd.DataFrame({"dataset": "toy", "network": np.arange(n), "epoch": 0,
                                     **{k: rng.normal(size=n) for k in final}}),
                       pd.DataFrame({"dataset": "toy", "network": np.arange(n), "epoch": 5, **final})])
    init = rng.integers(0, 8, n)
    curves = pd.DataFrame([{"dataset": "toy", "network": i, "epoch": e, "train_loss": 1.0, "train_acc": 0.5,
                            "test_loss": 1.0, "test_acc": 0.5, "train_silenced": 0.5,
                            "test_lost": 0, "test_lost_classes": int(init[i] if e == 0 else masks[i]),
                            "test_acc_predicted": 0.5, **{f"test_acc_c{c}": 0.5 for c in range(3)}}
                           for i in range(n) for e in range(6)])
    res = run_analysis(nets, None, cfg(), snapshots=snaps, curves=curves)
    lc = res.summary["lost_classes"]["toy"]
    b = lc["beyond"]
    assert b["best"]["feature_set"] in ("weights", "all") and b["best"]["r2"] > 0.8
    assert b["by_feature_set"]["spectral"]["r2"] < 0.2      # the count's own proxy says nothing beyond it
    assert 0 < b["share_of_total"] < b["best"]["r2"]
    p = lc["prediction"]
    assert p["epochs"] == [0, 5] and p["which_classes"] == [0, 1] and p["count_varies"]
    late, early = p["by_epoch"][5], p["by_epoch"][0]
    assert late["spectral"]["count"]["r2"] > 0.9 and early["spectral"]["count"]["r2"] < 0.2
    assert late["weights"]["which"]["balanced_acc"] < late["all"]["which"]["balanced_acc"]
    assert late["all"]["which"]["balanced_acc"] > 0.85 and early["all"]["which"]["balanced_acc"] < 0.65
    assert "curve" in early and "curve" not in late          # the curve at the last epoch holds the target
    table = res.tables["lost_prediction"]
    assert set(table["epoch"]) == {0, 5} and set(table.loc[table["epoch"] == 0, "feature_set"]) >= {"curve", "all"}
    text = " ".join(sentences(res.summary, "toy"))
    assert "Beyond the lost-class count" in text and "epoch 0 (random init)" in text
    assert "from the learning curve" in text


def test_old_runs_without_the_columns_are_skipped_with_a_reason():
    nets, _ = hand_built()
    res = run_analysis(nets.drop(columns=["test_lost", "test_lost_classes"]), None, cfg())
    assert "older version" in res.summary["lost_classes"]["toy"]["skipped"]
    assert sentences(res.summary, "toy") == [] and headline(res.summary, "toy") == ""
    off = run_analysis(nets, None, cfg(enabled=dict(FAST["enabled"], lost_classes=False)))
    assert off.summary["lost_classes"] == {"skipped": "disabled"}


def test_report_opens_with_what_the_spread_is_made_of(tmp_path):
    from engine.report import write_report

    nets, curves = hand_built(np.full((12, 4), 0.5))
    run = tmp_path / "run"
    run.mkdir()
    nets.to_parquet(run / "networks.parquet", index=False)
    curves.to_parquet(run / "curves.parquet", index=False)
    write_report(run, cfg=cfg())
    html = (run / "report.html").read_text()
    assert html.index("Conclusion") < html.index("What the spread is made of: classes networks never predict") \
        < html.index("How much of performance is predictable")
    assert "classes never predicted" in html and "R² (any function of the count)" in html
    assert (run / "figures" / "lost_classes.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((run / "analysis" / "lost_classes.json").read_text())
    assert saved["toy"]["lost_any"] == 9 and saved["toy"]["settling"]["settled_share"]["0"] == pytest.approx(4 / 12)
