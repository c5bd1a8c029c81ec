"""Time run_analysis on a synthetic population of the full sweep's size (no test; run by hand).

4 datasets x 1,000 networks x 300 hidden neurons (200 + 100) = 1.2 M neuron rows, default settings.
Writes benchmarks/results/analysis.json.

    python benchmarks/analysis_scale.py [--networks 1000] [--datasets 4] [--backend cpu]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.analysis import AnalysisConfig, run_analysis  # noqa: E402
from engine.analysis.synthetic import make_population  # noqa: E402
from engine.storage import write_json  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", type=int, default=1000, help="networks per dataset")
    ap.add_argument("--datasets", type=int, default=4)
    ap.add_argument("--backend", default="cpu", choices=["cpu", "gpu", "auto"])
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "analysis.json"))
    args = ap.parse_args()

    names = [f"ds{i}" for i in range(args.datasets)]
    t0 = time.perf_counter()
    networks, neurons, _ = make_population(names, networks=args.networks, layer_sizes=(200, 100),
                                           epochs=(30,), n_types=6, signal=2.0, weight_layers=3, seed=0)
    t_gen = time.perf_counter() - t0
    cfg = AnalysisConfig()
    t0 = time.perf_counter()
    res = run_analysis(networks, neurons, cfg, backend=args.backend)
    t_run = time.perf_counter() - t0
    out = {
        "what": "run_analysis on a synthetic population, default AnalysisConfig",
        "networks": int(len(networks)), "datasets": args.datasets, "neuron_rows": int(len(neurons)),
        "backend": args.backend, "cpu_count": os.cpu_count(), "machine": platform.processor() or platform.machine(),
        "generate_s": round(t_gen, 2), "run_analysis_s": round(t_run, 2),
        "parts_s": {k: round(v, 2) for k, v in res.summary["timings_s"].items()},
        "under_3_minutes": t_run < 180,
        "bon_fit_sample": {ds: v.get("fit_sample") for ds, v in res.summary["bag_of_neurons"].items()},
        "best_classifier": {ds: {k: v for k, v in b.items() if k != "confusion"}
                            for ds, b in res.summary["best_classifier"].items()},
    }
    write_json(out, args.out)
    print(f"run_analysis: {t_run:.1f} s for {len(networks)} networks / {len(neurons)} neuron rows "
          f"(parts: {out['parts_s']}) -> {args.out}")


if __name__ == "__main__":
    main()
