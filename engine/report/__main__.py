"""``python -m engine.report RUN_DIR``: analyse a finished run and write its report.

Analyses with the settings that made RUN_DIR's results (``engine.run_dir.load_run_config``: the run's
.hydra/config.yaml, a gather's gathered.json, else the last analysis/summary.json), else the defaults, so
that a rebuilt report has the same numbers. Errors are one line on stderr and exit status 2 (Ctrl-C: one
line, 130). On a terminal, the analysis shows progress bars.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from engine.backend import backend_name, resolve_device
from engine.errors import cli_errors
from engine.paths import require_directory
from engine.report.writer import write_report
from engine.run_dir import load_run_config

__all__ = ["main"]


@cli_errors()
def main(argv: list[str] | None = None) -> int:
    """``python -m engine.report RUN_DIR [--backend cpu|gpu|auto] [-v]``: analyse a finished run, write its report.

    Prints the path of ``RUN_DIR/report.html`` (``engine.report.writer.write_report`` says what it writes).

    Parameters
    ----------
    argv : list of str, optional
        The command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0; 2 after a one-line ``error: ...`` on stderr (a missing run directory, a
        bad saved configuration, unreadable tables: every EngineError); 130 on Ctrl-C.

    Examples
    --------
    >>> main(["no/such/run"])  # stderr: error: run directory no/such/run does not exist; pass ...
    2
    """
    ap = argparse.ArgumentParser(prog="python -m engine.report", description="Write the analysis report of a run.")
    ap.add_argument("run_dir", type=Path, help="the Hydra run directory (holds networks.parquet)")
    ap.add_argument("--backend", choices=["cpu", "gpu", "auto"], default=None,
                    help="estimators: cuML on a CUDA GPU where it imports, else scikit-learn; auto takes the GPU "
                         "when there is one (default: the run's backend, else cpu)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    require_directory(args.run_dir, "run directory", "pass the Hydra run directory of a run "
                      "(outputs/<dataset>/<date_time>) or the output directory of engine.gather")
    cfg, run_backend = load_run_config(args.run_dir)
    backend = args.backend or (run_backend if run_backend in ("cpu", "gpu", "auto") else "cpu")
    backend = backend_name(resolve_device(backend))   # resolved as the run resolves it
    out = write_report(args.run_dir, cfg=cfg, backend=backend, progress=sys.stderr.isatty())
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
