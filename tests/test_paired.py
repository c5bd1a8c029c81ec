"""Paired populations: the paired statistics on hand-built populations with known answers, the arms of
population.compare, and a paired run through every stage (training both arms, resume, shards and
gather, the analysis and the report that opens with the paired result)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from engine.analysis.paired import arm_populations, paired_analysis, paired_statistics
from engine.errors import EngineError
from engine_runs import compose, run_engine

# --- the statistics, known by hand ------------------------------------------------------------------------------


def test_paired_statistics_known_answers():
    d = np.array([1, 2, 3, 4, 5]) / 100
    s = paired_statistics(d)
    assert s["n"] == 5 and s["mean"] == pytest.approx(0.03) and s["median"] == pytest.approx(0.03)
    half = stats.t.ppf(0.975, 4) * np.std(d, ddof=1) / np.sqrt(5)    # 2.776 * 0.0158 / 2.236
    assert s["mean_ci"] == pytest.approx([0.03 - half, 0.03 + half])
    assert s["wilcoxon_p"] == pytest.approx(2 / 32)          # exact: all 5 positive, two-sided
    assert (s["improved"], s["tied"], s["worse"]) == (1.0, 0.0, 0.0)
    assert s["dz"] == pytest.approx(0.03 / np.std(d, ddof=1))
    assert s["median_ci"][0] <= 0.03 <= s["median_ci"][1] and s["median_ci"][0] >= 0.01


def test_paired_statistics_with_ties_zeros_and_nothing():
    s = paired_statistics(np.zeros(6))
    assert s["wilcoxon_p"] == 1.0 and s["tied"] == 1.0 and s["median_ci"] == [0.0, 0.0] and s["dz"] is None
    d = np.array([0.0, 0.0, 0.01, 0.01, 0.01, -0.01, 0.02, np.nan])
    s = paired_statistics(d)
    assert s["n"] == 7 and s["tied"] == pytest.approx(2 / 7)
    assert s["wilcoxon_p"] == pytest.approx(stats.wilcoxon(d[:-1], zero_method="pratt").pvalue)
    assert paired_statistics(np.array([]))["mean"] is None
    one = paired_statistics(np.array([0.5]))
    assert one["mean"] == 0.5 and one["mean_ci"] is None and one["wilcoxon_p"] is None


def hand_built(n=40, epochs=3, gain=0.02, seed=0, reference="zeta", other="alpha"):
    """A paired population whose answers are known: the other arm gains ``gain`` in final accuracy on
    every pair but the last four (which lose ``gain``), ``gain * e / epochs`` at epoch e; its initial
    strength variance is a tenth of its partner's; it silences 10 points fewer samples at init. Network 0
    diverged in the other arm; network n-1 exists only in the reference arm. The reference is named
    ``zeta``: the first arm in the table's order is the reference, not the first in the alphabet."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.3, 0.8, n)
    sign = np.where(np.arange(n) >= n - 5, -1.0, 1.0)
    sign[-1] = 1.0
    delta = gain * sign
    nets, curves = [], []
    for arm, d, sv, sil in ((reference, 0.0, 5.0, 0.8), (other, 1.0, 0.5, 0.7)):
        ids = np.arange(n) if arm == reference else np.arange(n - 1)
        nets.append(pd.DataFrame({"dataset": "toy", "arm": arm, "network": ids, "test_acc": base[ids] + d * delta[ids],
                                  "diverged": (ids == 0) & (arm == other), "test_samples": 1000,
                                  "init_strength_var": sv * (1 + 0.1 * rng.random(len(ids)))}))
        for e in range(epochs + 1):
            curves.append(pd.DataFrame({"dataset": "toy", "arm": arm, "network": ids, "epoch": e,
                                        "test_acc": base[ids] * e / epochs + d * delta[ids] * e / epochs,
                                        "train_silenced": np.full(len(ids), sil if e == 0 else sil / 2)}))
    return pd.concat(nets, ignore_index=True), pd.concat(curves, ignore_index=True)


def test_paired_analysis_on_a_hand_built_population():
    nets, curves = hand_built()
    out, epochs = paired_analysis(nets, curves)
    assert out["reference"] == "zeta" and out["arms"] == ["zeta", "alpha"]
    comp = out["datasets"]["toy"]["comparisons"]["alpha"]
    assert comp["pairs"] == 38 and comp["pairs_excluded_diverged"] == 1 and comp["pairs_incomplete"] == 1
    s = comp["final_test_acc"]
    d = np.where(np.arange(1, 39) >= 35, -0.02, 0.02)       # pairs 1..38: ids 35..38 lose
    assert s["n"] == 38 and s["mean"] == pytest.approx(d.mean()) and s["median"] == pytest.approx(0.02)
    assert s["improved"] == pytest.approx(34 / 38) and s["worse"] == pytest.approx(4 / 38)
    assert s["wilcoxon_p"] == pytest.approx(stats.wilcoxon(d, zero_method="pratt").pvalue)
    assert comp["init_strength_var_ratio_median"] == pytest.approx(0.1, rel=0.1)
    assert comp["init_strength_var_lower_share"] == 1.0
    test_acc = [r for r in comp["by_epoch"]["test_acc"]]
    assert [r["epoch"] for r in test_acc] == [0, 1, 2, 3]
    for r in test_acc:
        assert r["mean"] == pytest.approx(d.mean() * r["epoch"] / 3, abs=1e-12)
    sil = {r["epoch"]: r["mean"] for r in comp["by_epoch"]["train_silenced"]}
    assert sil[0] == pytest.approx(-0.1) and sil[1] == pytest.approx(-0.05)
    arms = out["datasets"]["toy"]["arms"]
    assert arms["zeta"]["silenced"]["init"] == pytest.approx(0.8) and arms["alpha"]["used"] == 38
    assert set(epochs["metric"]) == {"test_acc", "train_silenced"} and len(epochs) == 8
    words = " ".join(out["conclusion"]["toy"]["sentences"])
    assert "alpha raises final test accuracy" in words and "claim" in words and "holds here" in words
    assert "With the Keras loss" in words
    assert out["conclusion"]["toy"]["headline"].startswith("toy: alpha - zeta test accuracy +0.0158")


def test_no_difference_and_a_loss_are_said_so():
    nets, curves = hand_built(gain=0.0)
    out, _ = paired_analysis(nets, curves)
    words = " ".join(out["conclusion"]["toy"]["sentences"])
    assert "No difference in final test accuracy is detected" in words and "is not supported here" in words
    worse = nets.assign(test_acc=np.where(nets["arm"] == "alpha", nets["test_acc"] - 0.05, nets["test_acc"]))
    out, _ = paired_analysis(worse, curves)
    assert "alpha lowers final test accuracy" in " ".join(out["conclusion"]["toy"]["sentences"])
    assert "contradicted" in " ".join(out["conclusion"]["toy"]["sentences"])


def test_arm_populations_relabel_without_touching_the_index():
    nets, _ = hand_built()
    nets.index = nets.index + 100
    out = arm_populations(nets)
    assert list(out.index) == list(nets.index) and "arm" not in out
    assert set(out["dataset"]) == {"toy/zeta", "toy/alpha"}
    assert arm_populations(nets.drop(columns="arm")) is not None and arm_populations(None) is None


def test_the_whole_analysis_of_a_paired_population(tmp_path):
    """run_analysis on a paired table analyses each arm as a population and adds the paired result; the
    report opens with it and draws its two figures."""
    from engine.analysis import run_analysis
    from engine.analysis.synthetic import make_population
    from engine.report import write_report

    nets, neurons, _ = make_population(("digits",), networks=24, layer_sizes=(6, 4), epochs=(0, 2), n_types=3)
    rng = np.random.default_rng(1)
    nets_pa = nets.assign(test_acc=np.clip(nets["test_acc"] + rng.normal(0.02, 0.01, len(nets)), 0, 1))
    paired_nets = pd.concat([nets.assign(arm="none", init_strength_var=4.0),
                             nets_pa.assign(arm="pa", init_strength_var=0.2)], ignore_index=True)
    paired_neurons = pd.concat([neurons.assign(arm="none"), neurons.assign(arm="pa")], ignore_index=True)
    cfg = {"folds": 3, "repeats": 1, "n_jobs": 1, "classifiers": ["lda"], "regressors": ["ridge"],
           "bon": {"k": 3, "n_init": 1}, "enabled": {"early_prediction": False}}
    result = run_analysis(paired_nets, paired_neurons, cfg)
    s = result.summary
    assert s["counts"]["datasets"] == ["digits/none", "digits/pa"]
    assert set(s["regression"]) == {"digits/none", "digits/pa"}
    p = s["paired"]
    assert p["reference"] == "none" and p["datasets"]["digits"]["comparisons"]["pa"]["pairs"] == 24
    assert p["datasets"]["digits"]["arms"]["pa"]["best_r2"]["cn"] is not None
    assert p["datasets"]["digits"]["arms"]["none"]["hidden_strength_var_init"].keys() == {"l1", "l2"}
    assert s["conclusion"]["paired"]["digits"]["headline"].startswith("digits: pa - none")
    for i, name in enumerate(["networks", "neurons"]):
        (paired_nets, paired_neurons)[i].to_parquet(tmp_path / f"{name}.parquet")
    html = write_report(tmp_path, result, cfg).read_text()
    assert html.index("Paired comparison: pa against none") < html.index(">Conclusion<")
    assert (tmp_path / "figures" / "paired_accuracy.png").is_file()
    assert json.loads((tmp_path / "analysis" / "paired.json").read_text())["arms"] == ["none", "pa"]


# --- the arms of population.compare ---------------------------------------------------------------------------

@pytest.mark.parametrize("compare,message", [
    (["rewire=none"], "at least 2 arms"),
    (["rewire=none", "rewire=xx"], r"arm 'rewire=xx': model.init.rewire='xx': must be one of none, pa"),
    (["rewire=none", "model.hidden=[3]"], "model.hidden cannot differ between arms"),
    (["rewire=none", "train.epochs=3"], "train.epochs cannot differ between arms"),
    (["rewire=none", "train.lrr=3"], "train.lrr: unknown setting; did you mean train.lr"),
    (["rewire=none", "rewire=none"], "names the same arm twice"),
    (["rewire=none", "pa"], "'pa' is not key=value"),
])
def test_bad_arms_are_one_line_errors(compare, message):
    from engine.config import validate

    with pytest.raises(EngineError, match=message):
        validate({"population": {"compare": compare}})


def test_arms_label_the_values_they_set():
    from engine.arms import parse_arms

    assert [a.label for a in parse_arms(["rewire=none", "rewire=pa"])] == ["none", "pa"]
    assert [a.label for a in parse_arms(["train.lr=0.1", "train.lr=0.2 rewire=pa"])] == ["0.1", "0.2_pa"]
    assert [a.label for a in parse_arms(["train.loss=keras", "model.init.layer_streams=shared"])][0] == "keras"
    assert parse_arms(["rewire:none", "rewire:pa"])[1].settings == (("model.init.rewire", "pa"),)


def test_the_claim_records_what_the_results_depend_on():
    """A run directory's claim holds every setting but the ``how`` ones (engine.ownership); the arms' settings
    are among them. (Claims recorded before these settings existed count them at their default:
    tests/test_run_integrity.py.)"""
    from engine.config import validate
    from engine.ownership import claim_record

    plain = claim_record(validate({}))
    assert plain["model"]["init"]["rewire"] == "none" and plain["population"]["compare"] is None
    assert "chunk_size" not in plain["population"] and "backend" not in plain
    paired = claim_record(validate({"population": {"compare": ["rewire=none", "rewire=pa"]}}))
    assert paired["population"]["compare"] == ["rewire=none", "rewire=pa"]
    assert claim_record(validate({"model": {"init": {"rewire": "pa"}}}))["model"]["init"]["rewire"] == "pa"


# --- a paired run through every stage -------------------------------------------------------------------------

TINY = ["+sweep=[smoke,rewiring]", "population.size=4", "train.epochs=1", "dataset.limit_train=200",
        "model.hidden=[12,8]", "population.snapshots=[0,1]", "progress=false", "population.chunk_size=3",
        "stages=[train,measures]"]


def run(out, *overrides, caplog=None):
    from engine.pipeline import run as run_pipeline

    if caplog is not None:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="engine"):
            return run_pipeline(compose(*TINY, *overrides), out)
    return run_pipeline(compose(*TINY, *overrides), out)


def test_a_paired_run_trains_both_arms_from_the_same_seeds(tmp_path):
    from engine.population.init import init_population
    from engine.population.rewire import strength_variance

    s = run(tmp_path / "run")
    nets = s.tables["networks"]
    assert list(nets["arm"]) == ["none"] * 4 + ["pa"] * 4 and list(nets["network"]) == [0, 1, 2, 3] * 2
    assert (nets.groupby("arm")["seed"].apply(list) == pd.Series({"none": [0, 1, 2, 3], "pa": [0, 1, 2, 3]})).all()
    for name in ("curves", "neurons", "snapshots"):
        t = s.tables[name]
        assert list(t.columns[:3]) == ["dataset", "arm", "network"] and set(t["arm"]) == {"none", "pa"}
    assert len(s.tables["curves"]) == 2 * 4 * 2 and len(s.tables["neurons"]) == 2 * 4 * 20 * 2
    for arm, rewire in (("none", "none"), ("pa", "pa")):
        want = strength_variance(init_population([64, 12, 8, 10], [0, 1, 2, 3], rewire=rewire)).numpy()
        np.testing.assert_allclose(nets.loc[nets["arm"] == arm, "init_strength_var"], want)
    init_none = s.tables["snapshots"].query("epoch == 0 and arm == 'none'")["w_l1_q50"].to_numpy()
    init_pa = s.tables["snapshots"].query("epoch == 0 and arm == 'pa'")["w_l1_q50"].to_numpy()
    np.testing.assert_array_equal(init_none, init_pa)   # the same values, moved: the same quantiles
    assert (nets["init_strength_var"].to_numpy()[4:] < nets["init_strength_var"].to_numpy()[:4]).all()
    names = sorted(p.name for p in (tmp_path / "run" / "parts").glob("*.done"))
    assert names == ["digits_none_000000-000002.done", "digits_none_000003-000003.done",
                     "digits_pa_000000-000002.done", "digits_pa_000003-000003.done"]


def test_an_unpaired_run_has_no_arm_column(tmp_path):
    s = run(tmp_path / "run", "population.compare=null")
    assert "arm" not in s.tables["networks"] and "init_strength_var" not in s.tables["networks"]
    assert sorted(p.name for p in (tmp_path / "run" / "parts").glob("*.done")) == \
        ["digits_000000-000002.done", "digits_000003-000003.done"]


def test_a_paired_run_resumes_chunk_by_chunk_and_arm_by_arm(tmp_path, caplog):
    out = tmp_path / "run"
    first = run(out)
    (out / "parts" / "digits_pa_000003-000003.neurons.parquet").unlink()
    second = run(out, caplog=caplog)
    assert second.chunks_resumed == 3 and second.chunks_done == 1
    assert "chunk 2/2 (networks 3..3) (arm pa) is computed again: parts/digits_pa_000003-000003.neurons.parquet " \
           "is missing" in caplog.text
    for name in ("networks", "curves", "neurons", "snapshots"):
        pd.testing.assert_frame_equal(first.tables[name], second.tables[name])


def test_shards_of_a_paired_run_gather_into_the_unsharded_tables(tmp_path):
    """Shards split the ids, each shard trains both arms of its ids; gather pairs them again."""
    from engine.gather import gather

    whole = run(tmp_path / "whole", "population.chunk_size=2")
    for i in (0, 1):
        run(tmp_path / "multi" / f"job{i}", f"population.shard={i}/2", "population.chunk_size=1")
    out = gather([tmp_path / "multi"], analyse=False)
    for name in ("networks", "curves", "neurons", "snapshots"):
        got = pd.read_parquet(out / f"{name}.parquet")
        want = whole.tables[name]
        assert list(got["arm"].drop_duplicates()) == ["none", "pa"], "the reference arm stays first"
        keys = [c for c in ("dataset", "arm", "network", "epoch", "layer", "neuron") if c in want]
        # other chunk sizes sum in another order: float32 training agrees to ~1e-6, the measures to ~1e-4
        pd.testing.assert_frame_equal(got.sort_values(keys).reset_index(drop=True)[want.columns],
                                      want.sort_values(keys).reset_index(drop=True), check_dtype=False, rtol=1e-3)


def test_gather_refuses_to_mix_paired_and_unpaired_tables(tmp_path):
    from engine.gather import merge_tables

    nets, _ = hand_built(n=6)
    for name, table in (("a", nets), ("b", nets.drop(columns="arm").query("network < 3"))):
        (tmp_path / name).mkdir()
        table.to_parquet(tmp_path / name / "networks.parquet")
    with pytest.raises(EngineError, match="some runs are paired"):
        merge_tables([tmp_path / "a", tmp_path / "b"])
    assert list(merge_tables([tmp_path / "a"])["networks"]["arm"].drop_duplicates()) == ["zeta", "alpha"]


def test_the_command_line_runs_a_paired_population_to_its_report(tmp_path):
    """The paired syntax Hydra takes unquoted; no measures: the paired analysis needs only the training
    tables; the run's last line and the report's first section are the paired result."""
    out = tmp_path / "run"
    p = run_engine("+sweep=smoke", "population.compare=[rewire:none,rewire:pa]", "population.size=6",
                   "train.epochs=2", "dataset.limit_train=300", "model.hidden=[12,8]", "measures.enabled=false",
                   f"hydra.run.dir={out}")
    lines = p.stdout.strip().splitlines()
    assert "digits arm none: 6 networks" in p.stdout and "digits arm pa: 6 networks" in p.stdout
    assert lines[-1].startswith("paired: digits: pa - none test accuracy"), p.stdout
    html = (out / "report.html").read_text()
    assert html.index("<h2 id=\"s0\">Paired comparison: pa against none</h2>") > 0
    summary = json.loads((out / "analysis" / "paired.json").read_text())
    assert summary["datasets"]["digits"]["comparisons"]["pa"]["pairs"] == 6


def test_predictors_in_words():
    from engine.analysis.paired import Arm, _predictors
    from engine.analysis.predictability import BestRegression

    def arm(best_r2, best):
        return Arm(networks=10, used=10, acc_mean=0.5, acc_median=0.5, acc_sd=0.1, acc_min=0.3, acc_max=0.7,
                   best_r2=best_r2, best=BestRegression(best, "ridge", best_r2[best], None, None))

    flat = arm({"cn": 0.01, "weights": -0.02}, "cn")
    assert "structure predicts final accuracy in neither arm" in _predictors("pa", "none", flat, flat)
    strong = arm({"cn": 0.05, "weights": 0.66}, "weights")
    weaker = arm({"cn": 0.30, "weights": 0.26}, "cn")
    text = _predictors("pa", "none", weaker, strong)
    assert "weights 0.66 -> 0.26" in text and "changes from weights to cn" in text
