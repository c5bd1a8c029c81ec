"""Hydra entry point: ``python -m engine.run [overrides]``.

Examples: ``python -m engine.run`` (1,000 digits networks, paper settings),
``python -m engine.run dataset=mnist1d population.size=64 train.epochs=5``, ``+sweep=smoke``.
"""

from __future__ import annotations

import signal
import sys

from engine.errors import INTERRUPTED_EXIT_CODE

# Ctrl-C at every moment is one line and exit status 130 (``RESUME``): while the libraries below load, by
# this handler; from then on by ``cli_errors`` and the ``__main__`` block, as KeyboardInterrupt.
RESUME = ("interrupted (Ctrl-C): every finished chunk is kept (files are written whole or not at all); run the "
          "same command again to resume the run")


def _interrupted_at_start(signum, frame) -> None:
    print(RESUME, file=sys.stderr, flush=True)
    raise SystemExit(INTERRUPTED_EXIT_CODE)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, _interrupted_at_start)

import logging  # noqa: E402 - after the start-up handler, on purpose
from pathlib import Path  # noqa: E402

import hydra  # noqa: E402
import numpy as np  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from engine.config import register  # noqa: E402
from engine.errors import EngineError, cli_errors  # noqa: E402
from engine.overrides import check_overrides  # noqa: E402
from engine.resources import conf_dir  # noqa: E402

__all__ = ["main", "RESUME", "run_job"]

log = logging.getLogger("engine")
register()


def _per_arm(nets):
    """(arm, its networks) of a paired run's table, (None, the table) otherwise; nothing for no table."""
    if nets is None or not len(nets):
        return []
    return list(nets.groupby("arm", sort=False)) if "arm" in nets else [(None, nets)]


def _sd(acc: np.ndarray) -> float:
    """The sample sd, as the analysis states it (``predictability.acc_sd``); 0 for one network."""
    return float(np.std(acc, ddof=1)) if len(acc) > 1 else 0.0


def _print_summary(summary) -> None:
    nets = summary.tables.get("networks")
    lines = [f"run directory: {summary.run_dir}", f"device: {summary.device}"]
    for arm, nets in _per_arm(nets):   # a paired run (population.compare): one line per arm
        ok = nets[~nets["diverged"]]
        acc = ok["test_acc"].to_numpy()
        lines.append(f"{summary.dataset}{'' if arm is None else f' arm {arm}'}: {len(nets)} networks "
                     f"({int(nets['diverged'].sum())} diverged); "
                     f"test accuracy mean {np.mean(acc):.4f}, sd {_sd(acc):.4f}, "
                     f"min {np.min(acc):.4f}, max {np.max(acc):.4f}" if len(acc) else "all networks diverged")
    if summary.chunks_resumed:
        lines.append(f"resumed {summary.chunks_resumed} finished chunk(s), ran {summary.chunks_done}")
    neurons = summary.tables.get("neurons")
    if neurons is not None and len(neurons):
        lines.append(f"neurons.parquet: {len(neurons)} rows (epochs {sorted(neurons['epoch'].unique().tolist())})")
    lines.append("time: " + ", ".join(f"{k} {v:.1f} s" for k, v in summary.seconds.items()))
    outputs = [p.name + ("/" if p.is_dir() else "") for p in sorted(Path(summary.run_dir).glob("*"))
               if p.name not in ("parts", "weights") and not p.name.startswith(".")]
    lines.append("outputs: " + ", ".join(outputs))
    report = Path(summary.run_dir) / "report.html"
    if report.is_file():
        lines.append(f"report: {report}")
    for headline in (summary.conclusion or {}).get("datasets", {}).values():
        lines.append("conclusion: " + headline["headline"])
    for headline in (summary.conclusion or {}).get("paired", {}).values():   # a paired run's result, last
        lines.append("paired: " + headline["headline"])
    print("\n".join(lines), flush=True)


# conf/ beside the package in a clone or editable install, engine/conf inside an installed wheel.
@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")
def main(cfg: DictConfig) -> None:
    """The command ``python -m engine.run [overrides]``: one run of the configuration Hydra composes from
    conf/ and the overrides (``-m``/``--multirun``: one run per job of a sweep).

    Parameters
    ----------
    cfg : omegaconf.DictConfig
        Given by Hydra (``hydra.main``): the composed configuration. Called as ``main()``, the function
        reads the command line (``sys.argv``).

    Examples
    --------
    Shown as commands, not run as doctests: Hydra's ``main`` is an application (it reads ``sys.argv``,
    configures logging and writes its outputs under ``outputs/``); tests/test_run_cli.py runs it::

        python -m engine.run                  # 1,000 digits networks, the paper's settings
        python -m engine.run dataset=mnist1d population.size=64 train.epochs=5
        python -m engine.run +sweep=smoke     # a sweep of configurations (a multirun)
        python -m engine.run --help           # the settings and their defaults

    Exit status: 0 when the run finished (its summary printed); 2 after one line ``error: ...`` on
    stderr (an unknown or invalid setting, missing data, a run directory that is in use or holds a run
    of other settings); 130 after Ctrl-C, with the line ``RESUME`` (run the same command again to resume).
    """
    run_job(cfg)   # (Hydra names the job after the task function's file: this one stays undecorated)


@cli_errors(exit=True, interrupted=RESUME)
def run_job(cfg: DictConfig) -> None:
    """One run of ``cfg`` in Hydra's output directory, its summary printed (the body of ``main``).

    An EngineError is one line ``error: ...`` on stderr and exit status 2 (``cli_errors``); a run refused
    or failing before it claims its directory leaves no empty directory behind.

    Parameters
    ----------
    cfg : omegaconf.DictConfig
        The composed configuration, while Hydra's job configuration is set (``HydraConfig``: its
        ``runtime.output_dir`` is the run directory).

    Raises
    ------
    SystemExit
        Status 2 after an EngineError (its line on stderr), 130 after Ctrl-C (``RESUME`` on stderr).

    Examples
    --------
    A bad value, composed as Hydra composes it (no Hydra app started):

    >>> import contextlib, io, tempfile
    >>> from hydra import compose, initialize_config_dir
    >>> from omegaconf import open_dict
    >>> stderr = io.StringIO()
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
    ...         cfg = compose("config", ["train.lr=-1", f"hydra.run.dir={tmp}/run"], return_hydra_config=True)
    ...     with open_dict(cfg):
    ...         cfg.hydra.runtime.output_dir = cfg.hydra.run.dir
    ...     HydraConfig.instance().set_config(cfg)
    ...     try:
    ...         with contextlib.redirect_stderr(stderr):
    ...             run_job(cfg)
    ...     except SystemExit as e:
    ...         status = e.code
    ...     finally:
    ...         HydraConfig.instance().cfg = None
    ...     left = list(Path(tmp).iterdir())   # nothing written
    >>> status, left
    (2, [])
    >>> stderr.getvalue().splitlines()[-1]
    'error: train.lr=-1: must be a finite number > 0 (default: 0.01)'
    """
    from engine.callbacks import open_deferred_logs, remove_unused_run_dir
    from engine.pipeline import run

    run_dir = Path(HydraConfig.get().runtime.output_dir)

    claimed = []

    def on_claimed(run_dir: Path) -> None:  # the run owns the directory: record it, open the log file
        _write_record(cfg, run_dir)
        open_deferred_logs()
        claimed.append(run_dir)

    try:
        summary = run(cfg, run_dir, on_claimed=on_claimed)
    except EngineError as e:
        if claimed:  # its run.log says why it stopped; a refusal before the claim is the one line below only
            log.error("%s", e)
        remove_unused_run_dir(run_dir)  # a run refused or failed before its claim leaves no empty directory
        raise
    _print_summary(summary)


def _write_record(cfg: DictConfig, run_dir: Path) -> None:
    """The run's record, as Hydra would write it (``.hydra/config.yaml``, ``hydra.yaml``, ``overrides.yaml``),
    written by the engine only once the run has claimed its directory (conf/config.yaml sets
    ``hydra.output_subdir: null``), so that a refused run cannot overwrite the record of the run it refused.
    If ``hydra.output_subdir`` is set, Hydra has written the record itself."""
    from omegaconf import OmegaConf

    from engine.storage import atomic_path

    hydra_cfg = HydraConfig.instance().cfg
    if hydra_cfg is None or hydra_cfg.hydra.output_subdir is not None:
        return
    for name, node in (("config.yaml", cfg), ("hydra.yaml", hydra_cfg),
                       ("overrides.yaml", hydra_cfg.hydra.overrides.task)):
        with atomic_path(run_dir / ".hydra" / name) as tmp:
            tmp.write_text(OmegaConf.to_yaml(node), encoding="utf-8")


@cli_errors(interrupted=RESUME)
def _check_command_line(argv: list[str]) -> int:
    """The overrides' keys and config-group options, before Hydra: a typo is one line, exit status 2."""
    check_overrides(argv, conf_dir())
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)   # Ctrl-C is KeyboardInterrupt again
    try:
        status = _check_command_line(sys.argv[1:])
        if status:
            sys.exit(status)
        main()
    except KeyboardInterrupt:   # in Hydra's own code, around the job (inside it, cli_errors answers)
        print(RESUME, file=sys.stderr, flush=True)
        sys.exit(INTERRUPTED_EXIT_CODE)
