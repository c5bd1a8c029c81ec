"""Harmonic centrality on the CPU by condensed, pruned shortest paths (engine/measures/condensed_paths.py):
the compiled (Numba) kernel and its NumPy/SciPy twin against networkx, and against each other, over
many seeds, shapes and adversarial weights (ties, tiny value sets, exact zeros, nearly all negative,
disconnected); the fallbacks where Numba or a cache directory is missing."""

from __future__ import annotations

import logging
import sys
import zlib

import networkx as nx
import numpy as np
import pytest

import engine.measures
from engine.measures import condensed_paths
from engine.measures.condensed_paths import harmonic, _harmonic_compiled, _harmonic_numpy
from engine.measures.reference import ReferenceNetwork

RTOL = 1e-12


def networkx_harmonic(weights: list[np.ndarray]) -> np.ndarray:
    """(N, H): networkx's harmonic centrality of each network's hidden neurons (the oracle)."""
    out = []
    for k in range(weights[0].shape[0]):
        net = ReferenceNetwork([w[k] for w in weights])
        values = nx.harmonic_centrality(net.positive, nbunch=net.hidden_nodes, distance="weight")
        out.append([values[v] for v in net.hidden_nodes])
    return np.array(out, dtype=np.float64)


def _uniform(low, high):
    return lambda rng, shape: rng.uniform(low, high, shape)


def _from_set(values, p_negative=0.4):
    """Weights drawn from a tiny set of magnitudes (many exactly equal path lengths), random signs."""
    def draw(rng, shape):
        w = rng.choice(np.asarray(values, dtype=np.float64), shape)
        return np.where(rng.random(shape) < p_negative, -w, w)
    return draw


def _with_zeros(rng, shape):
    """Exact zeros (no edge, as networkx's positive graph has it) mixed with dyadic positives."""
    w = rng.choice([0.0, 0.0, -0.25, 0.125, 0.25, 0.5], shape)
    return w


DISTRIBUTIONS = {
    "U(-0.9, 0.9)": _uniform(-0.9, 0.9),
    "U(-0.1, 0.9)": _uniform(-0.1, 0.9),
    "nearly all negative": _uniform(-0.9, 0.08),
    "all equal": _from_set([0.5]),
    "three values": _from_set([0.1, 0.2, 0.3]),
    "dyadic ties": _from_set([0.25, 0.5, 0.75, 1.0]),
    "exact zeros": _with_zeros,
    "tiny and huge": _from_set([1e-300, 1e-8, 1.0, 1e8], p_negative=0.3),
}

SHAPES = {
    "one hidden layer": [9, 7, 4],
    "one hidden, wide input": [30, 6, 2],
    "two hidden": [8, 6, 5, 3],
    "three hidden": [7, 6, 5, 4, 3],
    "tiny layers": [1, 1, 1],
    "single hidden neuron": [3, 1, 2],
    "one-neuron hidden layer": [4, 1, 3, 2],
    "one input, one output": [1, 5, 4, 1],
}


def random_weights(sizes, n, seed, draw):
    rng = np.random.default_rng(seed)
    return [draw(rng, (n, a, b)) for a, b in zip(sizes[:-1], sizes[1:])]


def assert_both_methods_equal_networkx(weights, what=""):
    want = networkx_harmonic(weights)
    np.testing.assert_allclose(_harmonic_compiled(weights), want, rtol=RTOL, atol=0, err_msg=f"compiled {what}")
    np.testing.assert_allclose(_harmonic_numpy(weights), want, rtol=RTOL, atol=0, err_msg=f"twin {what}")


@pytest.mark.parametrize("dist", sorted(DISTRIBUTIONS))
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_compiled_and_twin_equal_networkx(shape, dist):
    """12 networks per shape and distribution (64 combinations, 768 graphs)."""
    weights = random_weights(SHAPES[shape], 12, seed=zlib.crc32(f"{shape}/{dist}".encode()), draw=DISTRIBUTIONS[dist])
    want = networkx_harmonic(weights)
    compiled = _harmonic_compiled(weights)
    twin = _harmonic_numpy(weights)
    np.testing.assert_allclose(compiled, want, rtol=RTOL, atol=0, err_msg="compiled vs networkx")
    np.testing.assert_allclose(twin, want, rtol=RTOL, atol=0, err_msg="twin vs networkx")
    np.testing.assert_allclose(compiled, twin, rtol=RTOL, atol=0, err_msg="compiled vs twin")


@pytest.mark.parametrize("seed", range(40))
def test_random_shapes_and_weights(seed):
    """Random depth (1-3 hidden layers), layer sizes (1-12) and weight range, one network each."""
    rng = np.random.default_rng(1000 + seed)
    sizes = list(rng.integers(1, 13, size=rng.integers(3, 6)))
    low = rng.uniform(-1, 0.5)
    weights = [np.where(rng.random((1, a, b)) < 0.1, 0.0, rng.uniform(low, 1.0, (1, a, b)))
               for a, b in zip(sizes[:-1], sizes[1:])]
    assert_both_methods_equal_networkx(weights, str(sizes))


def test_larger_graphs_where_pruning_bites():
    """Layers wider than the bound graph's k lightest edges, so that most leaf edges are pruned."""
    assert_both_methods_equal_networkx(random_weights([60, 40, 30, 6], 3, seed=5, draw=_uniform(-0.9, 0.9)))


def test_a_useful_leaf_edge_beyond_the_k_lightest_is_kept():
    """Input 0's lightest edges lead to neurons far from neuron 4: its 5th lightest edge is the only
    short way there, which a fixed "k lightest" cut would lose."""
    w_in = np.full((1, 2, 5), -1.0)
    w_in[0, 0] = [0.1, 0.11, 0.12, 0.13, 0.5]  # the bound graph keeps the first three
    w_hidden = np.full((1, 5, 2), -1.0)
    w_hidden[0, :4, 0] = 10.0   # neurons 0-3 reach neuron 4 only through the output, far away
    w_hidden[0, 4, 0] = 9.0     # the output's lightest edge: the bound 0.1 + 19 is finite, yet longer
    assert_both_methods_equal_networkx([w_in, w_hidden])


def test_isolated_and_disconnected():
    weights = random_weights([6, 5, 4, 3], 2, seed=3, draw=_uniform(-0.9, 0.9))
    weights[0][0, :, 2] = -1.0  # hidden neuron 2 of layer 1: no positive synapse at all
    weights[1][0, 2, :] = -1.0
    got = _harmonic_compiled(weights)
    assert got[0, 2] == 0.0
    np.testing.assert_allclose(got, networkx_harmonic(weights), rtol=RTOL, atol=0)
    negative = [-np.abs(w) for w in weights]
    assert not _harmonic_compiled(negative).any() and not _harmonic_numpy(negative).any()


def test_docstring_example_and_layout():
    w1 = np.array([[[1.0, 2.0]]])
    w2 = np.array([[[1.0], [-1.0]]])
    np.testing.assert_allclose(harmonic([w1, w2]), [[1 + 1 + 1 / 3, 1 / 2 + 1 / 3 + 1 / 4]], rtol=1e-15)
    one = harmonic(random_weights([5, 4, 3], 1, 0, _uniform(-0.5, 0.9)))
    assert one.shape == (1, 4) and one.dtype == np.float64


def test_default_is_the_compiled_kernel():
    assert condensed_paths.compiled_kernel() is not None  # numba is a dependency of the engine
    weights = random_weights([8, 6, 5, 3], 2, seed=8, draw=_uniform(-0.5, 0.9))
    assert np.array_equal(harmonic(weights), _harmonic_compiled(weights))


def test_without_numba_the_twin_runs_with_one_warning(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "numba", None)  # `import numba` raises ImportError
    monkeypatch.delitem(sys.modules, "engine.measures.condensed_numba", raising=False)
    monkeypatch.delattr(engine.measures, "condensed_numba", raising=False)
    monkeypatch.setattr(condensed_paths, "_compiled_kernel", None)
    weights = random_weights([8, 6, 5, 3], 2, seed=9, draw=_uniform(-0.5, 0.9))
    with caplog.at_level(logging.WARNING, logger="engine.measures"):
        first, second = harmonic(weights), harmonic(weights)
    assert np.array_equal(first, _harmonic_numpy(weights)) and np.array_equal(second, first)
    warned = [r.getMessage() for r in caplog.records if "Numba cannot be imported" in r.getMessage()]
    assert len(warned) == 1 and "NumPy/SciPy twin" in warned[0] and "pip install numba" in warned[0]


def test_jit_without_a_writable_cache_compiles_uncached(monkeypatch):
    """A read-only install with no writable home: numba finds no cache directory and raises at
    decoration; the kernel module then compiles in every process instead."""
    import numba

    from engine.measures import condensed_numba

    calls = []
    real_njit = numba.njit

    def njit(**options):
        calls.append(options.get("cache"))
        if options.get("cache"):
            raise RuntimeError("cannot cache function 'f': no locator available for file 'f.py'")
        return real_njit(**options)

    monkeypatch.setattr(numba, "njit", njit)
    double = condensed_numba._jit(lambda x: 2 * x)
    assert double(21) == 42 and calls == [True, False]


def test_weight_tensors_of_any_float_dtype():
    weights = random_weights([7, 5, 4], 2, seed=10, draw=_uniform(-0.5, 0.9))
    np.testing.assert_allclose(harmonic([w.astype(np.float32) for w in weights]),
                               harmonic([w.astype(np.float32).astype(np.float64) for w in weights]), rtol=0)
