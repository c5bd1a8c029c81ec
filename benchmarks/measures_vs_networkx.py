"""The eight measures: networkx (the paper's way, engine/measures/reference.py) vs compute_measures,
side by side in one run, on one paper-size (784-200-100-10) network and on the paper's golden
network; then compute_measures on a population of paper-size networks. Harmonic centrality is also
timed against the fastest peers a user would pick, igraph and NetworKit (C/C++, when installed: pip
install igraph networkit), and against the engine's previous method (SciPy's Dijkstra from the
hidden neurons on a pruned graph), on the same positive graphs, one network after the other as a
user would call them, their values checked against the engine's.

Single networks: one thread everywhere (torch, NetworKit; igraph, SciPy and the engine's compiled
kernel use one anyway). The population: the engine spreads networks over one worker process per
core, NetworKit uses as many threads, igraph and SciPy one (they have no parallel mode).

    python benchmarks/measures_vs_networkx.py [--quick] [--population 100] [--device cpu]

--quick estimates the slow networkx measures from a subsample (harmonic: Dijkstra from 30 of the
300 hidden neurons; bipartite clustering: 30 nodes; second-order: 6 of its 1094 linear solves) and
scales them up; the output says which numbers are estimates. Writes benchmarks/results/measures.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine, sync  # noqa: E402
from engine.measures import MEASURES, REGISTRY, compute_measures  # noqa: E402
from engine.measures.compute import POOL_MIN_NETWORKS  # noqa: E402
from engine.measures.workers import worker_count  # noqa: E402
from engine.measures.reference import ReferenceNetwork  # noqa: E402
from engine.storage import write_json  # noqa: E402
from engine.weight_stack import layer_sizes  # noqa: E402

PAPER = [784, 200, 100, 10]
GOLDEN = Path(os.environ.get("ENGINE_GOLDEN_DIR", Path(__file__).resolve().parents[1] / "tests" / "data" / "golden"))


def random_network(seed: int, n: int = 1) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.empty(n, a, b, dtype=torch.float32).uniform_(-0.9, 0.9, generator=g)
            for a, b in zip(PAPER[:-1], PAPER[1:])]


def golden_network() -> list[torch.Tensor] | None:
    path = (GOLDEN / "mnist_network1.h5").resolve()
    if not path.exists():
        return None
    import h5py

    with h5py.File(path, "r") as f:
        return [torch.as_tensor(f[f"model_weights/dense_{k}/dense_{k}/kernel:0"][()])[None] for k in (1, 2, 3)]


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def networkx_times(weights: list[torch.Tensor], quick: bool) -> dict:
    """Seconds per measure for networkx on one network (graph construction counted separately), with
    NumPy's BLAS on one thread, like the engine (second-order centrality does 1,094 dense solves of
    1094 x 1094: 72 ms each with one thread, 540 ms with two, on the loaded 2-core machine of the
    committed figures); in quick mode the slow ones are estimated from a subsample."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return _networkx_times(weights, quick)


def _networkx_times(weights: list[torch.Tensor], quick: bool) -> dict:
    net = ReferenceNetwork([w[0] for w in weights])
    t_build, _ = timed(lambda: (net.signed, net.positive))
    hidden = net.hidden_nodes
    times, estimated = {}, {}
    for name in MEASURES:
        ref = REGISTRY[name].reference
        if quick and name in ("harmonic_centrality", "bipartite_clustering"):
            sample = hidden[:: len(hidden) // 30][:30]
            t, _ = timed(lambda: ref(net, sample))
            times[name] = t * len(hidden) / len(sample)
            estimated[name] = f"{len(sample)} of {len(hidden)} hidden neurons, scaled"
        elif quick and name == "second_order_centrality":
            # networkx does one dense solve per node (n = 1094 of them): time setup + 1 and + 6 solves
            t1, _ = timed(lambda: ref(net, hidden[:1]))
            t6, _ = timed(lambda: ref(net, hidden[:6]))
            per_solve = max((t6 - t1) / 5, 1e-9)
            times[name] = t1 + per_solve * (net.n_nodes - 1)
            estimated[name] = f"setup + 6 of {net.n_nodes} linear solves, scaled"
        else:
            times[name], _ = timed(lambda: ref(net))
    return {"graph_build_s": t_build, "per_measure_s": times, "estimated": estimated,
            "total_s": t_build + sum(times.values())}


def _positive_edges(weights: list[torch.Tensor], k: int):
    """(n_nodes, [(u, v)], [length]) of network k's positive graph: synapses > 0, weight as length."""
    import numpy as np

    sizes = layer_sizes(weights)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    edges, lengths = [], []
    for l, w in enumerate(weights):
        a = w[k].double().cpu().numpy()
        i, j = np.nonzero(a > 0)
        edges += list(zip((i + offsets[l]).tolist(), (j + offsets[l + 1]).tolist()))
        lengths += a[i, j].tolist()
    return int(offsets[-1]), edges, lengths, list(range(offsets[1], offsets[-2]))


def previous_engine_harmonic(weights: list, sources) -> "np.ndarray":
    """The engine's method before the condensed one, for the comparison: SciPy's Dijkstra from the
    hidden neurons on the positive graph, after dropping every edge that a strictly shorter 3-edge
    detour through the 4 lightest neighbours of its ends makes useless."""
    import numpy as np
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    def prune(w, k=4):
        dist = np.where(w > 0, w, np.inf)
        k = min(k, *dist.shape)
        ja = np.argsort(dist, axis=1)[:, :k]
        ib = np.argsort(dist, axis=0)[:k, :].T
        av, bv = np.take_along_axis(dist, ja, 1), np.take_along_axis(dist.T, ib, 1)
        alt = np.full(dist.shape, np.inf)
        for p in range(k):
            mid = dist[ib[None, :, :], ja[:, p, None, None]]
            np.minimum(alt, (av[:, p, None, None] + mid + bv[None, :, :]).min(2), out=alt)
        return np.where((w > 0) & (w <= alt), w, 0.0)

    ws = [prune(w) for w in weights]
    sizes = layer_sizes(ws)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    rows, cols, vals = [], [], []
    for l, w in enumerate(ws):
        i, j = np.nonzero(w > 0)
        rows += [i + offsets[l], j + offsets[l + 1]]
        cols += [j + offsets[l + 1], i + offsets[l]]
        vals += [w[i, j]] * 2
    n = int(offsets[-1])
    graph = csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    d = dijkstra(graph, directed=True, indices=sources)
    with np.errstate(divide="ignore"):
        return np.where(np.isfinite(d) & (d > 0), 1.0 / d, 0.0).sum(1)


def peer_harmonic(weights: list[torch.Tensor], engine_values: torch.Tensor, threads: int = 1) -> dict:
    """Seconds for harmonic centrality of every network in igraph, NetworKit (``threads`` threads)
    and the engine's previous method (graph construction timed apart), and their largest relative
    difference from the engine's values."""
    import numpy as np
    import scipy

    out: dict = {}
    n_net = weights[0].shape[0]
    graphs = [_positive_edges(weights, k) for k in range(n_net)]
    want = engine_values.double().cpu().numpy()

    def rel(vals) -> float:
        return float(np.max(np.abs(np.asarray(vals) - want) / np.abs(want)))

    try:
        import igraph
    except ImportError:
        out["igraph"] = {"skipped": "pip install igraph"}
    else:
        t_build, gs = timed(lambda: [igraph.Graph(n=n, edges=e, edge_attrs={"weight": w}) for n, e, w, _ in graphs])
        t, vals = timed(lambda: [g.harmonic_centrality(vertices=h, weights="weight", normalized=False)
                                 for g, (_, _, _, h) in zip(gs, graphs)])
        out["igraph"] = {"version": igraph.__version__, "build_s": t_build, "total_s": t, "threads": 1,
                         "max_rel_diff": rel(vals)}
    try:
        import networkit as nk
    except ImportError:
        out["networkit"] = {"skipped": "pip install networkit"}
    else:
        nk.setNumberOfThreads(threads)

        def build(n, e, w):
            g = nk.Graph(n, weighted=True)
            for (u, v), x in zip(e, w):
                g.addEdge(u, v, x)
            return g

        t_build, gs = timed(lambda: [build(n, e, w) for n, e, w, _ in graphs])

        def run_all():  # NetworKit computes every node (no subset); the hidden ones are compared
            res = []
            for g, (_, _, _, h) in zip(gs, graphs):
                hc = nk.centrality.HarmonicCloseness(g, normalized=False)
                hc.run()
                res.append(np.asarray(hc.scores())[h])
            return res

        t, vals = timed(run_all)
        out["networkit"] = {"version": nk.__version__, "build_s": t_build, "total_s": t, "all_nodes": True,
                            "threads": nk.getMaxNumberOfThreads(), "max_rel_diff": rel(vals)}
    arrays = [[w[k].double().cpu().numpy() for w in weights] for k in range(n_net)]
    t, vals = timed(lambda: [previous_engine_harmonic(a, h) for a, (_, _, _, h) in zip(arrays, graphs)])
    out["previous engine"] = {"version": f"SciPy {scipy.__version__} Dijkstra, pruned", "total_s": t, "threads": 1,
                              "max_rel_diff": rel(vals)}
    return out


def engine_times(weights: list[torch.Tensor], device: torch.device, repeats: int = 7) -> dict:
    weights = [w.to(device) for w in weights]
    compute_measures(weights)  # warm-up

    def best(fn):
        b = float("inf")
        for _ in range(repeats):
            sync(device)
            t = time.perf_counter()
            fn()
            sync(device)
            b = min(b, time.perf_counter() - t)
        return b

    total = best(lambda: compute_measures(weights))
    per = {name: best(lambda: compute_measures(weights, [name])) for name in MEASURES}
    return {"total_s": total, "per_measure_s": per}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="estimate the slow networkx measures from subsamples")
    ap.add_argument("--population", type=int, default=100, help="paper-size networks in the population run")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "measures.json"))
    args = ap.parse_args()
    device = torch.device(args.device)

    cases = {"random 784-200-100-10": random_network(0)}
    golden = golden_network()
    if golden is not None:
        cases["golden mnist_network1"] = golden
    results = {"machine": machine(), "device": str(device), "quick": args.quick, "networks": {}}
    torch_threads = torch.get_num_threads()
    for label, weights in cases.items():
        print(f"[{label}] networkx ...", flush=True)
        nx_t = networkx_times(weights, args.quick)
        print(f"[{label}] engine (one thread) ...", flush=True)
        torch.set_num_threads(1)  # one thread for the single-network comparisons
        en_t = engine_times(weights, device)
        harmonic = compute_measures([w.to(device) for w in weights], ["harmonic_centrality"])[:, :, 0]
        print(f"[{label}] harmonic centrality peers ...", flush=True)
        peers = peer_harmonic(weights, harmonic, threads=1)
        torch.set_num_threads(torch_threads)
        results["networks"][label] = {"networkx": nx_t, "engine": en_t, "threads": 1,
                                      "speedup": nx_t["total_s"] / en_t["total_s"], "harmonic_peers": peers}

    print(f"population of {args.population} paper-size networks ...", flush=True)
    population = [w.to(device) for w in random_network(1, args.population)]
    compute_measures([w[:POOL_MIN_NETWORKS] for w in population])  # warm-up, worker processes started
    sync(device)
    t_pop, values = timed(lambda: (compute_measures(population), sync(device))[0])
    t_harm, harmonic = timed(lambda: (compute_measures(population, ["harmonic_centrality"]), sync(device))[0])
    cores = worker_count() if device.type == "cpu" else 1
    results["population"] = {"networks": args.population, "total_s": t_pop,
                             "per_network_s": t_pop / args.population, "worker_processes": cores,
                             "nan_fraction": float(torch.isnan(values).float().mean()),
                             "harmonic_s": t_harm,
                             "harmonic_peers": peer_harmonic(population, harmonic[:, :, 0], threads=cores)}
    write_json(results, args.out)

    # Markdown report
    labels = list(results["networks"])
    print(f"\n### Measures: networkx vs engine ({device}, one thread"
          f"{', quick: starred networkx times are estimates' if args.quick else ''})\n")
    print("| measure | " + " | ".join(f"networkx s ({k}) | engine s | ratio" for k in labels) + " |")
    print("|---|" + "---|---|---|" * len(labels))
    for name in MEASURES:
        cells = []
        for k in labels:
            r = results["networks"][k]
            nx_s, en_s = r["networkx"]["per_measure_s"][name], r["engine"]["per_measure_s"][name]
            star = "*" if name in r["networkx"]["estimated"] else ""
            cells.append(f"{nx_s:.3f}{star} | {en_s:.4f} | {nx_s / en_s:,.0f}x")
        print(f"| {name} | " + " | ".join(cells) + " |")
    cells = []
    for k in labels:
        r = results["networks"][k]
        cells.append(f"{r['networkx']['total_s']:.2f} (+graph build) | {r['engine']['total_s']:.3f} | "
                     f"**{r['speedup']:,.0f}x**")
    print("| **all 8** | " + " | ".join(cells) + " |")
    p = results["population"]
    print(f"\nPopulation: {p['networks']} paper-size networks, all 8 measures: {p['total_s']:.1f} s "
          f"({p['per_network_s']:.3f} s per network) on {device}, {p['worker_processes']} worker processes.")
    print("\nHarmonic centrality against the peers (graph construction not counted):\n")
    print("| case | engine s | peer | threads | peer s | engine speed-up | largest relative difference |")
    print("|---|---|---|---|---|---|---|")
    for label, r in [(k, results["networks"][k]) for k in labels] + [(f"{p['networks']} networks", p)]:
        en_s = r["engine"]["per_measure_s"]["harmonic_centrality"] if "engine" in r else r["harmonic_s"]
        for peer, q in r["harmonic_peers"].items():
            if "skipped" in q:
                print(f"| {label} | {en_s:.3f} | {peer} | | skipped: {q['skipped']} | | |")
                continue
            print(f"| {label} | {en_s:.4f} | {peer} {q['version']}{' (all nodes)' if q.get('all_nodes') else ''} | "
                  f"{q['threads']} | {q['total_s']:.3f} | {q['total_s'] / en_s:.1f}x | {q['max_rel_diff']:.1e} |")
    print(f"Results: {args.out}")


if __name__ == "__main__":
    main()
