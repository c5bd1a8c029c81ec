"""A population of a researcher's own files: ``python -m engine.inspect DIR --out OUT`` measures every
file it can read (each network's measures equal networkx on its true weights), lists the others with
their reasons, and ``python -m engine.analyze`` turns it into a run's analysis and report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from engine.networks.accuracies import analyze, _attach_accuracies
from engine.errors import EngineError
from engine.networks.population import measure_files
from engine.run_dir import load_run
from own_networks import assert_measures_true, true_weights

REPO = Path(__file__).resolve().parents[1]
QUICK = {"folds": 3, "repeats": 1, "classifiers": ["lda"], "regressors": ["ridge"], "bon": {"k": 3, "n_init": 1}}


def _state(ws):
    return {f"{k}.weight": torch.from_numpy(w.T.copy()) for k, w in zip((0, 2, 4), ws)}


@pytest.fixture
def folder(tmp_path) -> tuple[Path, list]:
    """Five networks in four formats, one of equal-width layers per file, plus two files that fail."""
    d = tmp_path / "mine"
    d.mkdir()
    truth = [true_weights(seed=s) for s in range(5)]
    torch.save(_state(truth[0]), d / "a.pt")
    torch.save({"epoch": 3, "state_dict": _state(truth[1])}, d / "b.pth.tar")
    np.savez(d / "c.npz", **{k: v.numpy() for k, v in _state(truth[2]).items()})
    from safetensors.torch import save_file

    save_file({f"layers.{k}.weight": v for k, v in _state(truth[3]).items()}, str(d / "d.safetensors"))
    torch.save(_state(truth[4]), d / "e.ckpt")
    (d / "notes.txt").write_text("trained with lr 0.1")
    torch.save({"fc.weight": torch.rand(3, 4, 4)}, d / "conv.pt")
    return d, truth


def test_measure_files_reads_what_it_can_and_says_why_not(folder):
    d, truth = folder
    measured = measure_files(d)
    nets = measured.networks
    assert nets["file"].tolist() == ["a.pt", "b.pth.tar", "c.npz", "d.safetensors", "e.ckpt"]
    assert nets["network"].tolist() == [0, 1, 2, 3, 4] and set(nets["dataset"]) == {"mine"}
    assert set(nets["layers"]) == {"5-5-5-5"}
    for k, w in enumerate(truth):
        assert_measures_true(measured.neurons, w, network=k)
    assert {"w_l1_mean", "ww_l1_alpha", "strength_l1_mean"} <= set(nets.columns)
    failed = dict(zip(measured.failed["file"], measured.failed["reason"]))
    assert sorted(failed) == ["conv.pt", "notes.txt"]
    assert "'fc.weight' is a 3-D" in failed["conv.pt"] and "not a model file" in failed["notes.txt"]
    assert all("\n" not in r for r in failed.values())


def test_inspect_and_analyze_on_the_command_line(folder, tmp_path):
    d, truth = folder
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "engine.inspect", str(d / "*"), "--out", str(out)], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "measured 5 network(s) from 5 file(s)" in p.stdout and "conv.pt:" in p.stdout
    assert sorted(x.name for x in out.iterdir()) == ["failed.csv", "inspect.json", "networks.parquet",
                                                      "neurons.parquet"]
    assert_measures_true(pd.read_parquet(out / "neurons.parquet"), truth[3], network=3)
    pd.DataFrame({"file": ["a", "b.pth.tar", "c.npz"], "test_acc": [50, 60, 70]}).to_csv(tmp_path / "pc.csv")
    p = subprocess.run([sys.executable, "-m", "engine.analyze", str(out), "--accuracies", str(tmp_path / "pc.csv")],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and p.stderr.startswith("error: ") and p.stderr.count("\n") == 1
    assert "divide percentages by 100" in p.stderr


def test_analyze_gives_a_runs_analysis_and_report(tmp_path):
    d = tmp_path / "pop"
    d.mkdir()
    rows = []
    for seed in range(18):
        ws = true_weights(sizes=[6, 5, 4, 3], seed=seed)
        torch.save(_state(ws), d / f"seed{seed:02d}.pt")
        rows.append({"file": f"seed{seed:02d}", "test_acc": float(0.6 + 0.3 * ws[0].mean())})
    measured = measure_files(d)
    from engine.networks.population import write_population

    write_population(measured, tmp_path / "out")
    report = analyze(tmp_path / "out", pd.DataFrame(rows), cfg=QUICK, test_samples=1000)
    run = load_run(tmp_path / "out")
    assert report.is_file() and run.summary["counts"]["networks_used"] == 18
    assert run.networks["test_samples"].eq(1000).all() and "performance_class" in run.analysis["networks"]
    assert "weights" in run.summary["classification"]["pop"] and run.summary["conclusion"]
    assert {"networks", "correlations"} <= set(run.analysis)


def test_accuracies_must_match_the_measured_networks():
    nets = pd.DataFrame({"dataset": "x", "network": [0, 1, 2], "file": ["a/m.pt", "b/m.pt", "c.npz"]})
    got = _attach_accuracies(nets, pd.DataFrame({"network": [2, 0], "test_acc": [0.5, 0.7]}))
    assert got["test_acc"].tolist()[0] == 0.7 and np.isnan(got["test_acc"][1])
    got = _attach_accuracies(nets, pd.DataFrame({"file": ["c", "a/m.pt"], "test_acc": [0.5, 0.7]}))
    assert got["test_acc"].tolist()[::2] == [0.7, 0.5]
    with pytest.raises(EngineError, match="matches several measured files"):
        _attach_accuracies(nets, pd.DataFrame({"file": ["m.pt"], "test_acc": [0.5]}))
    with pytest.raises(EngineError, match="'zz.pt' is not among the measured files"):
        _attach_accuracies(nets, pd.DataFrame({"file": ["zz.pt"], "test_acc": [0.5]}))
    with pytest.raises(EngineError, match="network ids \\[7\\]"):
        _attach_accuracies(nets, pd.DataFrame({"network": [7], "test_acc": [0.5]}))


def test_one_file_options_on_the_command_line(tmp_path, capsys):
    from engine.inspect import main

    ws = true_weights(seed=3)
    from safetensors.torch import save_file

    save_file({n: torch.from_numpy(w.T.copy()) for n, w in zip(("fc1.weight", "fc2.weight", "out.weight"), ws)},
              str(tmp_path / "m.safetensors"))
    assert main([str(tmp_path / "m.safetensors")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--layers fc1,fc2,out" in err
    out = tmp_path / "m.parquet"
    assert main([str(tmp_path / "m.safetensors"), "--layers", "fc1,fc2,out", "--out", str(out)]) == 0
    assert "order: given (layers)" in capsys.readouterr().out
    assert_measures_true(pd.read_parquet(out), ws)
    np.savez(tmp_path / "w.npz", *ws)
    assert main([str(tmp_path / "w.npz"), "--orientation", "in_out", "--out", str(out)]) == 0
    assert_measures_true(pd.read_parquet(out), ws)
    saved = tmp_path / "saved"
    saved.mkdir()
    (saved / "saved_model.pb").write_bytes(b"\x08\x01")
    assert main([str(saved)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "TensorFlow SavedModel folder" in err
