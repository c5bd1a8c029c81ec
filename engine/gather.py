"""Merge the tables of several runs (benchmarks, shards of network ids) and analyse them as one.

    python -m engine.gather DIR [DIR ...] [--out OUT]

Each DIR is a run directory or a directory holding run directories (a Hydra multirun); every run
directory with a ``networks.parquet`` is merged. Shards of one population must agree where they
overlap: a network present twice with different results is an error, not a silent choice.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from engine.errors import EngineError
from engine.storage import write_parquet

log = logging.getLogger("engine")

KEYS = {"networks": ["dataset", "network"], "curves": ["dataset", "network", "epoch"],
        "neurons": ["dataset", "network", "epoch", "layer", "neuron"]}


def find_runs(dirs: Iterable[Path], exclude: Path | None = None) -> list[Path]:
    runs: list[Path] = []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            raise EngineError(f"{d} is not a directory: pass run directories or a multirun directory")
        found = sorted({p.parent for p in d.rglob("networks.parquet")
                        if exclude is None or exclude not in p.parents})
        runs += [r for r in found if r not in runs]
    if not runs:
        raise EngineError(f"no networks.parquet under {', '.join(map(str, dirs))}: nothing to gather")
    return runs


def merge_tables(runs: Sequence[Path]) -> dict[str, pd.DataFrame]:
    out: dict[str, pd.DataFrame] = {}
    for name, keys in KEYS.items():
        frames = [pd.read_parquet(r / f"{name}.parquet") for r in runs if (r / f"{name}.parquet").exists()]
        if not frames:
            out[name] = pd.DataFrame()
            continue
        df = pd.concat(frames, ignore_index=True)
        dup = df.duplicated(subset=keys, keep=False)
        if dup.any():
            first = df[dup].drop_duplicates()
            if first.duplicated(subset=keys).any():
                bad = first[first.duplicated(subset=keys, keep=False)][keys].head(3).to_dict("records")
                raise EngineError(f"{name}: the same rows differ between runs (e.g. {bad}); "
                                  "were the shards run with different settings?")
            df = df.drop_duplicates(subset=keys)
        out[name] = df.sort_values(keys, kind="stable").reset_index(drop=True)
    return out


def gather(dirs: Sequence[Path], out: Path | None = None, analysis_cfg=None, analyse: bool = True) -> Path:
    dirs = [Path(d) for d in dirs]
    out = Path(out) if out else dirs[0] / "gathered"
    runs = find_runs(dirs, exclude=out)
    log.info("gathering %d run(s) into %s", len(runs), out)
    tables = merge_tables(runs)
    for name, df in tables.items():
        if len(df):
            write_parquet(df, out / f"{name}.parquet")
    if analyse:
        from engine.analysis import run_analysis
        from engine.report import load_run_config, write_report

        if analysis_cfg is None:
            analysis_cfg, _ = load_run_config(runs[0])
        result = run_analysis(tables["networks"], tables["neurons"], analysis_cfg) if len(tables["neurons"]) else None
        write_report(out, result, analysis_cfg)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.gather", description=__doc__.splitlines()[0])
    p.add_argument("dirs", nargs="+", type=Path, help="run directories or multirun directories")
    p.add_argument("--out", type=Path, default=None, help="output directory (default: FIRST_DIR/gathered)")
    p.add_argument("--no-analysis", action="store_true", help="only merge the tables")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        out = gather(a.dirs, a.out, analyse=not a.no_analysis)
    except EngineError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"gathered into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
