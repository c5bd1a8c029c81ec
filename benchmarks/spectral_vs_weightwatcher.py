"""spectral_stats (engine/analysis/spectral_stats.py) vs the weightwatcher package, and its time.

    python benchmarks/spectral_vs_weightwatcher.py [--networks 1000] [--compare 13] [--repeats 2]
        [--threads T] [--device cpu] [--skip-compare] [--out FILE]

1. Comparison: each of a few paper-size (784-200-100-10) float32 networks is wrapped as a torch
   nn.Sequential of nn.Linear layers (weight = kernel^T) and run through
   ``weightwatcher.WeightWatcher(model).analyze()`` with its default arguments; the largest relative
   difference of each metric over networks and layers is reported. The networks: the paper's MNIST
   network 1 (tests/data/golden, when present), then Gaussian, Student-t (heavy-tailed),
   rank-deficient and Gaussian-plus-rank-3-spike kernels in turn. weightwatcher is not a project
   dependency: install it outside the project's environment, e.g. ``pip install --no-deps --target
   /tmp/ww_site weightwatcher==0.7.7 powerlaw matplotlib-inline traitlets`` (its other requirements
   are already in the project's environment) and run with ``PYTHONPATH=/tmp/ww_site``; without it
   this part is skipped. WeightWatcher reports alpha = -1 where its fit fails; spectral_stats says NaN.
2. Time of spectral_stats on --networks paper-size networks (Gaussian kernels, float32), best of
   --repeats runs. On a shared 2-core machine more torch threads than free cores slow the batched
   LAPACK calls down several-fold: compare --threads 1 and 2.

Writes benchmarks/results/spectral_vs_weightwatcher.json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import machine, sync  # noqa: E402
from engine.analysis.spectral_stats import METRICS, spectral_stats  # noqa: E402
from engine.storage import write_json  # noqa: E402

PAPER = [784, 200, 100, 10]
GOLDEN = ROOT / "tests" / "data" / "golden" / "mnist_network1.h5"


def comparison_networks(count: int) -> tuple[list[torch.Tensor], list[str]]:
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    nets, kinds = [], []
    if GOLDEN.exists():
        import h5py
        with h5py.File(GOLDEN, "r") as f:
            nets.append([torch.as_tensor(f[f"model_weights/dense_{k}/dense_{k}/kernel:0"][()]).double()
                         for k in (1, 2, 3)])
        kinds.append("paper MNIST network 1 (trained)")
    makers = [
        ("gaussian", lambda a, b: torch.randn(a, b, generator=g, dtype=torch.float64) / math.sqrt(a)),
        ("student-t 2.5 dof",
         lambda a, b: torch.distributions.StudentT(2.5).sample((a, b)).double() / math.sqrt(a)),
        ("rank-deficient (rank 60)",
         lambda a, b: (torch.randn(a, min(60, b), generator=g, dtype=torch.float64)
                       @ torch.randn(min(60, b), b, generator=g, dtype=torch.float64)) / a),
        ("gaussian + rank-3 spike",
         lambda a, b: (torch.randn(a, b, generator=g, dtype=torch.float64)
                       + 3 * torch.randn(a, 3, generator=g, dtype=torch.float64)
                       @ torch.randn(3, b, generator=g, dtype=torch.float64)) / math.sqrt(a)),
    ]
    i = 0
    while len(nets) < count:
        kind, make = makers[i % len(makers)]
        nets.append([make(a, b) for a, b in zip(PAPER[:-1], PAPER[1:])])
        kinds.append(kind)
        i += 1
    # float32, as the engine trains them and as weightwatcher reads PyTorch weights (torch_T_to_np)
    stacks = [torch.stack([net[l] for net in nets]).float() for l in range(len(PAPER) - 1)]
    return stacks, kinds


def weightwatcher_frame(stacks: list[torch.Tensor]):
    import pandas as pd
    import weightwatcher as ww

    rows = []
    for b in range(stacks[0].shape[0]):
        layers = []
        for w in stacks:
            lin = torch.nn.Linear(w.shape[1], w.shape[2], bias=False, dtype=w.dtype)
            with torch.no_grad():
                lin.weight.copy_(w[b].T)
            layers.append(lin)
        model = torch.nn.Sequential(*layers)
        with contextlib.redirect_stdout(io.StringIO()):      # 0.7.7 prints "SMALL N PL FIT"
            details = ww.WeightWatcher(model=model).analyze()
        row = {}
        for _, r in details.iterrows():
            l = _layer_of(stacks, int(r["N"]), int(r["M"]))   # by shape: skipped layers have no row
            for m in METRICS:
                row[f"ww_l{l}_{m}"] = float(r[m])
        rows.append(row)
    return pd.DataFrame(rows), ww.__version__


def _layer_of(stacks, big, small) -> int:
    for l, w in enumerate(stacks, start=1):
        if (max(w.shape[1:]), min(w.shape[1:])) == (big, small):
            return l
    raise RuntimeError(f"no layer of shape {big}x{small}")


def compare(count: int) -> dict:
    stacks, kinds = comparison_networks(count)
    ours = spectral_stats(stacks)
    try:
        theirs, version = weightwatcher_frame(stacks)
    except ImportError as e:
        return {"skipped": f"weightwatcher not importable ({e})"}
    theirs = theirs.reindex(columns=ours.columns)
    out = {"weightwatcher_version": version, "networks": kinds, "max_rel_diff": {}, "max_rel_diff_by_layer": {}}
    for m in METRICS:
        cols = [c for c in ours.columns if c.endswith(f"_{m}")]
        a, b = ours[cols].to_numpy(), theirs[cols].to_numpy()
        rel = np.abs(a - b) / np.abs(b)
        out["max_rel_diff"][m] = float(np.nanmax(rel))
        out["max_rel_diff_by_layer"][m] = {c: float(np.nanmax(rel[:, j])) for j, c in enumerate(cols)}
        if np.isnan(a).any() or np.isnan(b).any():
            out.setdefault("nan", {})[m] = {"ours": int(np.isnan(a).sum()), "weightwatcher": int(np.isnan(b).sum())}
    out["alpha"] = {"ours": ours.filter(regex=r"_alpha$").round(6).to_dict("list"),
                    "weightwatcher": theirs.filter(regex=r"_alpha$").round(6).to_dict("list")}
    return out


def timing(networks: int, device: torch.device, repeats: int) -> dict:
    g = torch.Generator().manual_seed(1)
    stacks = [(torch.randn(networks, a, b, generator=g) / math.sqrt(a)).to(device)
              for a, b in zip(PAPER[:-1], PAPER[1:])]
    spectral_stats([w[:2] for w in stacks])            # warm-up
    times = []
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        frame = spectral_stats(stacks)
        sync(device)
        times.append(time.perf_counter() - t)
    assert frame.shape == (networks, 15) and frame.notna().all().all()
    return {"networks": networks, "device": str(device), "threads": torch.get_num_threads(),
            "seconds": min(times), "all_seconds": times,
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--networks", type=int, default=1000, help="networks in the timing run")
    ap.add_argument("--compare", type=int, default=13, help="networks compared with weightwatcher")
    ap.add_argument("--repeats", type=int, default=2, help="timing runs (the best is reported)")
    ap.add_argument("--device", type=torch.device, default=torch.device("cpu"))
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--skip-compare", action="store_true", help="time only")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "spectral_vs_weightwatcher.json")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    comparison = {"skipped": "--skip-compare"} if args.skip_compare else compare(args.compare)
    result = {"machine": machine(), "comparison": comparison,
              "timing": timing(args.networks, args.device, args.repeats)}
    write_json(result, args.out)
    c = result["comparison"]
    if "skipped" in c:
        print(c["skipped"])
    else:
        print(f"weightwatcher {c['weightwatcher_version']} on {len(c['networks'])} networks: "
              "largest relative difference")
        for m, v in c["max_rel_diff"].items():
            print(f"  {m:18s} {v:.2e}")
    t = result["timing"]
    print(f"spectral_stats on {t['networks']} paper-size networks ({t['device']}, {t['threads']} threads): "
          f"{t['seconds']:.2f} s (load average {t['load_average']})")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
