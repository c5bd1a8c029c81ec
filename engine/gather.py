"""Merge the tables of several runs (benchmarks, shards of network ids) and analyse them as one.

    python -m engine.gather DIR [DIR ...] [--out OUT]

Each DIR is a run directory or a directory holding run directories (a Hydra multirun); every run
directory with a ``networks.parquet`` is merged. Shards of one population must agree where they
overlap: a network present twice with different results is an error, not a silent choice.

The runs must share one protocol: their recorded settings (``.hydra/config.yaml``, else
``parts/config.json``) may differ only in the shard, in settings that change how but not what is
computed (chunk sizes, backend, progress, weight files, data locations, the analysis and report
stages, whose settings the gathered analysis takes anew) and, between benchmarks, in the benchmark
(``dataset.*``: runs of one benchmark must agree on those too). Anything else (epochs, hidden sizes,
seeds, learning rate, measures, snapshots, ...) is an error naming the keys that differ.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from engine.errors import EngineError, cli_errors
from engine.storage import write_json, write_parquet

log = logging.getLogger("engine")

KEYS = {"networks": ["dataset", "network"], "curves": ["dataset", "network", "epoch"],
        "neurons": ["dataset", "network", "epoch", "layer", "neuron"],
        "snapshots": ["dataset", "network", "epoch"]}


def find_runs(dirs: Iterable[Path], exclude: Path | None = None) -> list[Path]:
    runs: list[Path] = []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            raise EngineError(f"{d} is not a directory: pass run directories or a multirun directory")
        found = sorted({p.parent for p in d.rglob("networks.parquet")
                        if (exclude is None or exclude not in p.parents) and not _is_gathered(p.parent)})
        runs += [r for r in found if r not in runs]
    if not runs:
        raise EngineError(f"no networks.parquet under {', '.join(map(str, dirs))}: nothing to gather")
    return runs


# Settings that may differ between runs gathered as one population (dotted prefixes).
FREE = ("population.shard", "population.chunk_size", "population.save_weights", "measures.chunk_size",
        "backend", "progress", "analysis", "stages", "hydra",
        "dataset.root", "dataset.cache_dir", "dataset.download")


def run_settings(run: Path) -> dict[str, Any] | None:
    """The settings a run recorded, flattened to dotted keys (``.hydra/config.yaml``, else the run
    directory's claim ``parts/config.json``), or None if it recorded none."""
    from omegaconf import OmegaConf

    path = run / ".hydra" / "config.yaml"
    try:
        if path.is_file():
            conf = OmegaConf.load(path)
            try:
                container = OmegaConf.to_container(conf, resolve=True)
            except Exception:  # interpolations that need Hydra's runtime: take the values as written
                container = OmegaConf.to_container(conf, resolve=False)
        elif (run / "parts" / "config.json").is_file():
            path = run / "parts" / "config.json"
            container = json.loads(path.read_text())
        else:
            return None
    except Exception as e:
        raise EngineError(f"cannot read the settings of {run} ({path}: {e})") from None
    flat: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict) and node:
            for k, v in node.items():
                walk(v, f"{prefix}.{k}" if prefix else str(k))
        else:
            flat[prefix] = node

    walk(container, "")
    stages = container.get("stages") if isinstance(container, dict) else None
    if isinstance(stages, list):  # which tables a run computed matters; analysis and report do not
        flat["stages (train, measures)"] = sorted(set(stages) & {"train", "measures"})
    return flat


def check_same_protocol(runs: Sequence[Path]) -> None:
    """Refuse runs whose settings differ in anything but the shard and how-not-what settings (``FREE``);
    ``dataset.*`` is compared only between runs of the same benchmark."""
    settings = {r: run_settings(r) for r in runs}
    unrecorded = [r for r, s in settings.items() if s is None]
    if unrecorded and len(runs) > 1:
        raise EngineError(f"{unrecorded[0]} has no recorded settings (.hydra/config.yaml or parts/config.json), "
                          "so it cannot be checked against the other runs: gather only runs of python -m engine.run")
    if len(runs) < 2:
        return

    def free(key: str) -> bool:
        return any(key == f or key.startswith(f + ".") for f in FREE)

    first = runs[0]
    by_dataset: dict[Any, Path] = {}
    for run in runs[1:]:
        a, b = settings[first], settings[run]
        diff = [k for k in sorted(set(a) & set(b)) if not free(k) and not k.startswith("dataset.") and a[k] != b[k]]
        if diff:
            raise _differ(first, run, a, b, diff)
    for run in runs:
        s = settings[run]
        ref = by_dataset.setdefault(s.get("dataset.name"), run)
        if ref is run:
            continue
        r = settings[ref]
        diff = [k for k in sorted(set(r) & set(s)) if k.startswith("dataset.") and not free(k) and r[k] != s[k]]
        if diff:
            raise _differ(ref, run, r, s, diff)


def _differ(a_run: Path, b_run: Path, a: dict, b: dict, keys: list[str]) -> EngineError:
    shown = "; ".join(f"{k}: {a[k]!r} vs {b[k]!r}" for k in keys[:8])
    more = f" (and {len(keys) - 8} more)" if len(keys) > 8 else ""
    return EngineError(f"{a_run} and {b_run} are runs of different settings ({shown}{more}): gather merges the "
                       "shards and benchmarks of one protocol only; gather the runs of each setting separately")


def _is_gathered(d: Path) -> bool:
    """An earlier gather's output (it marks itself with gathered.json; older ones: gathered/ with no parts/)."""
    return (d / "gathered.json").is_file() or (d.name == "gathered" and not (d / "parts").is_dir())


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
    check_same_protocol(runs)
    log.info("gathering %d run(s) into %s", len(runs), out)
    tables = merge_tables(runs)
    for name, df in tables.items():
        if len(df):
            write_parquet(df, out / f"{name}.parquet")
    write_json({"runs": [str(r) for r in runs]}, out / "gathered.json")
    if analyse:
        from engine.analysis import run_analysis
        from engine.report import write_report
        from engine.run_dir import load_run_config

        if analysis_cfg is None:
            analysis_cfg, _ = load_run_config(runs[0])
        result = run_analysis(tables["networks"], tables["neurons"], analysis_cfg, snapshots=tables["snapshots"],
                              curves=tables["curves"]) if len(tables["neurons"]) else None
        write_report(out, result, analysis_cfg)
    return out


@cli_errors()
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.gather", description=__doc__.splitlines()[0])
    p.add_argument("dirs", nargs="+", type=Path, help="run directories or multirun directories")
    p.add_argument("--out", type=Path, default=None, help="output directory (default: FIRST_DIR/gathered)")
    p.add_argument("--no-analysis", action="store_true", help="only merge the tables")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = gather(a.dirs, a.out, analyse=not a.no_analysis)
    print(f"gathered into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
