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

__all__ = ["RunTables", "load_run", "load_run_config"]

# The tables every report figure is drawn from, written by the report stage (engine.report.writer).
ANALYSIS_TABLES = ("networks", "correlations", "evolution", "early_prediction")


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
    """

    path: Path
    networks: pd.DataFrame
    neurons: pd.DataFrame | None = None
    curves: pd.DataFrame | None = None
    snapshots: pd.DataFrame | None = None
    config: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    analysis: dict[str, pd.DataFrame] = field(default_factory=dict)


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
    >>> run = tempfile.mkdtemp()
    >>> pd.DataFrame({"dataset": ["digits"], "network": [0], "test_acc": [0.9]}).to_parquet(f"{run}/networks.parquet")
    >>> tables = load_run(run)
    >>> len(tables.networks), tables.neurons, tables.summary
    (1, None, None)
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise EngineError(f"run directory {run_dir} does not exist (pass the Hydra run directory of a finished run)")
    nets_path = run_dir / "networks.parquet"
    if not nets_path.is_file():
        raise EngineError(f"{nets_path} is missing: is {run_dir} a run directory of `python -m engine.run`?")
    summary = None
    summary_path = run_dir / "analysis" / "summary.json"
    if summary_path.is_file():
        try:
            summary = json.loads(summary_path.read_text())
        except ValueError as e:
            raise EngineError(f"cannot read {summary_path}: {e}; rerun `python -m engine.report {run_dir}`") from e
    analysis = {name: _read(run_dir / "analysis" / f"{name}.parquet") for name in ANALYSIS_TABLES}
    return RunTables(run_dir, _read(nets_path), _read(run_dir / "neurons.parquet"), _read(run_dir / "curves.parquet"),
                     _read(run_dir / "snapshots.parquet"), _full_config(run_dir), summary,
                     {k: v for k, v in analysis.items() if v is not None})


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
    """The ``analysis`` section and ``backend`` of the run's saved Hydra config, or (None, None)."""
    path = Path(run_dir) / ".hydra" / "config.yaml"
    if not path.is_file():
        return None, None
    container = _container(path)
    backend = container.get("backend")
    if isinstance(backend, dict):  # the engine's config group: backend: {name: auto|cpu|gpu}
        backend = backend.get("name")
    backend = backend if isinstance(backend, str) else None
    return container.get("analysis"), backend
