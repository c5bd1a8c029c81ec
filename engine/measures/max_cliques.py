"""max_cliques: ``nx.number_of_cliques(G)`` on the positive graph, the maximal cliques holding a node.

The layered graph is triangle-free, so every edge is a maximal clique: the count is the positive
degree, and 1 for an isolated node (the node alone is its maximal clique).
"""

from __future__ import annotations

import torch

from engine.measures.layered_graph import LayeredGraph, MeasureValues


__all__ = ["max_cliques"]


def max_cliques(graph: LayeredGraph) -> MeasureValues:
    """The number of maximal cliques that contain each hidden neuron, on the positive graph.

    ``nx.number_of_cliques(G)``. The layered graph has no triangles, so every edge is a maximal
    clique: the count is the positive degree, and 1 for an isolated neuron (itself).

    Parameters
    ----------
    graph : LayeredGraph
        N networks (``LayeredGraph.of(weights)``), whose positive synapses are the edges (their weights are not read).

    Returns
    -------
    MeasureValues
        ``values`` (N, H): per hidden neuron (layer order), a count >= 1. Always defined.

    References
    ----------
    .. [1] L. Scabini, O. M. Bruno, Physica A 615 (2023) 128585 (arXiv:2107.14062), the paper reproduced.
    .. [2] C. Bron, J. Kerbosch, "Algorithm 457: finding all cliques of an undirected graph", Comm.
       ACM 16 (1973) 575 (the maximal cliques networkx enumerates, with the pivoting of E. Tomita,
       A. Tanaka, H. Takahashi, Theor. Comput. Sci. 363 (2006) 28).

    Examples
    --------
    >>> graph = LayeredGraph.of([[[1.0, -0.5], [2.0, 0.0]], [[1.0], [3.0]]])  # one 2-2-1 network
    >>> max_cliques(graph).values
    tensor([[3., 1.]], dtype=torch.float64)
    """
    deg = graph.hidden(graph.positive_degree)
    return MeasureValues(torch.where(deg == 0, torch.ones_like(deg), deg))
