"""Spearman correlations of per-network summaries with test accuracy, and the paper's subgraph claim.

Claim checked (Scabini & Bruno 2023): "lower-performing models have higher subgraph centrality",
i.e. the per-network mean subgraph centrality correlates negatively with test accuracy.
Per dataset and hidden layer: rho < 0 with p < alpha -> supported; rho > 0 with p < alpha ->
opposite; otherwise not supported. A dataset's verdict is "supported" / "opposite" when every
layer agrees, "mixed" when layers are significant in both directions, else "not supported".
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from engine.analysis.features import cn_columns, weight_columns
from engine.analysis.results import Record

__all__ = ["Correlation", "DatasetVerdict", "LayerVerdict", "SubgraphVerdict", "correlations_by_dataset", "spearman_table",
           "subgraph_verdict"]

_SUBGRAPH = re.compile(r"^subgraph_centrality_l(\d+)_mean$")


@dataclass
class Correlation(Record):
    """Spearman's rho of one per-network quantity with test accuracy (``analysis/correlations.json``: dataset ->
    column -> one; also the paired analysis' strength variance at init against accuracy).

    Attributes
    ----------
    rho, p : float
        Spearman's rho and its two-sided p (NaN where not computable: constant values or fewer than 3 pairs).
    n : int
        Finite pairs.

    Examples
    --------
    >>> Correlation(-0.6, 0.001, 100).to_dict()
    {'rho': -0.6, 'p': 0.001, 'n': 100}
    """

    rho: float
    p: float
    n: int


@dataclass
class LayerVerdict(Record):
    """The subgraph-centrality claim tested on one hidden layer.

    Attributes
    ----------
    rho, p : float
        Spearman's rho of the layer's mean subgraph centrality with test accuracy and its two-sided p (NaN,
        null in the JSON, where not testable).
    n : int
        Finite pairs.
    verdict : {"supported", "opposite", "not supported", "not testable"}

    Examples
    --------
    >>> LayerVerdict(-0.6, 0.001, 100, "supported").to_dict()
    {'rho': -0.6, 'p': 0.001, 'n': 100, 'verdict': 'supported'}
    """

    rho: float
    p: float
    n: int
    verdict: str                    # "supported", "opposite", "not supported" or "not testable"


@dataclass
class DatasetVerdict(Record):
    """The subgraph-centrality claim on one dataset.

    Attributes
    ----------
    verdict : {"supported", "opposite", "mixed", "partly supported", "not supported", "not testable"}
        Its layers' verdicts combined.
    layers : dict of str to LayerVerdict
        Per layer ("l1", "l2", ...).
    why : str or None
        Why it is not testable (left out of the JSON while None).

    Examples
    --------
    >>> DatasetVerdict("not testable", {}, "no spread of test accuracy").to_dict()
    {'verdict': 'not testable', 'layers': {}, 'why': 'no spread of test accuracy'}
    """

    verdict: str
    layers: dict[str, LayerVerdict]  # "l1", "l2", ...
    why: str | None = None

    _OMIT_IF_NONE = ("why",)


@dataclass
class SubgraphVerdict(Record):
    """The verdict on the paper's subgraph-centrality claim (``analysis/subgraph_verdict.json``).

    Attributes
    ----------
    claim : str or None
    alpha : float or None
        The significance level.
    datasets : dict of str to DatasetVerdict or None
    text : str
        The verdict in words. When the correlations did not run, only ``text`` is set (the others, None, are
        left out of the JSON).

    Examples
    --------
    >>> SubgraphVerdict.from_dict({"text": "correlations disabled"}).datasets is None
    True
    """

    claim: str | None = None
    alpha: float | None = None
    datasets: dict[str, DatasetVerdict] | None = None
    text: str = ""

    _OMIT_IF_NONE = ("claim", "alpha", "datasets")


def spearman_table(df: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Spearman correlation of every per-network summary column with test accuracy, per dataset.

    Parameters
    ----------
    df : pandas.DataFrame
        Networks: ``dataset``, ``test_acc`` (fraction) and summary columns ``{measure}_l{layer}_{mean|std}``
        and ``w_l{layer}_{stat}``.
    alpha : float
        Significance level of the ``significant`` column (no multiple-comparison correction).

    Returns
    -------
    pandas.DataFrame
        One row per (dataset, column): ``rho``, two-sided ``p``, ``n`` (finite pairs), ``significant``.
        Constant columns or fewer than 3 finite pairs give NaN rho and p.

    References
    ----------
    .. [1] Scabini & Bruno, Physica A 615 (2023), arXiv:2107.14062: the correlations of the measures with
       test accuracy that this table repeats.

    Examples
    --------
    >>> nets = pd.DataFrame({"dataset": "toy", "test_acc": [0.5, 0.6, 0.7, 0.8],
    ...                      "subgraph_centrality_l1_mean": [9.0, 7.0, 4.0, 1.0]})
    >>> spearman_table(nets, 0.05)[["column", "rho", "n"]].to_dict("records")
    [{'column': 'subgraph_centrality_l1_mean', 'rho': -1.0, 'n': 4}]
    """
    rows = []
    for ds, g in df.groupby("dataset", sort=True):
        acc = g["test_acc"].astype(float).to_numpy()
        for col in cn_columns(g) + weight_columns(g):
            v = g[col].astype(float).to_numpy()
            ok = np.isfinite(v) & np.isfinite(acc)
            rho = p = np.nan
            if ok.sum() >= 3 and np.ptp(v[ok]) > 0 and np.ptp(acc[ok]) > 0:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    r = spearmanr(v[ok], acc[ok])
                rho, p = float(r.statistic), float(r.pvalue)
            rows.append({"dataset": str(ds), "column": col, "rho": rho, "p": p, "n": int(ok.sum()),
                         "significant": bool(np.isfinite(p) and p < alpha)})
    return pd.DataFrame(rows, columns=["dataset", "column", "rho", "p", "n", "significant"])


def correlations_by_dataset(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """``spearman_table``'s rows as the summary's ``correlations``: dataset -> column -> a ``Correlation``'s JSON object.

    Parameters
    ----------
    table : pandas.DataFrame
        ``spearman_table``'s rows: ``dataset``, ``column``, ``rho``, ``p``, ``n``.

    Returns
    -------
    dict
        Datasets in sorted order, columns in the table's order; {} for an empty table.

    Examples
    --------
    >>> nets = pd.DataFrame({"dataset": "toy", "test_acc": [0.5, 0.6, 0.7, 0.8],
    ...                      "subgraph_centrality_l1_mean": [9.0, 7.0, 4.0, 1.0]})
    >>> correlations_by_dataset(spearman_table(nets, 0.05))
    {'toy': {'subgraph_centrality_l1_mean': {'rho': -1.0, 'p': 0.0, 'n': 4}}}
    """
    return {ds: {r.column: Correlation(r.rho, r.p, r.n).to_dict() for r in g.itertuples()}
            for ds, g in table.groupby("dataset")}


def subgraph_verdict(table: pd.DataFrame, alpha: float, undefined: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Verdict on the paper's claim that lower-performing models have higher subgraph centrality.

    Per dataset and layer: "supported" (rho < 0, p < alpha), "opposite" (rho > 0, p < alpha), "not
    supported" or "not testable"; per dataset the layers' verdicts combined; a sentence in words.

    Parameters
    ----------
    table : pandas.DataFrame
        ``spearman_table``'s rows (the ``subgraph_centrality_l{layer}_mean`` ones are read).
    alpha : float
        Significance level.
    undefined : mapping of str to str, optional
        Datasets without a spread of test accuracy (not testable; the reason is kept).

    Returns
    -------
    dict
        A ``SubgraphVerdict``'s JSON object: ``claim``, ``alpha``, ``datasets`` (per dataset ``verdict`` and
        ``layers``) and ``text``.

    References
    ----------
    .. [1] L. Scabini and O. Bruno, Physica A 615 (2023), arXiv:2107.14062: the claim tested.

    Examples
    --------
    >>> rows = pd.DataFrame({"dataset": "toy", "column": ["subgraph_centrality_l1_mean"], "rho": [-0.6],
    ...                      "p": [0.001], "n": [100], "significant": [True]})
    >>> v = SubgraphVerdict.from_dict(subgraph_verdict(rows, 0.05))
    >>> v.datasets["toy"].verdict, v.datasets["toy"].layers["l1"].rho
    ('supported', -0.6)
    """
    out = SubgraphVerdict(claim="lower-performing models have higher subgraph centrality "
                                "(negative Spearman rho of mean subgraph centrality with test accuracy)", alpha=alpha,
                          datasets={})
    sentences = []
    for ds, why in sorted((undefined or {}).items()):
        out.datasets[ds] = DatasetVerdict("not testable", {}, why)
        sentences.append(f"{ds}: not testable ({why}).")
    for ds, g in table.groupby("dataset", sort=True):
        layers = {}
        for _, row in g.iterrows():
            m = _SUBGRAPH.match(row["column"])
            if not m:
                continue
            rho, p = row["rho"], row["p"]
            if not np.isfinite(rho):
                v = "not testable"
            elif p < alpha and rho < 0:
                v = "supported"
            elif p < alpha and rho > 0:
                v = "opposite"
            else:
                v = "not supported"
            layers[f"l{m.group(1)}"] = LayerVerdict(rho, p, int(row["n"]), v)
        if not layers:
            out.datasets[ds] = DatasetVerdict("not testable", {})
            sentences.append(f"{ds}: not testable (no subgraph_centrality_l*_mean column).")
            continue
        vs = {d.verdict for d in layers.values()}
        if vs == {"supported"}:
            verdict = "supported"
        elif vs == {"opposite"}:
            verdict = "opposite"
        elif {"supported", "opposite"} <= vs:
            verdict = "mixed"
        else:
            verdict = "not supported" if "supported" not in vs else "partly supported"
        out.datasets[ds] = DatasetVerdict(verdict, layers)
        parts = ", ".join(f"layer {k[1:]}: rho={d.rho:+.3f}, p={d.p:.2g} ({d.verdict})"
                          if np.isfinite(d.rho) else f"layer {k[1:]}: {d.verdict}"
                          for k, d in sorted(layers.items()))
        sentences.append(f"{ds}: {verdict} ({parts}).")
    out.text = ("Claim: lower-performing models have higher subgraph centrality. " + " ".join(sentences)
                if sentences else "No dataset to test the subgraph-centrality claim on.")
    return out.to_dict()
