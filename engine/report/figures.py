"""The report's figures: each function returns a matplotlib Figure, or None when it has no data.

Figures are made with ``matplotlib.figure.Figure`` directly, never through pyplot: no global
backend or figure manager is touched (importing this module changes nothing for a caller that uses
pyplot itself), and a figure is freed like any object; ``Figure.savefig`` renders with Agg.
"""

from __future__ import annotations

import math
from typing import Any, Callable, TypeVar

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from engine.analysis.bag_of_neurons import NeuronTypes
from engine.analysis.classification import BestClassifier
from engine.analysis.features import CN_COLUMN, WEIGHT_COLUMN, cn_columns
from engine.analysis.performance_classes import PerformanceClasses, eligible_mask
from engine.analysis.predictability import Predictability
from engine.analysis.results import typed_parts
from engine.report.axes import label_panel, scaled_axis
from engine.shared_docs import shared_docs

_T = TypeVar("_T")

# the examples' summary with neuron types (Bag-of-Neurons alone, k = 2, on a synthetic population)
_BON_SUMMARY = """
>>> from engine.analysis import run_analysis
>>> from engine.analysis.synthetic import make_population
>>> nets, neurons, _ = make_population(networks=12, layer_sizes=(4,), seed=0)
>>> off = {k: False for k in ("classification", "regression", "early_prediction", "correlations", "lost_classes")}
>>> summary = run_analysis(nets, neurons, {"enabled": off, "bon": {"k": 2}}).summary
"""

__all__ = ["accuracy_distributions", "bon_centroids", "bon_type_shares", "confusion_matrices", "correlation_heatmap",
           "early_prediction", "learning_curves", "lost_classes", "measure_evolution", "measures_vs_accuracy"]


def _trend(ax: Axes, x: np.ndarray, y: np.ndarray) -> None:
    """Least-squares line of y on x as the axis shows x (straight on a log or symlog axis too)."""
    tr = ax.xaxis.get_transform()
    tx = tr.transform(x.reshape(-1, 1)).ravel()
    if np.ptp(tx) == 0 or not np.isfinite(tx).all():
        return
    a, b = np.polyfit(tx, y, 1)
    grid = np.linspace(tx.min(), tx.max(), 50)
    ax.plot(tr.inverted().transform(grid.reshape(-1, 1)).ravel(), a * grid + b, color="#c44e52", lw=1.5)


def _grid(n: int, ncols: int, w: float = 3.2, h: float = 2.6) -> tuple[Figure, np.ndarray]:
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    fig = Figure(figsize=(w * ncols, h * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, axes


def _per_dataset(parts: dict[str, _T], ncols: int, w: float, h: float,
                 draw: Callable[[Figure, Axes, str, _T], None]) -> Figure | None:
    """One panel per dataset of ``parts`` (in name order), each drawn by ``draw(fig, ax, dataset, part)``;
    None when there is no dataset."""
    if not parts:
        return None
    fig, axes = _grid(len(parts), ncols, w, h)
    for ax, (ds, v) in zip(axes.flat, sorted(parts.items())):
        draw(fig, ax, ds, v)
    fig.tight_layout()
    return fig


def accuracy_distributions(networks: pd.DataFrame, summary: dict[str, Any]) -> Figure | None:
    """Histogram of test accuracy per dataset, class boundaries as dashed lines.

    Parameters
    ----------
    networks : pandas.DataFrame
        The analysis' networks table (``dataset``, ``test_acc``; diverged networks are left out).
    summary : dict
        The analysis summary (its ``performance_classes`` give the boundaries).

    Returns
    -------
    matplotlib.figure.Figure or None
        None when no network takes part.

    Examples
    --------
    >>> nets = pd.DataFrame({"dataset": "d", "network": range(20), "test_acc": np.linspace(0.5, 0.9, 20)})
    >>> len(accuracy_distributions(nets, {}).axes)
    1
    """
    nets = networks[eligible_mask(networks).to_numpy()]
    datasets = sorted(nets["dataset"].unique())
    if not datasets:
        return None
    fig, axes = _grid(len(datasets), 4, 3.6, 2.8)
    found = summary.get("performance_classes")
    pcs = PerformanceClasses.from_dict(found).datasets if found else {}
    for ax, ds in zip(axes.flat, datasets):
        acc = nets.loc[nets["dataset"] == ds, "test_acc"].astype(float)
        ax.hist(acc, bins=min(40, max(5, len(acc) // 5)), color="#4878a8")
        for t in pcs[ds].thresholds if ds in pcs else []:
            ax.axvline(t, color="k", ls="--", lw=1)
        ax.set_title(f"{ds} (n={len(acc)})")
        ax.set_xlabel("test accuracy")
        ax.set_ylabel("networks")
    fig.tight_layout()
    return fig


def _plot_values(col: str, v: np.ndarray, log_measures: list[str]) -> tuple[np.ndarray, str]:
    m = CN_COLUMN.match(col)
    if m and m.group("measure") in log_measures and (v > 0).all():
        return np.log10(v), f"log10 {col}"
    return v, col


def measures_vs_accuracy(networks: pd.DataFrame, dataset: str, corr: pd.DataFrame,
                         log_measures: list[str]) -> Figure | None:
    """Scatter of every per-network measure summary of one dataset against test accuracy, with a trend line.

    Heavy-tailed summaries get a log or symlog x axis (``engine.report.axes.axis_scale``), the trend is
    straight on it.

    Parameters
    ----------
    networks : pandas.DataFrame
        The analysis' networks table (``dataset``, ``test_acc``, ``{measure}_l{layer}_{mean|std}``).
    dataset : str
    corr : pandas.DataFrame
        ``spearman_table``'s rows (rho in the panel titles); may be empty.
    log_measures : list of str
        Measures drawn as log10 where positive.

    Returns
    -------
    matplotlib.figure.Figure or None
        None without summary columns or with fewer than 2 networks.

    Examples
    --------
    >>> acc = np.linspace(0.5, 0.9, 10)
    >>> nets = pd.DataFrame({"dataset": "d", "network": range(10), "test_acc": acc, "strength_l1_mean": 1 - acc})
    >>> len(measures_vs_accuracy(nets, "d", pd.DataFrame(), []).axes)
    1
    """
    nets = networks[eligible_mask(networks).to_numpy() & (networks["dataset"] == dataset).to_numpy()]
    cols = cn_columns(nets)
    if not cols or len(nets) < 2:
        return None
    rho = {r.column: r.rho for r in corr[corr["dataset"] == dataset].itertuples()} if len(corr) else {}
    fig, axes = _grid(len(cols), 4, 3.0, 2.4)
    acc = nets["test_acc"].astype(float).to_numpy()
    for ax, col in zip(axes.flat, cols):
        v, label = _plot_values(col, nets[col].astype(float).to_numpy(), log_measures)
        ok = np.isfinite(v) & np.isfinite(acc)
        ax.scatter(v[ok], acc[ok], s=4, alpha=0.5, color="#4878a8", rasterized=True)
        scale = scaled_axis(ax, "x", v[ok])
        if ok.sum() >= 2 and np.ptp(v[ok]) > 0:
            _trend(ax, v[ok], acc[ok])
        r = rho.get(col, np.nan)
        label += "" if scale == "linear" else f" ({scale} axis)"
        ax.set_title(f"{label}\nrho={r:+.2f}" if np.isfinite(r) else label, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_ylabel("test acc", fontsize=7)
    fig.suptitle(f"{dataset}: measures vs test accuracy", y=1.0)
    fig.tight_layout()
    return fig


@shared_docs(bon_summary=_BON_SUMMARY)
def bon_centroids(summary: dict[str, Any]) -> Figure | None:
    """Heat-map of each dataset's Bag-of-Neurons centroids in z-units, annotated with raw values.

    Parameters
    ----------
    summary : dict
        The analysis summary (its ``bag_of_neurons`` part, ``NeuronTypes`` per dataset).

    Returns
    -------
    matplotlib.figure.Figure or None
        None when no dataset has neuron types.

    Examples
    --------
    {{bon_summary}}
    >>> len(bon_centroids(summary).axes), bon_centroids({}) is None   # one panel and its colour bar
    (2, True)
    """
    return _per_dataset(typed_parts(summary.get("bag_of_neurons"), NeuronTypes, "k"), 2, 5.0, 3.6, _draw_centroids)


def _draw_centroids(fig: Figure, ax: Axes, ds: str, v: NeuronTypes) -> None:
    z = np.asarray(v.centroids_normalised)
    raw = np.asarray(v.centroids_raw)
    im = ax.imshow(z, cmap="RdBu_r", vmin=-max(1e-9, np.abs(z).max()), vmax=max(1e-9, np.abs(z).max()),
                   aspect="auto")
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            ax.text(j, i, f"{raw[i, j]:.3g}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(z.shape[1]), v.measures, rotation=20, fontsize=7)
    ax.set_yticks(range(z.shape[0]), [f"type {i}" for i in range(z.shape[0])], fontsize=7)
    ax.set_title(f"{ds}: centroids (colour z-score, text raw)", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.04)


@shared_docs(bon_summary=_BON_SUMMARY)
def bon_type_shares(summary: dict[str, Any]) -> Figure | None:
    """Share of each neuron type among the neurons of each performance class (grouped bars), per dataset.

    One bar colour per performance class: its shares over all hidden layers together (``"all"``).

    Parameters
    ----------
    summary : dict
        As for ``bon_centroids`` (each ``NeuronTypes``' ``type_shares_per_class``).

    Returns
    -------
    matplotlib.figure.Figure or None
        None when no dataset has shares per class.

    Examples
    --------
    {{bon_summary}}
    >>> len(bon_type_shares(summary).axes)
    1
    """
    bon = {ds: v for ds, v in typed_parts(summary.get("bag_of_neurons"), NeuronTypes, "k").items()
           if any(s["all"] is not None for s in v.type_shares_per_class.values())}
    return _per_dataset(bon, 2, 5.0, 3.0, _draw_type_shares)


def _draw_type_shares(fig: Figure, ax: Axes, ds: str, v: NeuronTypes) -> None:
    shares = v.type_shares_per_class
    names = [n for n in shares if shares[n]["all"] is not None]
    k = v.k
    width = 0.8 / max(1, len(names))
    for i, n in enumerate(names):
        ax.bar(np.arange(k) + i * width - 0.4 + width / 2, shares[n]["all"], width, label=n)
    ax.set_xticks(range(k), [f"type {j}" for j in range(k)], fontsize=7)
    ax.set_ylabel("share of neurons")
    ax.set_title(f"{ds}: neuron types per performance class", fontsize=9)
    ax.legend(fontsize=7)


def confusion_matrices(summary: dict[str, Any]) -> Figure | None:
    """Summed out-of-fold confusion matrix of the best (feature set, classifier) per dataset.

    Parameters
    ----------
    summary : dict
        The analysis summary; its ``best_classifier`` part is read (a ``BestClassifier`` per dataset).

    Returns
    -------
    matplotlib.figure.Figure or None
        None when no classifier ran.

    Examples
    --------
    >>> from engine.analysis.classification import BestClassifier
    >>> best = BestClassifier("cn", "svm", 0.8, 0.1, 0.5, [[4, 1], [1, 4]], ["low", "high"])
    >>> len(confusion_matrices({"best_classifier": {"d": best.to_dict()}}).axes)
    1
    """
    best = typed_parts(summary.get("best_classifier"), BestClassifier, "classifier")
    return _per_dataset(best, 4, 3.4, 3.2, _draw_confusion)


def _draw_confusion(fig: Figure, ax: Axes, ds: str, b: BestClassifier) -> None:
    cm = np.asarray(b.confusion, dtype=float)
    ax.imshow(cm, cmap="Blues")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(b.class_names)), b.class_names, fontsize=7)
    ax.set_yticks(range(len(b.class_names)), b.class_names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{ds}: {b.classifier} on {b.feature_set}\nacc {b.mean:.3f} (chance {b.chance:.3f})",
                 fontsize=8)


def _correlation_blocks(columns: list[str]) -> list[tuple[str, list[str], list[str], dict[str, tuple[str, str]]]]:
    """Group summary columns into matrices: (title, row labels, column labels, column -> (row, col)).
    ``{measure}_l{layer}_{mean|std}``: rows = measures, columns = layer and statistic;
    ``w_l{layer}_{stat}``: rows = statistics, columns = layers; anything else: one row each."""
    cn: dict[str, tuple[str, str]] = {}
    w: dict[str, tuple[str, str]] = {}
    other: dict[str, tuple[str, str]] = {}
    for c in columns:
        if m := CN_COLUMN.match(c):
            cn[c] = (m.group("measure"), f"l{m.group('layer')} {m.group('stat')}")
        elif m := WEIGHT_COLUMN.match(c):
            w[c] = (m.group("stat"), f"l{m.group('layer')}")
        else:
            other[c] = (c, "rho")

    def order(cells: dict[str, tuple[str, str]], key) -> tuple[list[str], list[str]]:
        rows = list(dict.fromkeys(r for r, _ in cells.values()))
        cols = sorted(dict.fromkeys(c for _, c in cells.values()), key=key)
        return rows, cols

    def layer_stat(col: str) -> tuple[int, str]:
        layer, _, stat = col.partition(" ")
        return int(layer[1:]), stat

    blocks = []
    for title, cells, key in (("measures", cn, layer_stat), ("weights", w, lambda c: int(c[1:])),
                              ("other", other, str)):
        if cells:
            blocks.append((title, *order(cells, key), cells))
    return blocks


def correlation_heatmap(corr: pd.DataFrame) -> Figure | None:
    """Spearman rho of every per-network summary with test accuracy as matrices, a column of panels per dataset.

    Measures (rows) by layer and statistic (columns), weight statistics (rows) by layer (columns);
    * = significant.

    Parameters
    ----------
    corr : pandas.DataFrame or None
        ``spearman_table``'s rows.

    Returns
    -------
    matplotlib.figure.Figure or None
        None when ``corr`` is None or empty.

    Examples
    --------
    >>> corr = pd.DataFrame({"dataset": "d", "column": ["strength_l1_mean", "w_l1_std"], "rho": [-0.5, 0.1],
    ...                      "p": [0.01, 0.6], "n": [30, 30], "significant": [True, False]})
    >>> len(correlation_heatmap(corr).axes)   # measures, weights and the colour bar
    3
    """
    if corr is None or len(corr) == 0:
        return None
    datasets = sorted(corr["dataset"].unique())
    blocks = _correlation_blocks(list(corr["column"].drop_duplicates()))
    width = max(len(cols) for _, _, cols, _ in blocks)
    fig = Figure(figsize=(2.2 + 0.62 * width * len(datasets), 0.9 + 0.3 * sum(len(r) + 2 for _, r, _, _ in blocks)),
                 layout="constrained")
    axes = fig.subplots(len(blocks), len(datasets), squeeze=False,
                        gridspec_kw={"height_ratios": [len(rows) + 0.8 for _, rows, _, _ in blocks]})
    im = None
    for j, ds in enumerate(datasets):
        d = corr[corr["dataset"] == ds].set_index("column")
        for i, (title, rows, cols, cells) in enumerate(blocks):
            ax = axes[i, j]
            rho = np.full((len(rows), len(cols)), np.nan)
            sig = np.zeros_like(rho, dtype=bool)
            for col, (r, c) in cells.items():
                if col in d.index:
                    rho[rows.index(r), cols.index(c)] = d.at[col, "rho"]
                    sig[rows.index(r), cols.index(c)] = bool(d.at[col, "significant"])
            im = ax.imshow(rho, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
            for (r, c), value in np.ndenumerate(rho):
                if np.isfinite(value):
                    ax.text(c, r, f"{value:+.2f}{'*' if sig[r, c] else ''}", ha="center", va="center", fontsize=7,
                            color="white" if abs(value) > 0.6 else "black")
            ax.set_xticks(range(len(cols)), cols, fontsize=7)
            ax.set_yticks(range(len(rows)), rows if j == 0 else [], fontsize=7)
            ax.tick_params(length=0)
            ax.set_title(f"{ds}: {title}", fontsize=8)
    fig.colorbar(im, ax=axes, fraction=0.04, shrink=0.6, label="Spearman rho")
    fig.suptitle("Spearman rho with test accuracy (* p < alpha)", fontsize=9)
    return fig


def measure_evolution(evolution: pd.DataFrame) -> Figure | None:
    """Mean of every measure over the snapshot epochs, one line per (dataset, layer).

    Heavy-tailed means get a log or symlog y axis (``engine.report.axes.axis_scale``); the snapshot
    epochs are the x ticks.

    Parameters
    ----------
    evolution : pandas.DataFrame or None
        ``dataset``, ``epoch``, ``layer``, ``measure``, ``mean`` (the analysis' ``evolution`` table).

    Returns
    -------
    matplotlib.figure.Figure or None
        None when ``evolution`` is None or has no rows.

    Examples
    --------
    >>> ev = pd.DataFrame({"dataset": "d", "epoch": [0, 5], "layer": 1, "measure": "strength", "mean": [1.0, 2.0],
    ...                    "std": 0.1})
    >>> len(measure_evolution(ev).axes)
    1
    """
    if evolution is None or len(evolution) == 0:
        return None
    measures = list(evolution["measure"].drop_duplicates())
    fig, axes = _grid(len(measures), 4, 3.2, 2.5)
    for ax, m in zip(axes.flat, measures):
        e = evolution[evolution["measure"] == m]
        for (ds, layer), g in e.groupby(["dataset", "layer"]):
            ax.plot(g["epoch"], g["mean"], marker=".", label=f"{ds} l{layer}")
        scale = scaled_axis(ax, "y", e["mean"].to_numpy(dtype=float))
        epochs = sorted(e["epoch"].unique())
        if len(epochs) <= 8:
            ax.set_xticks(epochs, [str(int(x)) for x in epochs])
        else:
            ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
        ax.set_title(m if scale == "linear" else f"{m} ({scale} axis)", fontsize=8)
        ax.set_xlabel("epoch", fontsize=7)
        ax.tick_params(labelsize=7)
    axes.flat[0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def learning_curves(curves: pd.DataFrame | None) -> Figure | None:
    """Mean (and 10-90 % band) of test accuracy per epoch, per dataset.

    Parameters
    ----------
    curves : pandas.DataFrame or None
        curves.parquet: ``dataset``, ``epoch``, ``test_acc``.

    Returns
    -------
    matplotlib.figure.Figure or None
        None without those columns or rows.

    Examples
    --------
    >>> curves = pd.DataFrame({"dataset": "d", "network": [0, 0, 1, 1], "epoch": [0, 1, 0, 1],
    ...                        "test_acc": [0.1, 0.8, 0.1, 0.9]})
    >>> len(learning_curves(curves).axes), learning_curves(None)
    (1, None)
    """
    if curves is None or len(curves) == 0 or not {"dataset", "epoch", "test_acc"} <= set(curves.columns):
        return None
    fig = Figure(figsize=(5.5, 3.5))
    ax = fig.subplots()
    for ds, g in curves.groupby("dataset"):
        s = g.groupby("epoch")["test_acc"]
        mean, lo, hi = s.mean(), s.quantile(0.1), s.quantile(0.9)
        ax.plot(mean.index, mean.to_numpy(), label=str(ds))
        ax.fill_between(mean.index, lo.to_numpy(), hi.to_numpy(), alpha=0.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=8)
    ax.set_title("test accuracy over training (mean, 10-90 %)", fontsize=9)
    fig.tight_layout()
    return fig


_EARLY_STYLES = {"cn": ("#c44e52", "-"), "bon": ("#dd8452", "-"), "weights": ("#55a868", "-"),
                 "spectral": ("#8172b3", "-"), "all": ("#4878a8", "-"), "curve": ("#333333", "--")}


def early_prediction(early: pd.DataFrame | None, predictability: dict[str, Any]) -> Figure | None:
    """Final performance predicted from each snapshot epoch, per dataset.

    R^2 of final test accuracy (left; below -1 off the chart, worse than predicting the mean) and accuracy
    of the final performance class (right) against the epoch the features come from, one line per feature
    set; the noise ceiling and chance as grey lines. Epochs are evenly spaced.

    Parameters
    ----------
    early : pandas.DataFrame or None
        The analysis' ``early`` table (``early_prediction``'s second value).
    predictability : dict
        The summary's ``predictability`` part (the noise ceilings).

    Returns
    -------
    matplotlib.figure.Figure or None
        None without rows.

    Examples
    --------
    >>> early = pd.DataFrame({"dataset": "d", "epoch": [0, 5], "feature_set": "cn", "r2": [0.1, 0.6],
    ...                       "class_acc": [0.4, 0.7], "chance": 0.34})
    >>> len(early_prediction(early, {}).axes)
    2
    """
    if early is None or len(early) == 0:
        return None
    datasets = sorted(early["dataset"].unique())
    fig = Figure(figsize=(9.5, 3.0 * len(datasets)))
    axes = fig.subplots(len(datasets), 2, squeeze=False)
    for (ax_r, ax_c), ds in zip(axes, datasets):
        e = early[early["dataset"] == ds]
        epochs = sorted(e["epoch"].unique())
        pos = {ep: i for i, ep in enumerate(epochs)}
        for fs, g in e.groupby("feature_set", sort=False):
            color, ls = _EARLY_STYLES.get(fs, ("#999999", ":"))
            x = [pos[v] for v in g["epoch"]]
            ax_r.plot(x, g["r2"].astype(float), ls, color=color, marker="o", ms=3, label=fs)
            ax_c.plot(x, g["class_acc"].astype(float), ls, color=color, marker="o", ms=3, label=fs)
        p = typed_parts(predictability, Predictability, "networks").get(ds)
        ceiling = p.ceiling if p is not None else None
        if ceiling is not None:
            ax_r.axhline(ceiling, color="grey", lw=1, ls=":", label="noise ceiling")
        chance = e["chance"].dropna()
        if len(chance):
            ax_c.axhline(float(chance.iloc[0]), color="grey", lw=1, ls=":", label="chance")
        low = np.nanmin(e["r2"].astype(float).to_numpy()) if e["r2"].notna().any() else 0.0
        ax_r.set_ylim(max(-1.0, min(0.0, low - 0.05)), 1.02)   # R^2 below -1: off the chart, worse than the mean
        ax_c.set_ylim(0, 1.02)
        for ax, what in ((ax_r, "R^2 of final test accuracy"), (ax_c, "accuracy of the final class")):
            ax.set_xticks(range(len(epochs)), [str(ep) for ep in epochs])
            label_panel(ax, "snapshot epoch the features come from (0 = random init)", what, ds)
        ax_c.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return fig


def lost_classes(networks: pd.DataFrame | None, settling: pd.DataFrame | None) -> Figure | None:
    """Test accuracy against the classes networks never predict, and when they are lost, per dataset.

    Each network a dot (jittered sideways) with the mean per count and the mean accuracy on the predicted
    classes as lines; where curves were recorded, the share of networks whose set of predicted classes has
    settled by each epoch and the share of the finally lost classes already never predicted then.

    Parameters
    ----------
    networks : pandas.DataFrame or None
        The analysis' ``lost_networks`` table (``dataset``, ``test_acc``, ``test_lost``, ``test_acc_predicted``).
    settling : pandas.DataFrame or None
        The ``lost_settling`` table (``dataset``, ``epoch``, ``settled_share``, ``lost_share``).

    Returns
    -------
    matplotlib.figure.Figure or None
        None without networks.

    Examples
    --------
    >>> nets = pd.DataFrame({"dataset": "d", "test_acc": [0.9, 0.8, 0.6], "test_lost": [0, 1, 3],
    ...                      "test_acc_predicted": 0.9})
    >>> len(lost_classes(nets, None).axes)
    1
    """
    if networks is None or len(networks) == 0:
        return None
    datasets = sorted(networks["dataset"].unique())
    with_settling = settling is not None and len(settling) > 0
    fig = Figure(figsize=(9.5 if with_settling else 5.0, 3.2 * len(datasets)))
    axes = fig.subplots(len(datasets), 2 if with_settling else 1, squeeze=False)
    rng = np.random.default_rng(0)
    for row, ds in zip(axes, datasets):
        g = networks[networks["dataset"] == ds]
        ax = row[0]
        lost = g["test_lost"].to_numpy(dtype=float)
        ax.scatter(lost + rng.uniform(-0.2, 0.2, len(g)), g["test_acc"].astype(float), s=5, alpha=0.4,
                   color="#4878a8", rasterized=True, label="network")
        means = g.groupby("test_lost")[["test_acc", "test_acc_predicted"]].mean()
        ax.plot(means.index, means["test_acc"], "o-", color="#c44e52", ms=4, label="mean test accuracy")
        ax.plot(means.index, means["test_acc_predicted"], "s--", color="#55a868", ms=3,
                label="mean accuracy on predicted classes")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        label_panel(ax, "test classes never predicted", "test accuracy",
                    f"{ds}: accuracy against lost classes (n={len(g)})")
        ax.legend(fontsize=6)
        if with_settling:
            ax = row[1]
            s = settling[settling["dataset"] == ds]
            if len(s):
                ax.step(s["epoch"], s["settled_share"], where="post", color="#4878a8",
                        label="networks whose predicted classes have settled")
                ax.plot(s["epoch"], s["lost_share"].astype(float), "o-", color="#c44e52", ms=3,
                        label="final lost classes already never predicted")
                ax.set_ylim(0, 1.02)
                label_panel(ax, "epoch", "share", f"{ds}: when classes are lost")
                ax.legend(fontsize=6, loc="lower right")
            else:
                ax.axis("off")
    fig.tight_layout()
    return fig
