"""Report stage: JSON metrics, PNG figures and one self-contained HTML page per run directory.

``write_report(run_dir, result=None, cfg=None)`` writes (all atomically):
``analysis/summary.json`` and one ``analysis/<part>.json`` per part, ``figures/*.png``,
``report.html``, and ``neurons.parquet`` again with a ``neuron_type`` column.
"""

from __future__ import annotations

import datetime as _dt
import io
import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from engine.analysis import AnalysisResult, run_analysis
from engine.analysis.config import AnalysisConfig
from engine.errors import EngineError
from engine.storage import atomic_path, write_json, write_parquet

log = logging.getLogger(__name__)

__all__ = ["load_run", "load_run_config", "write_report"]

PART_KEYS = ("performance_classes", "classification", "best_classifier", "regression", "bag_of_neurons",
             "correlations", "subgraph_verdict", "cross_benchmark", "predictability", "early_prediction", "conclusion")


def load_run(run_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None,
                                           pd.DataFrame | None]:
    """networks.parquet (required), neurons.parquet, curves.parquet and snapshots.parquet (optional) of a
    run directory."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise EngineError(f"run directory {run_dir} does not exist (pass the Hydra run directory of a finished run)")
    nets_path = run_dir / "networks.parquet"
    if not nets_path.is_file():
        raise EngineError(f"{nets_path} is missing: is {run_dir} a run directory of `python -m engine.run`?")

    def read(p: Path) -> pd.DataFrame | None:
        if not p.is_file():
            return None
        try:
            return pd.read_parquet(p)
        except Exception as e:  # pyarrow raises several types for damaged files
            raise EngineError(f"cannot read {p}: {e}; the file is damaged, rerun the stage that writes it") from e

    return (read(nets_path), read(run_dir / "neurons.parquet"), read(run_dir / "curves.parquet"),
            read(run_dir / "snapshots.parquet"))


def load_run_config(run_dir: str | Path) -> tuple[dict[str, Any] | None, str | None]:
    """The ``analysis`` section and ``backend`` of the run's saved Hydra config, or (None, None)."""
    path = Path(run_dir) / ".hydra" / "config.yaml"
    if not path.is_file():
        return None, None
    from omegaconf import OmegaConf

    try:
        conf = OmegaConf.load(path)
    except Exception as e:
        raise EngineError(f"cannot parse {path}: {e}") from e
    try:
        container = OmegaConf.to_container(conf, resolve=True)
    except Exception:  # interpolations that need Hydra's runtime: take the values as written
        container = OmegaConf.to_container(conf, resolve=False)
    backend = container.get("backend")
    if isinstance(backend, dict):  # the engine's config group: backend: {name: auto|cpu|gpu}
        backend = backend.get("name")
    backend = backend if isinstance(backend, str) else None
    return container.get("analysis"), backend


def write_report(run_dir: str | Path, result: AnalysisResult | None = None,
                 cfg: AnalysisConfig | Mapping[str, Any] | None = None, backend: str = "cpu") -> Path:
    """Write the analysis JSON, figures, report.html and typed neurons.parquet; return report.html's path."""
    run_dir = Path(run_dir)
    networks, neurons, curves, snapshots = load_run(run_dir)
    if result is None:
        if cfg is None:
            cfg, _ = load_run_config(run_dir)
        result = run_analysis(networks, neurons, cfg, backend=backend, snapshots=snapshots, curves=curves)
    summary = result.summary

    adir = run_dir / "analysis"
    write_json(summary, adir / "summary.json")
    for key in PART_KEYS:
        if key in summary:
            write_json(summary[key], adir / f"{key}.json")

    if result.neuron_types is not None and neurons is not None:
        if len(result.neuron_types) != len(neurons):
            raise EngineError(f"neuron types ({len(result.neuron_types)}) do not align with {run_dir}/neurons.parquet "
                              f"({len(neurons)} rows): run the analysis on this run's own neurons table")
        write_parquet(neurons.assign(neuron_type=result.neuron_types.to_numpy().astype("int64")),
                      run_dir / "neurons.parquet")

    figures = _write_figures(run_dir / "figures", result, curves)
    html_text = _html(run_dir, result, figures)
    out = run_dir / "report.html"
    with atomic_path(out) as tmp:
        tmp.write_text(html_text, encoding="utf-8")
    return out


def _write_figures(fdir: Path, result: AnalysisResult, curves: pd.DataFrame | None) -> dict[str, bytes]:
    """Render every figure that has data; write figures/<name>.png; return name -> PNG bytes."""
    import matplotlib.pyplot as plt

    from engine.report import figures as F

    s = result.summary
    nets = result.tables.get("networks")
    corr = result.tables.get("correlations")
    logm = s.get("config", {}).get("bon", {}).get("log10_measures", ["subgraph_centrality"])
    makers: list[tuple[str, Any]] = [("accuracy_distributions", lambda: F.accuracy_distributions(nets, s))]
    for ds in sorted(nets["dataset"].unique()) if nets is not None else []:
        makers.append((f"measures_vs_accuracy_{_slug(ds)}", lambda ds=ds: F.measures_vs_accuracy(nets, ds, corr, logm)))
    makers.append(("early_prediction", lambda: F.early_prediction(result.tables.get("early"),
                                                                   s.get("predictability", {}))))
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
        plt.close(fig)
        png = buf.getvalue()
        with atomic_path(fdir / f"{name}.png") as tmp:
            tmp.write_bytes(png)
        out[name] = png
    return out


def _slug(name: Any) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(name))


def _fmt(v: Any, spec: str = ".3f") -> str:
    return "" if v is None or (isinstance(v, float) and not np.isfinite(v)) else format(v, spec)


def _html(run_dir: Path, result: AnalysisResult, figs: dict[str, bytes]) -> str:
    from engine.report.html import esc, image, page, table

    s = result.summary
    cfg = s.get("config", {})
    sections: list[tuple[str, str]] = []
    c = s["counts"]
    pcs = s["performance_classes"]
    rows = [{"dataset": ds, "networks": d["networks"], "used": d["used"], "diverged excluded": d["diverged_excluded"],
             "NaN accuracy excluded": d["nan_accuracy_excluded"],
             **{f"{n} (n)": d["classes"][n]["count"] for n in pcs["names"]},
             **{f"{n} acc range": f"{_fmt(d['classes'][n]['min_acc'])}-{_fmt(d['classes'][n]['max_acc'])}"
                for n in pcs["names"]}} for ds, d in pcs["datasets"].items()]
    notes = "".join(f"<li>{esc(n)}</li>" for n in s.get("notes", []))
    sections += _opening(s, figs)
    sections.append(("Overview", f"<p>Run directory: <code>{esc(run_dir)}</code>; generated "
                     f"{esc(_dt.datetime.now().isoformat(timespec='seconds'))}; analysis backend {esc(s['backend'])}. "
                     f"{c['networks']} networks ({c['networks_used']} analysed) in {len(c['datasets'])} dataset(s), "
                     f"{c['neuron_rows']} neuron rows, snapshot epochs {esc(c['snapshot_epochs'])}.</p>"
                     f"{table(pd.DataFrame(rows))}" + (f"<ul class='note'>{notes}</ul>" if notes else "")
                     + _img(figs, "accuracy_distributions", image) + _img(figs, "learning_curves", image)))

    v = s.get("subgraph_verdict", {})
    vrows = [{"dataset": ds, "layer": L, "rho": d["rho"], "p": d["p"], "n": d["n"], "verdict": d["verdict"]}
             for ds, dd in v.get("datasets", {}).items() for L, d in dd.get("layers", {}).items()]
    sections.append(("Verdict: subgraph centrality and performance",
                     f"<p class='verdict'>{esc(v.get('text', ''))}</p>" + table(pd.DataFrame(vrows))))

    crow = []
    for ds, per in s.get("classification", {}).items():
        for fs, r in per.items():
            if "skipped" in r:
                crow.append({"dataset": ds, "feature set": fs, "classifier": "-", "accuracy": "",
                             "chance": "", "folds x repeats": "", "note": r["skipped"]})
                continue
            for name, a in r["classifiers"].items():
                if "skipped" in a:
                    crow.append({"dataset": ds, "feature set": fs, "classifier": name, "accuracy": "",
                                 "chance": "", "folds x repeats": "", "note": a["skipped"]})
                    continue
                crow.append({"dataset": ds, "feature set": fs, "classifier": name,
                             "accuracy": f"{a['mean']:.3f} ± {a['std']:.3f}", "chance": f"{r['chance']:.3f}",
                             "folds x repeats": f"{r['folds']} x {r['repeats']}", "note": "; ".join(r["notes"])})
    best = [{"dataset": ds, "feature set": b["feature_set"], "classifier": b["classifier"],
             "accuracy": f"{b['mean']:.3f} ± {b['std']:.3f}", "chance": f"{b['chance']:.3f}"}
            for ds, b in s.get("best_classifier", {}).items() if b]
    if crow:
        sections.append(("Classification of performance classes",
                         "<h3>Best per dataset</h3>" + table(pd.DataFrame(best)) + _img(figs, "confusion_matrices", image)
                         + "<h3>All</h3>" + table(pd.DataFrame(crow))))

    rrow = []
    for ds, per in s.get("regression", {}).items():
        for fs, r in per.items():
            if "skipped" in r:
                rrow.append({"dataset": ds, "feature set": fs, "regressor": "-", "R2": "", "Kendall tau": "",
                             "note": r["skipped"]})
                continue
            for name, a in r["regressors"].items():
                if "skipped" in a:
                    continue
                rrow.append({"dataset": ds, "feature set": fs, "regressor": name,
                             "R2": f"{_fmt(a['r2_mean'])} ± {_fmt(a['r2_std'])}", "Kendall tau": _fmt(a["kendall_tau"]),
                             "note": f"{r['folds']}-fold x {r['repeats']}"})
    if rrow:
        sections.append(("Regression of test accuracy", table(pd.DataFrame(rrow))))

    bon_html = ""
    for ds, b in s.get("bag_of_neurons", {}).items():
        if not isinstance(b, dict) or "k" not in b:
            bon_html += f"<p>{esc(ds)}: {esc(b.get('skipped', b) if isinstance(b, dict) else b)}</p>"
            continue
        cent = pd.DataFrame(b["centroids_raw"], columns=b["measures"])
        for j, m in enumerate(b["measures"]):
            cent[f"z {m}"] = [row[j] for row in b["centroids_normalised"]]
        cent.insert(0, "type", range(b["k"]))
        cent["share"] = b["type_shares_overall"]
        bon_html += (f"<h3>{esc(ds)}</h3><p>k = {b['k']} ({esc(b['k_selection'].get('method', 'auto silhouette'))}), "
                     f"epoch {b['epoch']}, {b['neurons_used']} neurons typed, {b['nan_dropped']} dropped (NaN); "
                     f"k-means fitted on {b['fit_sample']} neurons"
                     f"{' (random subsample)' if b['subsampled'] else ''}. "
                     f"{esc('; '.join(b['notes']))}</p>" + table(cent))
    if bon_html:
        sections.append(("Bag-of-Neurons", bon_html + _img(figs, "bon_centroids", image)
                         + _img(figs, "bon_type_shares", image)))

    corr = result.tables.get("correlations")
    if corr is not None and len(corr):
        top = corr.assign(abs_rho=corr["rho"].abs()).sort_values("abs_rho", ascending=False).drop(columns="abs_rho")
        scatter = "".join(_img(figs, k, image) for k in figs if k.startswith("measures_vs_accuracy_"))
        sections.append(("Correlations with test accuracy (Spearman)",
                         _img(figs, "correlations", image) + table(top) + scatter))

    cb = s.get("cross_benchmark", {})
    if cb.get("pairs"):
        prow = [{"a": p["a"], "b": p["b"], "matching (type a -> type b)": ", ".join(f"{i}->{j}" for i, j in p["matching"]),
                 "distances": ", ".join(f"{d:.2f}" for d in p["distances"]), "mean distance": p["mean_distance"],
                 "relative to within-dataset spread": p["relative_to_within"]} for p in cb["pairs"]]
        sections.append(("Neuron types across benchmarks",
                         f"<p>Centroids compared in {esc(cb['space'])}; Hungarian matching (minimum total Euclidean "
                         "distance). A relative distance well below 1 means the same neuron types recur across "
                         "domains.</p>" + table(pd.DataFrame(prow))))
    if "measure_evolution" in figs:
        sections.append(("Measures over training", _img(figs, "measure_evolution", image)))
    sections.append(("Protocol", _protocol(cfg)))
    return page("Structure and performance of fully connected networks: analysis report", sections)


def _opening(s: dict[str, Any], figs: dict[str, bytes]) -> list[tuple[str, str]]:
    """The sections the report opens with: the conclusion in words, the noise ceiling, early prediction."""
    from engine.report.html import esc, image, table

    out = []
    concl = s.get("conclusion", {}).get("datasets", {})
    if concl:
        out.append(("Conclusion", "".join(f"<p class='verdict'>{esc(' '.join(d['sentences']))}</p>"
                                          for d in concl.values())))
    rows = []
    for ds, p in s.get("predictability", {}).items():
        best = p.get("best") or {}
        rows.append({"dataset": ds, "networks": p["networks"], "test samples": p["test_samples"],
                     "accuracy min-max": f"{_fmt(p['acc_min'])}-{_fmt(p['acc_max'])}",
                     "accuracy sd": _fmt(p["acc_sd"], ".4f"), "test-set noise sd": _fmt(p["noise_sd"], ".4f"),
                     "noise ceiling (max R²)": _fmt(p["ceiling"], ".3f"),
                     "best R²": _fmt(best.get("r2")), "from": f"{best.get('feature_set', '')} {best.get('regressor', '')}",
                     "Kendall tau": _fmt(best.get("kendall_tau")),
                     "share of ceiling": _fmt(p.get("share_of_ceiling"), ".0%")})
    if rows:
        out.append(("How much of performance is predictable",
                    "<p>Each network's test accuracy is measured on a finite test set, so it carries binomial "
                    "sampling noise (variance acc(1-acc)/n). The noise ceiling is the share of the variance "
                    "between networks that is not this noise: no predictor's R² can exceed it (conservative: "
                    "networks sharing one test set err together on its hard samples).</p>" + table(pd.DataFrame(rows))))
    early = s.get("early_prediction", {})
    if "early_prediction" in figs:
        out.append(("Early prediction: final performance from the structure at each epoch",
                    "<p>Features of each snapshot epoch alone (0 = the random init) predict the <em>final</em> test "
                    "accuracy (R², left) and performance class (right); <code>curve</code> is the trivial "
                    "baseline, the learning curve up to that epoch.</p>" + image(figs["early_prediction"],
                                                                               "early_prediction")))
    elif isinstance(early, dict) and early:
        why = "; ".join(f"{ds}: {d['skipped']}" for ds, d in early.items() if isinstance(d, dict) and "skipped" in d)
        if why or "skipped" in early:
            out.append(("Early prediction", f"<p class='note'>Not run: {esc(why or early['skipped'])}</p>"))
    return out


def _img(figs: dict[str, bytes], name: str, image: Any) -> str:
    return image(figs[name], name) if name in figs else ""


def _protocol(cfg: dict[str, Any]) -> str:
    """The project's choices, stated where the paper's protocol is unknown or where we depart from it."""
    from engine.report.html import esc

    b = cfg.get("bon", {})
    e = cfg.get("early", {})
    classes = (f"{esc(cfg.get('classes'))} quantile classes by rank of test accuracy (equal sizes, ties broken by "
               "row order; 3 classes are named low/medium/high)" if cfg.get("thresholds") is None
               else f"fixed test-accuracy thresholds {esc(cfg.get('thresholds'))}")
    items = [
        f"Performance classes: per dataset, {classes}. The paper's exact class boundaries are not given.",
        "Diverged networks (flag <code>diverged</code>) and networks without a finite test accuracy are excluded "
        "from every part and counted in the overview.",
        f"Classifiers: {esc(', '.join(map(str, cfg.get('classifiers', []))))} (scikit-learn; cuML on GPU except LDA), parameters "
        f"{esc(cfg.get('estimator_params', {}))}. Stratified {esc(cfg.get('folds'))}-fold cross-validation repeated "
        f"{esc(cfg.get('repeats'))} times with different shuffles; a StandardScaler fitted inside each training fold. "
        "When the smallest class has fewer networks than folds, the fold count drops to that size; classes with "
        "fewer than 2 networks are left out. Accuracy is mean ± std over all folds of all repeats; chance is the "
        "majority-class share. The paper's fold count and repetitions are not known.",
        f"Regression of test accuracy: ridge and random forest, plain {esc(cfg.get('folds'))}-fold x "
        f"{esc(cfg.get('regression_repeats'))}; R² per fold (mean ± std), Kendall's tau between out-of-fold predictions "
        "and the truth.",
        "Feature sets: cn = per-layer mean and std of every measure (networks.parquet); bon = Bag-of-Neurons "
        "histograms (joint and per layer); weights = per-layer mean, std and 0/25/50/75/100 % quantiles of the raw "
        "weights (Unterthiner et al. 2020), when present; spectral = per-layer WeightWatcher metrics (power-law "
        "alpha of the eigenvalue spectrum of WᵀW, weighted alpha, log spectral norm, stable rank, log Frobenius "
        "norm; Martin & Mahoney 2021), when present; all = their union. Rows with NaN features are dropped "
        "(counted).",
        f"Early prediction: for every snapshot epoch, the feature sets of that epoch alone predict the final test "
        f"accuracy ({esc(', '.join(map(str, e.get('regressors', []))))}) and the final performance class "
        f"({esc(', '.join(map(str, e.get('classifiers', []))))}), same folds and seeds, {esc(e.get('repeats'))} "
        "repeat(s); Bag-of-Neurons types at earlier epochs use the last epoch's centroids; the baseline "
        "<code>curve</code> is the learning curve (train/test loss and accuracy, silenced share) of epochs 0..e and "
        "stops one epoch before the last, whose curve holds the target.",
        "Noise ceiling: binomial sampling noise of each network's test accuracy, mean acc(1-acc)/n over the "
        "networks, against the variance of test accuracy between networks (sample variance); the ceiling is "
        "1 - noise/variance. Networks share one test set, so this noise is an upper bound and the ceiling a "
        "lower bound.",
        f"Bag-of-Neurons: measures {esc(b.get('measures'))}, log10 of {esc(b.get('log10_measures'))} (subgraph centrality "
        f"reaches 1e89), z-scored over all neurons of the benchmark at the last snapshot epoch; k-means++ with "
        f"k = {esc(b.get('k'))}, n_init = {esc(b.get('n_init'))}, max_iter = {esc(b.get('max_iter'))} (the paper: k = 6, n_init = "
        f"100, max_iter = 100), fitted on a random subsample of {esc(b.get('fit_sample'))} neurons when there are more, "
        "then every neuron assigned to its nearest centroid. Types are numbered by increasing centroid of the first "
        "measure. Neurons of other snapshot epochs are typed with the same centroids and normalisation. "
        "k: auto picks the best silhouette (on a subsample) in k_range; inertia is kept for an elbow reading.",
        f"Correlations: Spearman rho and p-value of every per-network summary with test accuracy, per dataset; "
        f"significance at alpha = {esc(cfg.get('alpha'))} without multiple-comparison correction. Verdict on 'lower-"
        "performing models have higher subgraph centrality': per layer, rho < 0 and p < alpha = supported, rho > 0 "
        "and p < alpha = opposite, otherwise not supported.",
        "Across benchmarks: centroids compared in each dataset's own z-space (each benchmark normalised on its own "
        "neurons, as its k-means was), matched one-to-one by the Hungarian algorithm; distances are reported next "
        "to the mean distance between distinct centroids within a dataset. This absorbs each domain's overall "
        "scale of weights, but different type proportions alone shift z-space centroids a little.",
    ]
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"
