"""Subgraph centrality's two exact methods on CPU: "eigh" (the CPU's) and "gemm" (scaling and squaring
with products only, engine/measures/subgraph_squaring.py, the GPU's), against networkx, against each
other and against closed forms: 1-3 hidden layers, dense and sparse positive graphs, disconnected
graphs with tiny components, isolated nodes, values past float64's range, and the squaring plan's
truncation bounds and flop count. The golden network: tests/test_measures_golden.py."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch

import engine.measures.subgraph_centrality as sc
from engine.errors import EngineError
from engine.measures import REGISTRY, compute_measures
from engine.measures import subgraph_squaring
from engine.measures.layered_graph import LayeredGraph
from engine.measures.reference import ReferenceNetwork
from engine.measures.subgraph_squaring import _THETA, log_subgraph_squaring, _plan_squaring

RTOL = 1e-12
METHODS = sc.METHODS
PAPER = [784, 200, 100, 10]


def layered(sizes, n=1, seed=0, low=-0.9, high=0.9) -> list[torch.Tensor]:
    rng = np.random.default_rng(seed)
    return [torch.as_tensor(rng.uniform(low, high, (n, a, b))) for a, b in zip(sizes[:-1], sizes[1:])]


def networkx_values(weights: list[torch.Tensor], k: int) -> np.ndarray:
    return REGISTRY["subgraph_centrality"].reference(ReferenceNetwork([w[k].numpy() for w in weights]))


def values(weights: list[torch.Tensor], method: str, **kwargs) -> torch.Tensor:
    return sc.subgraph_centrality(LayeredGraph(weights), method=method, **kwargs).values


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("sizes,n,low,high", [
    ([6, 5, 4], 2, -0.9, 0.9),          # one hidden layer, on the small (odd) side
    ([3, 9, 2], 2, -0.9, 0.9),          # one hidden layer on the large side: the other Gram matrix
    ([8, 6, 5, 3], 2, -0.9, 0.9),       # two hidden layers: hidden rows on both sides
    ([7, 6, 5, 4, 3], 2, -0.9, 0.9),    # three hidden layers
    ([4, 1, 5, 2], 2, -0.9, 0.9),       # a one-neuron hidden layer
    ([12, 9, 7, 4], 3, -0.3, 0.9),      # dense positive graphs
    ([12, 9, 7, 4], 3, -0.9, 0.2),      # sparse: small components and isolated nodes
    ([40, 30, 20, 5], 2, -0.2, 0.9),    # dense and larger: values ~1e9, several squarings
])
def test_methods_match_networkx(method, sizes, n, low, high):
    weights = layered(sizes, n, seed=sum(sizes) + n, low=low, high=high)
    got = values(weights, method).numpy()
    for k in range(n):
        np.testing.assert_allclose(got[k], networkx_values(weights, k), rtol=RTOL, atol=0, err_msg=f"network {k}")


def test_methods_agree_on_a_paper_size_network():
    """784-200-100-10, U(-0.9, 0.9): values ~1e89; both methods and networkx within 1e-12 (measured:
    within 1e-13 of an 80-bit direct series on such networks and on the golden one)."""
    weights = layered(PAPER, 1, seed=21)
    log_gemm = values(weights, "gemm", log_subgraph=True)
    log_eigh = values(weights, "eigh", log_subgraph=True)
    assert float(log_gemm.max()) > 190  # ~e^205
    np.testing.assert_allclose(torch.expm1(log_gemm - log_eigh).numpy(), 0, atol=RTOL)
    ref = networkx_values(weights, 0)
    np.testing.assert_allclose(torch.exp(log_gemm[0]).numpy(), ref, rtol=RTOL, atol=0)


def test_disconnected_graph_needs_no_component_pass():
    """A big component (values ~1e30) beside an edge, a path and isolated nodes: the products keep
    every block's own relative accuracy (zero blocks stay exactly zero), so gemm trusts the network."""
    sizes = [30, 24, 3, 2]
    w = [-np.ones((1, a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    w[0][0, :25, :20] = 1.0  # giant: K_{25,20} between inputs and hidden layer 1 ...
    w[1][0, :20, 0] = 1.0    # ... reaching hidden-2 neuron 0
    w[0][0, 25, 20] = 0.5    # an edge: input 25 - hidden-1 neuron 20
    w[0][0, 26, 21] = 0.5    # a path: input 26 - hidden-1 neuron 21 - hidden-2 neuron 1 - output 0
    w[1][0, 21, 1] = 0.5
    w[2][0, 1, 0] = 0.5      # hidden-1 neurons 22, 23 and hidden-2 neuron 2: isolated
    weights = [torch.as_tensor(x) for x in w]
    graph = LayeredGraph(weights)
    assert not bool(graph.positive_connected[0])
    b = sc.biadjacency(graph)
    assert b.shape == (1, 33, 26)  # (even: inputs and hidden layer 2, odd): already (large, small)
    _, _, trusted = log_subgraph_squaring(b.to(torch.float64))
    assert bool(trusted[0])
    ref = networkx_values(weights, 0)
    for method in METHODS:
        got = values(weights, method)[0].numpy()
        np.testing.assert_allclose(got, ref, rtol=RTOL, atol=0, err_msg=method)
        assert got[20] == pytest.approx(math.cosh(1.0), rel=1e-15)  # K_{1,1}
        assert (got[[22, 23, 26]] == 1.0).all()  # isolated: exactly 1
        assert got.max() > 1e8


def complete_layers(sizes: list[int]) -> list[torch.Tensor]:
    """All-positive layers (complete bipartite between neighbouring layers)."""
    return [torch.ones(1, a, b, dtype=torch.float64) for a, b in zip(sizes[:-1], sizes[1:])]


def test_values_past_float64_range(caplog):
    """K_{2001,260} (inputs and the output against 260 hidden neurons): s = sqrt(2001 * 260) = 721,
    SC = 1 + (cosh s - 1) / 260 ~ e^715 overflows float64; the log is exact, the values are inf with
    the usual warning."""
    weights = complete_layers([2000, 260, 1])
    s = math.sqrt(2001 * 260)
    expected_log = s - math.log(2 * 260) + math.log1p(-2 * math.exp(-s))
    for method in METHODS:
        log_values = values(weights, method, log_subgraph=True)
        np.testing.assert_allclose(log_values.numpy(), expected_log, rtol=1e-14, err_msg=method)
        with caplog.at_level(logging.WARNING, logger="engine.measures"):
            assert torch.isinf(values(weights, method)).all()
        assert any("overflows" in r.getMessage() and "log_subgraph=True" in r.getMessage() for r in caplog.records)
        caplog.clear()
    # two hidden layers, so hidden rows sit on the large side too: the methods agree on the logs
    weights = complete_layers([2000, 260, 3, 1])
    np.testing.assert_allclose(values(weights, "gemm", log_subgraph=True).numpy(),
                               values(weights, "eigh", log_subgraph=True).numpy(), rtol=1e-13)


def test_range_beyond_float64_falls_back_to_components():
    """K_{2000,260} (e^715) beside a 3-node path (SC ~ 2): a ratio of e^-713, below TAU, so the
    squarings cannot carry the path: gemm does not trust the network and the per-component
    eigendecomposition gives the closed forms."""
    w = [-np.ones((1, 2001, 261)), -np.ones((1, 261, 1))]
    w[0][0, :2000, :260] = 1.0
    w[0][0, 2000, 260] = 1.0  # input 2000 - hidden 260 - output 0
    w[1][0, 260, 0] = 1.0
    weights = [torch.as_tensor(x) for x in w]
    b = sc.biadjacency(LayeredGraph(weights)).to(torch.float64)  # (2001 even, 261 odd)
    log_small, _, trusted = log_subgraph_squaring(b)
    assert not bool(trusted[0])
    s = math.sqrt(2000 * 260)
    for method in METHODS:
        log_values = values(weights, method, log_subgraph=True)[0].numpy()
        np.testing.assert_allclose(log_values[:260], s - math.log(520), rtol=1e-14, err_msg=method)
        assert math.exp(log_values[260]) == pytest.approx(math.cosh(math.sqrt(2)), rel=RTOL)  # a path's middle


def test_wide_but_representable_range_stays_on_the_products():
    """K_{400,200} (e^281) beside a single edge: a ratio of e^-282, above TAU: trusted, and the edge's
    cosh(1) exact without any component pass."""
    w = [-np.ones((1, 401, 201)), -np.ones((1, 201, 1))]
    w[0][0, :400, :200] = 1.0
    w[0][0, 400, 200] = 1.0
    weights = [torch.as_tensor(x) for x in w]
    b = sc.biadjacency(LayeredGraph(weights)).to(torch.float64)
    log_small, _, trusted = log_subgraph_squaring(b)
    assert bool(trusted[0])
    assert math.exp(float(log_small[0, 200])) == pytest.approx(math.cosh(1.0), rel=1e-15)
    s = math.sqrt(400 * 200)
    np.testing.assert_allclose(log_small[0, :200].numpy(), s - math.log(400) + math.log1p(-2 * math.exp(-s)),
                               rtol=1e-14)


def test_float32_graphs_compute_in_float64():
    weights = layered([12, 9, 7, 4], 2, seed=3, low=-0.3, high=0.9)
    log64 = values(weights, "gemm", log_subgraph=True)
    log32 = values([w.float() for w in weights], "gemm", log_subgraph=True)
    assert log32.dtype == torch.float32
    assert torch.equal(log32, log64.float())


def test_no_positive_edge_at_all():
    weights = [-torch.ones(2, 4, 3, dtype=torch.float64), -torch.ones(2, 3, 2, dtype=torch.float64)]
    for method in METHODS:
        assert torch.equal(values(weights, method), torch.ones(2, 3, dtype=torch.float64))


def test_batch_with_different_norms_shares_one_plan():
    """A sparse and a dense network in one batch: the plan follows the denser one, the sparse one is
    over-scaled and loses nothing."""
    sparse = layered([12, 9, 7, 4], 1, seed=8, low=-0.9, high=0.1)
    dense = layered([12, 9, 7, 4], 1, seed=9, low=-0.05, high=0.9)
    weights = [torch.cat([a, b]) for a, b in zip(sparse, dense)]
    got = values(weights, "gemm").numpy()
    for k in range(2):
        np.testing.assert_allclose(got[k], networkx_values(weights, k), rtol=RTOL, atol=0)


def test_theta_bounds_the_truncation():
    """_THETA[m] is where the degree-m Taylor tail of f(x) = (cosh sqrt x - 1) / x reaches 2^-53 of f."""
    def relative_tail(x: float, m: int) -> float:
        terms = [0.5]  # x^k / (2k + 2)!
        for k in range(1, m + 150):
            terms.append(terms[-1] * x / ((2 * k + 1) * (2 * k + 2)))
        return math.fsum(terms[m + 1:]) / math.fsum(terms)

    for m, theta in enumerate(_THETA):
        assert relative_tail(theta, m) == pytest.approx(2.0**-53, rel=1e-6), m
        assert relative_tail(theta * 1.01, m) > 2.0**-53


def test_plan_for_paper_size_and_counted_products(monkeypatch):
    """The docstring's plan and flop count for 784-200-100-10, and the products a run does counted."""
    plan = _plan_squaring(44_700, 210, 100)
    assert plan[:4] == (6, 12, 3, 5)
    assert plan.flops == 2 * 210**3 * 5 + 2 * 6 * 310 * 210**2 + 2 * 100 * 210**2
    assert round(plan.flops / 1e8, 2) == 2.65
    weights = layered(PAPER, 1, seed=21)
    b = sc.biadjacency(LayeredGraph(weights)).to(torch.float64)
    tall = b  # (884 even, 210 odd): (large, small)
    counted = []
    bmm, baddbmm = torch.bmm, torch.baddbmm
    monkeypatch.setattr(torch, "bmm", lambda a, c: counted.append(2 * a.shape[0] * a.shape[1] * a.shape[2]
                                                                  * c.shape[2]) or bmm(a, c))
    monkeypatch.setattr(torch, "baddbmm", lambda i, a, c: counted.append(2 * a.shape[0] * a.shape[1] * a.shape[2]
                                                                         * c.shape[2]) or baddbmm(i, a, c))
    bound = subgraph_squaring._norm_bound(tall.transpose(1, 2) @ tall)
    assert 44_000 < bound < 45_000
    log_subgraph_squaring(tall, torch.arange(784, 884))
    assert sum(counted) == _plan_squaring(bound, 210, 100).flops


def test_method_choice_and_the_gpu_path_through_compute_measures(monkeypatch):
    assert sc.subgraph_method(torch.device("cpu")) == "eigh"
    assert sc.subgraph_method(torch.device("cuda")) == "gemm"
    with pytest.raises(EngineError, match="method 'svd'"):
        values(layered([4, 3, 2]), "svd")
    weights = layered([9, 7, 5, 3], 3, seed=14)
    cpu = compute_measures(weights, ["subgraph_centrality"])
    monkeypatch.setattr(sc, "subgraph_method", lambda device: "gemm")
    gemm = compute_measures(weights, ["subgraph_centrality"])
    torch.testing.assert_close(gemm, cpu, rtol=RTOL, atol=0)


@pytest.mark.gpu
def test_cuda_uses_the_products_and_matches_the_cpu_eigendecomposition():
    weights = layered(PAPER, 3, seed=15)
    weights[0][1, :, 3] = -weights[0][1, :, 3].abs()  # network 1: positive graph disconnected
    weights[1][1, 3, :] = -weights[1][1, 3, :].abs()
    cuda = [w.cuda() for w in weights]
    assert sc.subgraph_method(cuda[0].device) == "gemm"
    log_cpu = values(weights, "eigh", log_subgraph=True)
    log_gpu = sc.subgraph_centrality(LayeredGraph(cuda), log_subgraph=True).values
    assert log_gpu.device.type == "cuda"
    np.testing.assert_allclose(torch.expm1(log_gpu.cpu() - log_cpu).numpy(), 0, atol=RTOL)
    torch.testing.assert_close(sc.subgraph_centrality(LayeredGraph(cuda)).values.cpu(), torch.exp(log_cpu),
                               rtol=RTOL, atol=0)
    log32 = sc.subgraph_centrality(LayeredGraph([w.float() for w in cuda]), log_subgraph=True).values
    assert log32.dtype == torch.float32
    torch.testing.assert_close(log32.cpu(), log_cpu.float(), rtol=1e-7, atol=0)
