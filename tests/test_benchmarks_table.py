"""The benchmark table that RESULTS.md and the README quote: every comparison a result file holds is a row."""

from benchmarks.__main__ import markdown


def _summary() -> dict:
    engine = {"total_s": 0.2, "per_measure_s": {"harmonic_centrality": 0.1}}
    peers = {"igraph": {"version": "1.0", "total_s": 0.25, "max_rel_diff": 3e-15},
             "networkit": {"skipped": "pip install networkit"}}
    return {"machine": {"processor": "cpu", "cpu_threads": 2, "torch": "2"}, "quick": False, "failed": [],
            "results": {"measures": {
                "networks": {"golden": {"networkx": {"total_s": 60.0}, "engine": engine, "speedup": 300.0,
                                        "harmonic_peers": peers}},
                "population": {"networks": 100, "total_s": 10.0, "harmonic_s": 5.0,
                               "harmonic_peers": {"igraph": {"version": "1.0", "total_s": 20.0,
                                                             "max_rel_diff": 5e-15}}}}}}


def test_measure_rows_include_harmonic_peers_and_skip_missing_ones():
    md = markdown(_summary())
    assert "| measures | golden: all 8 measures vs networkx | 300x (0.200 s vs 60.0 s) |" in md
    assert "| measures | golden: harmonic centrality vs igraph 1.0 | 2.5x (0.1000 s vs 0.250 s; values within 3e-15) |" in md
    assert "| measures | 100 paper-size networks: harmonic centrality vs igraph 1.0 | 4.0x" in md
    assert "networkit" not in md   # not installed: no row, no made-up figure


def test_own_files_row():
    summary = _summary()
    summary["results"] = {"inspect_files": {"networks": 200, "ratio": 1.05, "measure_files_per_network_s": 0.105,
                                            "run_per_network_s": 0.1, "inspect_per_network_s": 0.12}}
    assert ("| own files | `engine.inspect` on 200 paper-size `.pt` files vs a run's measures stage, per network | "
            "1.05x (0.105 s vs 0.100 s; the whole command 0.120 s) |") in markdown(summary)
