"""Hydra callbacks (output directory, every job's configuration and data checked before any work, gather at
the end of a multirun)
and the run directory's bookkeeping around Hydra: the job log file opened only once the run has
claimed its directory, and no empty run directory left behind by a run that failed before its claim."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from engine.errors import EngineError, cli_errors
from engine.ownership import remove_empty
from engine.paths import exists, path_problem

__all__ = ["DeferredFileHandler", "GatherCallback", "open_deferred_logs", "OutputDirCheck",
           "remove_unused_run_dir", "SweepCheck"]

log = logging.getLogger("engine")


class GatherCallback(Callback):
    """At the end of a multirun, merge every job's tables into ``<sweep dir>/gathered`` and report.

    Named in ``hydra.callbacks`` (conf/config.yaml); Hydra makes it with no arguments. A gather that
    fails (e.g. a job failed, so a shard is missing) is logged as an error: the jobs' own results stay.

    Parameters
    ----------
    config : omegaconf.DictConfig
        (of ``on_multirun_end``, passed by Hydra) The multirun's configuration: ``hydra.sweep.dir`` and
        the ``analysis`` settings of the gathered analysis.

    Examples
    --------
    >>> import io, logging, tempfile
    >>> from omegaconf import OmegaConf
    >>> logger, stream = logging.getLogger("engine"), io.StringIO()
    >>> handler = logging.StreamHandler(stream); logger.addHandler(handler)
    >>> with tempfile.TemporaryDirectory() as tmp:   # a sweep whose jobs wrote nothing
    ...     GatherCallback().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": tmp}}}))
    ...     logged = stream.getvalue().replace(tmp, "SWEEP")
    >>> logger.removeHandler(handler)
    >>> print(logged)
    gather failed: no networks.parquet under SWEEP: nothing to gather
    """

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
    that fails before claiming its directory can take them back (``remove_unused_run_dir``).

    Named in ``hydra.callbacks`` (conf/config.yaml); Hydra makes it with no arguments.

    Parameters
    ----------
    config : omegaconf.DictConfig
        (of ``on_run_start`` and ``on_multirun_start``, passed by Hydra) The run's configuration:
        ``hydra.run.dir``, or ``hydra.sweep.dir`` for a multirun.

    Raises
    ------
    SystemExit
        Status 2, after the line ``error: cannot use (or write) the output directory ...`` on stderr,
        when the directory is a file, lies under one, cannot be made or written, or its setting cannot
        be resolved.

    Examples
    --------
    >>> import contextlib, io, tempfile
    >>> from pathlib import Path
    >>> from omegaconf import OmegaConf
    >>> stderr = io.StringIO()
    >>> with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stderr(stderr):
    ...     (Path(tmp) / "results").touch()   # a file where the sweep's directory should be
    ...     try:
    ...         OutputDirCheck().on_multirun_start(OmegaConf.create({"hydra": {"sweep": {"dir": f"{tmp}/results"}}}))
    ...     except SystemExit as e:
    ...         status = e.code
    >>> status
    2
    >>> print(stderr.getvalue())
    error: cannot use the output directory .../results: it is a file, not a directory; set
    hydra.sweep.dir=<a writable directory>
    """

    @cli_errors(exit=True)
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        path = Path(os.path.abspath(_resolved_dir(config, "hydra.run.dir")))
        _CREATED[:] = [p for p in (path, *path.parents) if not exists(p)]
        _check_writable(path, "hydra.run.dir")

    @cli_errors(exit=True)
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _check_writable(Path(_resolved_dir(config, "hydra.sweep.dir")), "hydra.sweep.dir")


_CREATED: list[Path] = []  # directories of this (single) run's path that it created, deepest first


def _resolved_dir(config: DictConfig, key: str) -> str:
    """The directory setting ``key`` of Hydra's node, resolved; if it cannot be, an EngineError naming the
    run's setting at the root of it (e.g. dataset.name, which the default run directory uses), else ``key``.
    (The run's other settings are resolved inside the job, where ``${hydra:...}`` resolves.)"""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from engine.schema import resolved

    try:
        return str(OmegaConf.select(config, key))
    except OmegaConfBaseException as e:
        resolved(config)   # raises naming the setting, when the cause is one of the run's settings
        raise EngineError(f"{key} cannot be resolved ({str(e).splitlines()[0]}); give a plain directory") from None


def _check_writable(path: Path, key: str) -> None:
    import tempfile

    problem = path_problem(path)
    if problem not in (None, "does not exist"):   # a file, a link loop, a name too long, under a file...
        raise EngineError(f"cannot use the output directory {path}: it {problem}; set {key}=<a writable directory>")
    missing = [p for p in (path, *path.parents) if not exists(p)]
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as e:
        remove_empty(*missing)
        raise EngineError(f"cannot write the output directory {path}: {e.strerror or e}; "
                          f"set {key}=<a writable directory>") from None


def remove_unused_run_dir(run_dir: Path) -> None:
    """After a run failed before claiming ``run_dir``: remove it if it is empty and was made for this run.

    A single run knows what Hydra created from ``OutputDirCheck`` and removes those directories (the
    parents made for it too); a multirun job's directory is made by Hydra for that job alone, so an
    empty one is removed. Outside a Hydra job, a directory ``OutputDirCheck`` did not see is kept.

    Parameters
    ----------
    run_dir : Path
        The run's directory (``hydra.runtime.output_dir``).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from omegaconf import OmegaConf
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     run_dir = Path(tmp) / "outputs" / "digits"
    ...     OutputDirCheck().on_run_start(OmegaConf.create({"hydra": {"run": {"dir": str(run_dir)}}}))
    ...     made = run_dir.is_dir()
    ...     remove_unused_run_dir(run_dir)   # the run failed before its claim
    ...     left = list(Path(tmp).iterdir())
    >>> made, left
    (True, [])
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    run_dir = Path(os.path.abspath(run_dir))
    if _CREATED and _CREATED[0] == run_dir:
        remove_empty(*_CREATED)
        return
    try:
        multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:  # not inside a Hydra job
        return
    if multirun:
        remove_empty(run_dir)


class DeferredFileHandler(logging.Handler):
    """Hydra's job log file (``hydra.job_logging.handlers.file``), kept in memory until the run has claimed
    its directory (``open_deferred_logs``): a run refused by a directory, or failing validation, must not
    write a log file into it. Takes ``logging.FileHandler``'s arguments.

    Parameters
    ----------
    filename : str, optional
        The log file (made with its directory when opened); None never writes one.
    mode : str, optional
        ``"a"`` (append, Hydra's default) or ``"w"``.
    encoding, errors : str, optional
        As for ``open``.
    delay : bool, optional
        Accepted for ``logging.FileHandler``'s signature; the file is always opened late.

    Examples
    --------
    >>> import logging, tempfile
    >>> from pathlib import Path
    >>> logger = logging.getLogger("engine.example")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     handler = DeferredFileHandler(f"{tmp}/run/run.log")
    ...     logger.addHandler(handler)
    ...     logger.warning("validated")          # kept in memory: no file yet
    ...     before = Path(f"{tmp}/run").exists()
    ...     handler.open()                       # the run has claimed its directory
    ...     logger.warning("claimed")
    ...     logger.removeHandler(handler); handler.close()
    ...     text = Path(f"{tmp}/run/run.log").read_text()
    >>> before, text
    (False, 'validated\\nclaimed\\n')
    """

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
    """The run has claimed its directory: open the job log file(s) configured as ``DeferredFileHandler``.

    Every ``DeferredFileHandler`` of every logger opens its file and writes what it kept so far.

    Examples
    --------
    >>> import logging, os, tempfile
    >>> loggers = [logging.getLogger("engine.example"), logging.getLogger("engine.example.child")]
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     handlers = [DeferredFileHandler(f"{tmp}/{name}.log") for name in ("a", "b")]
    ...     for logger, handler in zip(loggers, handlers):
    ...         logger.addHandler(handler)
    ...     opened_before = sorted(os.listdir(tmp))
    ...     open_deferred_logs()                 # both handlers, on their two loggers
    ...     opened = sorted(os.listdir(tmp))
    ...     for logger, handler in zip(loggers, handlers):
    ...         logger.removeHandler(handler); handler.close()
    >>> opened_before, opened
    ([], ['a.log', 'b.log'])
    """
    loggers = [logging.getLogger(), *logging.root.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):  # (placeholders have none)
            if isinstance(handler, DeferredFileHandler):
                handler.open()


class SweepCheck(Callback):
    """Before a multirun's first job: every job's configuration, composed as its launcher will compose it,
    passes the schema (``engine.config.validate``), and every benchmark the jobs use has its data (present
    or downloadable), so that a bad value in any job, or missing data, is one line and exit status 2
    before any job starts. The jobs are enumerated as Hydra's basic sweeper does (``hydra.sweeper.params``
    and the command line's sweeps; any launcher); other sweepers choose their jobs as they go, and only
    their first configuration is checked here.

    Named in ``hydra.callbacks`` (conf/config.yaml); Hydra makes it with no arguments.

    Parameters
    ----------
    config : omegaconf.DictConfig
        (of ``on_multirun_start``, passed by Hydra) The multirun's configuration, with its ``hydra`` node
        (``hydra.sweeper``, ``hydra.overrides.task``).

    Raises
    ------
    SystemExit
        Status 2, after one line on stderr naming the job and the setting, when a job's configuration
        fails the schema or cannot be composed, or a benchmark's data is missing and cannot be downloaded.

    Examples
    --------
    Outside a Hydra app (no sweeper to enumerate the jobs), the multirun's own configuration is checked:

    >>> import contextlib, io
    >>> from omegaconf import OmegaConf
    >>> stderr = io.StringIO()
    >>> with contextlib.redirect_stderr(stderr):
    ...     try:
    ...         SweepCheck().on_multirun_start(OmegaConf.create({"hydra": {}, "train": {"lr": -1.0}}))
    ...     except SystemExit as e:
    ...         status = e.code
    >>> status
    2
    >>> print(stderr.getvalue())
    error: job 0 (no overrides): train.lr=-1.0: must be a finite number > 0 (default: 0.01); no job was started
    """

    @cli_errors(exit=True)
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from engine.config import validate
        from engine.data import check_available

        checked: set[tuple] = set()

        def check(i: int, overrides: list[str], job: DictConfig) -> None:
            try:
                cfg = validate(job)
            except EngineError as e:
                raise EngineError(f"job {i} ({' '.join(overrides) or 'no overrides'}): {e}; no job was started") \
                    from None
            d = cfg.dataset
            key = (d.name, d.root, d.cache_dir, d.download)
            if key not in checked:
                checked.add(key)
                check_available(d.name, root=d.root, cache_dir=d.cache_dir, download=d.download)

        _for_each_job(config, check)


def _for_each_job(config: DictConfig, check: Callable[[int, list[str], DictConfig], None]) -> int:
    """Call ``check(number, its swept overrides, composed configuration)`` for every job of the multirun ``config``, in
    the order the jobs will run; returns their count. Jobs are enumerated as Hydra's basic sweeper does
    (``hydra.sweeper.params`` and the command line) and composed as the launchers compose them (the config
    loader's ``load_sweep_config``, the job's number set, Hydra's job config current while ``check`` runs);
    for other sweepers, which choose jobs as they go, ``check`` sees the multirun's own configuration once.
    A job that cannot be composed is an EngineError naming it."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf, open_dict

    sweeper = str(OmegaConf.select(config, "hydra.sweeper._target_", default=""))
    if not sweeper.endswith("BasicSweeper") or not GlobalHydra.instance().is_initialized():
        check(0, [], config)
        return 1
    loader = GlobalHydra.instance().config_loader()
    params = OmegaConf.select(config, "hydra.sweeper.params")
    params = OmegaConf.to_container(params, resolve=False) if params is not None else {}
    # as written: an override's own interpolation is the job's to resolve (and to refuse, naming it)
    arguments = [f"{k}={v}" for k, v in params.items()] + OmegaConf.to_container(config.hydra.overrides.task,
                                                                                  resolve=False)
    try:
        parsed = OverridesParser.create(config_loader=loader).parse_overrides(arguments)
        jobs = [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
        swept = {o.get_key_element() for o in parsed if o.is_sweep_override()}
    except Exception as e:  # noqa: BLE001 - Hydra's parser and sweeper raise several types
        raise EngineError(f"the sweep cannot be expanded: {str(e).splitlines()[0]}") from None
    previous = HydraConfig.instance().cfg
    try:
        for i, overrides in enumerate(jobs):
            try:
                job = loader.load_sweep_config(config, list(overrides))
            except Exception as e:  # noqa: BLE001 - composition errors come in several types
                raise EngineError(f"job {i} ({' '.join(o for o in overrides if o.split('=', 1)[0] in swept)}) "
                                  "cannot be composed: "
                                  f"{str(e).splitlines()[0]}; no job was started") from None
            with open_dict(job):
                job.hydra.job.id = job.hydra.job.num = i
            HydraConfig.instance().set_config(job)   # ${hydra:...} resolves as in the job
            check(i, [o for o in overrides if o.split("=", 1)[0] in swept], job)
    finally:
        HydraConfig.instance().cfg = previous
    return len(jobs)
