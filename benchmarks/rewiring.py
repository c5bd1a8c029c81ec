"""What PA rewiring of the initial weights costs (engine.population.rewire), side by side in one run.

For N networks of one shape (default the paper's 784-200-100-10): seconds to draw their init, to draw
the rewiring's random streams alone, and to rewire them (streams included) on the device, against one
SGD epoch of the same networks on 60,000 samples at batch 100 (the paper's MNIST epoch, from the
measured step rate); on the CPU also the torch twin of the NumPy passes (what the GPU runs), on a
subset. With --check K, the first K networks rewired on the GPU are compared with the CPU's (equal
bit for bit expected: both take the same exponentials, and every other step is exact).

    python -m benchmarks.rewiring [--networks 1000] [--sizes 784 200 100 10] [--device cpu|cuda] [--check 16]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine, timed  # noqa: E402
from engine.population.init import init_population  # noqa: E402
from engine.population.throughput import probe_population, step_rate  # noqa: E402
from engine.population.rewire import RewiringStream, _rewire_layer, pa_rewire, strength_variance  # noqa: E402
from engine.storage import write_json  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--networks", type=int, default=1000)
    p.add_argument("--sizes", type=int, nargs="+", default=[784, 200, 100, 10])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--check", type=int, default=16, help="networks compared GPU against CPU (cuda only)")
    p.add_argument("--twin", type=int, default=64, help="networks the torch twin is timed on (cpu only)")
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args(argv)
    device = torch.device(a.device)
    seeds = list(range(a.networks))
    sizes = a.sizes

    t_init, init = timed(lambda: init_population(sizes, seeds, device=device), device)
    t_stream, _ = timed(lambda: [RewiringStream(s).next(r, c) for s in seeds
                                  for fi, fo in zip(sizes[:-1], sizes[1:]) for r, c in ((fo, fi), (fi, fo))], device)
    pa_rewire([w[:2] for w in init], seeds[:2])   # warm-up (CUDA context, kernels)
    t_rewire, rewired = timed(lambda: pa_rewire(init, seeds), device)
    ratio = (strength_variance(rewired) / strength_variance(init)).cpu()

    net, x, y = probe_population(sizes, a.networks, 100, device)   # the same initial networks (seeds 0..n-1)
    t_epoch = a.networks * 600 / step_rate(net, x, y, steps=5)     # 60,000 samples in steps of 100

    out = {"machine": machine(), "device": str(device), "sizes": sizes, "networks": a.networks,
           "seconds": {"init": t_init, "streams": t_stream, "rewire": t_rewire, "sgd_epoch_60k": t_epoch},
           "rewire_per_network_ms": 1e3 * t_rewire / a.networks,
           "rewire_vs_one_epoch": t_rewire / t_epoch,
           "strength_variance_ratio_median": float(ratio.median())}
    if device.type == "cpu" and a.twin:
        k = min(a.twin, a.networks)
        sub = [w[:k] for w in init]
        streams = lambda: [RewiringStream(s) for s in seeds[:k]]   # noqa: E731
        t_np, _ = timed(lambda: [_rewire_layer(w, streams(), use_torch=False) for w in sub], device)
        t_torch, _ = timed(lambda: [_rewire_layer(w, streams(), use_torch=True) for w in sub], device)
        out["twin_on_cpu"] = {"networks": k, "numpy_s": t_np, "torch_s": t_torch, "torch_over_numpy": t_torch / t_np}
    if device.type == "cuda" and a.check:
        k = min(a.check, a.networks)
        cpu = pa_rewire([w[:k].cpu() for w in init], seeds[:k])
        out["gpu_equals_cpu"] = all(torch.equal(g[:k].cpu(), c) for g, c in zip(rewired, cpu))
    path = a.out or RESULTS / f"rewiring_{device.type}.json"
    write_json(out, path)
    print(out)
    return out


if __name__ == "__main__":
    main()
