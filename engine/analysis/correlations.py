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
from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from engine.analysis.features import cn_columns, weight_columns

SUBGRAPH = re.compile(r"^subgraph_centrality_l(\d+)_mean$")


def spearman_table(df: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """One row per (dataset, column): rho, p, n. Constant or too-short columns give NaN rho."""
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


def subgraph_verdict(table: pd.DataFrame, alpha: float, undefined: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Verdict on the subgraph-centrality claim per dataset and layer, with a sentence in words.
    ``undefined``: datasets without a spread of test accuracy (not testable; the reason is kept)."""
    out: dict[str, Any] = {"claim": "lower-performing models have higher subgraph centrality "
                                    "(negative Spearman rho of mean subgraph centrality with test accuracy)",
                           "alpha": alpha, "datasets": {}}
    sentences = []
    for ds, why in sorted((undefined or {}).items()):
        out["datasets"][ds] = {"verdict": "not testable", "layers": {}, "why": why}
        sentences.append(f"{ds}: not testable ({why}).")
    for ds, g in table.groupby("dataset", sort=True):
        layers = {}
        for _, row in g.iterrows():
            m = SUBGRAPH.match(row["column"])
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
            layers[f"l{m.group(1)}"] = {"rho": rho, "p": p, "n": int(row["n"]), "verdict": v}
        if not layers:
            out["datasets"][ds] = {"verdict": "not testable", "layers": {}}
            sentences.append(f"{ds}: not testable (no subgraph_centrality_l*_mean column).")
            continue
        vs = {d["verdict"] for d in layers.values()}
        if vs == {"supported"}:
            verdict = "supported"
        elif vs == {"opposite"}:
            verdict = "opposite"
        elif {"supported", "opposite"} <= vs:
            verdict = "mixed"
        else:
            verdict = "not supported" if "supported" not in vs else "partly supported"
        out["datasets"][ds] = {"verdict": verdict, "layers": layers}
        parts = ", ".join(f"layer {k[1:]}: rho={d['rho']:+.3f}, p={d['p']:.2g} ({d['verdict']})"
                          if np.isfinite(d["rho"]) else f"layer {k[1:]}: {d['verdict']}"
                          for k, d in sorted(layers.items()))
        sentences.append(f"{ds}: {verdict} ({parts}).")
    out["text"] = ("Claim: lower-performing models have higher subgraph centrality. " + " ".join(sentences)
                   if sentences else "No dataset to test the subgraph-centrality claim on.")
    return out
