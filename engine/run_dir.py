"""Reading a finished run directory: its tables and the settings it recorded.

Shared by the report (``engine.report``) and by ``engine.gather``; it depends on neither.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import OmegaConf

from engine.errors import EngineError

__all__ = ["load_run", "load_run_config"]


def load_run(run_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None,
                                           pd.DataFrame | None]:
    """networks.parquet (required), neurons.parquet, curves.parquet and snapshots.parquet (optional) of a
    run directory."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise EngineError(f"run directory {run_dir} does not exist (pass the Hydra run directory of a finished run)")
    nets_path = run_dir / "networks.parquet"
    if not nets_path.is_file():
        raise EngineError(f"{nets_path} is missing: is {run_dir} a run directory of `python -m engine.run`?")
    return (_read(nets_path), _read(run_dir / "neurons.parquet"), _read(run_dir / "curves.parquet"),
            _read(run_dir / "snapshots.parquet"))


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
    try:
        conf = OmegaConf.load(path)
    except Exception as e:
        raise EngineError(f"cannot parse {path}: {e}") from e
    try:
        container = OmegaConf.to_container(conf, resolve=True)
    except Exception:  # interpolations that need Hydra's runtime: take the values as written
        container = OmegaConf.to_container(conf, resolve=False)
    backend = container.get("backend")
    if isinstance(backend, dict):  # the engine's config group: backend: {name: auto|cpu|gpu}
        backend = backend.get("name")
    backend = backend if isinstance(backend, str) else None
    return container.get("analysis"), backend
