"""networkx references: one network's graph built from its weight matrices and each measure computed
with networkx exactly as DESIGN.md says. The oracle of the tests and the baseline of the benchmark.

Nodes are integers in layer-major order (inputs first), as in ``LayeredGraph``. Weights are cast to
float64 (the paper's values were computed in float64 from float32 weights). Each function takes a
``ReferenceNetwork`` and optionally the node ids to report (default: the hidden neurons) and returns
a float64 array; NaN where networkx raises for a disconnected graph.
"""

from __future__ import annotations

from functools import cached_property
from typing import Sequence

import networkx as nx
import numpy as np

from engine.errors import EngineError
from engine.weight_stack import layer_sizes

__all__ = ["avg_neighbor_strength", "bipartite_clustering", "current_flow_closeness", "harmonic_centrality",
           "max_cliques", "ReferenceNetwork", "REFERENCES", "second_order_centrality", "strength",
           "subgraph_centrality"]


class ReferenceNetwork:
    """The signed and positive networkx graphs of one network, built lazily."""

    def __init__(self, weights: Sequence):
        self.weights = [np.asarray(w.detach().cpu() if hasattr(w, "detach") else w).astype(np.float64)
                        for w in weights]
        self.sizes = layer_sizes(self.weights)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int)
        self.n_nodes = int(self.offsets[-1])
        self.hidden_nodes = list(range(int(self.offsets[1]), int(self.offsets[-2])))

    def _graph(self, keep) -> nx.Graph:
        g = nx.Graph()
        g.add_nodes_from(range(self.n_nodes))  # every node, isolated ones included
        for l, w in enumerate(self.weights):
            i, j = np.nonzero(keep(w))
            g.add_weighted_edges_from(zip((i + self.offsets[l]).tolist(), (j + self.offsets[l + 1]).tolist(),
                                          w[i, j].tolist()))
        return g

    @cached_property
    def signed(self) -> nx.Graph:
        """All non-zero synapses, signed weights."""
        return self._graph(lambda w: w != 0)

    @cached_property
    def positive(self) -> nx.Graph:
        """Synapses with weight > 0; all nodes kept."""
        return self._graph(lambda w: w > 0)


def _pick(values: dict, nodes: Sequence[int]) -> np.ndarray:
    return np.array([values[v] for v in nodes], dtype=np.float64)


def strength(net: ReferenceNetwork, nodes: Sequence[int] | None = None) -> np.ndarray:
    nodes = net.hidden_nodes if nodes is None else nodes
    return _pick(dict(net.signed.degree(nodes, weight="weight")), nodes)


def avg_neighbor_strength(net: ReferenceNetwork, nodes: Sequence[int] | None = None) -> np.ndarray:
    nodes = net.hidden_nodes if nodes is None else nodes
    return _pick(nx.average_neighbor_degree(net.signed, nodes=nodes, weight="weight"), nodes)


def current_flow_closeness(net: ReferenceNetwork, nodes: Sequence[int] | None = None,
                           solver: str = "lu") -> np.ndarray:
    """networkx's default solver is "lu"; "full" (one dense inverse) gives the same values faster."""
    nodes = net.hidden_nodes if nodes is None else nodes
    try:
        return _pick(nx.current_flow_closeness_centrality(net.signed, weight="weight", solver=solver), nodes)
    except nx.NetworkXError:
        return np.full(len(nodes), np.nan)


def bipartite_clustering(net: ReferenceNetwork, nodes: Sequence[int] | None = None) -> np.ndarray:
    nodes = net.hidden_nodes if nodes is None else nodes
    return _pick(nx.bipartite.clustering(net.positive, nodes=nodes, mode="max"), nodes)


def subgraph_centrality(net: ReferenceNetwork, nodes: Sequence[int] | None = None) -> np.ndarray:
    nodes = net.hidden_nodes if nodes is None else nodes
    return _pick(nx.subgraph_centrality(net.positive), nodes)


def harmonic_centrality(net: ReferenceNetwork, nodes: Sequence[int] | None = None) -> np.ndarray:
    """With few nodes, networkx runs Dijkstra from those nodes only (it transposes nbunch/sources)."""
    nodes = net.hidden_nodes if nodes is None else nodes
    return _pick(nx.harmonic_centrality(net.positive, nbunch=nodes, distance="weight"), nodes)


def second_order_centrality(net: ReferenceNetwork, nodes: Sequence[int] | None = None) -> np.ndarray:
    """``nx.second_order_centrality`` for all hidden nodes. For a subset of nodes (paper-size tests),
    networkx's own algorithm, line for line, restricted to those columns of M (it is O(n^4) in full)."""
    g = net.positive
    if not nx.is_connected(g):
        return np.full(len(net.hidden_nodes if nodes is None else nodes), np.nan)
    if nodes is None:
        return _pick(nx.second_order_centrality(g, weight="weight"), net.hidden_nodes)
    # -- networkx 3.6 second_order_centrality, columns `nodes` only --
    n = len(g)
    dg = nx.DiGraph(g)
    in_deg = dict(dg.in_degree(weight="weight"))
    d_max = max(in_deg.values())
    for i, deg in in_deg.items():
        if deg < d_max:
            dg.add_edge(i, i, weight=d_max - deg)
    p = nx.to_numpy_array(dg)
    p /= p.sum(axis=1)[:, np.newaxis]
    order = {v: k for k, v in enumerate(dg.nodes)}
    out = []
    for v in nodes:
        q = p.copy()
        q[:, order[v]] = 0
        m = np.linalg.solve(np.identity(n) - q, np.ones(n))
        out.append(float(np.sqrt(2 * np.sum(m) - n * (n + 1))))
    return np.array(out)


def max_cliques(net: ReferenceNetwork, nodes: Sequence[int] | None = None) -> np.ndarray:
    nodes = net.hidden_nodes if nodes is None else nodes
    return _pick(nx.number_of_cliques(net.positive, nodes), nodes)


# Every reference by measure name, in the column order of neurons.parquet (engine.measures.registry
# takes its references from here and checks that the names and the order agree).
REFERENCES = {f.__name__: f for f in (strength, avg_neighbor_strength, current_flow_closeness, bipartite_clustering,
                                       subgraph_centrality, harmonic_centrality, second_order_centrality,
                                       max_cliques)}


def _networkx_measures(weights: Sequence, measures: Sequence[str] | None = None) -> np.ndarray:
    """(H, M) networkx values of one network's hidden neurons (the slow oracle of compute_measures)."""
    net = ReferenceNetwork(weights)
    names = list(REFERENCES if measures is None else measures)
    unknown = [m for m in names if m not in REFERENCES]
    if unknown:
        raise EngineError(f"unknown measure(s) {unknown}: choose from {', '.join(REFERENCES)}")
    return np.stack([REFERENCES[name](net) for name in names], 1)
