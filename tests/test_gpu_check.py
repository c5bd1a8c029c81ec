"""python -m benchmarks.gpu_check: its CPU mode end to end at tiny sizes (so the command cannot rot
while no GPU is around), and the pieces that turn measurements into figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import gpu_check  # noqa: E402

COMMITTED = [gpu_check.RESULTS / "gpu.json", gpu_check.RESULTS / "RESULTS.md"]


def test_cpu_quick_runs_every_step_and_leaves_the_gpu_results_alone(tmp_path):
    out = tmp_path / "check.json"
    before = {p: p.stat().st_mtime_ns for p in COMMITTED if p.exists()}
    cmd = [sys.executable, "-m", "benchmarks.gpu_check", "--device", "cpu", "--quick", "--networks", "1",
           "--cpu-networks", "1", "--train-networks", "2", "--samples", "500", "--loop-networks", "1",
           "--loop-steps", "3", "--peak-size", "256", "--e2e", "+sweep=smoke", "stages=[train,measures]",
           "--out", str(out)]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-4000:]
    r = json.loads(out.read_text())
    assert r["errors"] == {} and r["device"] == "cpu" and r["quick"]

    tests = r["tests"]  # pytest -m gpu ran: on this machine every GPU test is skipped, none failed
    assert tests["failed"] == 0 and tests["passed"] + tests["skipped"] > 0 and "-m gpu" in tests["command"]

    m = r["measures"]
    assert m["sizes"] == [784, 200, 100, 10] and m["networks"] == 1 and m["cpu_networks"] == 1
    for label in ("float64", "float32"):
        assert set(m[label]["per_measure_s"]) == set(m["names"]) and len(m["names"]) == 8
        assert m[label]["networks_per_s"] > 0 and m[label]["cpu"]["networks_per_s"] > 0
        for diff in m[label]["vs_cpu"].values():  # both sides are the CPU here 
            assert diff == {"max_rel_diff": 0.0, "nonfinite_mismatches": 0}
    assert m["float32"]["log_subgraph"] and "Numba" in m["shortest_paths"]
    h = m["harmonic"]
    assert h["networks"] == 1 and h["networks_per_s"] > 0 and h["cpu_networks_per_s"] > 0
    assert h["max_rel_diff_vs_cpu"] < 1e-12  # the dense twin against the CPU method, same networks

    t = r["training"]
    assert t["sizes"] == [784, 200, 100, 10] and t["batch"] == 100 and t["steps"] == 5
    assert 0 < t["fraction_of_peak"] and t["vs_one_at_a_time"] > 0 and t["epoch_s"] > 0

    e = r["end_to_end"]
    assert e["command"].startswith("python -m engine.run backend=cpu") and {"train", "measures"} <= set(e["stages_s"])

    proj = r["projection"]
    assert proj["complete"] and proj["total_s"] > 0 and proj["dominant"] in proj["stages_s"]
    assert set(r["targets"]) == set(gpu_check.TARGETS)
    assert "## GPU check (cpu, quick)" in p.stdout and "dominated by" in p.stdout

    # CPU mode never writes the GPU figures
    assert {p: p.stat().st_mtime_ns for p in COMMITTED if p.exists()} == before


def test_default_outputs_by_mode(monkeypatch):
    a = gpu_check.parse_args(["--device", "cpu", "--quick"])
    assert not a.official and a.out == gpu_check.RESULTS / "quick" / "gpu_check_cpu_quick.json"
    assert a.networks == 8 and a.samples == 10_000 and a.e2e == ["population.size=100"]
    assert gpu_check.parse_args(["--device", "cpu"]).out == gpu_check.RESULTS / "gpu_check_cpu.json"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    a = gpu_check.parse_args([])
    assert a.device == "cuda" and a.official and a.out == gpu_check.RESULTS / "gpu.json"
    assert (a.networks, a.train_networks, a.samples, a.e2e) == (1000, 1000, 60000, [])
    assert not gpu_check.parse_args(["--quick"]).official


def test_cuda_without_a_gpu_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match="^2$"):   # argparse's usage error
        gpu_check.parse_args(["--device", "cuda"])
    assert "torch sees no CUDA GPU" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="^2$"):
        gpu_check.parse_args(["--networks", "0", "--device", "cpu"])
    assert "--networks" in capsys.readouterr().err


def test_relative_differences():
    ref = torch.tensor([[[1.0, 0.0, float("nan"), float("inf")], [2.0, 2.0, 1.0, 5.0]]], dtype=torch.float64)
    got = torch.tensor([[[1.0 + 1e-6, 1e-9, float("nan"), float("inf")], [2.0, 2.0, float("nan"), 5.0]]],
                       dtype=torch.float64)
    d = gpu_check.relative_differences(got, ref, ["a", "b", "c", "d"])
    assert d["a"]["max_rel_diff"] == pytest.approx(1e-6, rel=1e-6) and d["a"]["nonfinite_mismatches"] == 0
    # at 0 the denominator is floored at 1e-6 of the measure's largest magnitude (2 here)
    assert d["b"]["max_rel_diff"] == pytest.approx(1e-9 / 2e-6)
    assert d["c"] == {"max_rel_diff": 0.0, "nonfinite_mismatches": 1}  # NaN against 1.0
    assert d["d"] == {"max_rel_diff": 0.0, "nonfinite_mismatches": 0}  # equal infinities agree


def test_projection_of_the_full_sweep():
    measures = {"float64": {"networks_per_s": 100.0}}
    training = {"networks": 500, "samples": 60000, "test_samples": 10000, "epoch_s": 2.0,
                "train_population_s": {"epochs_0": 1.0}}
    e2e = {"networks": 1000, "stages_s": {"train": 9.0, "measures": 3.0, "merge": 0.1, "analysis": 20.0, "report": 4.0}}
    p = gpu_check.project_full_sweep(measures, training, e2e)
    s = p["stages_s"]
    assert s["measures"] == pytest.approx(4 * 31 * 1000 / 100.0)
    # 1,000 networks = 2x the 500 measured; three 60,000-sample benchmarks and CIFAR-10's 50,000
    assert s["train"] == pytest.approx(2.0 * 3 + 2.0 * 60000 / 70000 + 30 * 2.0 * 2 * (3 + 50000 / 60000))
    assert s["analysis_report"] == pytest.approx(20.0 * 8 + 4.0 * 5) and s["merge"] == pytest.approx(0.1 * 31 * 4)
    assert p["total_s"] == pytest.approx(sum(s.values())) and p["dominant"] == "measures" and p["complete"]
    partial = gpu_check.project_full_sweep(measures, None, None)
    assert not partial["complete"] and partial["dominant"] == "measures" and partial["stages_s"]["train"] is None


def test_results_md_section_is_replaced_and_kept(tmp_path):
    md = tmp_path / "RESULTS.md"
    md.write_text("Machine: x\n\n| benchmark | what | figure |\n")
    section = f"{gpu_check.SECTION_BEGIN}\n\n## GPU check (cuda)\nfirst\n\n{gpu_check.SECTION_END}\n"
    gpu_check.write_section(md, section)
    assert md.read_text().startswith("Machine: x") and "first" in md.read_text()
    gpu_check.write_section(md, section.replace("first", "second"))
    text = md.read_text()
    assert "second" in text and "first" not in text and text.count(gpu_check.SECTION_BEGIN) == 1
    # python -m benchmarks rewrites the table and appends what existing_section returns
    kept = gpu_check.existing_section(md)
    assert kept.strip().startswith(gpu_check.SECTION_BEGIN) and "second" in kept
    assert gpu_check.existing_section(tmp_path / "missing.md") == ""


def test_the_offline_wheel_list_in_the_readme_is_pyprojects():
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    readme = (ROOT / "README.md").read_text()
    start = readme.index("DEPS='") + len("DEPS='")
    listed = set(readme[start:readme.index("'", start)].split())
    assert {d.replace(" ", "") for d in deps if not d.startswith("torch")} | {"pytest>=8"} == listed
