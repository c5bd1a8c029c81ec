"""Report stage: files, self-contained HTML, JSON, neuron types written back, the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from engine.analysis import run_analysis
from engine.analysis.synthetic import make_population
from engine.errors import EngineError
from engine.report import write_report

ROOT = Path(__file__).resolve().parents[1]

FAST = {"folds": 3, "repeats": 1, "n_jobs": 1, "classifiers": ["lda", "knn"], "regressors": ["ridge"],
        "bon": {"k": 4, "n_init": 2}}


def make_run(tmp_path: Path, epochs=(1, 3), datasets=("digits", "mnist1d"), config: dict | None = None) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    nets, neu, _ = make_population(datasets, networks=24, layer_sizes=(8, 4), epochs=epochs, n_types=4,
                                   weight_layers=1, seed=0)
    nets.loc[0, "diverged"] = True
    nets.to_parquet(run / "networks.parquet", index=False)
    neu.to_parquet(run / "neurons.parquet", index=False)
    rows = [{"dataset": ds, "network": n, "epoch": e, "train_loss": 1.0 / (e + 1), "train_acc": 0.5 + 0.01 * e,
             "test_loss": 1.0 / (e + 1), "test_acc": 0.5 + 0.01 * e + 0.001 * n}
            for ds in datasets for n in range(24) for e in range(4)]
    pd.DataFrame(rows).to_parquet(run / "curves.parquet", index=False)
    if config is not None:
        (run / ".hydra").mkdir()
        (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    return run


def check_html(path: Path) -> str:
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    srcs = re.findall(r'src="([^"]*)"', text)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)   # self-contained
    assert "<link" not in text and "<script" not in text and "http://" not in text and "https://" not in text
    return text


def test_write_report_all_files(tmp_path):
    run = make_run(tmp_path)
    nets = pd.read_parquet(run / "networks.parquet")
    neu = pd.read_parquet(run / "neurons.parquet")
    result = run_analysis(nets, neu, FAST)
    out = write_report(run, result)
    assert out == run / "report.html"
    text = check_html(out)
    for h in ("Protocol", "Verdict", "Bag-of-Neurons", "Classification", "Regression", "Correlations",
              "across benchmarks", "Measures over training"):
        assert h in text, h
    assert "subgraph centrality" in text and ("supported" in text)
    summary = json.loads((run / "analysis" / "summary.json").read_text())
    assert summary["counts"]["diverged_excluded"] == 1
    for part in ("performance_classes", "classification", "regression", "bag_of_neurons", "correlations",
                 "subgraph_verdict", "cross_benchmark", "best_classifier"):
        json.loads((run / "analysis" / f"{part}.json").read_text())
    figs = {p.name for p in (run / "figures").glob("*.png")}
    assert {"accuracy_distributions.png", "measures_vs_accuracy_digits.png", "measures_vs_accuracy_mnist1d.png",
            "bon_centroids.png", "bon_type_shares.png", "confusion_matrices.png", "correlations.png",
            "measure_evolution.png", "learning_curves.png"} <= figs
    for f in (run / "figures").glob("*.png"):
        assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    typed = pd.read_parquet(run / "neurons.parquet")
    assert len(typed) == len(neu) and typed["neuron_type"].dtype == np.int64
    assert (typed["neuron_type"].to_numpy() == result.neuron_types.to_numpy()).all()
    assert not list(run.rglob("*.tmp"))            # atomic writes leave nothing behind


def test_single_epoch_single_dataset_no_evolution_figure(tmp_path):
    run = make_run(tmp_path, epochs=(5,), datasets=("digits",))
    (run / "curves.parquet").unlink()
    write_report(run, cfg=FAST)
    figs = {p.name for p in (run / "figures").glob("*.png")}
    assert "measure_evolution.png" not in figs and "learning_curves.png" not in figs
    check_html(run / "report.html")


def test_write_report_errors(tmp_path):
    with pytest.raises(EngineError, match="does not exist"):
        write_report(tmp_path / "nope")
    with pytest.raises(EngineError, match="networks.parquet"):
        write_report(tmp_path)
    (tmp_path / "networks.parquet").write_bytes(b"not parquet")
    with pytest.raises(EngineError, match="damaged"):
        write_report(tmp_path)


def test_cli_uses_saved_config(tmp_path):
    run = make_run(tmp_path, epochs=(2,), datasets=("digits",),
                   config={"backend": "cpu", "analysis": dict(FAST, classes=2)})
    p = subprocess.run([sys.executable, "-m", "engine.report", str(run)], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().endswith("report.html")
    summary = json.loads((run / "analysis" / "summary.json").read_text())
    assert summary["performance_classes"]["names"] == ["low", "high"]
    assert summary["config"]["folds"] == 3
    check_html(run / "report.html")


def test_cli_resolves_the_backend_as_the_run_does(tmp_path):
    """A run saved with backend=auto is reported with the backend it resolves to (as the run records it),
    and --backend gpu without a GPU is one line."""
    import torch

    run = make_run(tmp_path, epochs=(2,), datasets=("digits",),
                   config={"backend": {"name": "auto"}, "analysis": dict(FAST, classes=2)})
    p = subprocess.run([sys.executable, "-m", "engine.report", str(run)], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    summary = json.loads((run / "analysis" / "summary.json").read_text())
    assert summary["backend"] == ("gpu" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        p = subprocess.run([sys.executable, "-m", "engine.report", str(run), "--backend", "gpu"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 2 and p.stderr.strip().splitlines() == [
            "error: backend=gpu but no CUDA GPU is visible to torch: use backend=cpu or backend=auto"]


def test_cli_missing_dir_is_one_clear_line(tmp_path):
    p = subprocess.run([sys.executable, "-m", "engine.report", str(tmp_path / "missing")], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not exist" in lines[0]
    # a bad saved config is one line too
    run = make_run(tmp_path, epochs=(2,), datasets=("digits",), config={"analysis": {"folds": 1}})
    p = subprocess.run([sys.executable, "-m", "engine.report", str(run)], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "folds" in p.stderr


def test_values_from_configuration_and_data_are_escaped(tmp_path):
    """HTML injection (issue 9): a dataset name from the data and values from the configuration land in
    report.html as text, never as markup."""
    bad = "<script>alert(1)</script>"
    run = make_run(tmp_path, epochs=(2,), datasets=(bad,))
    cfg = json.loads(json.dumps(FAST))
    cfg["estimator_params"] = {"knn": {"n_neighbors": 3, "metric": "<script>alert(2)</script>"}}
    cfg["bon"]["log10_measures"] = ["subgraph_centrality", "<img src=x onerror=alert(3)>"]
    text = check_html(write_report(run, cfg=cfg))                 # asserts no "<script" in the page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "alert(2)" in text
    assert "<img src=x" not in text and "&lt;img src=x onerror=alert(3)&gt;" in text


def test_table_leaves_nan_and_infinite_cells_blank():
    """html.table's float cells: NaN and +-inf blank alike (pandas hands NaN to na_rep, never to the
    formatter: before na_rep="", NaN cells read "NaN" while infinite ones were blank)."""
    from engine.report.html import table

    out = table(pd.DataFrame({"x": [0.5, np.nan, np.inf, -np.inf]}))
    assert re.findall(r"<td>(.*?)</td>", out) == ["0.5", "", "", ""]
