"""Report figures: axis scales chosen from the data, ticks that stay apart, the correlation matrices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from engine.report import axes as A
from engine.report import figures as F


def _rng():
    return np.random.default_rng(0)


def test_axis_scale_from_the_data():
    rng = _rng()
    assert A.axis_scale(rng.normal(5, 1, 1000)) == ("linear", {})
    assert A.axis_scale(rng.uniform(-1, 1, 100)) == ("linear", {})
    heavy = np.concatenate([rng.uniform(150, 300, 39), [2.3e5]])   # one network far out
    assert A.axis_scale(heavy) == ("log", {})
    signed = np.concatenate([rng.uniform(-0.01, 0.01, 38), [-0.1, 0.33]])
    scale, kw = A.axis_scale(signed)
    q25, q75 = np.percentile(signed, [25, 75])
    assert scale == "symlog" and kw["linthresh"] == pytest.approx(max(abs(q25), abs(q75)))
    with_zero = np.concatenate([np.zeros(10), rng.uniform(1, 2, 30), [1e6]])
    assert A.axis_scale(with_zero)[0] == "symlog"                   # log cannot show 0
    assert A.axis_scale(np.array([1.0, 1.0, 1.0])) == ("linear", {})
    assert A.axis_scale(np.array([1.0, 1e9])) == ("linear", {})     # too few values to call a tail
    assert A.axis_scale(np.array([np.nan, np.inf, 1.0, 2.0, 3.0])) == ("linear", {})


def test_power_labels():
    assert [A._power_label(x) for x in (0, 1e-3, -0.1, 200, 5000, 1e5)] == [
        "0", "$10^{-3}$", "$-10^{-1}$", "$2\\times10^{2}$", "$5\\times10^{3}$", "$10^{5}$"]


@pytest.mark.parametrize("values", [np.concatenate([np.linspace(150, 300, 39), [2.3e5]]),
                                    np.concatenate([np.linspace(-0.01, 0.01, 38), [-0.1, 0.33]]),
                                    np.concatenate([np.linspace(1e3, 1.2e3, 30), [5e3]]),
                                    np.concatenate([np.linspace(1.1e3, 1.15e3, 30), [1.9e3]])])
def test_ticks_stay_apart(values):
    fig = Figure()
    ax = fig.subplots()
    ax.scatter(values, np.arange(len(values)))
    scale = A.scaled_axis(ax, "x", values, nbins=4)
    assert scale in ("log", "symlog")
    ticks = ax.xaxis.get_major_locator()()
    assert 2 <= len(ticks) <= 5
    pos = ax.xaxis.get_transform().transform(np.asarray(ticks, dtype=float).reshape(-1, 1)).ravel()
    lo_hi = ax.xaxis.get_transform().transform(np.array([[values.min()], [values.max()]])).ravel()
    assert np.diff(pos).min() >= np.ptp(lo_hi) / 5 - 1e-12
    assert all(values.min() <= t <= values.max() for t in ticks)


def _corr(datasets=("digits", "mnist1d"), extra=()):
    rng = _rng()
    cols = [f"{m}_l{L}_{s}" for m in ("strength", "subgraph_centrality", "harmonic_centrality")
            for L in (1, 2) for s in ("mean", "std")]
    cols += [f"w_l{L}_{s}" for L in (1, 2, 3) for s in ("mean", "std", "q0")]
    cols += list(extra)
    rows = [{"dataset": ds, "column": c, "rho": rng.uniform(-1, 1), "p": rng.uniform(0, 0.1), "n": 40,
             "significant": bool(rng.random() < 0.3)} for ds in datasets for c in cols]
    return pd.DataFrame(rows)


def test_correlation_heatmap_is_a_matrix_per_dataset():
    corr = _corr()
    fig = F.correlation_heatmap(corr)
    panels = [ax for ax in fig.axes if ax.images and ax.get_title()]
    assert sorted(ax.get_title() for ax in panels) == ["digits: measures", "digits: weights", "mnist1d: measures",
                                                       "mnist1d: weights"]
    shapes = {ax.get_title(): ax.images[0].get_array().shape for ax in panels}
    assert shapes["digits: measures"] == (3, 4) and shapes["mnist1d: weights"] == (3, 3)
    m = next(ax for ax in panels if ax.get_title() == "mnist1d: measures")
    assert [t.get_text() for t in m.get_xticklabels()] == ["l1 mean", "l1 std", "l2 mean", "l2 std"]
    got = m.images[0].get_array()[1, 2]   # subgraph_centrality, l2 mean
    want = corr.set_index(["dataset", "column"]).at[("mnist1d", "subgraph_centrality_l2_mean"), "rho"]
    assert got == pytest.approx(want)
    w = next(ax for ax in panels if ax.get_title() == "digits: weights")
    assert [t.get_text() for t in w.get_yticklabels()] == ["mean", "std", "q0"]


def test_correlation_heatmap_keeps_columns_it_cannot_parse():
    fig = F.correlation_heatmap(_corr(datasets=("digits",), extra=("something_else",)))
    titles = sorted(ax.get_title() for ax in fig.axes if ax.images and ax.get_title())
    assert titles == ["digits: measures", "digits: other", "digits: weights"]
    assert F.correlation_heatmap(pd.DataFrame(columns=["dataset", "column", "rho", "p", "n", "significant"])) is None


def test_scatter_and_evolution_pick_their_scales():
    rng = _rng()
    n = 40
    nets = pd.DataFrame({"dataset": "digits", "network": np.arange(n), "test_acc": rng.uniform(0.1, 0.4, n),
                         "diverged": False,
                         "strength_l1_mean": rng.normal(0, 1, n),
                         "harmonic_centrality_l1_mean": np.r_[rng.uniform(6e3, 1e4, n - 1), 1.6e5],
                         "current_flow_closeness_l1_mean": np.r_[rng.uniform(-0.01, 0.01, n - 2), -0.1, 0.33]})
    fig = F.measures_vs_accuracy(nets, "digits", pd.DataFrame(), [])
    scales = {ax.get_title().split("\n")[0]: ax.get_xscale() for ax in fig.axes if ax.collections}
    assert scales == {"strength_l1_mean": "linear", "harmonic_centrality_l1_mean (log axis)": "log",
                      "current_flow_closeness_l1_mean (symlog axis)": "symlog"}
    evo = pd.DataFrame([{"dataset": "digits", "epoch": e, "layer": L, "measure": m, "mean": v, "std": 0.0}
                        for m, vals in (("avg_neighbor_strength", [200, 230, 5900, 170, 150, 160]),
                                        ("strength", [-0.07, -0.08, -0.09, -0.13, -0.14, -0.15]))
                        for (e, L), v in zip([(0, 1), (1, 1), (2, 1), (0, 2), (1, 2), (2, 2)], vals)])
    fig = F.measure_evolution(evo)
    by_title = {ax.get_title(): ax for ax in fig.axes if ax.lines}
    assert by_title["avg_neighbor_strength (log axis)"].get_yscale() == "log"
    assert by_title["strength"].get_yscale() == "linear"
    assert list(by_title["strength"].get_xticks()) == [0, 1, 2]   # the snapshot epochs, no 0.5 steps
