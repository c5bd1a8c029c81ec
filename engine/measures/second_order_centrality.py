"""second_order_centrality: ``nx.second_order_centrality(G)`` on the (weighted) positive graph.

networkx balances the graph with self-loops up to d_max = max strength (a symmetric doubly
stochastic walk P = I - L / d_max), then does n linear solves for the mean first-passage times M
and returns sqrt(2 sum_k M[k, i] - n (n + 1)). For this chain the fundamental matrix is
Z = (I - P + J/n)^-1 = d_max L+ + J/n and sum_k M[k, i] = n^2 Z_ii, hence
SOC_i = sqrt(2 n^2 d_max L+_ii + n - n^2): only the diagonal of the Laplacian pseudo-inverse is
needed (O(n^3) once instead of O(n^4)). networkx raises on a disconnected graph: NaN there.
"""

from __future__ import annotations

import torch

from engine.measures.citations import CITATIONS
from engine.measures.laplacian import grounded_inverse_summary
from engine.measures.layered_graph import LayeredGraph, MeasureValues
from engine.shared_docs import shared_docs


__all__ = ["second_order_centrality"]


@shared_docs(references=CITATIONS["second_order_centrality"])
def second_order_centrality(graph: LayeredGraph) -> MeasureValues:
    """Second-order centrality of every hidden neuron on the (weighted) positive graph.

    ``nx.second_order_centrality(G)``: the standard deviation of the return times to the neuron of
    a random walk made uniform by self-loops, sqrt(2 sum_k M[k, i] - n (n + 1)) with M the mean
    first-passage times (computed here from the diagonal of the Laplacian's pseudo-inverse).

    Parameters
    ----------
    graph : LayeredGraph
        N networks (``LayeredGraph.of(weights)``); the walk steps along positive synapses, in proportion to them.

    Returns
    -------
    MeasureValues
        ``values`` (N, H): per hidden neuron (layer order), in steps of the walk. NaN for the
        networks whose positive graph is disconnected (networkx raises there); ``undefined`` marks
        them.

    References
    ----------
    {{references}}

    Examples
    --------
    >>> soc = second_order_centrality(LayeredGraph.of([[[1.0, -0.5], [2.0, 0.0]], [[1.0], [3.0]]]))
    >>> soc.values, soc.undefined
    (tensor([[ 5.1640, 10.3280]], dtype=torch.float64), tensor([False]))
    >>> second_order_centrality(LayeredGraph.of([[[1.0, -1.0]], [[1.0], [-1.0]]])).undefined  # 2nd hidden: no w > 0
    tensor([True])
    """
    # only hidden diagonals are needed; a connected positive graph's grounded Laplacian is definite
    diag, rowsum, ok = grounded_inverse_summary(graph, graph.positive_weights, graph.positive_connected,
                                                input_diag=False, definite=True)
    n = graph.n_nodes
    pinv_diag = diag - 2 * rowsum / n + rowsum.sum(1, keepdim=True) / n**2  # L+_ii
    d_max = graph.node_sums([w.to(torch.float64) for w in graph.positive_weights]).amax(1, keepdim=True)
    soc = torch.sqrt(2 * n**2 * d_max * graph.hidden(pinv_diag) + n - n**2)
    return MeasureValues(soc, ~ok, "positive graph disconnected (networkx raises 'Non connected graph')")
