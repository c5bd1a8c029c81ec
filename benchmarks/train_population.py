"""Population training vs a one-network-at-a-time loop, side by side in one run.

Reports throughput in network-steps per second, the population/loop ratio, and the population's
achieved FLOP/s as a fraction of this machine's own float32 matmul peak. Sizes: digits-size
(64-200-100-10) and MNIST-size (784-200-100-10) networks, batch 100 (the paper's). Also the cost of
the per-class bookkeeping (lost classes): an SGD step that counts silenced samples by class (epoch 1)
and a test evaluation that counts predictions by class (every epoch), against the plain ones,
interleaved in the same run.

    python benchmarks/train_population.py [--quick] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import best_time, machine, matmul_peak  # noqa: E402
from engine.population.throughput import probe_population, step_rate  # noqa: E402
from engine.population.train import flops_per_step  # noqa: E402
from engine.storage import write_json  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def population_rate(sizes, n_nets: int, steps: int, device, batch: int = 100) -> float:
    """Network-steps per second of ``n_nets`` networks trained as one population (the run's probe)."""
    net, x, y = probe_population(sizes, n_nets, batch, device)
    return step_rate(net, x, y, steps=steps, repeats=2)


def loop_rate(sizes, n_nets: int, steps: int, device, batch: int = 100) -> float:
    """The same networks one at a time (the same batched code with N=1), network-steps per second."""
    first, x, y = probe_population(sizes, 1, batch, device)
    nets = [first, *(probe_population(sizes, 1, batch, device, first=i)[0] for i in range(1, n_nets))]
    return step_rate(nets, x, y, steps=steps, repeats=2)


def per_class_overhead(sizes, n_nets: int, device, batch: int = 100, n_test: int = 1000, rounds: int = 40) -> dict:
    """Time ratios (with / without) of the per-class counting in an SGD step and in a test evaluation.
    The four calls alternate, one each per round, and the fastest of each over the rounds counts: many
    short timings, so that a machine shared with other work still gives each call some undisturbed runs."""
    net, x, y = probe_population(sizes, n_nets, batch, device)
    n_classes = sizes[-1]
    xt = torch.rand(n_test, sizes[0], device=device)
    yt = torch.randint(0, n_classes, (n_test,), device=device)
    by_class = torch.zeros(n_nets, n_classes, dtype=torch.int64, device=device)
    counts = torch.zeros(2, n_nets, n_classes, dtype=torch.int64, device=device)
    cases = {"step": lambda: net.sgd_step(x, y, 0.01), "step_by_class": lambda: net.sgd_step(x, y, 0.01, by_class),
             "evaluate": lambda: net.evaluate(xt, yt), "evaluate_by_class": lambda: net.evaluate(xt, yt, class_counts=counts)}
    best = {k: float("inf") for k in cases}
    for r in range(rounds):
        for k, fn in cases.items():
            best[k] = min(best[k], best_time(fn, device, repeats=1, warmup=int(r == 0)))
    return {"networks": n_nets, "test_samples": n_test, "rounds": rounds, **{f"{k}_s": v for k, v in best.items()},
            "step_ratio": best["step_by_class"] / best["step"],
            "evaluate_ratio": best["evaluate_by_class"] / best["evaluate"]}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small populations, few steps")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = p.parse_args(argv)
    device = torch.device(a.device)
    peak = matmul_peak(device)
    cases = [("digits", [64, 200, 100, 10]), ("mnist", [784, 200, 100, 10])]
    if device.type == "cuda":
        pops = {"digits": 4000, "mnist": 1000}
    else:
        pops = {"digits": 250, "mnist": 100} if a.quick else {"digits": 1000, "mnist": 500}
    loop_n = 8 if a.quick else 32
    steps = 3 if a.quick else 10
    rows = []
    for name, sizes in cases:
        n = pops[name]
        pop = population_rate(sizes, n, steps, device)  # network-steps / s
        loop = loop_rate(sizes, loop_n, steps, device)
        flops = flops_per_step(sizes, 100) * pop
        rows.append({"case": name, "sizes": sizes, "population": n, "loop_networks": loop_n,
                     "population_net_steps_per_s": pop, "loop_net_steps_per_s": loop, "ratio": pop / loop,
                     "population_gflops": flops / 1e9, "fraction_of_matmul_peak": flops / peak})
    overhead = {name: per_class_overhead(sizes, pops[name], device, rounds=10 if a.quick else 40) for name, sizes in cases}
    out = {"benchmark": "train_population", "device": str(device), "machine": machine(),
           "matmul_peak_gflops": peak / 1e9, "quick": a.quick, "results": rows, "per_class_overhead": overhead}
    name = f"train_population_{device.type}{'_quick' if a.quick else ''}.json"
    write_json(out, RESULTS / name)
    print(f"matmul peak (float32): {peak / 1e9:.1f} GFLOP/s on {device}")
    print("| case | networks | population net-steps/s | loop net-steps/s | ratio | GFLOP/s | of peak |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} {'-'.join(map(str, r['sizes']))} | {r['population']} | "
              f"{r['population_net_steps_per_s']:.0f} | {r['loop_net_steps_per_s']:.0f} | {r['ratio']:.1f}x | "
              f"{r['population_gflops']:.1f} | {100 * r['fraction_of_matmul_peak']:.0f}% |")
    for name, o in overhead.items():
        print(f"{name}: per-class counting costs {o['step_ratio']:.3f}x an SGD step (epoch 1 only) and "
              f"{o['evaluate_ratio']:.3f}x a test evaluation ({o['networks']} networks, {o['test_samples']} samples)")
    return out


if __name__ == "__main__":
    main()
