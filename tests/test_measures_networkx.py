"""Every batched measure against networkx (engine/measures/reference.py), on random layered graphs
of several shapes, on the awkward cases (disconnected positive graph, isolated and zero-strength
neurons, zero and near-zero input strengths, non-finite weights), and on one paper-size graph."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import torch

import engine.measures.laplacian as laplacian
from engine.errors import EngineError
from engine.measures import MEASURES, REGISTRY, compute_measures, neuron_table, summarize
from engine.measures.reference import ReferenceNetwork

RTOL = 1e-9


def random_weights(sizes, n=1, seed=0, low=-0.9, high=0.9) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(low, high, (n, a, b)) for a, b in zip(sizes[:-1], sizes[1:])]


def assert_matches_networkx(weights: list[np.ndarray], measures=MEASURES, rtol=RTOL, nodes=None, **kwargs):
    """compute_measures on the batch vs the networkx reference of each network; NaN must match."""
    got = compute_measures([torch.as_tensor(w) for w in weights], measures, orientation="in_out", **kwargs).numpy()
    for k in range(weights[0].shape[0]):
        net = ReferenceNetwork([w[k] for w in weights])
        rows = np.arange(len(net.hidden_nodes)) if nodes is None else np.asarray(nodes)
        for j, name in enumerate(measures):
            ref = REGISTRY[name].reference(net, None if nodes is None else [net.hidden_nodes[i] for i in rows])
            np.testing.assert_allclose(got[k, rows, j], ref, rtol=rtol, atol=0, equal_nan=True,
                                       err_msg=f"network {k}, {name}")
    return got


@pytest.mark.parametrize("sizes,n", [
    ([6, 5, 4], 1),  # one hidden layer
    ([8, 6, 5, 3], 1),  # two hidden layers
    ([7, 6, 5, 4, 3], 1),  # three hidden layers
    ([3, 2, 3], 1),  # tiny
    ([2, 10, 3], 2),  # more odd-layer than even-layer nodes (subgraph: the other Gram matrix)
    ([4, 1, 5, 2], 2),  # a one-neuron hidden layer
    ([10, 8, 6, 4], 4),  # a batch
])
def test_random_layered_graphs_match_networkx(sizes, n):
    weights = random_weights(sizes, n, seed=sum(sizes) + n)
    assert_matches_networkx(weights)


@pytest.mark.parametrize("sizes", [[12, 9, 7, 4], [7, 6, 5, 4, 3]])
def test_denser_positive_graphs_match_networkx(sizes):
    # mostly-positive weights: connected positive graphs, so second-order centrality is defined
    weights = random_weights(sizes, 3, seed=5, low=-0.3, high=0.9)
    got = assert_matches_networkx(weights)
    assert np.isfinite(got).all()


def test_layout_and_dtype():
    weights = random_weights([6, 5, 4, 3], 2, seed=1)
    out = compute_measures([torch.as_tensor(w, dtype=torch.float32) for w in weights])
    assert out.shape == (2, 9, len(MEASURES)) and out.dtype == torch.float64
    # a subset, in the caller's order; hidden layer 1 neurons first
    sub = compute_measures([torch.as_tensor(w) for w in weights], ["max_cliques", "strength"])
    s1 = weights[0].sum(1) + weights[1].sum(2)  # strength of layer-1 neurons
    np.testing.assert_allclose(sub[:, :5, 1].numpy(), s1, rtol=1e-12)
    np.testing.assert_array_equal(sub[:, :, 0].numpy(), out[:, :, 7].numpy())
    # one network as 2-D matrices
    one = compute_measures([torch.as_tensor(w[0]) for w in weights])
    assert one.shape == (1, 9, 8)
    np.testing.assert_allclose(one[0].numpy(), out[0].numpy(), rtol=1e-6, equal_nan=True)
    # float32 mode
    f32 = compute_measures([torch.as_tensor(w) for w in weights], dtype=torch.float32)
    assert f32.dtype == torch.float32


def test_chunking_and_log_subgraph_agree():
    weights = [torch.as_tensor(w) for w in random_weights([9, 7, 5, 3], 5, seed=2)]
    full = compute_measures(weights)
    chunked = compute_measures(weights, chunk_size=2)
    torch.testing.assert_close(full, chunked, equal_nan=True)
    log_sc = compute_measures(weights, ["subgraph_centrality"], log_subgraph=True)[..., 0]
    torch.testing.assert_close(log_sc, torch.log(full[..., 4]), rtol=1e-12, atol=1e-12)


def test_isolated_and_all_negative_neuron(caplog):
    weights = random_weights([7, 6, 5, 3], 2, seed=3)
    # network 0: hidden-1 neuron 2 has only negative synapses -> isolated in the positive graph
    weights[0][0, :, 2] = -np.abs(weights[0][0, :, 2])
    weights[1][0, 2, :] = -np.abs(weights[1][0, 2, :])
    with caplog.at_level(logging.WARNING, logger="engine.measures"):
        got = assert_matches_networkx(weights)
    assert np.isnan(got[0, :, MEASURES.index("second_order_centrality")]).all()
    assert got[0, 2, MEASURES.index("subgraph_centrality")] == 1.0
    assert got[0, 2, MEASURES.index("max_cliques")] == 1.0
    assert got[0, 2, MEASURES.index("harmonic_centrality")] == 0.0
    assert got[0, 2, MEASURES.index("bipartite_clustering")] == 0.0
    assert any("second_order_centrality is undefined (NaN) for" in r.message and "disconnected" in r.message
               for r in caplog.records)


def test_positive_graph_in_two_components():
    # block-diagonal positive structure: two non-trivial components of different sizes, so subgraph
    # centrality must be exact per component (no noise leaking from the larger one's e^{s_max})
    sizes = [8, 6, 6, 4]
    rng = np.random.default_rng(4)
    weights = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        w = -rng.uniform(0.1, 0.9, (1, a, b))
        w[0, : a // 2, : b // 2] *= -3  # big positive block
        w[0, a - 1, b - 1] = 0.5  # a 2-node component at the end
        weights.append(w)
    got = assert_matches_networkx(weights)
    assert np.isnan(got[0, :, MEASURES.index("second_order_centrality")]).all()


def test_zero_strength_neuron_and_zero_synapses(caplog):
    weights = random_weights([6, 4, 5, 3], 2, seed=6)
    # network 0: hidden-1 neuron 1 has signed strength exactly 0 -> avg_neighbor_strength = 0
    weights[0][0, :, 1] = [0.5, -0.5, 0.25, -0.25, 0.125, -0.125]
    weights[1][0, 1, :] = [0.75, -0.5, -0.25, 0.0625, -0.0625]
    # network 1: hidden-2 neuron 0 has every synapse exactly 0 -> signed graph disconnected
    weights[1][1, :, 0] = 0.0
    weights[2][1, 0, :] = 0.0
    with caplog.at_level(logging.WARNING, logger="engine.measures"):
        got = assert_matches_networkx(weights)
    assert got[0, 1, MEASURES.index("strength")] == 0.0
    assert got[0, 1, MEASURES.index("avg_neighbor_strength")] == 0.0
    assert np.isnan(got[1, :, MEASURES.index("current_flow_closeness")]).all()
    assert np.isfinite(got[0, :, MEASURES.index("current_flow_closeness")]).all()
    assert any("current_flow_closeness is undefined (NaN) for 1 of 2" in r.message for r in caplog.records)


@pytest.mark.parametrize("input_strength", [0.0, 1e-13, 1e-6, 1e-3])
def test_tiny_input_strengths_stay_accurate(input_strength):
    # a signed input strength near 0 would blow up the Schur elimination: those inputs stay dense
    weights = random_weights([12, 8, 6, 3], 1, seed=7)
    for i in (0, 5):
        weights[0][0, i, -1] -= weights[0][0, i].sum() - input_strength
    assert_matches_networkx(weights, ["current_flow_closeness", "second_order_centrality"])


def test_schur_and_dense_paths_agree(monkeypatch):
    weights = [torch.as_tensor(w) for w in random_weights([10, 7, 5, 3], 3, seed=8)]
    cols = ["current_flow_closeness", "second_order_centrality"]
    schur = compute_measures(weights, cols)
    monkeypatch.setattr(laplacian, "_PIVOT_RTOL", 2.0)  # keep every input in the dense system
    dense = compute_measures(weights, cols)
    torch.testing.assert_close(schur, dense, rtol=1e-10, atol=0, equal_nan=True)


def test_non_finite_weights_give_nan_rows(caplog):
    weights = random_weights([6, 5, 4, 3], 3, seed=9, low=-0.3, high=0.9)
    weights[1][1, 2, 3] = np.nan
    weights[0][2, 0, 0] = np.inf
    with caplog.at_level(logging.WARNING, logger="engine.measures"):
        got = compute_measures([torch.as_tensor(w) for w in weights]).numpy()
    assert np.isnan(got[1:]).all()
    assert np.isfinite(got[0]).all()
    assert any("2 of 3 networks have non-finite weights" in r.message for r in caplog.records)
    assert_matches_networkx([w[:1] for w in weights])


def test_non_finite_check_is_exact_where_sums_overflow():
    from engine.measures.layered_graph import compute_blocks

    w = [np.ones((3, 4, 3)), np.ones((3, 3, 2))]
    w[0][0] = 1e308          # finite, but its sum overflows: not flagged
    w[0][1, 2, 1] = np.nan
    w[1][2, 0, 0] = -np.inf
    blocks, bad = compute_blocks([torch.as_tensor(x) for x in w], torch.float64)
    assert bad.tolist() == [False, True, True]
    assert torch.equal(blocks[0][0], torch.full((4, 3), 1e308, dtype=torch.float64))
    assert torch.equal(blocks[0][1], torch.ones(4, 3, dtype=torch.float64))  # replaced so the batch computes
    _, bad32 = compute_blocks([torch.as_tensor(x, dtype=torch.float32) for x in w], torch.float64)
    assert bad32.tolist() == [True, True, True]  # 1e308 is inf in float32


def test_bad_input_is_an_engine_error():
    w = [torch.rand(2, 5, 4), torch.rand(2, 4, 3)]
    with pytest.raises(EngineError, match="do not chain"):
        compute_measures([w[0], torch.rand(2, 3, 3)])
    with pytest.raises(EngineError, match=r"weights\[1\] has 3 networks"):
        compute_measures([w[0], torch.rand(3, 4, 3)])
    with pytest.raises(EngineError, match=r"weights\[0\] has shape \(5,\)"):
        compute_measures([torch.rand(5), w[1]])
    with pytest.raises(EngineError, match="at least 2 layers"):
        compute_measures(w[:1])
    with pytest.raises(EngineError, match="unknown pagerank"):
        compute_measures(w, ["pagerank"])
    with pytest.raises(EngineError, match="mix 2-D"):
        compute_measures([w[0][0], w[1]])
    with pytest.raises(EngineError, match="chunk_size"):
        compute_measures(w, chunk_size=0)


def test_hidden_distances_match_networkx():
    """The distances under harmonic centrality's GPU path (its torch twin here) against networkx's Dijkstra."""
    import networkx as nx

    from engine.measures.shortest_paths import hidden_distances

    weights = random_weights([7, 5, 6, 3], 2, seed=10, low=-0.5, high=0.9)
    dist = hidden_distances([torch.as_tensor(w) for w in weights]).numpy()
    assert dist.shape == (2, 11, 21)
    for k in range(2):
        net = ReferenceNetwork([w[k] for w in weights])
        for h, v in enumerate(net.hidden_nodes):
            ref = nx.single_source_dijkstra_path_length(net.positive, v, weight="weight")
            expect = np.array([ref.get(u, np.inf) for u in range(net.n_nodes)])
            np.testing.assert_allclose(dist[k, h], expect, rtol=1e-12)
            assert dist[k, h, v] == 0.0


def test_neuron_table_and_summary():
    weights = [torch.as_tensor(w) for w in random_weights([6, 5, 4, 3], 2, seed=12)]
    table = neuron_table(weights, dataset="digits", epoch=3, network_ids=[10, 11])
    assert list(table.columns) == ["dataset", "network", "epoch", "layer", "neuron", *MEASURES]
    assert len(table) == 2 * 9
    assert table["layer"].tolist()[:9] == [1] * 5 + [2] * 4
    assert table["neuron"].tolist()[:9] == [0, 1, 2, 3, 4, 0, 1, 2, 3]
    values = compute_measures(weights).numpy()
    np.testing.assert_array_equal(table[list(MEASURES)].to_numpy()[9:], values[1])
    older = table.assign(epoch=1, strength=0.0)
    summary = summarize(pd.concat([older, table]))  # the last epoch wins
    assert summary[["dataset", "network"]].values.tolist() == [["digits", 10], ["digits", 11]]
    assert summary.columns[2:4].tolist() == ["strength_l1_mean", "strength_l1_std"]
    assert len(summary.columns) == 2 + len(MEASURES) * 2 * 2
    np.testing.assert_allclose(summary["strength_l2_mean"], values[:, 5:, 0].mean(1))
    np.testing.assert_allclose(summary["max_cliques_l1_std"], values[:, :5, 7].std(1))
    with pytest.raises(EngineError, match="network_ids"):
        neuron_table(weights, dataset="digits", epoch=0, network_ids=[1])


@pytest.mark.slow
def test_paper_size_graph_matches_networkx():
    """784-200-100-10: every measure vs networkx; the slow ones on a subsample of hidden neurons
    (harmonic: networkx's Dijkstra from those nodes only; second-order: networkx's algorithm
    restricted to those columns; bipartite clustering: networkx's `nodes=`)."""
    weights = random_weights([784, 200, 100, 10], 1, seed=13, low=-0.9, high=0.9)
    rng = np.random.default_rng(0)
    fast = ["strength", "avg_neighbor_strength", "current_flow_closeness", "subgraph_centrality", "max_cliques"]
    got = compute_measures([torch.as_tensor(w) for w in weights]).numpy()[0]
    assert np.isfinite(got).all()
    net = ReferenceNetwork([w[0] for w in weights])
    for name in fast:
        kwargs = {"solver": "full"} if name == "current_flow_closeness" else {}
        ref = REGISTRY[name].reference(net, **kwargs)
        np.testing.assert_allclose(got[:, MEASURES.index(name)], ref, rtol=RTOL, err_msg=name)
    for name, count in [("bipartite_clustering", 40), ("harmonic_centrality", 12), ("second_order_centrality", 4)]:
        rows = np.sort(rng.choice(300, count, replace=False))
        ref = REGISTRY[name].reference(net, [net.hidden_nodes[i] for i in rows])
        np.testing.assert_allclose(got[rows, MEASURES.index(name)], ref, rtol=RTOL, err_msg=name)


def test_dense_gpu_path_matches_the_cpu_path(monkeypatch):
    """The branch CUDA takes (engine.measures.shortest_paths, its torch twin here) on CPU tensors."""
    import engine.measures.harmonic_centrality as harmonic

    weights = [torch.as_tensor(w) for w in random_weights([9, 7, 5, 3], 3, seed=14)]
    cpu_values = compute_measures(weights, ["harmonic_centrality"])
    monkeypatch.setattr(harmonic, "_use_batched_distances", lambda graph: True)
    dense_values = compute_measures(weights, ["harmonic_centrality"])
    torch.testing.assert_close(dense_values, cpu_values, rtol=1e-12, atol=0)


@pytest.mark.gpu
def test_cuda_matches_cpu():
    weights = [torch.as_tensor(w) for w in random_weights([784, 200, 100, 10], 3, seed=15)]
    weights[0][1, :, 3] = -weights[0][1, :, 3].abs()  # network 1: positive graph disconnected
    weights[1][1, 3, :] = -weights[1][1, 3, :].abs()
    cpu = compute_measures(weights)
    gpu = compute_measures([w.cuda() for w in weights])
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-9, atol=0, equal_nan=True)
    f32 = compute_measures([w.cuda() for w in weights], dtype=torch.float32, log_subgraph=True)
    assert f32.dtype == torch.float32 and f32.device.type == "cuda"


def test_networkx_measures_table_matches():
    from engine.measures.reference import _networkx_measures

    weights = random_weights([5, 4, 3], 1, seed=16, low=-0.2, high=0.9)
    expected = _networkx_measures([w[0] for w in weights])
    got = compute_measures([torch.as_tensor(w[0]) for w in weights])[0].numpy()
    np.testing.assert_allclose(got, expected, rtol=RTOL)


def test_openmp_threads_restored_after_compute():
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def openmp_threads():
        return [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "openmp"]

    before = openmp_threads()
    compute_measures([torch.as_tensor(w) for w in random_weights([6, 5, 4, 3], 2, seed=17)])
    assert openmp_threads() == before
