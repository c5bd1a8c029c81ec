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
# `ww_l{layer}_{metric}`: WeightWatcher's spectral metrics (engine.analysis.spectral_stats)
SPECTRAL_COLUMN = re.compile(r"^ww_l(?P<layer>\d+)_(?P<metric>alpha|alpha_weighted|log_spectral_norm|stable_rank|log_norm)$")
# `curve_{metric}_e{epoch}`: the learning curve up to a snapshot epoch (early-prediction baseline)
CURVE_COLUMN = re.compile(r"^curve_(?P<metric>\w+)_e(?P<epoch>\d+)$")


def cn_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if CN_COLUMN.match(c)]


def weight_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if WEIGHT_COLUMN.match(c)]


def bon_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if BON_COLUMN.match(c)]


def spectral_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if SPECTRAL_COLUMN.match(c)]


def curve_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if CURVE_COLUMN.match(c)]


FEATURE_SET_COLUMNS = {"cn": cn_columns, "bon": bon_columns, "weights": weight_columns,
                       "spectral": spectral_columns, "curve": curve_columns}


def feature_set_columns(df: pd.DataFrame, name: str) -> list[str]:
    """Columns of feature set ``cn``, ``bon``, ``weights``, ``spectral``, ``curve``, or ``all`` (the
    union of the structural ones: cn, bon, weights, spectral; never the learning curve)."""
    if name == "all":
        return [c for fs in ("cn", "bon", "weights", "spectral") for c in FEATURE_SET_COLUMNS[fs](df)]
    return FEATURE_SET_COLUMNS[name](df)
