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
from engine.measures.citations import CITATIONS
from engine.shared_docs import shared_docs
from engine.weight_stack import layer_sizes

__all__ = ["avg_neighbor_strength", "bipartite_clustering", "current_flow_closeness", "harmonic_centrality",
           "max_cliques", "ReferenceNetwork", "REFERENCES", "second_order_centrality", "strength",
           "subgraph_centrality"]


class ReferenceNetwork:
    """The signed and positive networkx graphs of one network, built lazily.

    Parameters
    ----------
    weights : sequence of array-like
        One network's weight matrices, ``weights[l]`` (n_l, n_{l+1}) (NumPy arrays, nested lists or
        torch tensors), that chain (columns of one = rows of the next; not checked: this is the tests'
        oracle, fed by them); cast to float64.

    Attributes
    ----------
    weights : list of np.ndarray
        The matrices, float64.
    sizes : list of int
        Neurons per layer, inputs first.
    offsets : np.ndarray
        (L + 1,) int: the first node id of each layer, then the number of nodes.
    n_nodes : int
        All neurons.
    hidden_nodes : list of int
        The node ids of the hidden neurons, layer order.
    signed, positive : nx.Graph
        Every non-zero synapse (signed weights) / the synapses > 0 (every node kept).

    Examples
    --------
    >>> net = ReferenceNetwork([[[1.0, -0.5], [2.0, 0.0]], [[1.0], [3.0]]])  # one 2-2-1 network
    >>> net.sizes, net.hidden_nodes
    ([2, 2, 1], [2, 3])
    >>> net.signed.number_of_edges(), net.positive.number_of_edges()
    (5, 4)
    """

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


# The parameters every reference takes (its docstring's ``{{net_nodes}}`` line; a line indented under that one
# continues the ``nodes`` entry: how the reference uses them)
_NET_NODES = """
    net : ReferenceNetwork
        One network's graphs.
    nodes : sequence of int, optional
        Node ids (layer-major, inputs first) to report; default ``net.hidden_nodes``.
    """


@shared_docs(net_nodes=_NET_NODES, references=CITATIONS["strength"])
def strength(net: ReferenceNetwork, nodes: Sequence[int] | None = None) -> np.ndarray:
    """The strength of each node on the signed graph: ``G.degree(nodes, weight="weight")``.

    s_i = sum_j w_ij over every non-zero synapse of node i (weights signed).

    Parameters
    ----------
    {{net_nodes}}
        Any node, an input or the output too (``G.degree(nodes, weight="weight")``).

    Returns
    -------
    np.ndarray
        (len(nodes),) float64, in the units of the weights.

    References
    ----------
    {{references}}

    Examples
    --------
    >>> net = ReferenceNetwork([[[1.0, -0.5], [2.0, 0.0]], [[1.0], [3.0]]])  # one 2-2-1 network
    >>> strength(net)
    array([4. , 2.5])
    >>> strength(net, nodes=[0, 4])  # an input and the output
    array([0.5, 4. ])
    """
    nodes = net.hidden_nodes if nodes is None else nodes
    return _pick(dict(net.signed.degree(nodes, weight="weight")), nodes)


@shared_docs(net_nodes=_NET_NODES, references=CITATIONS["avg_neighbor_strength"])
def avg_neighbor_strength(net: ReferenceNetwork, nodes: Sequence[int] | None = None) -> np.ndarray:
    """The weighted average neighbour degree on the signed graph: ``nx.average_neighbor_degree``.

    ``nx.average_neighbor_degree(G, nodes=nodes, weight="weight")`` = (1 / s_i) sum_j w_ij deg_j, deg_j the
    unweighted degree of neighbour j; 0 where s_i = 0 (networkx's convention): the weighted
    average nearest-neighbours degree of Barrat et al. [2]_.

    Parameters
    ----------
    {{net_nodes}}
        networkx computes these nodes only (``nodes=nodes``).

    Returns
    -------
    np.ndarray
        (len(nodes),) float64, a number of synapses (a degree).

    References
    ----------
    {{references}}

    Examples
    --------
    >>> avg_neighbor_strength(ReferenceNetwork([[[1.0], [1.0]], [[-2.0]]]))  # s = 1 + 1 - 2 = 0
    array([0.])
    >>> avg_neighbor_strength(ReferenceNetwork([[[1.0, -0.5], [2.0, 0.0]], [[1.0], [3.0]]]))
    array([1.5, 2. ])
    """
    nodes = net.hidden_nodes if nodes is None else nodes
    return _pick(nx.average_neighbor_degree(net.signed, nodes=nodes, weight="weight"), nodes)


@shared_docs(net_nodes=_NET_NODES, references=CITATIONS["current_flow_closeness"])
def current_flow_closeness(net: ReferenceNetwork, nodes: Sequence[int] | None = None,
                           solver: str = "lu") -> np.ndarray:
    """Current-flow closeness on the signed graph: ``nx.current_flow_closeness_centrality``.

    ``nx.current_flow_closeness_centrality(G, weight="weight", solver=solver)`` = 1 / sum_{w != v} R(v, w),
    R the effective resistance with the (signed) weights as conductances; NaN where networkx raises
    (a disconnected signed graph).

    Parameters
    ----------
    {{net_nodes}}
        networkx computes every node; these are picked from its result.
    solver : {"lu", "full", "cg"}
        networkx's linear solver; its default "lu"; "full" (one dense inverse) gives the same values faster.

    Returns
    -------
    np.ndarray
        (len(nodes),) float64, in the units of the weights (conductances); negative weights may make
        it negative.

    References
    ----------
    {{references}}

    Examples
    --------
    >>> current_flow_closeness(ReferenceNetwork([[[1.0, -0.5], [2.0, 0.0]], [[1.0], [3.0]]]), solver="full")
    array([-0.13333333, -0.04651163])
    >>> current_flow_closeness(ReferenceNetwork([[[1.0, 0.0]], [[1.0], [0.0]]]))  # 2nd hidden: no synapse
    array([nan, nan])
    """
    nodes = net.hidden_nodes if nodes is None else nodes
    try:
        return _pick(nx.current_flow_closeness_centrality(net.signed, weight="weight", solver=solver), nodes)
    except nx.NetworkXError:
        return np.full(len(nodes), np.nan)


@shared_docs(net_nodes=_NET_NODES, references=CITATIONS["bipartite_clustering"])
def bipartite_clustering(net: ReferenceNetwork, nodes: Sequence[int] | None = None) -> np.ndarray:
    """Latapy's bipartite clustering on the positive graph: ``nx.bipartite.clustering(G, mode="max")``.

    (1 / |N2(u)|) sum_{v in N2(u)} |N(u) & N(v)| / max(|N(u)|, |N(v)|), N2(u) the second neighbours
    of u (u excluded); 0 where N2(u) is empty.

    Parameters
    ----------
    {{net_nodes}}
        Only these are clustered (``nodes=nodes``), each from its second neighbours.

    Returns
    -------
    np.ndarray
        (len(nodes),) float64 in [0, 1].

    References
    ----------
    {{references}}

    Examples
    --------
    >>> bipartite_clustering(ReferenceNetwork([[[1.0, -0.5], [2.0, 0.0]], [[1.0], [3.0]]]), nodes=range(5))
    array([0.75      , 0.75      , 0.33333333, 0.33333333, 0.5       ])
    """
    nodes = net.hidden_nodes if nodes is None else nodes
    return _pick(nx.bipartite.clustering(net.positive, nodes=nodes, mode="max"), nodes)


@shared_docs(net_nodes=_NET_NODES, references=CITATIONS["subgraph_centrality"])
def subgraph_centrality(net: ReferenceNetwork, nodes: Sequence[int] | None = None) -> np.ndarray:
    """Subgraph centrality on the positive graph: ``nx.subgraph_centrality(G)``.

    (e^A)_ii with A the binary adjacency of the positive graph (weights ignored): the weighted count of
    closed walks from i.

    Parameters
    ----------
    {{net_nodes}}
        networkx computes every node (an eigendecomposition of the n x n A); these are picked.

    Returns
    -------
    np.ndarray
        (len(nodes),) float64, >= 1 (dimensionless; reaches 1e89 on trained paper-size networks).

    References
    ----------
    {{references}}

    Examples
    --------
    >>> subgraph_centrality(ReferenceNetwork([[[1.0, -0.5], [2.0, 0.0]], [[1.0], [3.0]]]))
    array([2.96687788, 1.59218193])
    >>> np.log(_)  # what the batched measure reports with log_subgraph=True
    array([1.08751018, 0.46510536])
    """
    nodes = net.hidden_nodes if nodes is None else nodes
    return _pick(nx.subgraph_centrality(net.positive), nodes)


@shared_docs(net_nodes=_NET_NODES, references=CITATIONS["harmonic_centrality"])
def harmonic_centrality(net: ReferenceNetwork, nodes: Sequence[int] | None = None) -> np.ndarray:
    """Harmonic centrality on the positive graph: ``nx.harmonic_centrality(G, distance="weight")``.

    sum_{u != v} 1 / d(v, u) over the reachable nodes, d the shortest-path length with the synapse weights
    (> 0) as edge lengths.

    Parameters
    ----------
    {{net_nodes}}
        With few nodes, networkx runs Dijkstra from those nodes only (it transposes nbunch/sources).

    Returns
    -------
    np.ndarray
        (len(nodes),) float64, in 1 / (units of the weights).

    References
    ----------
    {{references}}

    Examples
    --------
    >>> harmonic_centrality(ReferenceNetwork([[[1.0, -0.5], [2.0, 0.0]], [[1.0], [3.0]]]), nodes=[0, 1, 4])
    array([2.03333333, 1.33333333, 2.16666667])
    """
    nodes = net.hidden_nodes if nodes is None else nodes
    return _pick(nx.harmonic_centrality(net.positive, nbunch=nodes, distance="weight"), nodes)


@shared_docs(net_nodes=_NET_NODES, references=CITATIONS["second_order_centrality"])
def second_order_centrality(net: ReferenceNetwork, nodes: Sequence[int] | None = None) -> np.ndarray:
    """Second-order centrality on the positive graph: ``nx.second_order_centrality(G, weight="weight")``.

    The standard deviation of the return times of a random walk made uniform by self-loops,
    sqrt(2 sum_k M[k, v] - n (n + 1)), M the mean first-passage times; NaN where the positive graph is
    disconnected (networkx raises there).

    Parameters
    ----------
    {{net_nodes}}
        The default: networkx's call; a subset (paper-size tests): networkx 3.6's own algorithm, line
        for line, restricted to those columns of M (it is O(n^4) in full).

    Returns
    -------
    np.ndarray
        (len(nodes),) float64, a number of random-walk steps.

    References
    ----------
    {{references}}

    Examples
    --------
    >>> net = ReferenceNetwork([[[1.0, -0.5], [2.0, 0.0]], [[1.0], [3.0]]])  # connected
    >>> second_order_centrality(net)
    array([ 5.16397779, 10.32795559])
    >>> second_order_centrality(net, nodes=[3])  # the same value, column 3 of M only
    array([10.32795559])
    """
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


@shared_docs(net_nodes=_NET_NODES, references=CITATIONS["max_cliques"])
def max_cliques(net: ReferenceNetwork, nodes: Sequence[int] | None = None) -> np.ndarray:
    """The number of maximal cliques containing each node, positive graph: ``nx.number_of_cliques``.

    ``nx.number_of_cliques(G, nodes)``, the cliques enumerated by ``nx.find_cliques``. A layered graph
    has no triangle, so each positive synapse of a node, or the node alone when it has none, is one.

    Parameters
    ----------
    {{net_nodes}}
        Each counted in the maximal cliques ``nx.find_cliques`` enumerates in the whole graph.

    Returns
    -------
    np.ndarray
        (len(nodes),) float64 counts.

    References
    ----------
    {{references}}

    Examples
    --------
    >>> max_cliques(ReferenceNetwork([[[-1.0]], [[-1.0]]]))  # no positive synapse: the neuron alone
    array([1.])
    >>> max_cliques(ReferenceNetwork([[[1.0, -0.5], [2.0, 0.0]], [[1.0], [3.0]]]), nodes=[0, 2, 4])
    array([1., 3., 2.])
    """
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
