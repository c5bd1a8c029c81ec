"""Which columns of networks.parquet are which per-network features."""

from __future__ import annotations

import re

import pandas as pd

# `{measure}_l{layer}_{mean|std}`: complex-network summaries (CN features)
CN_COLUMN = re.compile(r"^(?!w_l\d)(?P<measure>\w+?)_l(?P<layer>\d+)_(?P<stat>mean|std)$")
# `w_l{layer}_{stat}`: weight statistics (Unterthiner et al. 2020 baseline)
WEIGHT_COLUMN = re.compile(r"^w_l(?P<layer>\d+)_(?P<stat>mean|std|q0|q25|q50|q75|q100)$")
# `bon_{all|l{layer}}_t{type}`: Bag-of-Neurons histograms (added by the analysis)
BON_COLUMN = re.compile(r"^bon_(all|l\d+)_t\d+$")


def cn_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if CN_COLUMN.match(c)]


def weight_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if WEIGHT_COLUMN.match(c)]


def bon_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if BON_COLUMN.match(c)]


def feature_set_columns(df: pd.DataFrame, name: str) -> list[str]:
    """Columns of feature set ``cn``, ``bon``, ``weights`` or ``all`` (the union of the others)."""
    if name == "cn":
        return cn_columns(df)
    if name == "bon":
        return bon_columns(df)
    if name == "weights":
        return weight_columns(df)
    if name == "all":
        return cn_columns(df) + bon_columns(df) + weight_columns(df)
    raise ValueError(name)
