"""One command that proves and measures the GPU path, offline, in under 10 minutes on one GPU.

    python -m benchmarks.gpu_check                         # on a GPU machine: the real figures
    python -m benchmarks.gpu_check --device cpu --quick    # every step on the CPU, a few minutes

1. tests: ``pytest -m gpu`` (the test files that have GPU tests), counted from its JUnit report;
2. measures: all eight for paper-size (784-200-100-10) networks on the device, in float64 and in
   float32 (log subgraph centrality, which overflows float32 otherwise), against the CPU on the same
   weights (a subset of them): networks per second, seconds per measure, largest relative difference;
   and which shortest-path code ran (the CUDA kernel, or its torch twin and why);
3. training: MNIST-size networks for one epoch at batch 100 on synthetic data of MNIST's shape
   (throughput does not depend on the pixels): FLOP/s against the device's own float32 matmul peak
   (with TF32 as torch has it), and against training one network at a time;
4. end to end: ``python -m engine.run backend=gpu`` (the default job), its stage times, and a
   projection of ``+sweep=full`` (4 benchmarks x 1,000 networks, measures at epochs 0..30) from the
   measured rates, naming the stage that dominates;
5. results: on a full GPU run ``benchmarks/results/gpu.json`` and the GPU section of
   ``benchmarks/results/RESULTS.md`` (which ``python -m benchmarks`` keeps); any other run leaves those
   alone and writes ``results/quick/gpu_check_<device>_quick.json`` (``--quick``) or
   ``results/gpu_check_cpu.json``. The JSON is rewritten after every step, so a machine taken away
   mid-run still leaves the steps it finished.

A step that fails is recorded with its error and the others still run; the exit status is 1 if any
step failed or any GPU test failed. In CPU mode both sides of every comparison are the CPU: the
output has the same structure, so the command cannot rot while no GPU is around.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import machine, matmul_peak, timed, timed_run  # noqa: E402
from benchmarks.measures_vs_networkx import PAPER, random_network  # noqa: E402
from engine.backend import backend_name  # noqa: E402
from engine.population.train import flops_per_step  # noqa: E402
from engine.storage import atomic_path, write_json  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
SECTION_BEGIN = "<!-- gpu_check: written by python -m benchmarks.gpu_check on a GPU; kept by python -m benchmarks -->"
SECTION_END = "<!-- /gpu_check -->"

BATCH = 100  # the paper's batch size
MNIST = (60_000, 10_000)  # train, test samples
# +sweep=full: the four benchmarks (CIFAR-10 in grayscale, 28x28: also 784 inputs) as (train, test)
FULL_SWEEP = {"mnist": MNIST, "fashion_mnist": MNIST, "kmnist": MNIST, "cifar10": (50_000, 10_000)}
FULL_NETWORKS, FULL_EPOCHS = 1000, 30
TARGETS = {"measures_4000_paper_networks_s": 60.0, "training_fraction_of_peak": 0.70,
           "sweep_full_s": 30 * 60.0, "check_wall_s": 10 * 60.0}

# sizes per mode: (device type, quick) -> defaults of the size knobs
SIZES = {
    ("cuda", False): dict(networks=1000, cpu_networks=16, train_networks=1000, samples=MNIST[0], loop_networks=8,
                          loop_steps=100, e2e=[]),
    ("cuda", True): dict(networks=250, cpu_networks=4, train_networks=250, samples=MNIST[0], loop_networks=4,
                         loop_steps=50, e2e=["population.size=200"]),
    ("cpu", False): dict(networks=50, cpu_networks=10, train_networks=100, samples=MNIST[0], loop_networks=4,
                         loop_steps=100, e2e=[]),
    # a few minutes on a 2-core CPU: one "epoch" of 100 steps, a 100-network end-to-end run
    ("cpu", True): dict(networks=8, cpu_networks=4, train_networks=16, samples=10_000, loop_networks=2,
                        loop_steps=20, e2e=["population.size=100"]),
}


def _subgraph_method_name(device) -> str:
    from engine.measures.subgraph_centrality import subgraph_method
    return {"eigh": "batched eigendecomposition (torch.linalg.eigh)",
            "gemm": "scaling and squaring, batched float64 products (engine/measures/subgraph_squaring.py)"
            }[subgraph_method(torch.device(device))]


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=["cuda", "cpu"], default=None,
                    help="where the 'GPU' side runs (default: cuda if torch sees one, else an error)")
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a few minutes on a CPU)")
    ap.add_argument("--networks", type=int, help="paper-size networks whose measures are timed on the device")
    ap.add_argument("--cpu-networks", type=int, help="of those, how many are also computed on the CPU")
    ap.add_argument("--train-networks", type=int, help="MNIST-size networks trained for one epoch")
    ap.add_argument("--samples", type=int, help="synthetic training samples per epoch (MNIST: 60000)")
    ap.add_argument("--loop-networks", type=int, help="networks trained one at a time, for the ratio")
    ap.add_argument("--loop-steps", type=int, help="SGD steps of each of those")
    ap.add_argument("--peak-size", type=int, default=None, help="matrix size of the matmul peak (default: common's)")
    ap.add_argument("--e2e", nargs="*", default=None, metavar="OVERRIDE",
                    help="extra Hydra overrides of the end-to-end run (e.g. +sweep=smoke)")
    ap.add_argument("--skip-tests", action="store_true", help="do not run pytest -m gpu")
    ap.add_argument("--skip-e2e", action="store_true", help="do not run python -m engine.run")
    ap.add_argument("--out", type=Path, default=None, help="the JSON to write (default: see the module docstring)")
    a = ap.parse_args(argv)
    if a.device is None:
        a.device = "cuda" if torch.cuda.is_available() else None
        if a.device is None:
            ap.error("torch sees no CUDA GPU: use --device cpu (for the CPU mode) on this machine")
    if a.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda but torch sees no CUDA GPU (a CPU build of torch, or no driver): use --device cpu")
    for key, value in SIZES[(a.device, a.quick)].items():
        if getattr(a, key) is None:
            setattr(a, key, value)
    for key in ("networks", "cpu_networks", "train_networks", "samples", "loop_networks", "loop_steps"):
        if getattr(a, key) < 1:
            ap.error(f"--{key.replace('_', '-')} must be at least 1")
    a.cpu_networks = min(a.cpu_networks, a.networks)
    a.samples = max(a.samples, BATCH)
    a.official = a.device == "cuda" and not a.quick and a.out is None
    if a.out is None:  # quick runs go where python -m benchmarks --quick writes: never the committed figures
        a.out = (RESULTS / "gpu.json" if a.official else
                 RESULTS / "quick" / f"gpu_check_{a.device}_quick.json" if a.quick else
                 RESULTS / f"gpu_check_{a.device}.json")
    return a


# --- environment ------------------------------------------------------------------------------------

def environment(device: torch.device) -> dict:
    """Device, driver, torch, CuPy and NVRTC versions, and the float32 matmul mode (TF32 or not)."""
    info = {"machine": machine(), "torch": torch.__version__, "torch_cuda": torch.version.cuda,
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
            "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32)}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["device"] = {"name": props.name, "capability": f"{props.major}.{props.minor}",
                          "memory_gib": round(props.total_memory / 2**30, 1),
                          "multiprocessors": props.multi_processor_count}
        info["driver"] = _nvidia_smi_driver()
    else:
        info["device"] = {"name": f"CPU: {info['machine']['processor']}", "threads": torch.get_num_threads()}
        info["driver"] = None
    try:
        import cupy

        info["cupy"] = cupy.__version__
        try:
            from cupy_backends.cuda.libs import nvrtc

            info["nvrtc"] = "%d.%d" % nvrtc.getVersion()
        except Exception as e:
            info["nvrtc"] = f"not loadable ({type(e).__name__})"
        try:
            v = cupy.cuda.runtime.runtimeGetVersion()
            info["cupy_cuda_runtime"] = f"{v // 1000}.{v % 1000 // 10}"
        except Exception as e:
            info["cupy_cuda_runtime"] = f"unknown ({type(e).__name__})"
        if device.type == "cuda" and not info["driver"]:
            try:
                v = cupy.cuda.runtime.driverGetVersion()
                info["driver"] = f"CUDA {v // 1000}.{v % 1000 // 10} (driver API version)"
            except Exception:
                pass
    except Exception as e:
        info["cupy"] = f"not importable ({type(e).__name__}: {e})"
    return info


def _nvidia_smi_driver() -> str | None:
    try:
        p = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=20)
        return p.stdout.strip().splitlines()[0] if p.returncode == 0 and p.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        return None


# --- 1. the GPU tests -----------------------------------------------------------------------------

def gpu_test_files() -> list[str]:
    """The test files that have GPU tests (collecting only those keeps a minimal offline install enough)."""
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_*.py")
                  if "pytest.mark.gpu" in p.read_text())


def run_gpu_tests() -> dict:
    files = gpu_test_files()
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "gpu_tests.xml"
        cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
               *files]
        t = time.perf_counter()
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t
        out = {"command": "python -m pytest -m gpu " + " ".join(files), "returncode": p.returncode, "wall_s": wall}
        if not junit.exists():
            out["error"] = f"pytest wrote no report (exit {p.returncode}): {(p.stdout + p.stderr)[-1500:]}"
            return out
        suite = ET.parse(junit).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    failed = []
    for case in suite.iter("testcase"):
        bad = case.find("failure") if case.find("failure") is not None else case.find("error")
        if bad is not None:
            failed.append(f"{case.get('classname')}::{case.get('name')}: {(bad.get('message') or '')[:300]}")
    out.update(passed=counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"],
               failed=counts["failures"] + counts["errors"], skipped=counts["skipped"], failures=failed)
    if counts["skipped"] == counts["tests"]:
        skip = suite.find(".//skipped")
        out["skip_reason"] = skip.get("message") if skip is not None else None
    return out


# --- 2. the measures ------------------------------------------------------------------------------

def relative_differences(got: torch.Tensor, ref: torch.Tensor, names: list[str]) -> dict:
    """Per measure: the largest |got - ref| / |ref| over finite entries (|ref| floored at 1e-6 of the
    measure's largest magnitude, so values near 0 do not blow it up), and the entries where one side
    is NaN/inf and the other is not the same."""
    got, ref = got.detach().to("cpu", torch.float64), ref.detach().to("cpu", torch.float64)
    out = {}
    for k, name in enumerate(names):
        g, r = got[..., k], ref[..., k]
        same_nonfinite = (torch.isnan(g) & torch.isnan(r)) | (torch.isinf(g) & (g == r))
        finite = torch.isfinite(g) & torch.isfinite(r)
        mismatched = int((~finite & ~same_nonfinite).sum())
        rel = 0.0
        if finite.any():
            scale = float(r[finite].abs().max())
            denom = r[finite].abs().clamp_min(max(1e-6 * scale, torch.finfo(torch.float64).tiny))
            rel = float(((g[finite] - r[finite]).abs() / denom).max())
        out[name] = {"max_rel_diff": rel, "nonfinite_mismatches": mismatched}
    return out


def shortest_path_code(device: torch.device) -> str:
    """Which code computed the shortest paths of harmonic centrality on ``device``."""
    if device.type != "cuda":
        from engine.measures.condensed_paths import compiled_kernel

        how = "compiled with Numba" if compiled_kernel() is not None else "NumPy/SciPy twin (Numba missing)"
        return f"condensed pruned shortest paths, {how} (the CPU path; the CUDA kernels run only on CUDA tensors)"
    from engine.measures.shortest_paths import kernel_fallback_reason

    reason = kernel_fallback_reason(device)
    return "CUDA kernels kernels/condensed_minplus.cu (CuPy, NVRTC)" if reason is None else f"torch twin: {reason}"


def harmonic_step(device: torch.device, weights: list[torch.Tensor], n_cpu: int) -> dict:
    """Harmonic centrality alone, float64: the dense path (the CUDA kernels on a GPU) on every network,
    its torch twin on the same device on a few, and the CPU method (condensed, pruned, Numba) on
    ``n_cpu``; the largest relative difference of the device's values from the CPU's."""
    from engine.measures import condensed_paths, shortest_paths

    cpu = torch.device("cpu")
    # the dense twin on a CPU costs ~1.5 s per paper-size network: a CPU-mode run times only two
    n = weights[0].shape[0] if device.type == "cuda" else min(2, weights[0].shape[0])
    n_twin, n_cpu = min(n, 16 if device.type == "cuda" else 1), min(n_cpu, weights[0].shape[0])
    on_device = [w[:n].to(device) for w in weights]
    shortest_paths.harmonic_centrality([w[:1] for w in on_device])  # warm-up: kernel compile, allocator
    dense_s, values = timed(lambda: shortest_paths.harmonic_centrality(on_device), device)
    twin_s, _ = timed(lambda: shortest_paths.harmonic_centrality([w[:n_twin] for w in on_device], method="twin"), device)
    cpu_s, cpu_values = timed(lambda: condensed_paths.harmonic([w[:n_cpu].double().numpy() for w in weights]), cpu)
    common = min(n, n_cpu)
    ref = torch.as_tensor(cpu_values[:common])
    rel = float(((values[:common].cpu() - ref).abs() / ref.abs().clamp_min(1e-300)).max()) if common else 0.0
    out = {"networks": n, "dense_s": dense_s, "networks_per_s": n / dense_s, "code": shortest_path_code(device),
           "twin_networks": n_twin, "twin_s": twin_s, "twin_networks_per_s": n_twin / twin_s,
           "cpu_networks": n_cpu, "cpu_s": cpu_s, "cpu_networks_per_s": n_cpu / cpu_s, "max_rel_diff_vs_cpu": rel}
    print(f"  harmonic centrality: {out['networks_per_s']:.1f} networks/s ({out['code'].split(' (')[0]}); "
          f"twin on {device} {out['twin_networks_per_s']:.2f}/s; CPU {out['cpu_networks_per_s']:.1f}/s; "
          f"largest relative difference {rel:.1e}", flush=True)
    return out


def measures_step(device: torch.device, n: int, n_cpu: int) -> dict:
    from engine.measures import MEASURES, compute_measures

    cpu = torch.device("cpu")
    weights = random_network(1, n)  # uniform(-0.9, 0.9): the paper's initial weights, float32
    on_device = [w.to(device) for w in weights]
    names = list(MEASURES)
    out = {"sizes": PAPER, "networks": n, "cpu_networks": n_cpu, "names": names}
    for label, dtype, log_sc in (("float64", torch.float64, False), ("float32", torch.float32, True)):
        kw = dict(dtype=dtype, log_subgraph=log_sc)
        if device.type == "cuda":  # warm-up: kernel compile, solver handles, allocator
            compute_measures([w[:2] for w in on_device], **kw)
        total, values = timed(lambda: compute_measures(on_device, **kw), device)
        per = {}
        for name in names:
            per[name], _ = timed(lambda: compute_measures(on_device, [name], **kw), device)
        cpu_s, cpu_values = timed(lambda: compute_measures([w[:n_cpu] for w in weights], **kw), cpu)
        out[label] = {"log_subgraph": log_sc, "total_s": total, "networks_per_s": n / total,
                      "per_measure_s": per,
                      "cpu": {"networks": n_cpu, "total_s": cpu_s, "networks_per_s": n_cpu / cpu_s},
                      "speedup_vs_cpu": (n / total) / (n_cpu / cpu_s),
                      "vs_cpu": relative_differences(values[:n_cpu], cpu_values, names),
                      "nan_fraction": float(torch.isnan(values).float().mean())}
        print(f"  {label}: {n} networks in {total:.2f} s = {n / total:.1f} networks/s on {device}; "
              f"CPU {n_cpu / cpu_s:.2f} networks/s; largest relative difference "
              f"{max(d['max_rel_diff'] for d in out[label]['vs_cpu'].values()):.1e}", flush=True)
    out["shortest_paths"] = shortest_path_code(device)
    out["subgraph_method"] = _subgraph_method_name(device)
    out["harmonic"] = harmonic_step(device, weights, n_cpu)
    # What crosses to the host per snapshot: the (N, H, 8) measure values, as float64 (neuron_table).
    hidden = sum(PAPER[1:-1])
    out["host_bytes_per_1000_networks_per_snapshot"] = 1000 * hidden * len(names) * 8
    return out


# --- 3. training ----------------------------------------------------------------------------------

def synthetic_mnist(samples: int, seed: int = 0):
    """A Dataset of MNIST's shape (784 inputs in [0, 1], 10 classes): throughput ignores the pixels."""
    from engine.data.dataset import Dataset

    g = torch.Generator().manual_seed(seed)
    n_test = max(BATCH, min(MNIST[1], samples // 6))
    return Dataset("synthetic_mnist", torch.rand(samples, 784, generator=g),
                   torch.randint(0, 10, (samples,), generator=g), torch.rand(n_test, 784, generator=g),
                   torch.randint(0, 10, (n_test,), generator=g), n_classes=10)


def training_step(device: torch.device, n: int, samples: int, loop_n: int, loop_steps: int,
                  peak_size: int | None) -> dict:
    from engine.population.throughput import probe_population, step_rate
    from engine.population.train import TrainConfig, TrainSettings, train_population

    sizes = [784, 200, 100, 10]
    peak = matmul_peak(device, peak_size)
    data = synthetic_mnist(samples)
    x, y = data.X_train.to(device), data.y_train.to(device)
    steps = math.ceil(samples / BATCH)
    # The population: one epoch of SGD steps on the data held on the device, as train_population does
    # (network-steps per second, the run's own probe).
    pop_rate = step_rate(probe_population(sizes, n, BATCH, device)[0], x, y, batch=BATCH, steps=steps)
    pop_s = n * steps / pop_rate
    flops = flops_per_step(sizes, BATCH) * n * steps
    # The same networks' code one network at a time (N = 1), on the same device.
    loop = [probe_population(sizes, 1, BATCH, device, first=i)[0] for i in range(loop_n)]
    loop_rate = step_rate(loop, x, y, batch=BATCH, steps=loop_steps)
    # The whole of train_population (init, evaluations, one epoch) for the projection of a sweep.
    ids = list(range(n))
    setup_s, _ = timed(lambda: train_population(data, TrainSettings(train=TrainConfig(epochs=0)), ids,
                                                 device=device, snapshots="none", progress=False), device)
    one_s, _ = timed(lambda: train_population(data, TrainSettings(train=TrainConfig(epochs=1)), ids,
                                               device=device, snapshots="none", progress=False), device)
    out = {"sizes": sizes, "networks": n, "samples": samples, "test_samples": data.n_test, "batch": BATCH,
           "steps": steps, "epoch_steps_s": pop_s, "gflops": flops / pop_s / 1e9,
           "matmul_peak_gflops": peak / 1e9, "fraction_of_peak": flops / pop_s / peak,
           "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32) if device.type == "cuda" else None,
           "float32_matmul_precision": torch.get_float32_matmul_precision(),
           "net_steps_per_s": pop_rate,
           "loop": {"networks": loop_n, "steps": loop_steps, "net_steps_per_s": loop_rate},
           "vs_one_at_a_time": pop_rate / loop_rate,
           "train_population_s": {"epochs_0": setup_s, "epochs_1": one_s},
           "epoch_s": max(one_s - setup_s, pop_s)}
    print(f"  {n} networks, one epoch ({steps} steps of {BATCH}): {pop_s:.2f} s, {out['gflops']:.0f} GFLOP/s = "
          f"{100 * out['fraction_of_peak']:.0f}% of the {peak / 1e9:.0f} GFLOP/s float32 matmul peak"
          f"{_tf32_words(device)}; {out['vs_one_at_a_time']:.1f}x one network at a time", flush=True)
    return out


def _tf32_words(device: torch.device) -> str:
    if device.type != "cuda":
        return ""
    return " (TF32 on)" if torch.backends.cuda.matmul.allow_tf32 else " (TF32 off: CUDA-core float32)"


# --- 4. end to end and the projection of +sweep=full ----------------------------------------------

def end_to_end_step(device: torch.device, overrides: list[str]) -> dict:
    overrides = [f"backend={backend_name(device)}", *overrides]
    shown = "python -m engine.run " + " ".join(overrides)
    with tempfile.TemporaryDirectory() as tmp:
        wall, record, output = timed_run(overrides, Path(tmp) / "run")
    fallback = [line for line in output.splitlines() if "min-plus kernel cannot run" in line]
    out = {"command": shown, "wall_s": wall, "stages_s": record.get("seconds", {}), "device": record.get("device"),
           "networks": record.get("networks"), "dataset": record.get("dataset"),
           "kernel_fallback_warnings": fallback}
    print(f"  {shown}: {wall:.1f} s wall; " + ", ".join(f"{k} {v:.1f} s" for k, v in out["stages_s"].items()),
          flush=True)
    return out


def project_full_sweep(measures: dict | None, training: dict | None, e2e: dict | None) -> dict:
    """``+sweep=full`` from the measured rates, each stage scaled linearly (stated in ``assumptions``)."""
    stages: dict[str, float | None] = {"train": None, "measures": None, "merge": None, "analysis_report": None}
    if training:
        per_net = 1.0 / training["networks"]
        setup = training["train_population_s"]["epochs_0"] * per_net * FULL_NETWORKS
        measured_samples = training["samples"] + training["test_samples"]
        stages["train"] = sum(setup * (tr + te) / measured_samples
                              + FULL_EPOCHS * training["epoch_s"] * per_net * FULL_NETWORKS * tr / training["samples"]
                              for tr, te in FULL_SWEEP.values())
    if measures and "float64" in measures:
        stages["measures"] = len(FULL_SWEEP) * (FULL_EPOCHS + 1) * FULL_NETWORKS / measures["float64"]["networks_per_s"]
    if e2e and e2e.get("networks"):
        s, n_e2e = e2e["stages_s"], e2e["networks"]
        per_job = FULL_NETWORKS / n_e2e
        # Each job analyses its 1,000 networks, then the gather analyses all 4,000 again.
        stages["analysis_report"] = (s.get("analysis", 0.0) * per_job * 2 * len(FULL_SWEEP)
                                     + s.get("report", 0.0) * (len(FULL_SWEEP) + 1))
        stages["merge"] = s.get("merge", 0.0) * per_job * (FULL_EPOCHS + 1) * len(FULL_SWEEP)
    known = {k: v for k, v in stages.items() if v is not None}
    total = sum(known.values()) if known else None
    return {"sweep": "+sweep=full", "benchmarks": list(FULL_SWEEP), "networks_each": FULL_NETWORKS,
            "epochs": FULL_EPOCHS, "snapshots_measured": FULL_EPOCHS + 1, "stages_s": stages, "total_s": total,
            "dominant": max(known, key=known.get) if known else None,
            "complete": len(known) == len(stages),
            "assumptions": [
                "train: the measured one-epoch time of the population (train_population, with its test "
                "evaluation), scaled linearly to 1,000 networks and to each benchmark's training samples, x 30 "
                "epochs, plus the measured setup (init, epoch-0 evaluation)",
                "measures: 31 snapshots x 4,000 networks at the measured float64 rate of paper-size networks "
                "at their initial weights (trained weights may need more or fewer min-plus sweeps)",
                "merge, analysis, report: the end-to-end run's stage times scaled linearly by networks and "
                "snapshots; the gather's analysis of 4,000 networks counted like four jobs' analyses",
                "data: excluded (the four benchmarks must already be in the data cache on an offline machine)",
            ]}


def targets(result: dict) -> dict:
    out = {}
    m = result.get("measures") or {}
    if "float64" in m:
        s = 4000 / m["float64"]["networks_per_s"]
        out["measures_4000_paper_networks_s"] = {"value": s, "target": TARGETS["measures_4000_paper_networks_s"],
                                                 "met": s < TARGETS["measures_4000_paper_networks_s"]}
    t = result.get("training") or {}
    if "fraction_of_peak" in t:
        out["training_fraction_of_peak"] = {"value": t["fraction_of_peak"], "target": TARGETS["training_fraction_of_peak"],
                                            "met": t["fraction_of_peak"] >= TARGETS["training_fraction_of_peak"]}
    proj = result.get("projection") or {}
    if proj.get("total_s") is not None:
        out["sweep_full_s"] = {"value": proj["total_s"], "target": TARGETS["sweep_full_s"],
                               "met": proj["total_s"] < TARGETS["sweep_full_s"], "projected": True,
                               "complete": proj["complete"]}
    if "wall_s" in result:
        out["check_wall_s"] = {"value": result["wall_s"], "target": TARGETS["check_wall_s"],
                               "met": result["wall_s"] < TARGETS["check_wall_s"]}
    return out


# --- 5. reporting ---------------------------------------------------------------------------------

def markdown(result: dict) -> str:
    """The GPU section of RESULTS.md (printed in every mode, written to RESULTS.md on a full GPU run)."""
    tg = result.get("targets", {})
    m = result.get("measures")
    lines = [SECTION_BEGIN, "", *_header(result), *_test_lines(result.get("tests")),
             "| what | figure | target |", "|---|---|---|", *_measures_rows(m, tg)]
    if result.get("training"):
        lines.append(_training_row(result["training"], tg.get("training_fraction_of_peak")))
    if result.get("end_to_end"):
        lines.append(_end_to_end_row(result["end_to_end"]))
    p = result.get("projection")
    if p and p.get("total_s") is not None:
        lines.append(_projection_row(p, tg.get("sweep_full_s", {})))
    if m:
        lines += _per_measure_table(m)
    if result.get("errors"):
        lines += ["", "Steps that failed: " + "; ".join(f"{k}: {v.splitlines()[0]}" for k, v in result["errors"].items())]
    lines += ["", SECTION_END]
    return "\n".join(lines) + "\n"


def _met(target: dict | None) -> str:
    """': met' or ': missed' after a target's text, nothing where it was not measured."""
    return (": met" if target.get("met") else ": missed") if target else ""


def _header(result: dict) -> list[str]:
    """The section's title, command, date and environment."""
    env = result["environment"]
    return [f"## GPU check ({result['device']}{', quick' if result['quick'] else ''})", "",
            f"`{' '.join(['python -m benchmarks.gpu_check', *result['argv']])}`, {result['date']}, "
            f"{result.get('wall_s', float('nan')):.0f} s in all.", "",
            f"Device: {env['device']['name']}; driver {env.get('driver') or 'n/a'}; torch {env['torch']} "
            f"(CUDA {env['torch_cuda']}); CuPy {env.get('cupy')} (CUDA runtime {env.get('cupy_cuda_runtime', 'n/a')}, "
            f"NVRTC {env.get('nvrtc', 'n/a')}); float32 matmul precision `{env['float32_matmul_precision']}`, "
            f"TF32 {'on' if env['tf32_matmul'] else 'off'}.", ""]


def _test_lines(tests: dict | None) -> list[str]:
    """What the GPU tests gave (nothing where they were not run)."""
    if not tests:
        return []
    if "passed" not in tests:
        return [f"GPU tests: {tests.get('error', 'not run')}", ""]
    return [f"GPU tests (`pytest -m gpu`): {tests['passed']} passed, {tests['failed']} failed, "
            f"{tests['skipped']} skipped ({tests['wall_s']:.0f} s)"
            + (f"; skipped because: {tests['skip_reason']}" if tests.get("skip_reason") else "") + ".",
            *(f"- FAILED {f}" for f in tests["failures"]), ""]


def _measures_rows(m: dict | None, tg: dict) -> list[str]:
    """The measures' rows of the table: all eight per precision, harmonic centrality alone."""
    rows = []
    for label in ("float64", "float32") if m else ():
        if label not in m:
            continue
        r = m[label]
        worst = max(r["vs_cpu"].items(), key=lambda kv: kv[1]["max_rel_diff"])
        t = tg.get("measures_4000_paper_networks_s") if label == "float64" else None
        target = f"4,000 in < 60 s: {t['value']:.0f} s at this rate, {_met(t)[2:]}" if t else ""
        rows.append(f"| measures, {m['networks']} paper-size networks, {label}"
                    f"{' (log subgraph)' if r['log_subgraph'] else ''} | {r['networks_per_s']:.1f} networks/s "
                    f"({r['total_s']:.1f} s); CPU {r['cpu']['networks_per_s']:.2f} networks/s "
                    f"({r['speedup_vs_cpu']:.1f}x); largest relative difference from the CPU "
                    f"{worst[1]['max_rel_diff']:.1e} ({worst[0]}) | {target} |")
    if m and "harmonic" in m:
        h = m["harmonic"]
        rows.append(f"| harmonic centrality, {h['networks']} paper-size networks, float64 | "
                    f"{h['networks_per_s']:.1f} networks/s ({h['dense_s']:.2f} s); its torch twin on the same device "
                    f"{h['twin_networks_per_s']:.2f} networks/s; the CPU method {h['cpu_networks_per_s']:.1f} networks/s; "
                    f"largest relative difference from the CPU {h['max_rel_diff_vs_cpu']:.1e} | |")
    return rows


def _training_row(t: dict, target: dict | None) -> str:
    return (f"| training, {t['networks']} MNIST-size networks, one epoch ({t['steps']} steps of {t['batch']}) "
            f"| {t['epoch_steps_s']:.1f} s; {t['gflops']:.0f} GFLOP/s = {100 * t['fraction_of_peak']:.0f}% of "
            f"the {t['matmul_peak_gflops']:.0f} GFLOP/s float32 matmul peak"
            f"{'' if t['tf32_matmul'] is None else (' (TF32 on)' if t['tf32_matmul'] else ' (TF32 off)')}; "
            f"{t['vs_one_at_a_time']:.1f}x one network at a time | >= 70% of peak{_met(target)} |")


def _end_to_end_row(e: dict) -> str:
    return (f"| end to end, `{e['command']}` ({e['networks']} {e['dataset']} networks) | {e['wall_s']:.0f} s ("
            + ", ".join(f"{k} {v:.1f} s" for k, v in e["stages_s"].items()) + ") | |")


def _projection_row(p: dict, target: dict) -> str:
    stages = ", ".join(f"{k} {v / 60:.1f} min" for k, v in p["stages_s"].items() if v is not None)
    return (f"| `+sweep=full` projected (4 x 1,000 networks, measures at epochs 0..30) | "
            f"{p['total_s'] / 60:.1f} min ({stages}); dominated by {p['dominant']}"
            f"{'' if p['complete'] else '; incomplete: a step did not run'} | < 30 min{_met(target)} |")


def _per_measure_table(m: dict) -> list[str]:
    """Each measure's time and largest relative difference from the CPU, per precision."""
    labels = [lb for lb in ("float64", "float32") if lb in m]
    lines = ["", f"Shortest paths (harmonic centrality) ran on: {m['shortest_paths']}."
             + (f" Subgraph centrality: {m['subgraph_method']}." if m.get("subgraph_method") else ""), "",
             "| measure | " + " | ".join(f"{lb} s ({m['networks']} networks) | {lb} rel. diff." for lb in labels) + " |",
             "|---|" + "---|---|" * len(labels)]
    for name in m["names"]:
        cells = [f"{m[lb]['per_measure_s'][name]:.2f} | {m[lb]['vs_cpu'][name]['max_rel_diff']:.1e}"
                 + (f" ({m[lb]['vs_cpu'][name]['nonfinite_mismatches']} NaN/inf mismatches)"
                    if m[lb]['vs_cpu'][name]['nonfinite_mismatches'] else "")
                 for lb in labels]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def existing_section(results_md: Path) -> str:
    """The GPU section already in RESULTS.md (with a leading blank line), or ''."""
    if not results_md.exists():
        return ""
    text = results_md.read_text()
    if SECTION_BEGIN not in text or SECTION_END not in text:
        return ""
    return "\n" + text[text.index(SECTION_BEGIN):text.index(SECTION_END) + len(SECTION_END)] + "\n"


def write_section(results_md: Path, section: str) -> None:
    """Put ``section`` into RESULTS.md in place of the previous GPU section (appended if there is none)."""
    text = results_md.read_text() if results_md.exists() else ""
    if SECTION_BEGIN in text and SECTION_END in text:
        text = text[:text.index(SECTION_BEGIN)] + section.rstrip("\n") + text[text.index(SECTION_END) + len(SECTION_END):]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section
    with atomic_path(results_md) as tmp:
        tmp.write_text(text)


# --- the command ----------------------------------------------------------------------------------

def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    a = parse_args(argv)
    device = torch.device(a.device)
    t_start = time.perf_counter()
    result = {"benchmark": "gpu_check", "device": a.device, "quick": a.quick, "argv": argv,
              "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "environment": environment(device), "errors": {}}
    print(f"gpu_check on {result['environment']['device']['name']} ({a.device}); results: {a.out}", flush=True)

    def step(name: str, fn) -> None:
        print(f"== {name}", flush=True)
        t = time.perf_counter()
        try:
            result[name] = fn()
        except Exception as e:  # record it and go on: the other steps' figures still come back
            result["errors"][name] = f"{type(e).__name__}: {e}"
            print(f"  FAILED: {type(e).__name__}: {e}\n{traceback.format_exc()}", flush=True)
        result.setdefault("step_wall_s", {})[name] = time.perf_counter() - t
        result["wall_s"] = time.perf_counter() - t_start
        write_json(result, a.out)

    if not a.skip_tests:
        step("tests", run_gpu_tests)
        t = result.get("tests", {})
        if "passed" in t:
            print(f"  {t['passed']} passed, {t['failed']} failed, {t['skipped']} skipped", flush=True)
    step("measures", lambda: measures_step(device, a.networks, a.cpu_networks))
    step("training", lambda: training_step(device, a.train_networks, a.samples, a.loop_networks, a.loop_steps,
                                           a.peak_size))
    if not a.skip_e2e:
        step("end_to_end", lambda: end_to_end_step(device, a.e2e))
    result["projection"] = project_full_sweep(result.get("measures"), result.get("training"), result.get("end_to_end"))
    result["wall_s"] = time.perf_counter() - t_start
    result["targets"] = targets(result)
    write_json(result, a.out)
    md = markdown(result)
    if a.official:
        write_section(RESULTS / "RESULTS.md", md)
    print("\n" + md, flush=True)
    print(f"Results: {a.out}" + (f" and the GPU section of {RESULTS / 'RESULTS.md'}" if a.official else ""), flush=True)
    tests_failed = bool(result.get("tests", {}).get("failed")) or "error" in result.get("tests", {})
    return 1 if result["errors"] or tests_failed else 0


if __name__ == "__main__":
    sys.exit(main())
