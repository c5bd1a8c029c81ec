"""Hydra callbacks (output directory and data checks before any work, gather at the end of a multirun)
and the run directory's bookkeeping around Hydra: the job log file opened only once the run has
claimed its directory, and no empty run directory left behind by a run that failed before its claim."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from engine.errors import EngineError, cli_errors

log = logging.getLogger("engine")


class GatherCallback(Callback):
    """At the end of a multirun, merge every job's tables into ``<sweep dir>/gathered`` and report."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from engine.gather import gather

        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            out = gather([sweep_dir], sweep_dir / "gathered", analysis_cfg=config.get("analysis"))
            print(f"gathered the multirun into {out}", flush=True)
        except EngineError as e:
            log.error("gather failed: %s", e)


class OutputDirCheck(Callback):
    """Before any work: the run (or sweep) directory must be writable, else one clear line and exit 2.
    Remembers which directories of the run's path did not exist yet (Hydra creates them), so that a run
    that fails before claiming its directory can take them back (``remove_unused_run_dir``)."""

    @cli_errors(exit=True)
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        path = Path(os.path.abspath(str(config.hydra.run.dir)))
        _CREATED[:] = [p for p in (path, *path.parents) if not p.exists()]
        _check_writable(path, "hydra.run.dir")

    @cli_errors(exit=True)
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _check_writable(Path(str(config.hydra.sweep.dir)), "hydra.sweep.dir")


_CREATED: list[Path] = []  # directories of this (single) run's path that it created, deepest first


def _check_writable(path: Path, key: str) -> None:
    import tempfile

    missing = [p for p in (path, *path.parents) if not p.exists()]
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as e:
        _rmdir_empty(missing)
        raise EngineError(f"cannot write the output directory {path}: {e.strerror or e}; "
                          f"set {key}=<a writable directory>") from None


def _rmdir_empty(dirs) -> None:
    for d in dirs:
        try:
            d.rmdir()  # only when empty
        except OSError:
            break  # not empty (or gone): its parents are not empty either


def remove_unused_run_dir(run_dir: Path) -> None:
    """After a run failed before claiming ``run_dir``: remove it if it is empty and was made for this run
    (with the parents made for it). A single run knows what Hydra created from ``OutputDirCheck``; a
    multirun job's directory is made by Hydra for that job alone, so an empty one is removed."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    run_dir = Path(os.path.abspath(run_dir))
    if _CREATED and _CREATED[0] == run_dir:
        _rmdir_empty(_CREATED)
        return
    try:
        multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:  # not inside a Hydra job
        return
    if multirun:
        _rmdir_empty([run_dir])


class DeferredFileHandler(logging.Handler):
    """Hydra's job log file (``hydra.job_logging.handlers.file``), kept in memory until the run has claimed
    its directory (``open_deferred_logs``): a run refused by a directory, or failing validation, must not
    write a log file into it. Takes ``logging.FileHandler``'s arguments."""

    MAX_BUFFERED = 100_000

    def __init__(self, filename: str | None = None, mode: str = "a", encoding: str | None = None,
                 delay: bool = False, errors: str | None = None) -> None:
        super().__init__()
        self.filename, self.mode, self.encoding, self.errors = filename, mode, encoding, errors
        self._buffer: list[logging.LogRecord] = []
        self._file: logging.FileHandler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self._file is not None:
            self._file.emit(record)
        elif len(self._buffer) < self.MAX_BUFFERED:
            self._buffer.append(record)

    def open(self) -> None:
        """Open the file (appending, as Hydra does) and write what was logged so far."""
        if self._file is not None or not self.filename:
            return
        Path(self.filename).parent.mkdir(parents=True, exist_ok=True)
        self._file = logging.FileHandler(self.filename, mode=self.mode, encoding=self.encoding, errors=self.errors)
        self._file.setFormatter(self.formatter)
        for record in self._buffer:
            self._file.emit(record)
        self._buffer.clear()

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._buffer.clear()
        super().close()


def open_deferred_logs() -> None:
    """The run has claimed its directory: open the job log file(s) configured as ``DeferredFileHandler``."""
    loggers = [logging.getLogger(), *logging.root.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):  # (placeholders have none)
            if isinstance(handler, DeferredFileHandler):
                handler.open()


class DataCheck(Callback):
    """Before a multirun's first job: every benchmark it sweeps over must be available (files present or
    downloadable), so a missing data set is one clear error before any training starts."""

    @cli_errors(exit=True)
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from engine.data import check_available

        d = config.dataset
        for name in swept_datasets(config):
            check_available(name, root=d.root, cache_dir=d.cache_dir, download=d.download)


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
