"""The paired comparison in the report (runs with ``population.compare``): its two figures and its
section, which opens the page (``engine.analysis.paired`` computes the numbers).

* ``paired_differences``: the mean paired difference (arm - reference) of test accuracy at every
  epoch with its 95 % interval and the median, per benchmark; with the Keras loss, the same for the
  share of silenced training samples;
* ``paired_accuracy``: final test accuracy per arm (histograms on common bins) and pair by pair
  (reference on x, arm on y, the diagonal = no change).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from engine.analysis.features import r2_words
from engine.analysis.paired import Arm, Comparison, Paired, arm_label
from engine.analysis.performance_classes import eligible_mask
from engine.analysis.results import Skipped
from engine.report.axes import label_panel
from engine.report.html import esc, table

__all__ = ["paired_accuracy", "paired_differences", "section"]

_ARM_COLORS = ("#4878a8", "#dd8452", "#55a868", "#c44e52", "#8172b3")
_METRIC_NAMES = {"test_acc": "test accuracy", "train_silenced": "silenced share of training samples"}


def paired_differences(epochs: pd.DataFrame | None, paired: dict[str, Any] | None) -> Figure | None:
    """Mean paired difference (arm - reference) per epoch, per benchmark (columns) and metric (rows).

    The 95 % t interval as a band, the median dashed, zero in grey.

    Parameters
    ----------
    epochs : pandas.DataFrame or None
        The analysis' ``paired_epochs`` table: ``dataset``, ``metric`` ("test_acc", "train_silenced"), ``arm``,
        ``epoch``, ``mean``, ``low``, ``high``, ``median``.
    paired : dict or None
        The summary's ``paired`` part (a ``Paired``'s JSON object: its ``arms`` and ``reference`` are read).

    Returns
    -------
    matplotlib.figure.Figure or None
        One panel per benchmark and metric; None for a run without arms or epochs.

    Examples
    --------
    >>> epochs = pd.DataFrame({"dataset": "d", "metric": "test_acc", "arm": "pa", "epoch": [0, 1], "mean": [0.0, 0.01],
    ...                        "low": [-0.01, 0.0], "high": [0.01, 0.02], "median": [0.0, 0.01]})
    >>> paired = Paired("default", ["default", "pa"], 0.05, "paired", {}, {}).to_dict()
    >>> len(paired_differences(epochs, paired).axes)
    1
    """
    if epochs is None or not len(epochs) or not paired:
        return None
    p = Paired.from_dict(paired)
    datasets = sorted(epochs["dataset"].unique())
    metrics = [m for m in _METRIC_NAMES if m in set(epochs["metric"])]
    fig = Figure(figsize=(4.6 * len(datasets), 3.0 * len(metrics)))
    axes = fig.subplots(len(metrics), len(datasets), squeeze=False)
    arms = p.arms
    for j, ds in enumerate(datasets):
        for i, m in enumerate(metrics):
            ax = axes[i, j]
            for k, (arm, g) in enumerate(epochs[(epochs["dataset"] == ds) & (epochs["metric"] == m)].groupby(
                    "arm", sort=False)):
                color = _ARM_COLORS[(arms.index(arm) if arm in arms else k) % len(_ARM_COLORS)]
                x = g["epoch"].to_numpy()
                ax.plot(x, g["mean"].to_numpy(dtype=float), color=color, marker=".",
                        label=f"{arm} - {p.reference}: mean")
                ax.fill_between(x, g["low"].to_numpy(dtype=float), g["high"].to_numpy(dtype=float), color=color,
                                alpha=0.2, label="95 % CI of the mean")
                ax.plot(x, g["median"].to_numpy(dtype=float), color=color, ls="--", lw=1, label="median")
            ax.axhline(0, color="grey", lw=1)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            label_panel(ax, "epoch (0 = at init)", f"paired difference of\n{_METRIC_NAMES[m]}", ds)
            ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def paired_accuracy(networks: pd.DataFrame | None, paired: dict[str, Any] | None) -> Figure | None:
    """Final test accuracy per arm (histograms on common bins, left) and pair by pair (right), per benchmark.

    Parameters
    ----------
    networks : pandas.DataFrame or None
        The analysis' networks table, each arm a dataset of its own (``arm_label``: ``digits/pa``).
    paired : dict or None
        The summary's ``paired`` part (a ``Paired``'s JSON object: its ``arms``, ``reference`` and the names of
        its ``datasets`` are read).

    Returns
    -------
    matplotlib.figure.Figure or None
        Two panels per benchmark; None for a run without arms.

    Examples
    --------
    >>> from engine.analysis.paired import DatasetPairs
    >>> nets = pd.DataFrame({"dataset": ["d/default"] * 3 + ["d/pa"] * 3, "network": [0, 1, 2] * 2,
    ...                      "test_acc": [0.80, 0.82, 0.85, 0.81, 0.84, 0.85]})
    >>> paired = Paired("default", ["default", "pa"], 0.05, "paired", {"d": DatasetPairs({}, {})}, {}).to_dict()
    >>> len(paired_accuracy(nets, paired).axes)
    2
    """
    if networks is None or not len(networks) or not paired:
        return None
    p = Paired.from_dict(paired)
    if not p.datasets:
        return None
    nets = networks[eligible_mask(networks).to_numpy()]
    arms, ref = p.arms, p.reference
    datasets = sorted(p.datasets)
    fig = Figure(figsize=(9.0, 3.2 * len(datasets)))
    axes = fig.subplots(len(datasets), 2, squeeze=False)
    for (ax_h, ax_s), ds in zip(axes, datasets):
        acc = {arm: nets.loc[nets["dataset"] == arm_label(ds, arm)].set_index("network")["test_acc"].astype(float)
               for arm in arms}
        values = np.concatenate([a.to_numpy() for a in acc.values()])
        if not values.size:
            continue
        bins = np.linspace(values.min(), values.max(), min(40, max(5, values.size // 10)) + 1) \
            if np.ptp(values) > 0 else 5
        for k, arm in enumerate(arms):
            ax_h.hist(acc[arm].to_numpy(), bins=bins, histtype="step", lw=1.5, color=_ARM_COLORS[k % len(_ARM_COLORS)],
                      label=f"{arm} (n={len(acc[arm])}, mean {acc[arm].mean():.3f})")
        label_panel(ax_h, "final test accuracy", "networks", f"{ds}: accuracy per arm", grid=False)
        ax_h.legend(fontsize=7)
        for k, arm in enumerate(arms[1:], start=1):
            both = pd.concat([acc[ref], acc[arm]], axis=1, join="inner").dropna()
            ax_s.scatter(both.iloc[:, 0], both.iloc[:, 1], s=5, alpha=0.5, color=_ARM_COLORS[k % len(_ARM_COLORS)],
                         label=f"{arm} ({len(both)} pairs)", rasterized=True)
        lo, hi = float(values.min()), float(values.max())
        ax_s.plot([lo, hi], [lo, hi], color="grey", lw=1)
        label_panel(ax_s, f"final test accuracy, {ref}",
                    f"final test accuracy, {arms[1] if len(arms) == 2 else 'other arm'} (same seed)",
                    f"{ds}: pair by pair (above the diagonal: better)", grid=False)
        ax_s.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _fmt(v: Any, spec: str) -> str:
    return "" if v is None or (isinstance(v, float) and not np.isfinite(v)) else format(v, spec)


def _ci(ci: list[float] | None) -> str:
    return "" if not ci else f"[{ci[0]:+.4f}, {ci[1]:+.4f}]"


def section(summary: dict[str, Any], img) -> tuple[str, str] | None:
    """The report's paired section, or None for a run without arms.

    Parameters
    ----------
    summary : dict
        The analysis summary (its ``paired`` part).
    img : callable
        ``img(name)``: a figure's <img> ("" when it was not drawn).

    Returns
    -------
    (str, str) or None
        The heading and the inner HTML.

    Examples
    --------
    >>> p = Paired("default", ["default", "pa"], 0.05, "paired", {}, {}).to_dict()
    >>> section({"paired": p}, lambda name: "")[0], section({}, lambda name: "")
    ('Paired comparison: pa against default', None)
    """
    if not summary.get("paired"):
        return None
    p = Paired.from_dict(summary["paired"])
    ref = p.reference
    verdicts = "".join(f"<p class='verdict'>{esc(' '.join(c.sentences))}</p>" for c in p.conclusion.values())
    comps, arms_rows, pred_rows = [], [], []
    for ds, entry in p.datasets.items():
        for arm, c in entry.comparisons.items():
            if isinstance(c, Skipped):
                comps.append({"dataset": ds, "arm": f"{arm} - {ref}", "note": c.skipped})
                continue
            comps.append(_comparison_row(ds, arm, ref, c))
        for arm, a in entry.arms.items():
            arms_rows.append(_arm_row(ds, arm, a))
            if a.best_r2:
                pred_rows.append({"dataset": ds, "arm": arm,
                                  **{f"R² {fs}": r2_words(v, "the mean") if _fmt(v, ".2f") else ""
                                     for fs, v in a.best_r2.items()},
                                  "noise ceiling": _fmt(a.noise_ceiling, ".2f")})
    inner = (verdicts + "<h3>Final test accuracy, pair by pair</h3>" + table(pd.DataFrame(comps))
             + img("paired_accuracy") + "<h3>Over training</h3>" + img("paired_differences")
             + "<h3>Per arm</h3>" + table(pd.DataFrame(arms_rows)))
    if pred_rows:
        inner += ("<h3>Structural predictors per arm</h3><p>Best out-of-fold R² of final test accuracy per feature "
                  "set, each arm analysed as a population of its own (its sections below carry the arm in the "
                  "dataset's name).</p>" + table(pd.DataFrame(pred_rows)))
    inner += f"<p class='note'>Method: {esc(p.method)}. Strength variance at init: per network, the mean over " \
             "layers of the (unbiased) variances of the outputs' in-strengths and of the inputs' out-strengths " \
             "(what the rewiring paper's stabilize_strength minimises); hidden-layer strength variance: the " \
             "variance of the engine's strength measure over each hidden layer's neurons at epoch 0.</p>"
    return (f"Paired comparison: {', '.join(p.arms[1:])} against {ref}", inner)


def _comparison_row(ds: str, arm: str, ref: str, c: Comparison) -> dict[str, Any]:
    """One arm against the reference on one benchmark: the final accuracy's paired statistics."""
    s = c.final_test_acc
    return {"dataset": ds, "arm": f"{arm} - {ref}", "pairs": s.n,
            "mean difference [95 % CI]": f"{_fmt(s.mean, '+.4f')} {_ci(s.mean_ci)}",
            "median difference [95 % CI]": f"{_fmt(s.median, '+.4f')} {_ci(s.median_ci)}",
            "d_z": _fmt(s.dz, "+.2f"), "Wilcoxon p": _fmt(s.wilcoxon_p, ".2g"),
            "better / tied / worse": " / ".join(_fmt(v, ".0%") for v in (s.improved, s.tied, s.worse)),
            "strength variance at init, ratio (median)":
                _fmt(c.init_strength_var.ratio_median if c.init_strength_var else None, ".2f"),
            "note": f"{c.pairs_excluded_diverged} pair(s) with a diverged network left out"
            if c.pairs_excluded_diverged else ""}


def _arm_row(ds: str, arm: str, a: Arm) -> dict[str, Any]:
    """One arm's own numbers: accuracy, strength variance at init, silenced shares."""
    sv = a.init_strength_var
    row = {"dataset": ds, "arm": arm, "networks used": a.used,
           "test acc mean ± sd": f"{_fmt(a.acc_mean, '.3f')} ± {_fmt(a.acc_sd, '.3f')}",
           "min-max": f"{_fmt(a.acc_min, '.3f')}-{_fmt(a.acc_max, '.3f')}",
           "strength variance at init (median)": _fmt(sv.median if sv else None, ".4g")}
    for layer, v in (a.hidden_strength_var_init or {}).items():
        row[f"hidden {layer} strength variance at init"] = _fmt(v, ".4g")
    rho = sv.vs_acc if sv else None
    row["rho(strength variance at init, accuracy)"] = f"{rho.rho:+.2f} (p {rho.p:.2g})" if rho else ""
    if a.silenced is not None:
        row["silenced at init / epoch 1 / last"] = " / ".join(_fmt(v, ".0%") for v in
                                                              (a.silenced.init, a.silenced.epoch1, a.silenced.last))
    return row
