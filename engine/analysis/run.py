"""The analysis stage as one call: ``run_analysis`` runs every enabled part in order and gathers the
numbers into an ``AnalysisResult`` (each part lives in its own module of ``engine.analysis``).
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

import numpy as np
import pandas as pd

from engine.analysis.bag_of_neurons import bag_of_neurons, transform_measures
from engine.analysis.classification import best_classifier, classification_for_dataset
from engine.analysis.correlations import correlations_by_dataset, spearman_table, subgraph_verdict
from engine.analysis.conclusion import conclusion
from engine.analysis.cross_benchmark import cross_benchmark
from engine.analysis.early_prediction import early_prediction
from engine.analysis.lost_classes import lost_classes
from engine.analysis.paired import Paired, arm_populations, paired_analysis
from engine.analysis.performance_classes import assign_classes, eligible_mask, eligible_rows
from engine.analysis.predictability import predictability, without_spread
from engine.config import AnalysisConfig
from engine.errors import EngineError

log = logging.getLogger(__name__)

__all__ = ["AnalysisResult", "run_analysis"]

_NETWORK_COLUMNS = ("dataset", "network", "test_acc")
_NEURON_COLUMNS = ("dataset", "network", "epoch", "layer")


@dataclass
class AnalysisResult:
    """Everything the analysis found: what ``run_analysis`` returns and the report reads.

    Attributes
    ----------
    summary : dict
        Every number, JSON-serialisable (``engine.storage.write_json`` turns NaN into null): one key
        per part (``counts``, ``performance_classes``, ``bag_of_neurons``, ...), what ``analysis/*.json`` hold.
    neuron_types : pd.Series or None
        The type per neurons row (same index as the input table; -1 = untyped), or None when
        Bag-of-Neurons did not run.
    tables : dict of str to pd.DataFrame
        For the report: ``networks`` (with ``performance_class`` and the BoN histogram columns),
        ``correlations``, ``evolution``, ``early``, and the lost-class tables ``lost_counts``,
        ``lost_networks``, ``lost_prediction``, ``lost_settling``; only those of the parts that ran.

    Examples
    --------
    ``run_analysis``'s example makes a real one; the fields:

    >>> result = AnalysisResult(summary={"counts": {"networks_used": 30}})
    >>> result.summary["counts"]["networks_used"], result.neuron_types, result.tables
    (30, None, {})
    """

    summary: dict[str, Any]
    neuron_types: pd.Series | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def _check_columns(df: pd.DataFrame, needed: tuple[str, ...], what: str) -> None:
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise EngineError(f"{what} lacks column(s) {missing}; is it a networks/neurons table of this project?")


def run_analysis(networks: pd.DataFrame, neurons: pd.DataFrame | None,
                 cfg: AnalysisConfig | Mapping[str, Any] | None = None, backend: str = "cpu",
                 snapshots: pd.DataFrame | None = None, curves: pd.DataFrame | None = None,
                 progress: bool = False, caveats: Mapping[str, str] | None = None) -> AnalysisResult:
    """Run every enabled part of the analysis and gather its numbers.

    Diverged networks are left out of every part, figures included (the result's tables hold only the
    networks analysed). A dataset without a spread of test accuracy beyond the test set's noise
    (``predictability.without_spread``) gets no classes, classification, regression, correlations or
    early prediction, and the summary says why. A paired run (an ``arm`` column) is analysed one arm at
    a time, as populations of their own (``dataset/arm``), then paired (``engine.analysis.paired``).

    Parameters
    ----------
    networks : pandas.DataFrame
        The run's networks.parquet: one row per network with at least ``dataset``, ``network`` and
        ``test_acc`` (a fraction in [0, 1]); per-network summaries of the measures
        (``{measure}_l{layer}_{stat}``) and weight statistics (``w_l{layer}_{stat}``) are features.
    neurons : pandas.DataFrame or None
        The run's neurons.parquet: one row per hidden neuron and snapshot epoch with ``dataset``,
        ``network``, ``epoch``, ``layer`` and one column per measure; None skips Bag-of-Neurons.
    cfg : AnalysisConfig or mapping, optional
        The ``analysis`` settings (None gives the defaults); checked before any work.
    backend : {"cpu", "cuda"}
        Where the estimators run ("cuda": cuML where it is installed).
    snapshots, curves : pandas.DataFrame, optional
        snapshots.parquet and curves.parquet, for early prediction and the lost classes.
    progress : bool
        Progress bars over the classifier/regressor fits of each dataset and the early-prediction epochs.
    caveats : mapping of str to str, optional
        Per dataset, what the caller knows is wrong with its tables (e.g. a gather that left out
        networks): kept in the summary's notes and stated first in its conclusion.

    Returns
    -------
    AnalysisResult
        ``summary`` (every number, JSON-ready: what ``analysis/*.json`` hold), ``neuron_types`` (one per
        neurons row) and the ``tables`` the report draws.

    Raises
    ------
    EngineError
        A table lacks the columns above, the networks table is empty, or a setting is invalid.

    References
    ----------
    .. [1] L. Scabini and O. Bruno, "Structure and performance of fully connected neural networks:
       emerging complex network properties", Physica A 615 (2023), arXiv:2107.14062.

    Examples
    --------
    >>> from engine.analysis.synthetic import make_population
    >>> nets, neurons, _ = make_population(networks=30, layer_sizes=(6, 3), seed=0)
    >>> cfg = {"enabled": {"classification": False, "regression": False, "early_prediction": False},
    ...        "bon": {"k": 3}}
    >>> result = run_analysis(nets, neurons, cfg)
    >>> result.summary["counts"]["networks_used"], result.summary["bag_of_neurons"]["digits"]["k"]
    (30, 3)
    >>> sorted(result.tables["networks"]["performance_class"].unique().tolist())
    [0, 1, 2]
    """
    cfg = AnalysisConfig.from_mapping(cfg)
    _check_columns(networks, _NETWORK_COLUMNS, "networks table")
    if len(networks) == 0:
        raise EngineError("networks table is empty: nothing to analyse (did the run train any network?)")
    paired_tables = None
    if "arm" in networks.columns:   # a paired run: every arm is analysed as a population of its own, then paired
        paired_tables = (networks, curves, neurons)
        networks, neurons, snapshots, curves = (arm_populations(t) for t in (networks, neurons, snapshots, curves))
    run = _prepare(networks, neurons, snapshots, curves, cfg, backend, progress, caveats)
    class_summary = _performance_classes(run)
    names = class_summary["names"]
    evolution = _neurons_and_evolution(run)
    bon = _bag_of_neurons(run, names)   # first: its histograms are a feature set of the classifiers
    classification, regression, best = _classification_regression(run, names)
    corr, verdict = _correlations(run)
    cross: dict[str, Any] = {"skipped": "disabled"}
    if cfg.enabled["cross_benchmark"]:
        cross = cross_benchmark(bon.centroids) if bon.centroids else {"skipped": "no Bag-of-Neurons centroids"}
    predictable = predictability(run.nets[run.ok], regression)
    bon_k = {ds: b["k"] for ds, b in bon.summary.items() if isinstance(b, dict) and "k" in b}
    early, early_table = _early_prediction(run, bon.neuron_types, bon_k)
    lost, lost_tables = _lost_classes(run, bon.neuron_types, bon_k, predictable)
    summary = {
        "backend": backend,
        "config": cfg.to_dict(),
        "counts": _counts(run, neurons),
        "performance_classes": class_summary,
        "bag_of_neurons": bon.summary,
        "classification": classification,
        "best_classifier": best,
        "regression": regression,
        "correlations": correlations_by_dataset(corr),
        "subgraph_verdict": verdict,
        "cross_benchmark": cross,
        "predictability": predictable,
        "early_prediction": early,
        "lost_classes": lost,
        "notes": run.notes,
        "caveats": run.caveats,
        "timings_s": run.timings,
    }
    summary["conclusion"] = conclusion(summary)
    tables = {"networks": run.nets, "correlations": corr, "evolution": evolution, "early": early_table,
              **lost_tables}
    if paired_tables is not None:
        with _timed(run, "paired"):
            summary["paired"], tables["paired_epochs"] = paired_analysis(*paired_tables, summary=summary,
                                                                         alpha=cfg.alpha, seed=cfg.seed)
            summary["conclusion"]["paired"] = {ds: c.to_dict() for ds, c in
                                               Paired.from_dict(summary["paired"]).conclusion.items()}
    return AnalysisResult(summary=summary, neuron_types=bon.neuron_types, tables=tables)


@dataclass
class _Run:
    """What the steps of one analysis share: the settings, the tables (``nets`` grows columns as the steps
    run), who takes part (``ok``: not diverged; ``learn``: also in a dataset with a spread), notes, timings."""

    cfg: AnalysisConfig
    backend: str
    progress: bool
    nets: pd.DataFrame
    neurons: pd.DataFrame | None
    snapshots: pd.DataFrame | None
    curves: pd.DataFrame | None
    caveats: dict[str, str]
    ok: np.ndarray
    learn: np.ndarray
    undefined: dict[str, str]
    notes: list[str]
    timings: dict[str, float] = field(default_factory=dict)
    diverged: int = 0


@dataclass
class _BoN:
    """What Bag-of-Neurons hands the later steps."""

    summary: dict[str, Any]
    neuron_types: pd.Series | None = None
    centroids: dict[str, np.ndarray] = field(default_factory=dict)


@contextmanager
def _timed(run: _Run, step: str) -> Iterator[None]:
    t = time.perf_counter()
    yield
    run.timings[step] = time.perf_counter() - t


def _prepare(networks: pd.DataFrame, neurons: pd.DataFrame | None, snapshots: pd.DataFrame | None,
             curves: pd.DataFrame | None, cfg: AnalysisConfig, backend: str, progress: bool,
             caveats: Mapping[str, str] | None) -> _Run:
    """Who takes part: networks not diverged (``ok``), of those the ones in a dataset with a spread (``learn``)."""
    nets = networks.copy()
    nets["dataset"] = nets["dataset"].astype(str)
    if "diverged" not in nets:
        nets["diverged"] = False
    caveats = {str(k): str(v) for k, v in (caveats or {}).items()}
    notes = [f"{ds} is incomplete: {text}" for ds, text in caveats.items()]
    ok = eligible_mask(nets).to_numpy()
    undefined = without_spread(nets[ok])   # the one rule: no spread, nothing to learn about accuracy
    notes += [f"{ds}: no classes, classification, regression, correlations or early prediction: {why}"
              for ds, why in undefined.items()]
    learn = ok & ~nets["dataset"].isin(list(undefined)).to_numpy()
    return _Run(cfg=cfg, backend=backend, progress=progress, nets=nets, neurons=neurons,
                snapshots=_with_str_dataset(snapshots), curves=_with_str_dataset(curves), caveats=caveats, ok=ok,
                learn=learn, undefined=undefined, notes=notes)


def _performance_classes(run: _Run) -> dict[str, Any]:
    """Adds ``performance_class`` to the networks; notes the datasets without classes and the diverged."""
    with _timed(run, "performance_classes"):
        classes, class_summary = assign_classes(run.nets, run.cfg, run.undefined)
        run.nets["performance_class"] = classes.to_numpy()
        run.notes += [d["note"] for d in class_summary["datasets"].values() if d.get("note")]
    run.diverged = int(run.nets["diverged"].fillna(False).astype(bool).sum())
    if run.diverged:
        run.notes.append(f"{run.diverged} diverged networks excluded from every part of the analysis, figures included")
    return class_summary


def _neurons_and_evolution(run: _Run) -> pd.DataFrame:
    """Checks the neurons table (its dataset as text); the measures' evolution over the snapshot epochs."""
    neurons = run.neurons
    if neurons is None or not len(neurons):
        return pd.DataFrame()
    _check_columns(neurons, _NEURON_COLUMNS, "neurons table")
    if not pd.api.types.is_string_dtype(neurons["dataset"]):
        run.neurons = neurons = neurons.assign(dataset=neurons["dataset"].astype(str))
    return _evolution(eligible_rows(neurons, run.nets), run.cfg)   # diverged networks left out


def _bag_of_neurons(run: _Run, names: list[str]) -> _BoN:
    """Neuron types and the networks' type histograms (added to the networks as columns)."""
    if not run.cfg.enabled["bag_of_neurons"]:
        return _BoN({"skipped": "disabled"})
    neurons = run.neurons
    if neurons is None or len(neurons) == 0:
        run.notes.append("Bag-of-Neurons skipped: neurons.parquet is missing or empty")
        return _BoN({"skipped": "no neurons table"})
    with _timed(run, "bag_of_neurons"):
        elig = run.nets.loc[run.ok, ["dataset", "network"]]
        cls_idx = pd.Series(run.nets.loc[run.ok, "performance_class"].to_numpy(), index=pd.MultiIndex.from_frame(elig))
        log.info("analysis: Bag-of-Neurons k-means on %d neuron rows", len(neurons))
        bon = bag_of_neurons(neurons, elig, cls_idx, names, run.cfg.bon, run.backend)
        if len(bon.histograms):
            run.nets = run.nets.merge(bon.histograms, on=["dataset", "network"], how="left")
    return _BoN(bon.summary, pd.Series(bon.labels, index=neurons.index, name="neuron_type"), bon.centroids)


def _classification_regression(run: _Run, names: list[str]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Per dataset with a spread: classifiers of the performance class, regressors of test accuracy, the best."""
    cfg = run.cfg
    classification: dict[str, Any] = {}
    regression: dict[str, Any] = {}
    best: dict[str, Any] = {}
    if not (cfg.enabled["classification"] or cfg.enabled["regression"]):
        return classification, regression, best
    with _timed(run, "classification_regression"):
        for ds, g in run.nets[run.learn].groupby("dataset", sort=True):
            log.info("analysis: classifiers and regressors on %s (%d networks)", ds, len(g))
            c, r = classification_for_dataset(g, g["performance_class"].to_numpy(), cfg, run.backend, run.progress)
            if cfg.enabled["classification"]:
                classification[ds] = c
                b = best_classifier(c, names)
                best[ds] = b.to_dict() if b is not None else {}
            if cfg.enabled["regression"]:
                regression[ds] = r
    if "weights" in cfg.feature_sets and not any(c.startswith("w_l") for c in run.nets.columns):
        run.notes.append("feature set 'weights' skipped: networks.parquet has no w_l{layer}_{stat} columns "
                         "(engine.analysis.weight_stats.weight_stats adds them)")
    return classification, regression, best


def _correlations(run: _Run) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Spearman correlations of every summary column with test accuracy, and the subgraph verdict."""
    if not run.cfg.enabled["correlations"]:
        return (pd.DataFrame(columns=["dataset", "column", "rho", "p", "n", "significant"]),
                {"text": "correlations disabled"})
    with _timed(run, "correlations"):
        corr = spearman_table(run.nets[run.learn], run.cfg.alpha)
        return corr, subgraph_verdict(corr, run.cfg.alpha, run.undefined)


def _types(neuron_types: pd.Series | None) -> np.ndarray | None:
    return None if neuron_types is None else neuron_types.to_numpy()


def _early_prediction(run: _Run, neuron_types: pd.Series | None,
                      bon_k: dict[str, int]) -> tuple[dict[str, Any], pd.DataFrame]:
    """Test accuracy and class predicted from each snapshot epoch, per dataset with a spread."""
    if not run.cfg.enabled["early_prediction"]:
        return {"skipped": "disabled"}, pd.DataFrame()
    with _timed(run, "early_prediction"):
        early, table = early_prediction(run.nets[run.learn], run.neurons, _types(neuron_types), bon_k,
                                        run.snapshots, run.curves, run.cfg, run.backend, run.progress)
        early.update({ds: {"skipped": why} for ds, why in run.undefined.items()})
    return early, table


def _lost_classes(run: _Run, neuron_types: pd.Series | None, bon_k: dict[str, int],
                  predictable: dict[str, Any]) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """What the spread is made of: every eligible network (the counts are facts even without a spread)."""
    if not run.cfg.enabled["lost_classes"]:
        return {"skipped": "disabled"}, {}
    with _timed(run, "lost_classes"):
        return lost_classes(run.nets[run.ok], run.neurons, _types(neuron_types), bon_k, run.snapshots, run.curves,
                            predictable, run.cfg, run.backend, run.progress)


def _counts(run: _Run, neurons: pd.DataFrame | None) -> dict[str, Any]:
    return {"datasets": sorted(run.nets["dataset"].unique()), "networks": int(len(run.nets)),
            "networks_used": int(run.ok.sum()), "diverged_excluded": run.diverged,
            "neuron_rows": int(len(neurons)) if neurons is not None else 0,
            "snapshot_epochs": sorted(int(e) for e in neurons["epoch"].unique())
            if neurons is not None and len(neurons) else []}


def _with_str_dataset(table: pd.DataFrame | None) -> pd.DataFrame | None:
    if table is None or not len(table) or pd.api.types.is_string_dtype(table["dataset"]):
        return table
    return table.assign(dataset=table["dataset"].astype(str))


def _evolution(neurons: pd.DataFrame, cfg: AnalysisConfig) -> pd.DataFrame:
    """Mean and std of every measure per (dataset, epoch, layer) when there are several snapshot epochs."""
    if neurons["epoch"].nunique() < 2:
        return pd.DataFrame()
    keys = [neurons["dataset"], neurons["epoch"], neurons["layer"]]
    parts = []
    for m in neurons.columns:
        if m in _NEURON_COLUMNS + ("neuron", "neuron_type") or not pd.api.types.is_numeric_dtype(neurons[m]):
            continue
        col = neurons[m].astype(float)
        name = m
        if m in cfg.bon.log10_measures:  # one column at a time: no copy of the whole table
            col = pd.Series(transform_measures(col.to_numpy()[:, None], [m], [m])[:, 0], index=neurons.index)
            name = f"log10_{m}"
        g = col.groupby(keys, sort=True).agg(["mean", "std"]).reset_index()
        g.columns = ["dataset", "epoch", "layer", "mean", "std"]
        g.insert(3, "measure", name)
        parts.append(g)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
