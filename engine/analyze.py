"""``python -m engine.analyze DIR --accuracies ACC.csv``: a population of a researcher's own networks,
measured by ``python -m engine.inspect FILES --out DIR``, analysed and reported as a run is (see
``engine.networks.accuracies``). Errors are one line on stderr and exit status 2.

From Python, ``engine.analyze(DIR, accuracies)`` is ``engine.networks.accuracies.analyze``: the package
keeps that name the function even once this module is imported (``engine._Package``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from engine.errors import cli_errors
from engine.networks.accuracies import analyze

__all__ = ["main"]


@cli_errors(OSError)
def main(argv: list[str] | None = None) -> int:
    """The command ``python -m engine.analyze DIR --accuracies ACC.csv [--test-samples N] [--backend B] [-v]``.

    Joins the accuracies to the population ``python -m engine.inspect FILES --out DIR`` measured, writes
    its analysis and report into DIR (``engine.analyze``), prints the conclusion and the report's path.

    Parameters
    ----------
    argv : list of str, optional
        The directory ``engine.inspect`` measured into, ``--accuracies`` and the options; default
        ``sys.argv[1:]``.

    Returns
    -------
    int
        0 when the report is written; 2 for a missing directory, an accuracy table that does not match
        the measured networks, ... (one line ``error: ...`` on stderr: ``engine.errors.cli_errors``).
        ``--help`` and malformed arguments exit through argparse (SystemExit 0 and 2).

    Examples
    --------
    >>> import contextlib, io
    >>> stderr = io.StringIO()
    >>> with contextlib.redirect_stderr(stderr):
    ...     status = main(["no_such_dir", "--accuracies", "acc.csv"])
    >>> status
    2
    >>> print(stderr.getvalue())
    error: run directory no_such_dir does not exist; pass the Hydra run directory of a run
    (outputs/<dataset>/<date_time>), the output directory of engine.gather or that of
    engine.inspect FILES --out DIR
    >>> try:
    ...     main(["--help"])
    ... except SystemExit as e:
    ...     status = e.code
    usage: python -m engine.analyze [-h] --accuracies ACCURACIES ...
    >>> status
    0
    """
    ap = argparse.ArgumentParser(prog="python -m engine.analyze",
                                 description="Analyse a measured population of your own networks with their accuracies.")
    ap.add_argument("run_dir", type=Path, help="the --out directory of python -m engine.inspect FILES")
    ap.add_argument("--accuracies", required=True, type=Path,
                    help="CSV or Parquet: file or network, test_acc (0..1), optionally test_samples")
    ap.add_argument("--test-samples", type=int, default=None, help="the test set's size (for the noise ceiling)")
    ap.add_argument("--backend", choices=["cpu", "gpu", "auto"], default="cpu", help="estimators (default cpu)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    from engine.backend import backend_name, resolve_device

    backend = backend_name(resolve_device(args.backend))
    out = analyze(args.run_dir, args.accuracies, backend=backend, test_samples=args.test_samples,
                  progress=sys.stderr.isatty())
    from engine.run_dir import load_run

    conclusion = (load_run(args.run_dir).summary or {}).get("conclusion")
    if conclusion:
        print(conclusion.get("text", conclusion) if isinstance(conclusion, dict) else conclusion)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
