"""``write_report``: the report stage's files in a run directory (all written atomically)."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from engine.analysis.paired import arm_populations
from engine.analysis.performance_classes import eligible_rows
from engine.analysis.run import AnalysisResult, run_analysis
from engine.config import AnalysisConfig
from engine.errors import EngineError
from engine.report import figures as F
from engine.report import paired as P
from engine.report.sections import report_html
from engine.run_dir import gather_caveats, load_protocol, load_run, load_run_config
from engine.storage import atomic_path, write_json, write_parquet

log = logging.getLogger(__name__)

__all__ = ["write_report"]

# Parts of the summary written to analysis/<part>.json besides analysis/summary.json.
_PART_KEYS = ("performance_classes", "classification", "best_classifier", "regression", "bag_of_neurons",
             "correlations", "subgraph_verdict", "cross_benchmark", "predictability", "early_prediction", "lost_classes",
             "conclusion", "paired")


def write_report(run_dir: str | Path, result: AnalysisResult | None = None,
                 cfg: AnalysisConfig | Mapping[str, Any] | None = None, backend: str = "cpu",
                 progress: bool = False) -> Path:
    """Write the analysis JSON, figures, report.html and typed neurons.parquet; return report.html's path.

    Without ``result`` the analysis is run here on the run's tables, with ``cfg`` (default: the
    ``analysis`` settings that made the directory's results: the run's record, or the gather's) and
    ``progress`` bars if asked. The Protocol section states the settings that made the population, as the
    directory recorded them.

    Parameters
    ----------
    run_dir : str or Path
        A run directory (a run's, a gathered one, or ``engine.write_population``'s) holding at least
        networks.parquet.
    result : AnalysisResult, optional
        An analysis already run on this directory's tables (``run_analysis``).
    cfg : AnalysisConfig or mapping, optional
        The ``analysis`` settings when the analysis runs here.
    backend : {"cpu", "gpu"}
        Where the analysis runs its estimators ("gpu": cuML where installed).
    progress : bool
        Show progress bars over the classifier and regressor fits.

    Returns
    -------
    pathlib.Path
        ``run_dir/report.html``; beside it ``analysis/summary.json``, one ``analysis/<part>.json`` per
        part of the summary (``performance_classes``, ``classification``, ... ``paired``: those that
        ran), ``analysis/<table>.parquet``, ``figures/*.png``, and neurons.parquet with a
        ``neuron_type`` column.

    Raises
    ------
    EngineError
        The directory holds no run, a setting is invalid, or ``result``'s neuron types do not align with
        the directory's neurons table.

    Examples
    --------
    A population of 30 synthetic networks, only its accuracies (no neurons table: no Bag-of-Neurons),
    only the performance classes analysed:

    >>> import tempfile
    >>> from engine.analysis.synthetic import make_population
    >>> nets, _, _ = make_population(networks=30, layer_sizes=(6, 3), seed=0)
    >>> cfg = {"enabled": {"classification": False, "regression": False, "early_prediction": False,
    ...                    "correlations": False}}
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     run_dir = Path(tmp)
    ...     nets[["dataset", "network", "test_acc"]].to_parquet(run_dir / "networks.parquet")
    ...     out = write_report(run_dir, cfg=cfg)
    ...     out.name, sorted(f.name for f in (run_dir / "figures").iterdir())
    ('report.html', ['accuracy_distributions.png'])

    ``run_analysis``'s example, with the neurons table, also fits the neuron types.
    """
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    networks, neurons, curves, snapshots = run.networks, run.neurons, run.curves, run.snapshots
    if result is None:
        if cfg is None:
            cfg, _ = load_run_config(run_dir)
        result = run_analysis(networks, neurons, cfg, backend=backend, snapshots=snapshots, curves=curves,
                              progress=progress, caveats=gather_caveats(run_dir))
    summary = result.summary

    adir = run_dir / "analysis"
    write_json(summary, adir / "summary.json")
    for key in _PART_KEYS:
        if key in summary:
            write_json(summary[key], adir / f"{key}.json")

    if result.neuron_types is not None and neurons is not None:
        if len(result.neuron_types) != len(neurons):
            raise EngineError(f"neuron types ({len(result.neuron_types)}) do not align with {run_dir}/neurons.parquet "
                              f"({len(neurons)} rows): run the analysis on this run's own neurons table")
        write_parquet(neurons.assign(neuron_type=result.neuron_types.to_numpy().astype("int64")),
                      run_dir / "neurons.parquet")

    _write_figure_tables(adir, result)
    figures = _write_figures(run_dir / "figures", result, eligible_rows(curves, result.tables["networks"]))
    out = run_dir / "report.html"
    with atomic_path(out) as tmp:
        tmp.write_text(report_html(run_dir, result, figures, load_protocol(run_dir)), encoding="utf-8")
    return out


def _write_figure_tables(adir: Path, result: AnalysisResult) -> None:
    """analysis/<name>.parquet for every table a figure is drawn from (the run's curves.parquet is
    already there; the rest of the figures come from summary.json), so that any figure can be redrawn
    from files (``engine.load_run(run_dir).analysis``)."""
    names = {"networks": "networks", "correlations": "correlations", "evolution": "evolution",
             "early": "early_prediction"}
    for key, name in names.items():
        table = result.tables.get(key)
        if table is not None and len(table.columns):
            write_parquet(table, adir / f"{name}.parquet")


def _write_figures(fdir: Path, result: AnalysisResult, curves: pd.DataFrame | None) -> dict[str, bytes]:
    """Render every figure that has data; write figures/<name>.png; return name -> PNG bytes."""
    s = result.summary
    nets = result.tables.get("networks")
    corr = result.tables.get("correlations")
    logm = s.get("config", {}).get("bon", {}).get("log10_measures", ["subgraph_centrality"])
    curves = arm_populations(curves)   # a paired run's curves: one population per arm, as the analysis has them
    makers: list[tuple[str, Any]] = [("accuracy_distributions", lambda: F.accuracy_distributions(nets, s))]
    if "paired" in s:
        epochs = result.tables.get("paired_epochs")
        makers += [("paired_accuracy", lambda: P.paired_accuracy(nets, s["paired"])),
                   ("paired_differences", lambda: P.paired_differences(epochs, s["paired"]))]
    for ds in sorted(nets["dataset"].unique()) if nets is not None else []:
        makers.append((f"measures_vs_accuracy_{_slug(ds)}", lambda ds=ds: F.measures_vs_accuracy(nets, ds, corr, logm)))
    makers.append(("early_prediction", lambda: F.early_prediction(result.tables.get("early"),
                                                                   s.get("predictability", {}))))
    makers.append(("lost_classes", lambda: F.lost_classes(result.tables.get("lost_networks"),
                                                           result.tables.get("lost_settling"))))
    makers += [("bon_centroids", lambda: F.bon_centroids(s)), ("bon_type_shares", lambda: F.bon_type_shares(s)),
               ("confusion_matrices", lambda: F.confusion_matrices(s)),
               ("correlations", lambda: F.correlation_heatmap(corr)),
               ("measure_evolution", lambda: F.measure_evolution(result.tables.get("evolution"))),
               ("learning_curves", lambda: F.learning_curves(curves))]
    out: dict[str, bytes] = {}
    for name, make in makers:
        fig = make()
        if fig is None:
            continue
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        png = buf.getvalue()
        with atomic_path(fdir / f"{name}.png") as tmp:
            tmp.write_bytes(png)
        out[name] = png
    return out


def _slug(name: Any) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(name))
