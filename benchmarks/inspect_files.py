"""A population of a researcher's own files vs a run's measures stage, per network.

    python benchmarks/inspect_files.py [--quick] [--networks N]

Writes N paper-size (784-200-100-10) networks with the paper's init, each as a PyTorch state_dict
``.pt`` file (weights (out, in), biases), then, side by side in one run, each in a fresh process:
(a) a run's measures stage on the same weights as one stack (``neuron_table`` as the pipeline calls
it, plus the weight-statistics and spectral baselines, which the run counts in that stage too), timed
inside its process; (b) ``measure_files(DIR)``, what ``engine.inspect`` does with a directory
(reading every file, the measures, the baselines), timed inside its process; (c) the whole command
``python -m engine.inspect DIR --out OUT``, timed from outside (interpreter start and imports,
writing the tables too). Target: (b) takes no longer per network than (a). Writes results/inspect_files.json and results/inspect_files.png.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks.common import machine, networks_from_args  # noqa: E402
from engine.storage import atomic_path, write_json  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
SIZES = [784, 200, 100, 10]

_RUN_STAGE = """
import json, sys, time, torch
from safetensors.torch import load_file
from engine.analysis.spectral_stats import spectral_stats
from engine.analysis.weight_stats import weight_stats
from engine.measures import neuron_table
stack = load_file(sys.argv[1])
weights = [stack[f"layer{l + 1}"] for l in range(len(stack))]
t = time.perf_counter()
table = neuron_table(weights, dataset="bench", epoch=30, network_ids=list(range(weights[0].shape[0])),
                     orientation="in_out", dtype=torch.float64)
stats = (weight_stats(weights), spectral_stats(weights))
print(json.dumps({"seconds": time.perf_counter() - t, "rows": len(table)}))
"""

_FILES_STAGE = """
import json, sys, time
from engine.networks.population import measure_files
t = time.perf_counter()
measured = measure_files(sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - t, "rows": len(measured.neurons)}))
"""


def write_files(n: int, folder: Path) -> Path:
    """n state_dict files and the same weights as one (N, fan_in, fan_out) stack; returns the stack's path."""
    from safetensors.torch import save_file

    from engine.population.init import init_population

    weights = init_population(SIZES, list(range(n)))
    for k in range(n):
        state = {}
        for l, w in enumerate(weights):
            state[f"{2 * l}.weight"] = w[k].T.contiguous()          # nn.Linear: (out, in)
            state[f"{2 * l}.bias"] = torch.zeros(w.shape[2])
        torch.save(state, folder / f"net{k:04d}.pt")
    stack = folder.parent / "stack.safetensors"
    save_file({f"layer{l + 1}": w.contiguous() for l, w in enumerate(weights)}, str(stack))
    return stack


def _python(*args: str) -> str:
    """The output of ``python ARGS`` in a process of its own (a cold start, as a user's command has)."""
    p = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(p.stderr)
    return p.stdout


def main(argv=None) -> dict:
    a, n = networks_from_args(argv, __doc__, quick=40, full=200)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "files"
        folder.mkdir()
        stack = write_files(n, folder)
        stage = json.loads(_python("-c", _RUN_STAGE, str(stack)).strip().splitlines()[-1])
        files = json.loads(_python("-c", _FILES_STAGE, str(folder)).strip().splitlines()[-1])
        t = time.perf_counter()
        _python("-m", "engine.inspect", str(folder), "--out", str(Path(tmp) / "out"))
        inspect_s = time.perf_counter() - t
        import pandas as pd

        rows = len(pd.read_parquet(Path(tmp) / "out" / "neurons.parquet"))
    assert rows == stage["rows"] == files["rows"] == n * sum(SIZES[1:-1])
    out = {"benchmark": "inspect_files", "machine": machine(), "networks": n, "sizes": SIZES,
           "run_measures_stage_s": stage["seconds"], "measure_files_s": files["seconds"], "inspect_cli_s": inspect_s,
           "run_per_network_s": stage["seconds"] / n, "measure_files_per_network_s": files["seconds"] / n,
           "inspect_per_network_s": inspect_s / n,
           "ratio": files["seconds"] / stage["seconds"], "ratio_cli": inspect_s / stage["seconds"],
           "note": "machine shared with other work while measured; both sides in fresh processes, one after the other"}
    name = f"inspect_files{'_quick' if a.quick else ''}"
    write_json(out, RESULTS / f"{name}.json")
    _figure(out, RESULTS / f"{name}.png")
    print(f"{n} paper-size .pt files: measure_files {files['seconds']:.1f} s ({files['seconds'] / n:.3f} s/network; "
          f"the whole command python -m engine.inspect {inspect_s:.1f} s) vs a run's measures stage "
          f"{stage['seconds']:.1f} s ({stage['seconds'] / n:.3f} s/network): {out['ratio']:.2f}x "
          f"({out['ratio_cli']:.2f}x for the whole command)")
    return out


def _figure(out: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 2.4))
    ax = fig.add_subplot()
    labels = ["run's measures stage\n(one stack)", "measure_files(DIR)\n(read, measure, baselines)",
              "python -m engine.inspect DIR\n(the whole command)"]
    values = [out["run_per_network_s"], out["measure_files_per_network_s"], out["inspect_per_network_s"]]
    ax.barh(labels, values, color=["#4878a8", "#d08c3c", "#e0b070"])
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:.3f} s", va="center")
    ax.set_xlabel("seconds per network")
    ax.set_xlim(0, max(values) * 1.3)
    ax.set_title(f"{out['networks']} paper-size networks ({'-'.join(map(str, out['sizes']))})", fontsize=9)
    buf = __import__("io").BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue())


if __name__ == "__main__":
    main()
