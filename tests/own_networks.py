"""Helpers for the tests of a researcher's own networks: equal-width weights (so that a wrong layer order
or orientation still chains and only the values can tell), and the check of every measure against
networkx on the true network."""

from __future__ import annotations

import numpy as np
import torch

from engine.measures import MEASURES
from engine.measures.reference import REFERENCES, ReferenceNetwork

WIDTH = 5


def true_weights(n_layers: int = 3, width: int = WIDTH, seed: int = 0, sizes=None) -> list[np.ndarray]:
    """(fan_in, fan_out) float32 matrices, mostly positive (a connected positive graph), all different."""
    rng = np.random.default_rng(seed)
    sizes = sizes or [width] * (n_layers + 1)
    return [rng.uniform(-0.3, 0.9, (a, b)).astype(np.float32) for a, b in zip(sizes[:-1], sizes[1:])]


def networkx_values(weights: list[np.ndarray]) -> np.ndarray:
    """(hidden neurons, 8) networkx values of the network with these (fan_in, fan_out) weights."""
    net = ReferenceNetwork([np.asarray(w, dtype=np.float64) for w in weights])
    return np.stack([np.asarray(REFERENCES[m](net), dtype=np.float64) for m in MEASURES], axis=1)


def assert_measures_true(table, weights: list[np.ndarray], network: int | None = None) -> None:
    """Every measure of ``table`` (one network's rows, or ``network``'s) equals networkx on ``weights``."""
    rows = table if network is None else table[table["network"] == network]
    rows = rows.sort_values(["layer", "neuron"])
    got = rows[list(MEASURES)].to_numpy(dtype=np.float64)
    want = networkx_values(weights)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9, equal_nan=True)


def assert_read_true(network, weights: list[np.ndarray]) -> None:
    """The weights read are the true ones, in order and orientation."""
    assert len(network.weights) == len(weights), (network.layer_names, len(weights))
    for got, want in zip(network.weights, weights):
        np.testing.assert_allclose(got.to(torch.float64).numpy(), want.astype(np.float64), rtol=1e-6, atol=1e-7)
