"""A measured population of a researcher's own networks (``engine.inspect FILES --out DIR``) with their
accuracies: analysed and reported as a run is (``analyze``; the command line: ``python -m engine.analyze``).

ACC.csv (or .parquet) has one row per network: a ``file`` column (the file name as engine.inspect
recorded it, or just its base name or stem where those are unique) or a ``network`` column (the id),
a ``test_acc`` column (a fraction in [0, 1]), and optionally ``test_samples`` (the test set's size, for
the noise ceiling). The accuracies join DIR/networks.parquet; then the analysis (performance classes,
classifiers on the complex-network features and on the weight and spectral baselines, Bag-of-Neurons,
correlations, noise ceiling, conclusion) and the report are written into DIR as for a run
(analysis/, figures/, report.html).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from engine.errors import EngineError

__all__ = ["analyze"]

_ACCURACY_COLUMNS = ("test_acc", "test_accuracy", "accuracy")


def _read_accuracies(path: str | Path) -> pd.DataFrame:
    """The accuracy table of a CSV or Parquet file, its accuracy column named ``test_acc``."""
    path = Path(path)
    if not path.is_file():
        raise EngineError(f"{path}: no such accuracy table")
    try:
        table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as e:  # noqa: BLE001 - pandas raises many types for unreadable tables
        raise EngineError(f"{path}: cannot read it as a {'Parquet' if path.suffix == '.parquet' else 'CSV'} table "
                          f"({type(e).__name__}: {e})") from None
    acc = next((c for c in _ACCURACY_COLUMNS if c in table.columns), None)
    if acc is None or not ({"file", "network"} & set(table.columns)):
        raise EngineError(f"{path}: has columns {list(table.columns)}; an accuracy table needs a 'file' or "
                          "'network' column and a 'test_acc' column (optionally 'test_samples')")
    return table.rename(columns={acc: "test_acc"})


def _attach_accuracies(networks: pd.DataFrame, accuracies: pd.DataFrame, where: str = "accuracies",
                      test_samples: int | None = None) -> pd.DataFrame:
    """``networks`` with ``test_acc`` (and ``test_samples``) from ``accuracies``, matched by network id or
    by file (its recorded name, else its base name, else its stem, each where unique)."""
    nets = networks.drop(columns=[c for c in ("test_acc", "test_samples") if c in networks.columns])
    acc = pd.to_numeric(accuracies["test_acc"], errors="coerce").to_numpy(dtype=float)
    if np.isnan(acc).all():
        raise EngineError(f"{where}: test_acc has no numbers")
    if np.nanmax(acc) > 1 or np.nanmin(acc) < 0:
        raise EngineError(f"{where}: test_acc ranges {np.nanmin(acc):g}..{np.nanmax(acc):g}; give accuracies as "
                          "fractions in [0, 1] (divide percentages by 100)")
    if "file" in accuracies.columns:
        ids = _ids_by_file(nets, accuracies["file"].astype(str).tolist(), where)
    else:
        ids = pd.to_numeric(accuracies["network"], errors="coerce")
        unknown = sorted(set(ids.dropna().astype(int)) - set(nets["network"].astype(int)))
        if ids.isna().any() or unknown:
            raise EngineError(f"{where}: network ids {unknown[:5] or 'that are not integers'} are not among the "
                              f"measured networks (0..{int(nets['network'].max())})")
        ids = ids.astype(int).tolist()
    if len(set(ids)) != len(ids):
        raise EngineError(f"{where}: gives more than one accuracy for a network")
    add = pd.DataFrame({"network": ids, "test_acc": acc})
    if "test_samples" in accuracies.columns:
        add["test_samples"] = pd.to_numeric(accuracies["test_samples"], errors="coerce").to_numpy()
    elif test_samples is not None:
        add["test_samples"] = int(test_samples)
    return nets.merge(add, on="network", how="left")


def _ids_by_file(nets: pd.DataFrame, files: list[str], where: str) -> list[int]:
    per_file = nets.groupby("file")["network"].agg(list)
    keys = {"name": lambda f: f, "base": lambda f: Path(f).name, "stem": lambda f: Path(f).stem}
    ids = []
    for f in files:
        hit = None
        for key in keys.values():
            matches = [name for name in per_file.index if key(name) == key(f)]
            if len(matches) == 1:
                hit = matches[0]
                break
            if len(matches) > 1:
                raise EngineError(f"{where}: file {f!r} matches several measured files ({', '.join(matches[:3])}); "
                                  "give the file names as engine.inspect recorded them (networks.parquet, file)")
        if hit is None:
            shown = ", ".join(list(per_file.index[:3]))
            raise EngineError(f"{where}: file {f!r} is not among the measured files (e.g. {shown}); a file that "
                              "failed to read is in failed.csv")
        if len(per_file[hit]) > 1:
            raise EngineError(f"{where}: {hit} holds {len(per_file[hit])} networks: give their accuracies by "
                              "'network' id instead of by file")
        ids.append(int(per_file[hit][0]))
    return ids


def analyze(run_dir: str | Path, accuracies: str | Path | pd.DataFrame, cfg: Mapping[str, Any] | None = None,
            backend: str = "cpu", test_samples: int | None = None, progress: bool = False) -> Path:
    """Join the accuracies to a measured population and write its analysis and report.

    Parameters
    ----------
    run_dir : str or Path
        The output directory of ``python -m engine.inspect FILES --out DIR`` (or of ``write_population``).
    accuracies : str, Path or pandas.DataFrame
        A CSV/Parquet file or a table: ``file`` or ``network``, ``test_acc`` in [0, 1], optionally
        ``test_samples``.
    cfg : mapping, optional
        Analysis settings (the ``analysis`` config group's keys; default: its defaults).
    backend : {"cpu", "gpu"}
        Where the estimators run.
    test_samples : int, optional
        The test set's size for every network, where the table has no ``test_samples`` column.
    progress : bool
        Progress bars over the fits.

    Returns
    -------
    Path
        The report (run_dir/report.html); analysis/*.json, analysis/*.parquet and figures/*.png beside it.

    Raises
    ------
    EngineError
        For an accuracy table that does not match the measured networks, or networks of several
        architectures.

    Examples
    --------
    Twelve tiny networks, their strength measured, analysed with the slow parts switched off (with the
    defaults, 10 folds x 3 repeats of five classifiers on five feature sets, Bag-of-Neurons and the
    correlations take about a minute for 20 small networks on 2 cores):

    >>> import tempfile, pandas as pd, torch
    >>> from engine import load_run, measure_files, write_population
    >>> quick = {"enabled": {"regression": False, "bag_of_neurons": False, "correlations": False},
    ...          "folds": 2, "repeats": 1, "n_jobs": 1, "classifiers": ["lda"], "feature_sets": ["cn"]}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     for seed in range(12):
    ...         _ = torch.manual_seed(seed)
    ...         net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    ...         torch.save(net.state_dict(), f"{folder}/net{seed:02d}.pt")
    ...     run = write_population(measure_files(folder, ["strength"]), f"{folder}/run")
    ...     accuracies = pd.DataFrame({"file": [f"net{s:02d}.pt" for s in range(12)],
    ...                                "test_acc": [0.5 + 0.02 * s for s in range(12)]})
    ...     report = analyze(run, accuracies, quick)
    ...     result = load_run(run)
    >>> report.name, result.summary["counts"]["networks_used"]
    ('report.html', 12)
    >>> result.analysis["networks"]["performance_class"].value_counts().sort_index().tolist()   # 3 classes
    [4, 4, 4]
    """
    from engine.report import write_report
    from engine.run_dir import load_run
    from engine.storage import write_parquet

    run_dir = Path(run_dir)
    run = load_run(run_dir)
    where = str(accuracies) if not isinstance(accuracies, pd.DataFrame) else "accuracies"
    table = accuracies if isinstance(accuracies, pd.DataFrame) else _read_accuracies(accuracies)
    if "layers" in run.networks.columns and run.networks["layers"].nunique() > 1:
        counts = run.networks.groupby("layers").size()
        raise EngineError(f"{run_dir}: holds networks of {len(counts)} architectures ("
                          + ", ".join(f"{n} of {a}" for a, n in counts.items())
                          + "); analyse one architecture at a time (engine.inspect a directory per architecture)")
    nets = _attach_accuracies(run.networks, table, where, test_samples)
    missing = int(nets["test_acc"].isna().sum())
    if missing == len(nets):
        raise EngineError(f"{where}: no accuracy matches a measured network")
    if missing:
        logging.getLogger("engine.analyze").warning("%d of %d networks have no accuracy in %s: they are left out",
                                                    missing, len(nets), where)
    write_parquet(nets, run_dir / "networks.parquet")
    return write_report(run_dir, cfg=cfg, backend=backend, progress=progress)
