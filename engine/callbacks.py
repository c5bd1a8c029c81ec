"""Hydra callbacks: gather a multirun's shards and benchmarks when the multirun ends."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger("engine")


class GatherCallback(Callback):
    """At the end of a multirun, merge every job's tables into ``<sweep dir>/gathered`` and report."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from engine.errors import EngineError
        from engine.gather import gather

        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            out = gather([sweep_dir], sweep_dir / "gathered", analysis_cfg=config.get("analysis"))
            print(f"gathered the multirun into {out}", flush=True)
        except EngineError as e:
            log.error("gather failed: %s", e)


class OutputDirCheck(Callback):
    """Before any work: the run (or sweep) directory must be writable, else one clear line and exit 2."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _check_writable(Path(str(config.hydra.run.dir)), "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _check_writable(Path(str(config.hydra.sweep.dir)), "hydra.sweep.dir")


def _check_writable(path: Path, key: str) -> None:
    import sys
    import tempfile

    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as e:
        print(f"error: cannot write the output directory {path}: {e.strerror or e}; "
              f"set {key}=<a writable directory>", file=sys.stderr, flush=True)
        sys.exit(2)


class DataCheck(Callback):
    """Before a multirun's first job: every benchmark it sweeps over must be available (files present or
    downloadable), so a missing data set is one clear error before any training starts."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        import sys

        from engine.data import check_available
        from engine.errors import EngineError

        names = swept_datasets(config)
        d = config.dataset
        for name in names:
            try:
                check_available(name, root=d.root, cache_dir=d.cache_dir, download=d.download)
            except EngineError as e:
                print(f"error: {e}", file=sys.stderr, flush=True)
                sys.exit(2)


def swept_datasets(config: DictConfig) -> list[str]:
    """The dataset names a multirun will use: from `dataset=a,b` overrides or hydra.sweeper.params."""
    values: list[str] = []
    params = config.hydra.sweeper.get("params") or {}
    for key, val in list(params.items()) + [tuple(o.split("=", 1)) for o in config.hydra.overrides.task
                                             if "=" in o]:
        key = key.lstrip("+~")
        if key in ("dataset", "dataset.name"):
            values += [v.strip() for v in str(val).split(",") if v.strip()]
    return list(dict.fromkeys(values)) or [config.dataset.name]
