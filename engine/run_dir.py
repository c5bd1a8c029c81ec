"""Reading a finished run directory: its tables and the settings it recorded.

Shared by the report (``engine.report``) and by ``engine.gather``; it depends on neither.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import OmegaConf

from engine.errors import EngineError
from engine.paths import require_directory

__all__ = ["RunTables", "gather_caveats", "load_protocol", "load_run", "load_run_config", "read_record",
           "unfinished_run"]


@dataclass
class RunTables:
    """A finished run directory's tables, settings and results, by name.

    Attributes
    ----------
    path : Path
        The run directory.
    networks : pandas.DataFrame
        One row per network (networks.parquet): accuracy, loss, feature summaries, baselines.
    neurons, curves, snapshots : pandas.DataFrame or None
        Per hidden neuron measures, per-epoch learning curves, per-snapshot weight statistics (None
        where the run did not write them).
    config : dict or None
        The run's saved Hydra config (.hydra/config.yaml), None where absent.
    summary : dict or None
        The analysis' numbers (analysis/summary.json), None before the report stage.
    analysis : dict of str to pandas.DataFrame
        The tables the report's figures are drawn from (analysis/<name>.parquet: ``networks`` with
        performance classes and Bag-of-Neurons histograms, ``correlations``, ``evolution``,
        ``early_prediction``), those that exist.

    Examples
    --------
    >>> import pandas as pd
    >>> from pathlib import Path
    >>> tables = RunTables(Path("run"), pd.DataFrame({"network": [0, 1], "test_acc": [0.9, 0.8]}))
    >>> len(tables.networks), tables.neurons, tables.analysis
    (2, None, {})
    """

    path: Path
    networks: pd.DataFrame
    neurons: pd.DataFrame | None = None
    curves: pd.DataFrame | None = None
    snapshots: pd.DataFrame | None = None
    config: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    analysis: dict[str, pd.DataFrame] = field(default_factory=dict)


# The tables every report figure is drawn from, written by the report stage (engine.report.writer).
_ANALYSIS_TABLES = ("networks", "correlations", "evolution", "early_prediction")


def load_run(run_dir: str | Path) -> RunTables:
    """Read a run directory (of ``python -m engine.run``, ``engine.gather`` or ``engine.inspect``).

    Parameters
    ----------
    run_dir : str or Path
        The directory holding networks.parquet.

    Returns
    -------
    RunTables
        ``networks`` (required), ``neurons``, ``curves``, ``snapshots``, ``config``, ``summary`` and the
        report's ``analysis`` tables.

    Raises
    ------
    EngineError
        When the directory or its networks.parquet is missing, or a table or JSON file is damaged.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> from engine import load_run
    >>> with tempfile.TemporaryDirectory() as run:
    ...     networks = pd.DataFrame({"dataset": ["digits"], "network": [0], "test_acc": [0.9]})
    ...     networks.to_parquet(f"{run}/networks.parquet")
    ...     tables = load_run(run)
    >>> len(tables.networks), tables.neurons, tables.summary
    (1, None, None)
    """
    run_dir = require_directory(run_dir, "run directory", "pass the Hydra run directory of a run "
                                "(outputs/<dataset>/<date_time>), the output directory of engine.gather or that of "
                                "engine.inspect FILES --out DIR")
    nets_path = run_dir / "networks.parquet"
    if not nets_path.is_file():
        unfinished = unfinished_run(run_dir)
        if unfinished:
            raise EngineError(unfinished)
        raise EngineError(f"{nets_path} is missing: is {run_dir} a run directory of `python -m engine.run`?")
    summary = None
    summary_path = run_dir / "analysis" / "summary.json"
    if summary_path.is_file():
        try:
            summary = json.loads(summary_path.read_text())
        except ValueError as e:
            raise EngineError(f"cannot read {summary_path}: {e}; rerun `python -m engine.report {run_dir}`") from e
    analysis = {name: _read(run_dir / "analysis" / f"{name}.parquet") for name in _ANALYSIS_TABLES}
    return RunTables(run_dir, _read(nets_path), _read(run_dir / "neurons.parquet"), _read(run_dir / "curves.parquet"),
                     _read(run_dir / "snapshots.parquet"), _full_config(run_dir), summary,
                     {k: v for k, v in analysis.items() if v is not None})


def unfinished_run(run_dir: Path) -> str | None:
    """Why ``run_dir`` is a run of ``python -m engine.run`` that has not finished, with the command that finishes it.

    Such a run claimed the directory (``parts/config.json``) but never wrote its merged
    ``networks.parquet``: it was killed, or is still running.

    Parameters
    ----------
    run_dir : Path
        A directory.

    Returns
    -------
    str or None
        One sentence (how many chunks are done; the command from the run's ``.hydra/overrides.yaml``
        with its ``hydra.run.dir``, else "its command again"); None if it is no unfinished run.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     run_dir = Path(tmp)
    ...     nothing = unfinished_run(run_dir)
    ...     (run_dir / "parts").mkdir(); (run_dir / ".hydra").mkdir()
    ...     _ = (run_dir / "parts" / "config.json").write_text("{}")
    ...     (run_dir / "parts" / "digits_000000-000099.done").touch()
    ...     _ = (run_dir / ".hydra" / "overrides.yaml").write_text("- population.size=800\\n")
    ...     why = unfinished_run(run_dir).replace(tmp, "RUN")
    >>> print(nothing)
    None
    >>> print(why)
    RUN is a run that has not finished (no networks.parquet; parts/ holds 1 finished chunk(s)): it was stopped,
    or is still running; run `python -m engine.run population.size=800 hydra.run.dir=RUN` to resume and finish it
    """
    if not (run_dir / "parts" / "config.json").is_file() or (run_dir / "networks.parquet").is_file():
        return None
    done = len(list((run_dir / "parts").glob("*.done")))
    command = "its command again"
    try:
        overrides = OmegaConf.load(run_dir / ".hydra" / "overrides.yaml")
        args = [str(o) for o in overrides if not str(o).startswith("hydra.run.dir=")]
        command = "`python -m engine.run " + " ".join([*args, f"hydra.run.dir={run_dir}"]) + "`"
    except Exception:   # no record (a library call of engine.pipeline.run): the generic advice
        pass
    return (f"{run_dir} is a run that has not finished (no networks.parquet; parts/ holds {done} finished "
            f"chunk(s)): it was stopped, or is still running; run {command} to resume and finish it")


def _full_config(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / ".hydra" / "config.yaml"
    return _container(path) if path.is_file() else None


def _container(path: Path) -> dict[str, Any]:
    try:
        conf = OmegaConf.load(path)
    except Exception as e:
        raise EngineError(f"cannot parse {path}: {e}") from e
    try:
        return OmegaConf.to_container(conf, resolve=True)
    except Exception:  # interpolations that need Hydra's runtime: take the values as written
        return OmegaConf.to_container(conf, resolve=False)


def _read(path: Path) -> pd.DataFrame | None:
    """A Parquet table, None if the file is absent; a damaged file is an EngineError."""
    if not path.is_file():
        return None
    try:
        return pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several types for damaged files
        raise EngineError(f"cannot read {path}: {e}; the file is damaged, rerun the stage that writes it") from e


def load_run_config(run_dir: str | Path) -> tuple[dict[str, Any] | None, str | None]:
    """The ``analysis`` settings and ``backend`` that made the directory's results.

    Read from a run's saved Hydra config (``.hydra/config.yaml``), else the record of the gather that
    wrote the directory (``gathered.json``), else the settings the last analysis recorded in
    ``analysis/summary.json``.

    Parameters
    ----------
    run_dir : str or Path
        A run directory, or the output directory of ``engine.gather`` or ``engine.inspect``.

    Returns
    -------
    analysis : dict or None
        The ``analysis`` settings as recorded (None where none is).
    backend : str or None
        The backend's name (``auto``, ``cpu``, ``gpu``), None where none is recorded.

    Raises
    ------
    EngineError
        When the record that holds them (``.hydra/config.yaml``, ``gathered.json``, or
        ``analysis/summary.json``) cannot be parsed.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> saved = "analysis: {folds: 5}\\nbackend: {name: cpu}\\n"   # a run's .hydra/config.yaml
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     before = load_run_config(tmp)
    ...     (Path(tmp) / ".hydra").mkdir()
    ...     _ = (Path(tmp) / ".hydra" / "config.yaml").write_text(saved)
    ...     after = load_run_config(tmp)
    >>> before, after
    ((None, None), ({'folds': 5}, 'cpu'))
    """
    container = _full_config(Path(run_dir))
    if container is None:
        record = _gather_record(Path(run_dir)) or {}
        if record.get("analysis") is not None:
            return record["analysis"], record.get("backend")
        summary = read_record(Path(run_dir) / "analysis" / "summary.json") or {}
        if isinstance(summary.get("config"), dict):
            return summary["config"], summary.get("backend")
        return None, None
    backend = container.get("backend")
    if isinstance(backend, dict):  # the engine's config group: backend: {name: auto|cpu|gpu}
        backend = backend.get("name")
    backend = backend if isinstance(backend, str) else None
    return container.get("analysis"), backend


def load_protocol(run_dir: str | Path) -> dict[str, dict[str, Any]] | None:
    """Per benchmark, the settings that made the directory's population (what the report's Protocol states).

    Read from a run's record (``.hydra/config.yaml``, else its claim ``parts/config.json``) or a
    gather's (``gathered.json``).

    Parameters
    ----------
    run_dir : str or Path
        A run directory or the output directory of ``engine.gather``.

    Returns
    -------
    dict or None
        ``{dataset name: {group: settings}}`` for the groups ``dataset``, ``model``, ``train``,
        ``population``, ``measures`` that are recorded; None where none is.

    Raises
    ------
    EngineError
        When ``.hydra/config.yaml`` or ``gathered.json`` cannot be parsed.

    Examples
    --------
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     (Path(tmp) / "parts").mkdir()
    ...     claim = {"dataset": {"name": "digits"}, "train": {"epochs": 3}, "stages": ["train"]}
    ...     _ = (Path(tmp) / "parts" / "config.json").write_text(json.dumps(claim))
    ...     protocol = load_protocol(tmp)
    >>> protocol
    {'digits': {'dataset': {'name': 'digits'}, 'train': {'epochs': 3}}}
    """
    run_dir = Path(run_dir)
    groups = ("dataset", "model", "train", "population", "measures")
    container = _full_config(run_dir)
    if container is None and (run_dir / "parts" / "config.json").is_file():
        try:
            container = json.loads((run_dir / "parts" / "config.json").read_text())
        except (OSError, ValueError):
            container = None
    if isinstance(container, dict):
        nested = {g: container[g] for g in groups if isinstance(container.get(g), dict)}
        name = (nested.get("dataset") or {}).get("name")
        return {str(name): nested} if nested else None
    record = _gather_record(run_dir)
    protocol = (record or {}).get("protocol")
    return protocol if isinstance(protocol, dict) and protocol else None


def gather_caveats(run_dir: str | Path) -> dict[str, str]:
    """What the gather that wrote ``run_dir`` left out (``--allow-missing``): per benchmark, its missing networks.

    Parameters
    ----------
    run_dir : str or Path
        The output directory of ``engine.gather`` (any other directory gives {}).

    Returns
    -------
    dict of str to str
        ``{dataset name: which networks are missing, in words}``; {} when nothing is missing or the
        directory holds no ``gathered.json``.

    Raises
    ------
    EngineError
        When ``gathered.json`` is damaged.

    Examples
    --------
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = (Path(tmp) / "gathered.json").write_text(json.dumps({"missing": {"digits": "shard 1/2"}}))
    ...     caveats = gather_caveats(tmp)
    >>> caveats
    {'digits': 'shard 1/2'}
    """
    missing = (_gather_record(Path(run_dir)) or {}).get("missing")
    return dict(missing) if isinstance(missing, dict) else {}


def _gather_record(run_dir: Path) -> dict[str, Any] | None:
    return read_record(run_dir / "gathered.json", "gather the runs again")


def read_record(path: Path, fix: str = "rebuild it") -> dict[str, Any] | None:
    """A JSON object the engine wrote (a claim, a gather's record, a summary).

    Parameters
    ----------
    path : Path
        The JSON file.
    fix : str, optional
        What the error message tells the user to do when the file is damaged.

    Returns
    -------
    dict or None
        The object; None if the file is absent or holds something else than an object.

    Raises
    ------
    EngineError
        When the file cannot be read or parsed, ending in ``fix``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / "record.json"
    ...     absent = read_record(path)
    ...     _ = path.write_text('{"runs": ["a"]}')
    ...     record = read_record(path)
    ...     _ = path.write_text('{"runs": [')
    ...     try:
    ...         read_record(path, "gather the runs again")
    ...     except EngineError as e:
    ...         damaged = str(e).replace(tmp, "TMP")
    >>> absent, record
    (None, {'runs': ['a']})
    >>> print(damaged)
    cannot read TMP/record.json (Expecting value: line 1 column 11 (char 10)); gather the runs again
    """
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise EngineError(f"cannot read {path} ({e}); {fix}") from None
    return record if isinstance(record, dict) else None
