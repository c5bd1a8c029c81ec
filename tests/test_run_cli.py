"""The Hydra entry point end to end: a smoke run, config errors, kill -9 and resume, shards + gather."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from engine_runs import ROOT, engine_cli, run_engine

SMALL = ["+sweep=smoke", "population.size=8", "train.epochs=2", "model.hidden=[12,8]", "progress=false"]


def test_smoke_run_writes_all_tables(tmp_path):
    out = tmp_path / "run"
    p = run_engine(*SMALL, "population.save_weights=true", "population.snapshots=[0,2]", f"hydra.run.dir={out}")
    assert "test accuracy mean" in p.stdout and "\nconclusion: digits: accuracy sd" in p.stdout
    nets = pd.read_parquet(out / "networks.parquet")
    assert len(nets) == 8 and set(nets["network"]) == set(range(8))
    assert {"seed", "test_acc", "diverged", "train_silenced", "strength_l1_mean", "w_l1_std",
            "ww_l1_alpha", "ww_l2_stable_rank"} <= set(nets.columns)
    assert (nets["test_samples"] == 450).all()   # digits' held-out quarter
    curves = pd.read_parquet(out / "curves.parquet")
    assert len(curves) == 8 * 3 and curves["epoch"].max() == 2
    lost = ["test_lost", "test_lost_classes", "test_acc_predicted", *(f"test_acc_c{k}" for k in range(10))]
    assert set(lost) <= set(curves.columns) and set(lost) <= set(nets.columns)
    assert {f"train_silenced_e1_c{k}" for k in range(10)} <= set(nets.columns)
    last = curves[curves["epoch"] == 2].sort_values("network")
    np.testing.assert_array_equal(last["test_lost"], nets.sort_values("network")["test_lost"])
    assert curves["test_lost_classes"].dtype == np.int64 and (curves["test_lost"] <= 10).all()
    neurons = pd.read_parquet(out / "neurons.parquet")
    assert len(neurons) == 8 * (12 + 8) * 2 and set(neurons["epoch"]) == {0, 2}
    assert list(neurons.columns[:5]) == ["dataset", "network", "epoch", "layer", "neuron"]
    snaps = pd.read_parquet(out / "snapshots.parquet")   # weight and spectral statistics per snapshot
    assert len(snaps) == 8 * 2 and {"epoch", "w_l2_q50", "ww_l1_log_norm"} <= set(snaps.columns)
    final = snaps[snaps["epoch"] == 2].sort_values("network")
    np.testing.assert_allclose(final["ww_l1_alpha"], nets.sort_values("network")["ww_l1_alpha"])
    assert (out / "report.html").exists() and (out / "analysis" / "summary.json").exists()
    assert (out / "figures" / "early_prediction.png").exists()
    html = (out / "report.html").read_text()
    assert html.index("Conclusion") < html.index("What the spread is made of") \
        < html.index("How much of performance is predictable") \
        < html.index("Early prediction") < html.index("Overview")
    neurons = neurons[neurons["epoch"] == 2]
    # the saved snapshot is a model file engine.inspect reads, and gives the run's own measures back
    snap, = (out / "weights").glob("*_epoch002_*.safetensors")
    from engine.inspect import main as inspect_main

    assert inspect_main([str(snap), "--out", str(out / "again.parquet")]) == 0
    again = pd.read_parquet(out / "again.parquet")
    cols = ["strength", "harmonic_centrality", "max_cliques"]
    np.testing.assert_allclose(again.sort_values(["network", "layer", "neuron"])[cols].to_numpy(),
                               neurons.sort_values(["network", "layer", "neuron"])[cols].to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("override,needle", [
    ("population.size=-5", "population.size"),
    ("train.lr=0", "train.lr"),
    ("model.hidden=[]", "model.hidden"),
    ("population.shard=3/2", "population.shard"),
])
def test_bad_values_are_one_line_errors(tmp_path, override, needle):
    p = run_engine(*SMALL, override, f"hydra.run.dir={tmp_path}", check=False)
    assert p.returncode == 2
    assert needle in p.stderr and "Traceback" not in p.stderr
    # one line in all: the refusal is not also logged (the run has no log of its own before its claim)
    assert (p.stdout + p.stderr).strip().splitlines() == [f"error: {p.stderr.strip()[len('error: '):]}"]


def test_unknown_dataset_is_a_clear_error(tmp_path):
    p = run_engine(*SMALL, "dataset=nope", f"hydra.run.dir={tmp_path}", check=False)
    assert p.returncode == 2 and p.stderr.strip().splitlines() == [
        "error: dataset=nope: no such option (options: cifar10, digits, fashion_mnist, kmnist, mnist, mnist1d)"]
    p = run_engine(*SMALL, "population.size=abc", f"hydra.run.dir={tmp_path}", check=False)
    assert p.returncode != 0 and "population.size" in p.stderr and "Traceback" not in p.stderr


def test_kill_9_then_resume_finishes_without_redoing_work(tmp_path):
    out = tmp_path / "run"
    args = [*SMALL, "population.size=24", "population.chunk_size=4", "train.epochs=3",
            "stages=[train,measures]", f"hydra.run.dir={out}"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "engine.run", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "parts").glob("*.done"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(list((out / "parts").glob("*.done")))
    assert 2 <= done_before < 6, "the run should have been killed part-way"
    p = run_engine(*args)
    assert not list(out.rglob("*.tmp")), "temp files of killed atomic writes are cleaned up on resume"
    assert f"resumed {done_before} finished chunk(s)" in p.stdout
    nets = pd.read_parquet(out / "networks.parquet")
    assert sorted(nets["network"]) == list(range(24))
    fresh = tmp_path / "fresh"
    run_engine(*[a for a in args if not a.startswith("hydra.run.dir")], f"hydra.run.dir={fresh}")
    ref = pd.read_parquet(fresh / "networks.parquet")
    np.testing.assert_allclose(nets.sort_values("network")["test_loss"], ref.sort_values("network")["test_loss"],
                               rtol=1e-5)


def test_resume_refuses_a_different_configuration(tmp_path):
    out = tmp_path / "run"
    run_engine(*SMALL, "stages=[train]", f"hydra.run.dir={out}")
    p = run_engine(*SMALL, "stages=[train]", "train.lr=0.5", f"hydra.run.dir={out}", check=False)
    assert p.returncode == 2 and "different configuration" in p.stderr


@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
                                      ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5"]],
                         ids=["basic", "joblib", "submitit_local"])
def test_shards_give_the_same_networks_and_gather_merges_them(tmp_path, launcher):
    sweep = tmp_path / "sweep"
    run_engine("-m", *SMALL, "population.shard=0/2,1/2", "stages=[train,measures]", *launcher,
               f"hydra.sweep.dir={sweep}")
    gathered = sweep / "gathered"
    nets = pd.read_parquet(gathered / "networks.parquet")
    assert sorted(nets["network"]) == list(range(8))
    whole = tmp_path / "whole"
    run_engine(*SMALL, "stages=[train,measures]", f"hydra.run.dir={whole}")
    ref = pd.read_parquet(whole / "networks.parquet")
    np.testing.assert_allclose(nets["test_loss"], ref["test_loss"], rtol=1e-5)
    np.testing.assert_allclose(nets["strength_l1_mean"], ref["strength_l1_mean"], rtol=1e-4)
    neurons = pd.read_parquet(gathered / "neurons.parquet")
    assert len(neurons) == 8 * 20 * 3   # snapshots: early = epochs 0, 1, 2
    snaps = pd.read_parquet(gathered / "snapshots.parquet")
    assert len(snaps) == 8 * 3 and sorted(snaps["epoch"].unique()) == [0, 1, 2]


def test_missing_data_of_a_sweep_fails_before_any_training(tmp_path):
    sweep = tmp_path / "sweep"
    p = run_engine("-m", *SMALL, "dataset=digits,mnist", "dataset.download=false",
                   f"dataset.cache_dir={tmp_path / 'empty'}", f"hydra.sweep.dir={sweep}", check=False)
    assert p.returncode == 2 and "mnist" in p.stderr and "dataset.download=true" in p.stderr
    assert not list(sweep.rglob("networks.parquet")), "no job may train before the data check"


def test_unwritable_output_directory_is_a_clear_error():
    p = run_engine(*SMALL, "hydra.run.dir=/proc/engine-cannot-write-here", check=False)
    assert p.returncode == 2 and "hydra.run.dir" in p.stderr and "Traceback" not in p.stderr


def test_two_runs_into_one_directory_do_not_interleave(tmp_path):
    out = tmp_path / "run"
    args = [*SMALL, "population.size=64", "population.chunk_size=2", "train.epochs=30", "model.hidden=[256,256]",
            "stages=[train]", f"hydra.run.dir={out}"]
    first = subprocess.Popen([sys.executable, "-m", "engine.run", *args], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not list((out / "parts").glob("*.done")):
            time.sleep(0.05)
        second = run_engine(*args, check=False)
        assert first.poll() is None, "the first run should still be running"
        assert second.returncode == 2 and "another run is writing" in second.stderr
    finally:
        first.kill()
        first.wait()


def test_engine_analyze_is_both_the_api_function_and_the_command(tmp_path):
    """``engine.analyze`` names the Python API function and the module behind ``python -m engine.analyze``:
    once the module is imported (which would rebind the package's name to it), the package's name is
    still the function, introspection included; run as a command it still parses its arguments."""
    import inspect
    import sys

    import engine
    import engine.analyze
    from engine.errors import EngineError
    from engine.networks.accuracies import analyze

    assert engine.analyze is analyze and inspect.isfunction(engine.analyze)
    assert inspect.ismodule(sys.modules["engine.analyze"]) and callable(sys.modules["engine.analyze"].main)

    with pytest.raises(EngineError, match="no_such_dir does not exist"):
        engine.analyze(tmp_path / "no_such_dir", tmp_path / "acc.csv")
    helped = engine_cli("engine.analyze", "--help")
    assert helped.returncode == 0 and helped.stdout.startswith("usage: python -m engine.analyze"), helped.stderr
    assert "--accuracies" in helped.stdout
