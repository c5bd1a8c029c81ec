"""The analysis stage as one call: ``run_analysis`` runs every enabled part in order and gathers the
numbers into an ``AnalysisResult`` (each part lives in its own module of ``engine.analysis``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from engine.analysis.bag_of_neurons import bag_of_neurons, transform_measures
from engine.analysis.classification import classification_for_dataset
from engine.analysis.config import AnalysisConfig
from engine.analysis.correlations import spearman_table, subgraph_verdict
from engine.analysis.conclusion import conclusion
from engine.analysis.cross_benchmark import cross_benchmark
from engine.analysis.early_prediction import early_prediction
from engine.analysis.lost_classes import lost_classes
from engine.analysis.performance_classes import assign_classes, eligible_mask, eligible_rows
from engine.analysis.predictability import predictability, without_spread
from engine.errors import EngineError

log = logging.getLogger(__name__)

__all__ = ["AnalysisResult", "run_analysis"]

NETWORK_COLUMNS = ("dataset", "network", "test_acc")
NEURON_COLUMNS = ("dataset", "network", "epoch", "layer")


@dataclass
class AnalysisResult:
    """Everything the analysis found.

    ``summary``: every number, JSON-serialisable (engine.storage.write_json turns NaN into null).
    ``neuron_types``: type per neurons row (same index as the input table; -1 = untyped), or None
    when Bag-of-Neurons did not run. ``tables``: DataFrames for the report (``networks`` with
    ``performance_class`` and BoN histogram columns, ``correlations``, ``evolution``, ``early``, and the
    lost-class tables ``lost_counts``, ``lost_networks``, ``lost_prediction``, ``lost_settling``).
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
    """Run every enabled part of the analysis (see the ``engine.analysis`` docstring). ``progress``:
    progress bars over the classifier/regressor fits of each dataset and the early-prediction epochs.
    ``caveats``: per dataset, what the caller knows is wrong with its tables (e.g. a gather that left out
    networks): kept in the summary's notes and stated first in its conclusion.

    Diverged networks are left out of every part, figures included (the result's tables hold only the
    networks analysed). A dataset without a spread of test accuracy beyond the test set's noise
    (``predictability.without_spread``) gets no classes, classification, regression, correlations or
    early prediction, and the summary says why."""
    cfg = AnalysisConfig.from_mapping(cfg)
    _check_columns(networks, NETWORK_COLUMNS, "networks table")
    if len(networks) == 0:
        raise EngineError("networks table is empty: nothing to analyse (did the run train any network?)")
    paired_tables = None
    if "arm" in networks.columns:   # a paired run: every arm is analysed as a population of its own, then paired
        from engine.analysis.paired import arm_populations

        paired_tables = (networks, curves, neurons)
        networks, neurons, snapshots, curves = (arm_populations(t) for t in (networks, neurons, snapshots, curves))
    timings: dict[str, float] = {}
    notes: list[str] = []
    nets = networks.copy()
    nets["dataset"] = nets["dataset"].astype(str)
    if "diverged" not in nets:
        nets["diverged"] = False

    caveats = {str(k): str(v) for k, v in (caveats or {}).items()}
    notes += [f"{ds} is incomplete: {text}" for ds, text in caveats.items()]
    ok = eligible_mask(nets).to_numpy()
    undefined = without_spread(nets[ok])   # the one rule: no spread, nothing to learn about accuracy
    notes += [f"{ds}: no classes, classification, regression, correlations or early prediction: {why}"
              for ds, why in undefined.items()]
    learn = ok & ~nets["dataset"].isin(list(undefined)).to_numpy()
    t = time.perf_counter()
    classes, class_summary = assign_classes(nets, cfg, undefined)
    nets["performance_class"] = classes.to_numpy()
    names = class_summary["names"]
    notes += [d["note"] for d in class_summary["datasets"].values() if d.get("note")]
    timings["performance_classes"] = time.perf_counter() - t
    n_div = int(nets["diverged"].fillna(False).astype(bool).sum())
    if n_div:
        notes.append(f"{n_div} diverged networks excluded from every part of the analysis, figures included")

    # Bag-of-Neurons first: its histograms are a feature set of the classifiers
    neuron_types = None
    bon_summary: dict[str, Any] = {"skipped": "disabled"}
    centroids: dict[str, np.ndarray] = {}
    evolution = pd.DataFrame()
    if neurons is not None and len(neurons):
        _check_columns(neurons, NEURON_COLUMNS, "neurons table")
        if not pd.api.types.is_string_dtype(neurons["dataset"]):
            neurons = neurons.assign(dataset=neurons["dataset"].astype(str))
        evolution = _evolution(eligible_rows(neurons, nets), cfg)   # diverged networks left out
    if cfg.enabled["bag_of_neurons"]:
        if neurons is None or len(neurons) == 0:
            bon_summary = {"skipped": "no neurons table"}
            notes.append("Bag-of-Neurons skipped: neurons.parquet is missing or empty")
        else:
            t = time.perf_counter()
            elig = nets.loc[ok, ["dataset", "network"]]
            cls_idx = pd.Series(nets.loc[ok, "performance_class"].to_numpy(),
                                index=pd.MultiIndex.from_frame(elig))
            log.info("analysis: Bag-of-Neurons k-means on %d neuron rows", len(neurons))
            bon = bag_of_neurons(neurons, elig, cls_idx, names, cfg.bon, backend)
            neuron_types = pd.Series(bon.labels, index=neurons.index, name="neuron_type")
            bon_summary = bon.summary
            centroids = bon.centroids
            if len(bon.histograms):
                nets = nets.merge(bon.histograms, on=["dataset", "network"], how="left")
            timings["bag_of_neurons"] = time.perf_counter() - t

    classification: dict[str, Any] = {}
    regression: dict[str, Any] = {}
    best: dict[str, Any] = {}
    if cfg.enabled["classification"] or cfg.enabled["regression"]:
        t = time.perf_counter()
        for ds, g in nets[learn].groupby("dataset", sort=True):
            log.info("analysis: classifiers and regressors on %s (%d networks)", ds, len(g))
            c, r = classification_for_dataset(g, g["performance_class"].to_numpy(), cfg, backend, progress)
            if cfg.enabled["classification"]:
                classification[ds] = c
                best[ds] = _best(c, names)
            if cfg.enabled["regression"]:
                regression[ds] = r
        timings["classification_regression"] = time.perf_counter() - t
        if "weights" in cfg.feature_sets and not any(c.startswith("w_l") for c in nets.columns):
            notes.append("feature set 'weights' skipped: networks.parquet has no w_l{layer}_{stat} columns "
                         "(engine.analysis.weight_stats.weight_stats adds them)")

    corr = pd.DataFrame(columns=["dataset", "column", "rho", "p", "n", "significant"])
    verdict: dict[str, Any] = {"text": "correlations disabled"}
    if cfg.enabled["correlations"]:
        t = time.perf_counter()
        corr = spearman_table(nets[learn], cfg.alpha)
        verdict = subgraph_verdict(corr, cfg.alpha, undefined)
        timings["correlations"] = time.perf_counter() - t

    cross: dict[str, Any] = {"skipped": "disabled"}
    if cfg.enabled["cross_benchmark"]:
        cross = cross_benchmark(centroids) if centroids else {"skipped": "no Bag-of-Neurons centroids"}

    predictable = predictability(nets[ok], regression)

    early: dict[str, Any] = {"skipped": "disabled"}
    early_table = pd.DataFrame()
    bon_k = {ds: b["k"] for ds, b in bon_summary.items() if isinstance(b, dict) and "k" in b}
    if cfg.enabled["early_prediction"]:
        t = time.perf_counter()
        early, early_table = early_prediction(
            nets[learn], neurons, None if neuron_types is None else neuron_types.to_numpy(), bon_k,
            _with_str_dataset(snapshots), _with_str_dataset(curves), cfg, backend, progress)
        early.update({ds: {"skipped": why} for ds, why in undefined.items()})
        timings["early_prediction"] = time.perf_counter() - t

    lost: dict[str, Any] = {"skipped": "disabled"}
    lost_tables: dict[str, pd.DataFrame] = {}
    if cfg.enabled["lost_classes"]:
        t = time.perf_counter()
        lost, lost_tables = lost_classes(   # every eligible network: the counts are facts even without spread
            nets[ok], neurons, None if neuron_types is None else neuron_types.to_numpy(), bon_k,
            _with_str_dataset(snapshots), _with_str_dataset(curves), predictable, cfg, backend, progress)
        timings["lost_classes"] = time.perf_counter() - t

    datasets = sorted(nets["dataset"].unique())
    summary = {
        "backend": backend,
        "config": cfg.to_dict(),
        "counts": {"datasets": datasets, "networks": int(len(nets)), "networks_used": int(ok.sum()),
                   "diverged_excluded": n_div,
                   "neuron_rows": int(len(neurons)) if neurons is not None else 0,
                   "snapshot_epochs": sorted(int(e) for e in neurons["epoch"].unique())
                   if neurons is not None and len(neurons) else []},
        "performance_classes": class_summary,
        "bag_of_neurons": bon_summary,
        "classification": classification,
        "best_classifier": best,
        "regression": regression,
        "correlations": {ds: {r.column: {"rho": r.rho, "p": r.p, "n": r.n} for r in g.itertuples()}
                         for ds, g in corr.groupby("dataset")},
        "subgraph_verdict": verdict,
        "cross_benchmark": cross,
        "predictability": predictable,
        "early_prediction": early,
        "lost_classes": lost,
        "notes": notes,
        "caveats": caveats,
        "timings_s": timings,
    }
    summary["conclusion"] = conclusion(summary)
    tables = {"networks": nets, "correlations": corr, "evolution": evolution, "early": early_table, **lost_tables}
    if paired_tables is not None:
        from engine.analysis.paired import paired_analysis

        t = time.perf_counter()
        summary["paired"], tables["paired_epochs"] = paired_analysis(*paired_tables, summary=summary,
                                                                     alpha=cfg.alpha, seed=cfg.seed)
        summary["conclusion"]["paired"] = summary["paired"]["conclusion"]
        timings["paired"] = time.perf_counter() - t
    return AnalysisResult(summary=summary, neuron_types=neuron_types, tables=tables)


def _with_str_dataset(table: pd.DataFrame | None) -> pd.DataFrame | None:
    if table is None or not len(table) or pd.api.types.is_string_dtype(table["dataset"]):
        return table
    return table.assign(dataset=table["dataset"].astype(str))


def _best(cls_out: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The (feature set, classifier) of highest mean accuracy, with its confusion matrix."""
    best: dict[str, Any] = {}
    for fs, res in cls_out.items():
        for name, r in res.get("classifiers", {}).items():
            if "skipped" in r:
                continue
            if not best or r["mean"] > best["mean"]:
                best = {"feature_set": fs, "classifier": name, "mean": r["mean"], "std": r["std"],
                        "chance": res["chance"], "confusion": r["confusion"],
                        "class_names": [names[c] for c in res["classes"]]}
    return best


def _evolution(neurons: pd.DataFrame, cfg: AnalysisConfig) -> pd.DataFrame:
    """Mean and std of every measure per (dataset, epoch, layer) when there are several snapshot epochs."""
    if neurons["epoch"].nunique() < 2:
        return pd.DataFrame()
    keys = [neurons["dataset"], neurons["epoch"], neurons["layer"]]
    parts = []
    for m in neurons.columns:
        if m in NEURON_COLUMNS + ("neuron", "neuron_type") or not pd.api.types.is_numeric_dtype(neurons[m]):
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
