"""Run every benchmark of the project and write one JSON and one Markdown table.

    python -m benchmarks [--quick] [--only NAME ...]

Each benchmark runs in its own process (thread settings and memory do not leak between them) and
writes its JSON; this collects them into one summary.json and RESULTS.md (ratios, FLOP/s fractions,
times, machine description). A full run writes into benchmarks/results/ (the committed figures the
README quotes); a --quick run writes only into benchmarks/results/quick/ and leaves those alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"          # full runs: the committed figures
QUICK = RESULTS / "quick"           # --quick runs: never the committed figures
sys.path.insert(0, str(ROOT))

from benchmarks.common import machine  # noqa: E402
from engine.storage import atomic_path, write_json  # noqa: E402

# name -> (script, args in quick mode, args in full mode, result files in quick mode, in full mode).
# A script given --out writes there; the others write RESULTS/<file> (quick files are then moved into
# QUICK). Several candidate files: the script names its file by device (cpu or cuda).
BENCHMARKS = {
    "train_population": ("train_population.py", ["--quick"], [],
                         ["train_population_cuda_quick.json", "train_population_cpu_quick.json"],
                         ["train_population_cuda.json", "train_population_cpu.json"]),
    "measures": ("measures_vs_networkx.py", ["--quick", "--population", "20", "--out", str(QUICK / "measures_quick.json")],
                 [], ["measures_quick.json"], ["measures.json"]),
    "analysis": ("analysis_scale.py", ["--networks", "250", "--out", str(QUICK / "analysis_quick.json")],
                 [], ["analysis_quick.json"], ["analysis.json"]),
    "end_to_end": ("end_to_end.py", ["--quick"], [], ["end_to_end_quick.json"], ["end_to_end.json"]),
    "sharding": ("sharding.py", ["--quick"], [], ["sharding_quick.json"], ["sharding.json"]),
    "inspect_files": ("inspect_files.py", ["--quick"], [], ["inspect_files_quick.json"], ["inspect_files.json"]),
}


def _result_file(files: list[str], quick: bool, since: float | None = None) -> Path | None:
    """The newest of a benchmark's result files (written at or after ``since`` if given); a quick
    result that a script wrote into RESULTS is moved into QUICK first."""
    found = []
    for name in files:
        if quick and (RESULTS / name).is_file():
            QUICK.mkdir(parents=True, exist_ok=True)
            os.replace(RESULTS / name, QUICK / name)
        path = (QUICK if quick else RESULTS) / name
        if path.is_file() and (since is None or path.stat().st_mtime >= since):
            found.append(path)
    return max(found, key=lambda p: p.stat().st_mtime, default=None)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="small sizes, a few minutes in all; writes benchmarks/results/quick/ only")
    ap.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS), default=None)
    a = ap.parse_args(argv)
    out_dir = QUICK if a.quick else RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    results, failed = {}, []
    for name, (script, quick, full, qfiles, ffiles) in BENCHMARKS.items():
        files = qfiles if a.quick else ffiles
        if a.only and name not in a.only:
            earlier = _result_file(files, a.quick)
            if earlier is not None:  # keep the table whole: the latest figure of a benchmark not rerun
                results[name] = json.loads(earlier.read_text())
            continue
        print(f"== {name}", flush=True)
        t, started = time.perf_counter(), time.time() - 1
        p = subprocess.run([sys.executable, str(HERE / script), *(quick if a.quick else full)], cwd=ROOT)
        path = _result_file(files, a.quick, since=started)
        if p.returncode != 0 or path is None:
            failed.append(name)
            continue
        res = json.loads(path.read_text())
        res["benchmark_wall_s"] = time.perf_counter() - t
        results[name] = res
    summary = {"machine": machine(), "quick": a.quick, "results": results, "failed": failed}
    write_json(summary, out_dir / "summary.json")
    md = markdown(summary)
    if not a.quick:  # keep the GPU section that python -m benchmarks.gpu_check wrote on a GPU machine
        from benchmarks.gpu_check import existing_section

        md += existing_section(RESULTS / "RESULTS.md")
    with atomic_path(out_dir / "RESULTS.md") as tmp:
        tmp.write_text(md)
    print(md)
    print(f"written: {out_dir / 'summary.json'}, {out_dir / 'RESULTS.md'}"
          + ("  (quick mode: the committed full results in benchmarks/results/ are untouched)" if a.quick else ""))
    return 1 if failed else 0


def markdown(summary: dict) -> str:
    m = summary["machine"]
    lines = [f"Machine: {m.get('processor')}, {m.get('cpu_threads')} threads, torch {m.get('torch')}"
             + (f", GPU {m['gpu']}" if m.get("gpu") else "") + ("  (quick mode)" if summary["quick"] else ""), "",
             "| benchmark | what | figure |", "|---|---|---|"]
    r = summary["results"]
    if "train_population" in r:
        t = r["train_population"]
        for row in t["results"]:
            lines.append(f"| training | {row['case']} {'-'.join(map(str, row['sizes']))}, {row['population']} networks "
                         f"vs one at a time | {row['ratio']:.1f}x; {row['population_gflops']:.0f} GFLOP/s = "
                         f"{100 * row['fraction_of_matmul_peak']:.0f}% of the {t['matmul_peak_gflops']:.0f} GFLOP/s "
                         "float32 matmul peak |")
        for name, o in (t.get("per_class_overhead") or {}).items():
            lines.append(f"| training | {name}, {o['networks']} networks: per-class counting (lost classes) vs none | "
                         f"SGD step {o['step_ratio']:.2f}x (epoch 1 only), test evaluation {o['evaluate_ratio']:.2f}x |")
    if "measures" in r:
        for key, val in _measure_rows(r["measures"]):
            lines.append(f"| measures | {key} | {val} |")
    for key, row in _ROWS.items():   # the benchmarks of one row each
        if key in r:
            lines.append("| " + " | ".join(row(r[key])) + " |")
    if summary["failed"]:
        lines.append(f"\nFailed: {', '.join(summary['failed'])}")
    return "\n".join(lines) + "\n"


# (stage, what, figure) of the benchmarks that give one row each
_ROWS = {
    "analysis": lambda a: ("analysis", f"{a['networks']} networks, {a['neuron_rows']} neuron rows, default settings",
                           f"{a['run_analysis_s']:.0f} s"),
    "end_to_end": lambda e: ("end to end", f"`python -m engine.run population.size={e['networks']}`",
                             f"{e['wall_s']:.0f} s (" + ", ".join(f"{k} {v:.0f} s" for k, v in e["stages_s"].items())
                             + ")"),
    "sharding": lambda s: ("sharding", f"{s['networks']} networks: 2 shards (joblib) + gather vs one run",
                           f"{s['ratio']:.2f}x ({s['two_shards_joblib_s']:.0f} s vs {s['unsharded_s']:.0f} s)"),
    "inspect_files": lambda i: ("own files", f"`engine.inspect` on {i['networks']} paper-size `.pt` files vs a run's "
                                "measures stage, per network",
                                f"{i['ratio']:.2f}x ({i['measure_files_per_network_s']:.3f} s vs "
                                f"{i['run_per_network_s']:.3f} s; the whole command {i['inspect_per_network_s']:.3f} s)"),
}


def _measure_rows(res: dict):
    for name, g in res.get("networks", {}).items():
        est = " (networkx partly estimated from subsamples)" if g["networkx"].get("estimated") else ""
        threads = f", {g['threads']} thread" if "threads" in g else ""
        yield (f"{name}: all 8 measures vs networkx{threads}",
               f"{g['speedup']:.0f}x ({g['engine']['total_s']:.3f} s vs {g['networkx']['total_s']:.1f} s){est}")
        yield from _harmonic_peer_rows(name, g["engine"]["per_measure_s"]["harmonic_centrality"],
                                       g.get("harmonic_peers", {}))
    pop = res.get("population")
    if isinstance(pop, dict):
        workers = f", {pop['worker_processes']} worker processes" if "worker_processes" in pop else ""
        yield f"{pop['networks']} paper-size networks, all 8 measures{workers}", f"{pop['total_s']:.1f} s"
        if "harmonic_s" in pop:
            yield from _harmonic_peer_rows(f"{pop['networks']} paper-size networks", pop["harmonic_s"],
                                           pop.get("harmonic_peers", {}))


def _harmonic_peer_rows(name: str, engine_s: float, peers: dict):
    """Harmonic centrality against the C/C++ libraries a user would pick (skipped when not installed)."""
    for peer, p in peers.items():
        if "total_s" in p:
            threads = f" ({p['threads']} thread{'s' if p['threads'] != 1 else ''})" if "threads" in p else ""
            yield (f"{name}: harmonic centrality vs {peer} {p['version']}{threads}",
                   f"{p['total_s'] / engine_s:.1f}x ({engine_s:.4f} s vs {p['total_s']:.3f} s; "
                   f"values within {p['max_rel_diff']:.0e})")


if __name__ == "__main__":
    sys.exit(main())
