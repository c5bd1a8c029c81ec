"""The edges (issue 18): no claim without the data for it (no spread, tiny test sets, ties, diverged
networks, incomplete gathers, rebuilt reports, the protocol the report states), every job of a multirun
checked before any starts, and every stop clean (Ctrl-C, unresolvable interpolations, odd paths, damaged
files): one line, the right words, the right exit status."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from engine.analysis import run_analysis
from engine.config import PARTS, AnalysisConfig
from engine.analysis.performance_classes import assign_classes
from engine.analysis.predictability import noise_ceiling
from engine.analysis.synthetic import make_population
from engine.errors import EngineError
from engine_runs import ROOT, TINY, compose, engine_cli

FAST = {"folds": 3, "repeats": 1, "n_jobs": 1, "classifiers": ["lda", "knn"], "regressors": ["ridge"],
        "bon": {"k": 3, "n_init": 2}}


def one_error_line(p: subprocess.CompletedProcess) -> str:
    """The one ``error:`` line of a refused command (and no traceback)."""
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr + p.stdout, p.stderr
    lines = [line for line in p.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, p.stderr
    return lines[0]


def population(n=30, epochs=(1, 3), acc=None, test_samples=None, seed=0):
    """A synthetic population (networks, neurons, curves) with the given test accuracies."""
    nets, neu, _ = make_population(networks=n, layer_sizes=(6, 3), epochs=epochs, n_types=3, seed=seed)
    if acc is not None:
        nets["test_acc"] = np.asarray(acc, dtype=float)
    if test_samples is not None:
        nets["test_samples"] = test_samples
    curves = pd.DataFrame([{"dataset": "digits", "network": i, "epoch": e, "train_loss": 1.0, "train_acc": 0.5,
                            "test_loss": 1.0, "test_acc": float(a) * e / max(epochs)}
                           for i, a in enumerate(nets["test_acc"]) for e in range(max(epochs) + 1)])
    return nets, neu, curves


# --- no spread, no claim --------------------------------------------------------------------------------------

def check_nothing_predicted(result, why: str) -> str:
    s = result.summary
    assert s["predictability"]["digits"]["no_spread"] and why in s["predictability"]["digits"]["no_spread"]
    assert s["classification"] == {} and s["regression"] == {} and s["best_classifier"] == {}
    assert "skipped" in s["early_prediction"]["digits"]
    assert "undefined" in s["performance_classes"]["datasets"]["digits"]
    assert (result.tables["networks"]["performance_class"] == -1).all()
    assert s["subgraph_verdict"]["datasets"]["digits"]["verdict"] == "not testable"
    assert len(result.tables["early"]) == 0 and len(result.tables["correlations"]) == 0
    text = s["conclusion"]["text"]
    assert "undefined, and none was computed" in text
    for claim in ("R^2", "told apart", "Predicting final accuracy early", "supported"):
        assert claim not in text, claim
    assert "nothing to predict" in s["conclusion"]["datasets"]["digits"]["headline"]
    return text


def test_no_spread_means_no_predictor_no_classes_no_early_prediction(tmp_path):
    """Every network with the same test accuracy: the conclusion said 'at most 0% can be predicted' and also
    'best predictor R^2 1.00', 'classes told apart with accuracy 0.81' and early prediction at init."""
    nets, neu, curves = population(acc=np.full(30, 0.8), test_samples=450)
    result = run_analysis(nets, neu, FAST, curves=curves)
    check_nothing_predicted(result, "every network has the same test accuracy (0.800)")
    # the report says so too, and shows no classifier or regressor
    from engine.report import write_report

    run = tmp_path / "run"
    run.mkdir()
    nets.to_parquet(run / "networks.parquet")
    neu.to_parquet(run / "neurons.parquet")
    html = write_report(run, result).read_text()
    headings = re.findall(r"<h2[^>]*>([^<]*)</h2>", html)
    assert "none was computed" in html and "Overview" in headings
    assert not {"Classification of performance classes", "Regression of test accuracy"} & set(headings)


def test_a_spread_within_the_test_sets_noise_is_no_spread():
    acc = np.where(np.arange(40) % 2, 0.51, 0.49)   # sd 0.01 against a noise sd of 0.07 with 50 test samples
    result = run_analysis(*population(n=40, acc=acc, test_samples=50)[:2], FAST)
    check_nothing_predicted(result, "no larger than the sampling noise of a test set of 50 sample(s)")


def test_a_one_sample_test_set_is_all_noise():
    """dataset.limit_test=1 gave 'noise sd 0.000, at most 100% predictable'."""
    rng = np.random.default_rng(3)
    acc = rng.integers(0, 2, 40).astype(float)
    out = noise_ceiling(acc, 1)
    m = acc.mean()
    assert out["noise_sd"] == pytest.approx((m * (1 - m)) ** 0.5) and out["noise_sd"] > 0.4
    assert out["ceiling"] == 0.0 and out["no_spread"]
    # whatever the accuracies, binomial noise is never zero for a tiny test set
    assert noise_ceiling([1.0, 1.0, 0.5, 1.0], 2)["noise_sd"] > 0
    nets, neu, _ = population(n=40, acc=acc, test_samples=1)
    text = check_nothing_predicted(run_analysis(nets, neu, FAST), "test set of 1 sample(s)")
    assert "100%" not in text and "at most 0% of the variance" in text


def test_quantile_classes_never_split_tied_accuracies():
    """A 1-sample test set (or any small one) ties many networks: boundaries fell inside ties, which were split by
    row order. Now each accuracy is one class; without ties the classes stay equal (within one network)."""
    rng = np.random.default_rng(0)
    acc = np.round(rng.uniform(0.4, 0.9, 200) * 20) / 20       # 11 distinct values
    nets = pd.DataFrame({"dataset": "d", "network": range(200), "test_acc": acc})
    labels, summary = assign_classes(nets, AnalysisConfig(classes=3))
    by_value = pd.Series(labels.to_numpy()).groupby(acc).nunique()
    assert (by_value == 1).all(), "a tied accuracy was split between classes"
    assert (np.diff(pd.Series(labels.to_numpy()).groupby(acc).first().to_numpy()) >= 0).all()   # monotone
    assert [d["count"] for d in summary["datasets"]["d"]["classes"].values()] != [67, 67, 66]  # sizes follow ties
    # a tie wider than a class: that class is empty, and the summary says so
    tied = pd.DataFrame({"dataset": "d", "network": range(9), "test_acc": [0.5] * 7 + [0.6, 0.7]})
    labels, summary = assign_classes(tied, AnalysisConfig(classes=3))
    assert labels.tolist() == [1] * 7 + [2, 2]   # the class of the tie's middle rank (3 of 0..6)
    assert "1 of 3 performance classes are empty (low)" in summary["datasets"]["d"]["note"]
    # no ties: the rank rule's equal sizes
    labels, _ = assign_classes(nets.assign(test_acc=np.linspace(0, 1, 200)), AnalysisConfig(classes=3))
    assert np.bincount(labels).tolist() == [67, 67, 66]


def test_diverged_networks_are_left_out_of_the_figures_too(tmp_path, monkeypatch):
    """'Excluded from every part of the analysis', yet the measure-evolution figure plotted a diverged network's
    strength of -3e6 (and the learning curves its accuracy)."""
    from engine.report import figures as F
    from engine.report import write_report

    nets, neu, curves = population()
    nets.loc[nets["network"] == 0, "diverged"] = True
    neu.loc[neu["network"] == 0, "strength"] = -3e6
    curves.loc[curves["network"] == 0, "test_acc"] = -50.0
    run = tmp_path / "run"
    run.mkdir()
    for name, df in (("networks", nets), ("neurons", neu), ("curves", curves)):
        df.to_parquet(run / f"{name}.parquet")
    seen = {}

    def keep(name):
        def figure(table):
            seen[name] = table   # what the figure would have drawn

        return figure

    monkeypatch.setattr(F, "learning_curves", keep("curves"))
    monkeypatch.setattr(F, "measure_evolution", keep("evolution"))
    write_report(run, cfg=FAST)
    evolution = seen["evolution"]
    assert evolution[evolution["measure"] == "strength"]["mean"].min() > -100
    assert 0 not in set(seen["curves"]["network"]) and seen["curves"]["test_acc"].min() >= 0
    summary = json.loads((run / "analysis" / "summary.json").read_text())
    assert any("figures included" in n for n in summary["notes"])


def test_a_feature_set_undefined_for_tiny_layers_says_so():
    """A 1-neuron layer has no spectral metrics: the feature set was 'skipped' with scikit-learn's 'Found array
    with 0 feature(s)'."""
    nets, neu, _ = population(n=24)
    for m in ("alpha", "stable_rank"):
        nets[f"ww_l1_{m}"] = np.nan
    result = run_analysis(nets, neu, dict(FAST, feature_sets=["cn", "spectral"],
                                          enabled={"early_prediction": False}))
    for part in ("classification", "regression"):
        why = result.summary[part]["digits"]["spectral"]["skipped"]
        assert "undefined for these networks" in why and "Found array" not in why, why
        assert "Found array" not in json.dumps(result.summary[part])


# --- gather: every planned network, its own settings, its own record ------------------------------------------

def fake_run(d: Path, *overrides, nets: pd.DataFrame | None = None, neu: pd.DataFrame | None = None,
             networks=(0, 1), finished=True) -> Path:
    """A run directory as engine.run leaves it, finished (tables) or stopped before its merge (claim only)."""
    cfg = compose(*TINY, *overrides)
    (d / ".hydra").mkdir(parents=True)
    (d / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    (d / ".hydra" / "overrides.yaml").write_text(OmegaConf.to_yaml(list(overrides)))
    (d / "parts").mkdir()
    (d / "parts" / "config.json").write_text("{}")
    if finished:
        if nets is None:
            nets = pd.DataFrame({"dataset": cfg.dataset.name, "network": list(networks), "test_acc": 0.5,
                                 "diverged": False})
        nets.to_parquet(d / "networks.parquet", index=False)
        if neu is not None:
            neu.to_parquet(d / "neurons.parquet", index=False)
    return d


def gather_cli(*args):
    return engine_cli("engine.gather", *args)


def test_gather_names_a_shard_that_did_not_finish_and_refuses(tmp_path):
    """Shard 0/2 finished, shard 1/2 killed before its merge: the gather said 'gathering 1 run(s)', exit 0, and
    analysed half the networks with no note."""
    sweep = tmp_path / "sweep"
    fake_run(sweep / "job0", "population.shard=0/2")
    fake_run(sweep / "job1", "population.shard=1/2", finished=False)
    before = sorted(p.name for p in sweep.rglob("*"))
    line = one_error_line(gather_cli(sweep, "--no-analysis"))
    assert "digits: 2 of the 4 planned networks (population.size=4) are missing: shard 1/2 (networks 2..3)" in line
    assert f"{sweep / 'job1'} is a run that has not finished" in line and "hydra.run.dir=" in line
    assert "--allow-missing" in line
    assert sorted(p.name for p in sweep.rglob("*")) == before, "a refusal writes nothing"
    # a shard that never started (no directory at all) is named too
    fake_run(tmp_path / "three" / "a", "population.size=6", "population.shard=0/3", networks=(0, 1))
    fake_run(tmp_path / "three" / "b", "population.size=6", "population.shard=2/3", networks=(4, 5))
    assert "shard 1/3 (networks 2..3)" in one_error_line(gather_cli(tmp_path / "three", "--no-analysis"))


def test_gather_finds_the_runs_not_their_analysis_tables(tmp_path):
    """Found in a new user's pass: `python -m engine.run -m 'population.shard=0/2,1/2' +sweep=smoke` (default
    stages) ends 'gather failed: .../job0_digits/analysis has no recorded settings'. The tests' multiruns
    ran stages=[train,measures], without analysis/networks.parquet."""
    sweep = tmp_path / "sweep"
    for job, shard in (("job0", "0/2"), ("job1", "1/2")):
        run = fake_run(sweep / job, f"population.shard={shard}", networks=(0, 1) if job == "job0" else (2, 3))
        (run / "analysis").mkdir()
        pd.read_parquet(run / "networks.parquet").to_parquet(run / "analysis" / "networks.parquet", index=False)
    p = gather_cli(sweep, "--no-analysis")
    assert p.returncode == 0, p.stderr
    assert len(pd.read_parquet(sweep / "gathered" / "networks.parquet")) == 4


def test_gather_allow_missing_says_so_in_the_report(tmp_path):
    sweep = tmp_path / "sweep"
    fake_run(sweep / "job0", "population.shard=0/2")
    fake_run(sweep / "job1", "population.shard=1/2", finished=False)
    p = gather_cli(sweep, "--allow-missing")
    assert p.returncode == 0, p.stderr
    out = sweep / "gathered"
    assert json.loads((out / "gathered.json").read_text())["missing"]["digits"].startswith("2 of the 4 planned")
    summary = json.loads((out / "analysis" / "summary.json").read_text())
    assert summary["conclusion"]["text"].startswith("digits is incomplete: 2 of the 4 planned networks")
    assert "INCOMPLETE" in summary["conclusion"]["datasets"]["digits"]["headline"]
    assert "digits is incomplete" in (out / "report.html").read_text()
    # a rebuilt report keeps the caveat
    assert engine_cli("engine.report", out).returncode == 0
    assert "digits is incomplete" in (out / "report.html").read_text()


def test_a_rebuilt_report_of_a_gather_uses_the_gathers_analysis_settings(tmp_path):
    """engine.report on a gathered directory re-analysed with the default settings and overwrote the gather's
    numbers with different ones."""
    from engine.gather import gather

    nets, neu, _ = population(n=24, epochs=(5,))
    sweep = tmp_path / "sweep"
    for i, ids in enumerate((range(0, 12), range(12, 24))):
        fake_run(sweep / f"job{i}", "population.size=24", f"population.shard={i}/2",
                 nets=nets[nets["network"].isin(ids)], neu=neu[neu["network"].isin(ids)])
    settings = dict(FAST, classes=2, folds=4)
    out = gather([sweep], analysis_cfg=settings)
    first = json.loads((out / "analysis" / "summary.json").read_text())
    assert first["performance_classes"]["names"] == ["low", "high"] and first["config"]["folds"] == 4
    p = engine_cli("engine.report", out)
    assert p.returncode == 0, p.stderr
    again = json.loads((out / "analysis" / "summary.json").read_text())
    first.pop("timings_s"), again.pop("timings_s")
    assert again == first
    # a gather that recorded no settings (an older one): the settings its results were made with
    record = json.loads((out / "gathered.json").read_text())
    (out / "gathered.json").write_text(json.dumps({k: v for k, v in record.items() if k not in ("analysis", "backend")}))
    from engine.report.__main__ import main as report_main

    assert report_main([str(out)]) == 0
    third = json.loads((out / "analysis" / "summary.json").read_text())
    third.pop("timings_s")
    assert third == first


def test_gather_out_may_not_be_a_directory_it_gathers(tmp_path):
    run = fake_run(tmp_path / "run", "population.size=2")
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert "is a directory being gathered" in one_error_line(gather_cli(run, "--out", run))
    assert "is the directory of a run" in one_error_line(gather_cli(tmp_path, "--out", run))
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    (tmp_path / "file").write_text("x")
    assert "is a file, not a directory" in one_error_line(gather_cli(run, "--out", tmp_path / "file"))


# --- what the report states ------------------------------------------------------------------------------------

def test_the_protocol_names_every_setting_that_shaped_the_population(tmp_path):
    """The report never said which loss trained the population."""
    from engine.gather import gather
    from engine.report import write_report

    nets, neu, _ = population(n=12, epochs=(5,))
    run = fake_run(tmp_path / "run", "population.size=12", "train.loss=cross_entropy", "model.init.layer_streams=independent",
                   nets=nets, neu=neu)
    quick = {"enabled": dict.fromkeys(PARTS, False)}   # the protocol only: no part of the analysis is needed
    for d in (run, gather([run], tmp_path / "gathered", analyse=False)):
        html = write_report(d, cfg=quick).read_text()
        protocol = html[html.index(">Protocol</h2>"):]
        for setting in ("train.loss=cross_entropy", "torch&#x27;s cross-entropy", "model.init.layer_streams=independent",
                        "model.init.low=-0.9", "train.epochs=1", "train.batch_size=100", "train.lr=0.01",
                        "model.hidden=[12, 8]", "dataset.name=digits", "dataset.limit_train=200",
                        "population.size=12", "population.seed=0"):
            assert setting in protocol, (d, setting)
    # a directory without a record says so instead of guessing
    bare = tmp_path / "bare"
    bare.mkdir()
    nets.to_parquet(bare / "networks.parquet")
    assert "not recorded in this directory" in write_report(bare, cfg=quick).read_text()


# --- paths: called what they are --------------------------------------------------------------------------------

def test_a_path_is_called_what_it_is(tmp_path, capsys):
    """A file given for a directory was 'does not exist' (for MNIST with a curl command into it), a symbolic-link
    loop 'no such file'."""
    from engine.data import check_available
    from engine.gather import main as gather_main
    from engine.report.__main__ import main as report_main

    def error_of(main, *args) -> str:
        assert main(list(map(str, args))) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: ")
        return err

    file = tmp_path / "file"
    file.write_text("x")
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    for path, words in ((file, "is a file, not a directory"), (loop, "is a symbolic link loop")):
        assert f"{path} {words}" in error_of(report_main, path)
        assert f"{path} {words}" in error_of(gather_main, path)
        for name in ("fashion_mnist", "mnist", "cifar10"):
            with pytest.raises(EngineError, match=f"{re.escape(str(path))} {words}") as e:
                check_available(name, root=path, download=False)
            assert "dataset.root" in str(e.value), name
            assert "does not exist" not in str(e.value) and "curl" not in str(e.value), name
    with pytest.raises(EngineError, match="lies under .*file, which is a file"):
        check_available("mnist", cache_dir=file / "sub", download=False)


def test_a_run_stopped_before_its_merge_is_called_unfinished(tmp_path):
    """engine.report on a run killed before its merge said it may not be a run directory."""
    run = fake_run(tmp_path / "run", "train.epochs=3", finished=False)
    (run / "parts" / "digits_000000-000001.done").write_text("{}")
    line = one_error_line(engine_cli("engine.report", run))
    assert f"{run} is a run that has not finished" in line and "1 finished chunk(s)" in line
    assert f"python -m engine.run train.epochs=3 hydra.run.dir={run}" in line


def test_model_files_with_no_network_or_bad_snapshot_metadata_name_the_file(tmp_path):
    import torch
    from safetensors.torch import save_file

    from engine import read_network
    from engine.weights_io import load_snapshot

    npz = tmp_path / "empty.npz"
    np.savez(npz, a=np.zeros((0, 4, 3), np.float32), b=np.zeros((0, 3, 2), np.float32))
    with pytest.raises(EngineError, match=f"{npz}: holds no network"):
        read_network(npz)
    snap = tmp_path / "snap.safetensors"
    save_file({"layer1": torch.zeros(2, 4, 3), "layer2": torch.zeros(2, 3, 2)}, str(snap),
              metadata={"format": "engine.snapshot/1", "n_layers": "2", "metadata": "[1, 2]"})
    for load in (read_network, load_snapshot):
        with pytest.raises(EngineError, match=f"{snap}: damaged engine snapshot .*not a mapping"):
            load(snap)
    loop = tmp_path / "loop.pt"
    loop.symlink_to(loop)
    (tmp_path / "file").write_text("x")
    for path, words in ((loop, "is a symbolic link loop"), (tmp_path / "file" / "model.pt", "lies under")):
        with pytest.raises(EngineError, match=f"{path}: {words}"):   # was: "no such file"
            read_network(path)


# --- the command line: checked first, stopped cleanly ------------------------------------------------------------

@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=joblib"]], ids=["basic", "joblib"])
def test_a_multirun_checks_every_job_before_any_starts(tmp_path, launcher):
    """population.size=3,abc,4 trained, measured and reported job 0, then failed on job 1; job 2 never ran."""
    sweep = tmp_path / "sweep"
    p = engine_cli("engine.run", "-m", *TINY, "population.size=3,abc,4", *launcher, f"hydra.sweep.dir={sweep}")
    line = one_error_line(p)
    assert line == ("error: job 1 (population.size=abc): population.size='abc': must be an integer >= 1 "
                    "(default: 1000); no job was started")
    assert not sweep.exists(), "nothing is made before every job is checked"
    if launcher:
        return   # the check runs before any launcher is involved: the rest is the same
    # a job whose own interpolation cannot be resolved, and the sweeper's params, too
    p = engine_cli("engine.run", "-m", *TINY, "train.epochs=1,${oc.env:ENGINE_TEST_UNSET}", f"hydra.sweep.dir={sweep}")
    line = one_error_line(p)
    assert line.startswith("error: job 1 (train.epochs=") and "no job was started" in line
    assert "train.epochs='${oc.env:ENGINE_TEST_UNSET}': cannot be resolved" in line
    assert not sweep.exists()


@pytest.mark.parametrize("override,words", [
    ("population.size=${oc.env:ENGINE_TEST_UNSET}", "population.size='${oc.env:ENGINE_TEST_UNSET}': cannot be "
                                                    "resolved (Environment variable 'ENGINE_TEST_UNSET' not found)"),
    ("population.size=${nope.key}", "population.size='${nope.key}': cannot be resolved (Interpolation key "
                                    "'nope.key' not found)"),
    ("population.size=${population.size}", "population.size='${population.size}': cannot be resolved (Recursive"),
    ("dataset.name=${oc.env:ENGINE_TEST_UNSET}", "dataset.name='${oc.env:ENGINE_TEST_UNSET}': cannot be resolved"),
])
def test_an_unresolvable_interpolation_is_one_line_and_leaves_no_directory(tmp_path, override, words):
    p = engine_cli("engine.run", *TINY, override, f"hydra.run.dir={tmp_path / 'out' / 'run'}")
    assert words in one_error_line(p)
    assert not (tmp_path / "out").exists()


def test_a_setting_that_interpolates_hydras_own_node_still_runs(tmp_path):
    """The checks before the job resolve what the run directory needs; ${hydra:...} in a run's setting resolves
    inside the job, as before."""
    p = engine_cli("engine.run", *TINY, "stages=[train]", "dataset.cache_dir=${hydra:runtime.output_dir}/cache",
                   f"hydra.run.dir={tmp_path / 'r'}")
    assert p.returncode == 0, p.stderr


def test_an_environment_value_is_a_string_and_the_error_says_how_to_decode_it(tmp_path):
    p = engine_cli("engine.run", *TINY, "population.size=${oc.env:ENGINE_TEST_N}", f"hydra.run.dir={tmp_path / 'r'}",
                   env={"ENGINE_TEST_N": "5"})
    assert "population.size='5': must be an integer >= 1 (default: 1000); it is the string '5'" in one_error_line(p)
    assert "'${oc.decode:${oc.env:NAME}}' (quoted on the command line)" in p.stderr
    p = engine_cli("engine.run", *TINY, "population.size='${oc.decode:${oc.env:ENGINE_TEST_N}}'", "stages=[train]",
                   f"hydra.run.dir={tmp_path / 'r'}", env={"ENGINE_TEST_N": "5"})   # the hint, followed
    assert p.returncode == 0, p.stderr
    assert len(pd.read_parquet(tmp_path / "r" / "networks.parquet")) == 5


def test_a_run_directory_name_too_long_is_one_line(tmp_path):
    p = engine_cli("engine.run", *TINY, f"hydra.run.dir={tmp_path / ('x' * 300)}")
    assert "has a name too long for the file system" in one_error_line(p) and "hydra.run.dir" in p.stderr
    with pytest.raises(EngineError, match="name too long"):
        from engine.pipeline import run

        run(compose(*TINY), tmp_path / ("y" * 300) / "run")


RUN = [*TINY, "population.size=8", "population.chunk_size=2", "train.epochs=2", "population.snapshots=early"]


def ctrl_c(args: list[str], when: str) -> tuple[int, list[str], float]:
    """Start engine.run in its own process group, press Ctrl-C (SIGINT to the group, as a terminal does) once a
    line containing ``when`` appears (or after ``sleep:SECONDS``); the exit status, the output, the seconds
    it took to stop."""
    p = subprocess.Popen([sys.executable, "-m", "engine.run", *args], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(p.stdout))
    reader.start()
    deadline = time.time() + 180
    if when.startswith("sleep:"):
        time.sleep(float(when[6:]))
    else:
        while p.poll() is None and time.time() < deadline and not any(when in line for line in list(lines)):
            time.sleep(0.02)
    assert p.poll() is None, "the run ended before Ctrl-C:\n" + "".join(lines)
    pressed = time.time()
    os.killpg(p.pid, signal.SIGINT)
    code = p.wait(timeout=120)
    reader.join()
    return code, lines, time.time() - pressed


@pytest.mark.parametrize("when", ["sleep:0.3", "chunk 2/4:", "analysis: classifiers"],
                         ids=["start-up", "training", "analysis"])
def test_ctrl_c_is_one_line_exit_130_and_the_same_command_resumes(tmp_path, when):
    """Ctrl-C at start-up, in training or in analysis was an 80-line KeyboardInterrupt traceback."""
    from engine.run import RESUME

    training = when.startswith("chunk")
    args = [*RUN, *(["stages=[train,measures]"] if training else []), f"hydra.run.dir={tmp_path / 'run'}"]
    code, lines, seconds = ctrl_c(args, when)
    text = "".join(lines)
    assert code == 130 and lines[-1].strip() == RESUME, text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    assert seconds < 60
    if training:   # what the line promises: the same command resumes
        p = engine_cli("engine.run", *args)
        assert p.returncode == 0 and "resumed 1 finished chunk(s), ran 3" in p.stdout, p.stdout + p.stderr


def test_every_command_line_answers_ctrl_c_in_one_line(capsys):
    from engine.errors import cli_errors

    @cli_errors()
    def main():
        raise KeyboardInterrupt

    try:
        code = main()
    except KeyboardInterrupt:   # (not answered: fail this test, not the session)
        pytest.fail("KeyboardInterrupt went through cli_errors")
    assert code == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("interrupted (Ctrl-C)") and "run the same command again" in err
