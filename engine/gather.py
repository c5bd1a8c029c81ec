"""Merge the tables of several runs (benchmarks, shards of network ids) and analyse them as one.

    python -m engine.gather DIR [DIR ...] [--out OUT]

Each DIR is a run directory or a directory holding run directories (a Hydra multirun); every run
directory with a ``networks.parquet`` is merged. Shards of one population must agree where they
overlap: a network present twice with different results is an error, not a silent choice. Paired
runs (``population.compare``) are keyed by their ``arm`` column too, the reference arm's rows first;
paired and unpaired runs are not mixed.

The runs must share one protocol: their recorded settings (``.hydra/config.yaml``, else
``parts/config.json``) may differ only in the shard, in settings that change how but not what is
computed (chunk sizes, backend, progress, weight files, data locations, the analysis and report
stages, whose settings the gathered analysis takes anew) and, between benchmarks, in the benchmark
(``dataset.*``: runs of one benchmark must agree on those too). Anything else (epochs, hidden sizes,
seeds, learning rate, measures, snapshots, ...) is an error naming the keys that differ.

Every network the runs planned (ids 0..population.size-1 of each benchmark) must be there: a shard that
was not run, or whose run stopped before its merge, is an error naming it (and the command that
finishes an unfinished run); ``--allow-missing`` analyses what there is and the report says what is
missing. ``OUT/gathered.json`` records the runs, the analysis settings and the protocol, so that
``python -m engine.report OUT`` rebuilds the same numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from engine.config import HOW_SETTINGS
from engine.errors import EngineError, cli_errors
from engine.paths import path_problem, require_directory
from engine.run_dir import unfinished_run
from engine.schema import flat_settings, is_how
from engine.shared_docs import shared_docs
from engine.storage import write_json, write_parquet

__all__ = ["FREE", "gather", "main", "merge_tables"]

log = logging.getLogger("engine")

# Each table's key columns: a network present in two runs must agree there (a paired run adds ``arm``).
_KEYS = {"networks": ["dataset", "network"], "curves": ["dataset", "network", "epoch"],
        "neurons": ["dataset", "network", "epoch", "layer", "neuron"],
        "snapshots": ["dataset", "network", "epoch"]}


def _scan_runs(dirs: Iterable[Path], exclude: Path | None = None) -> tuple[list[Path], list[Path]]:
    """The finished runs (a ``networks.parquet``) and the unfinished ones (a claimed ``parts/config.json``
    but no ``networks.parquet``: stopped before their merge, or still running) under ``dirs``; earlier
    gathers' outputs, anything under ``exclude`` and the folders inside a run (its ``analysis/`` holds a
    ``networks.parquet`` too) are left out."""
    finished: list[Path] = []
    unfinished: list[Path] = []
    for d in dirs:
        d = require_directory(d, "", "pass run directories or a multirun directory")

        def kept(r: Path) -> bool:
            return (exclude is None or (r != exclude and exclude not in r.parents)) and not _is_gathered(r)

        found = sorted({p.parent for p in d.rglob("networks.parquet")})
        # a run's own folders are not runs (analysis/ keeps its networks.parquet there)
        runs = [r for r in found if not any(q in r.parents for q in found)]
        finished += [r for r in runs if kept(r) and r not in finished]
        claims = sorted({p.parent.parent for p in d.rglob("config.json") if p.parent.name == "parts"})
        unfinished += [r for r in claims if kept(r) and not (r / "networks.parquet").is_file() and r not in unfinished]
    return finished, unfinished


def _find_runs(dirs: Iterable[Path], exclude: Path | None = None) -> list[Path]:
    """The finished run directories under ``dirs`` (see ``_scan_runs``); an EngineError if there is none."""
    dirs = list(dirs)
    runs, unfinished = _scan_runs(dirs, exclude)
    if not runs:
        if unfinished:
            raise EngineError(f"no finished run under {', '.join(map(str, dirs))}: {unfinished_run(unfinished[0])}")
        raise EngineError(f"no networks.parquet under {', '.join(map(str, dirs))}: nothing to gather")
    return runs


# Settings that may differ between runs gathered as one population (dotted prefixes): the shard, Hydra's
# own node and the settings declared ``how`` in the schema (the same that a run may resume with changed).
FREE = ("population.shard", "hydra", *HOW_SETTINGS)


def _run_settings(run: Path) -> dict[str, Any] | None:
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
    flat = flat_settings(container) if isinstance(container, dict) else {"": container}
    stages = container.get("stages") if isinstance(container, dict) else None
    if isinstance(stages, list):  # which tables a run computed matters; analysis and report do not
        flat["stages (train, measures)"] = sorted(set(stages) & {"train", "measures"})
    return flat


def _check_same_protocol(runs: Sequence[Path]) -> None:
    """Refuse runs whose settings differ in anything but the shard and how-not-what settings (``FREE``);
    ``dataset.*`` is compared only between runs of the same benchmark."""
    settings = {r: _run_settings(r) for r in runs}
    unrecorded = [r for r, s in settings.items() if s is None]
    if unrecorded and len(runs) > 1:
        raise EngineError(f"{unrecorded[0]} has no recorded settings (.hydra/config.yaml or parts/config.json), "
                          "so it cannot be checked against the other runs: gather only runs of python -m engine.run")
    if len(runs) < 2:
        return

    def free(key: str) -> bool:
        return is_how(key, FREE)

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


# The example runs that merge_tables' and gather's docstrings share (engine.shared_docs).
_SHARD_RUNS = """
    >>> import json, tempfile, pandas as pd
    >>> from pathlib import Path
    >>> def shard(tmp, k, ids):   # a finished run of shard k/2 of a population of 4 networks
    ...     run = Path(tmp) / f"shard{k}"
    ...     (run / "parts").mkdir(parents=True)
    ...     claim = {"dataset": {"name": "digits"}, "population": {"size": 4, "shard": f"{k}/2"}}
    ...     _ = (run / "parts" / "config.json").write_text(json.dumps(claim))
    ...     pd.DataFrame({"dataset": "digits", "network": ids, "test_acc": 0.9}).to_parquet(run / "networks.parquet")
    ...     return run
    """


@shared_docs(shard_runs=_SHARD_RUNS)
def merge_tables(runs: Sequence[Path]) -> dict[str, pd.DataFrame]:
    """The runs' tables merged into one population, each sorted by its key columns.

    A network present in several runs (overlapping shards) must have the same rows in each; it is kept
    once. Paired runs (``population.compare``, an ``arm`` column) are keyed by their arm too, the
    reference arm's rows first.

    Parameters
    ----------
    runs : sequence of Path
        Finished run directories (each with a ``networks.parquet``; ``curves``, ``neurons`` and
        ``snapshots`` where they wrote them).

    Returns
    -------
    dict of str to pandas.DataFrame
        ``networks``, ``curves``, ``neurons``, ``snapshots`` (empty where no run wrote that table).

    Raises
    ------
    EngineError
        When a network's rows differ between runs, or paired and unpaired runs are mixed.

    Examples
    --------
    {{shard_runs}}
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     merged = merge_tables([shard(tmp, 1, [2, 3]), shard(tmp, 0, [0, 1, 2])])   # network 2 twice
    >>> merged["networks"]["network"].tolist(), len(merged["neurons"])
    ([0, 1, 2, 3], 0)
    """
    out: dict[str, pd.DataFrame] = {}
    for name, keys in _KEYS.items():
        frames = [pd.read_parquet(r / f"{name}.parquet") for r in runs if (r / f"{name}.parquet").exists()]
        if not frames:
            out[name] = pd.DataFrame()
            continue
        paired = {"arm" in f.columns for f in frames}
        if len(paired) > 1:
            raise EngineError(f"{name}: some runs are paired (population.compare, an arm column) and some are not: "
                              "gather the runs of each setting separately")
        df = pd.concat(frames, ignore_index=True)
        if "arm" in df.columns:   # paired runs (population.compare): one row per arm, arms in their first order
            keys = [keys[0], "arm", *keys[1:]]
        dup = df.duplicated(subset=keys, keep=False)
        if dup.any():
            first = df[dup].drop_duplicates()
            if first.duplicated(subset=keys).any():
                bad = first[first.duplicated(subset=keys, keep=False)][keys].head(3).to_dict("records")
                raise EngineError(f"{name}: the same rows differ between runs (e.g. {bad}); "
                                  "were the shards run with different settings?")
            df = df.drop_duplicates(subset=keys)
        if "arm" in df.columns:   # the reference arm (the first of population.compare) stays first
            arms = pd.Categorical(df["arm"], categories=list(dict.fromkeys(df["arm"])))
            df = df.loc[df[keys].assign(arm=arms).sort_values(keys, kind="stable").index]
        else:
            df = df.sort_values(keys, kind="stable")
        out[name] = df.reset_index(drop=True)
    return out


def _missing_networks(runs: Sequence[Path], unfinished: Sequence[Path], networks: pd.DataFrame) -> dict[str, str]:
    """Per benchmark whose merged ``networks`` lack some of the networks its runs planned (ids
    0..population.size-1): which ones, by shard where the runs were sharded, and which unfinished run
    directories hold them. Runs that recorded no settings are not checked (their plan is unknown)."""
    plans: dict[str, dict[str, Any]] = {}
    for run in [*runs, *unfinished]:
        s = _run_settings(run) or {}
        ds, size = s.get("dataset.name"), s.get("population.size")
        if ds is None or not isinstance(size, int):
            continue
        plan = plans.setdefault(str(ds), {"size": size, "shards": set(), "unfinished": []})
        plan["size"] = max(plan["size"], size)
        if s.get("population.shard") not in (None, "", "none"):
            plan["shards"].add(str(s["population.shard"]).split("/")[-1])
        if run in unfinished:
            plan["unfinished"].append(run)
    out: dict[str, str] = {}
    for ds, plan in sorted(plans.items()):
        size = plan["size"]
        have = set(networks.loc[networks["dataset"].astype(str) == ds, "network"].astype(int)) if len(networks) \
            else set()
        missing = sorted(set(range(size)) - have)
        if not missing:
            continue
        n = int(next(iter(plan["shards"]))) if len(plan["shards"]) == 1 else None
        gaps = []
        for first, last in _ranges(missing):
            shards = [i for i in range(n) if first <= i * size // n and (i + 1) * size // n - 1 <= last] if n else []
            covered = sum((i + 1) * size // n - i * size // n for i in shards) if n else 0
            what = f"networks {first}..{last}" if first != last else f"network {first}"
            if shards and covered == last - first + 1:
                what = ", ".join(f"shard {i}/{n}" for i in shards) + f" ({what})"
            gaps.append(what)
        text = (f"{len(missing)} of the {size} planned networks (population.size={size}) are missing: "
                + "; ".join(gaps))
        for run in plan["unfinished"]:
            text += f"; {unfinished_run(run)}"
        out[ds] = text
    return out


def _ranges(ids: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted ids as (first, last) runs of consecutive ids."""
    out: list[tuple[int, int]] = []
    for i in ids:
        if out and i == out[-1][1] + 1:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


def _check_out(out: Path, dirs: Sequence[Path]) -> None:
    """The output directory must not be one of the directories gathered, nor a run's directory (its tables
    would be overwritten), and must be a directory or not exist yet."""
    problem = path_problem(out)
    if problem and problem != "does not exist":
        raise EngineError(f"--out {out} {problem}; pass a directory for the gathered tables")
    target = out.resolve()
    for d in dirs:
        if Path(d).resolve() == target:
            raise EngineError(f"--out {out} is a directory being gathered: its tables would be overwritten by the "
                              f"merge; choose another output directory, e.g. --out {Path(d) / 'gathered'}")
    if (out / "parts" / "config.json").is_file() or ((out / "networks.parquet").is_file() and not _is_gathered(out)):
        raise EngineError(f"--out {out} is the directory of a run: its tables would be overwritten by the merge; "
                          f"choose another output directory, e.g. --out {out / 'gathered'}")


@shared_docs(shard_runs=_SHARD_RUNS)
def gather(dirs: Sequence[Path], out: Path | None = None, analysis_cfg=None, analyse: bool = True,
           allow_missing: bool = False) -> Path:
    """Merge the runs under ``dirs`` into one population in ``out``, then analyse and report it.

    ``out/gathered.json`` records the runs, what is missing, the protocol and the analysis settings, so
    that ``python -m engine.report OUT`` rebuilds the same numbers. The runs must share one protocol
    (see the module's text); a benchmark whose planned networks are not all there (a shard missing or
    unfinished) is an error naming them, unless ``allow_missing``: then the analysis goes on and its
    notes and conclusion say which networks are missing.

    Parameters
    ----------
    dirs : sequence of Path
        Run directories, or directories holding run directories (a Hydra multirun); earlier gathers'
        outputs under them are left out.
    out : Path, optional
        The output directory; default ``dirs[0]/gathered``. Not one of ``dirs``, nor a run's directory.
    analysis_cfg : mapping or AnalysisConfig, optional
        The ``analysis`` settings; default: those the first run recorded.
    analyse : bool, optional
        False only merges the tables (``--no-analysis``).
    allow_missing : bool, optional
        Gather even when planned networks are missing (``--allow-missing``).

    Returns
    -------
    Path
        ``out``: the merged ``networks``, ``curves``, ``neurons``, ``snapshots`` tables (Parquet, those
        that are not empty), ``gathered.json`` and, with ``analyse``, the analysis and report.

    Raises
    ------
    EngineError
        When a directory is missing or holds no finished run, ``out`` is unusable, the runs' settings
        differ (naming the keys), their rows differ for the same network, or planned networks are
        missing without ``allow_missing`` (naming them, by shard where the runs were sharded).

    Examples
    --------
    {{shard_runs}}
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = shard(tmp, 0, [0, 1])
    ...     try:
    ...         gather([Path(tmp)], analyse=False)
    ...     except EngineError as e:
    ...         refusal = str(e)
    ...     _ = shard(tmp, 1, [2, 3])
    ...     out = gather([Path(tmp)], analyse=False)
    ...     merged = pd.read_parquet(out / "networks.parquet")["network"].tolist()
    ...     where = out.relative_to(tmp).as_posix()
    >>> print(refusal)
    incomplete population: digits: 2 of the 4 planned networks (population.size=4) are missing: shard 1/2
    (networks 2..3) | finish the missing runs and gather again, or pass --allow-missing to analyse the
    networks there are (the report then says which are missing)
    >>> where, merged
    ('gathered', [0, 1, 2, 3])
    """
    dirs = [Path(d) for d in dirs]
    out = Path(out) if out else dirs[0] / "gathered"
    for d in dirs:
        require_directory(d, "", "pass run directories or a multirun directory")
    _check_out(out, dirs)
    runs, unfinished = _scan_runs(dirs, exclude=out)
    if not runs:
        _find_runs(dirs, exclude=out)   # the error that says why
    _check_same_protocol(runs)
    tables = merge_tables(runs)
    missing = _missing_networks(runs, unfinished, tables["networks"])
    if missing and not allow_missing:
        raise EngineError("incomplete population: " + " | ".join(f"{ds}: {t}" for ds, t in missing.items())
                          + " | finish the missing runs "
                          "and gather again, or pass --allow-missing to analyse the networks there are (the "
                          "report then says which are missing)")
    log.info("gathering %d run(s) into %s", len(runs), out)
    for ds, text in missing.items():
        log.warning("gathering an incomplete population (--allow-missing): %s: %s", ds, text)
    for name, df in tables.items():
        if len(df):
            write_parquet(df, out / f"{name}.parquet")
    record: dict[str, Any] = {"runs": [str(r) for r in runs], "missing": missing, "protocol": _protocol_of(runs)}
    if analyse:
        from engine.analysis import run_analysis
        from engine.config import AnalysisConfig
        from engine.report import write_report
        from engine.run_dir import load_run_config

        if analysis_cfg is None:
            analysis_cfg, _ = load_run_config(runs[0])
        analysis_cfg = AnalysisConfig.from_mapping(analysis_cfg)
        record.update(analysis=analysis_cfg.to_dict(), backend="cpu")
        write_json(record, out / "gathered.json")
        result = run_analysis(tables["networks"], tables["neurons"], analysis_cfg, snapshots=tables["snapshots"],
                              curves=tables["curves"], caveats=missing) if len(tables["neurons"]) else None
        write_report(out, result, analysis_cfg)
    else:
        write_json(record, out / "gathered.json")
    return out


def _protocol_of(runs: Sequence[Path]) -> dict[str, dict[str, Any]]:
    """Per benchmark, the settings that made its population (dataset, model, train, population without the
    shard, measures), nested as in the configuration, from the first run of that benchmark that recorded them."""
    out: dict[str, dict[str, Any]] = {}
    for run in runs:
        s = _run_settings(run)
        if not s or str(s.get("dataset.name")) in out:
            continue
        nested: dict[str, Any] = {}
        for key, value in s.items():
            group, _, name = key.partition(".")
            if group in _PROTOCOL_GROUPS and name and key != "population.shard":
                nested.setdefault(group, {})[name] = value
        out[str(s.get("dataset.name"))] = nested
    return out


# The configuration groups that shape a population (what the report's Protocol section states).
_PROTOCOL_GROUPS = ("dataset", "model", "train", "population", "measures")


@cli_errors()
def main(argv: Sequence[str] | None = None) -> int:
    """The command ``python -m engine.gather DIR [DIR ...] [--out OUT] [--no-analysis] [--allow-missing]``.

    Runs ``gather`` on the directories and prints where the result is.

    Parameters
    ----------
    argv : sequence of str, optional
        The run or multirun directories, then the options; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 when gathered; 2 when ``gather`` refused (its EngineError, what is wrong and how to fix it, as
        one line ``error: ...`` on stderr: ``engine.errors.cli_errors``). ``--help`` and malformed
        arguments exit through argparse (SystemExit 0 and 2).

    Examples
    --------
    >>> import contextlib, io
    >>> stderr = io.StringIO()
    >>> with contextlib.redirect_stderr(stderr):
    ...     status = main(["no_such_dir"])
    >>> status, stderr.getvalue()
    (2, 'error: no_such_dir does not exist; pass run directories or a multirun directory\\n')
    >>> try:
    ...     main(["--help"])
    ... except SystemExit as e:
    ...     status = e.code
    usage: python -m engine.gather [-h] ...
    >>> status
    0
    """
    p = argparse.ArgumentParser(prog="python -m engine.gather", description=__doc__.splitlines()[0])
    p.add_argument("dirs", nargs="+", type=Path, help="run directories or multirun directories")
    p.add_argument("--out", type=Path, default=None, help="output directory (default: FIRST_DIR/gathered)")
    p.add_argument("--no-analysis", action="store_true", help="only merge the tables")
    p.add_argument("--allow-missing", action="store_true",
                   help="gather even when planned networks are missing (a shard not run or not finished); the "
                        "report and its conclusion then say which networks are missing")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = gather(a.dirs, a.out, analyse=not a.no_analysis, allow_missing=a.allow_missing)
    print(f"gathered into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
