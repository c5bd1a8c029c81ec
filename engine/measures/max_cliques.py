"""max_cliques: ``nx.number_of_cliques(G)`` on the positive graph, the maximal cliques holding a node.

The layered graph is triangle-free, so every edge is a maximal clique: the count is the positive
degree, and 1 for an isolated node (the node alone is its maximal clique).
"""

from __future__ import annotations

import torch

from engine.measures.citations import CITATIONS
from engine.measures.layered_graph import LayeredGraph, MeasureValues
from engine.shared_docs import shared_docs


__all__ = ["max_cliques"]


@shared_docs(references=CITATIONS["max_cliques"])
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
    {{references}}

    Examples
    --------
    >>> max_cliques(LayeredGraph.of([[[1.0, 1.0]], [[1.0], [-1.0]]])).values  # 1-2-1: the 2nd hidden has one w > 0
    tensor([[2., 1.]], dtype=torch.float64)
    >>> max_cliques(LayeredGraph.of([[[-1.0]], [[-1.0]]])).values  # no positive synapse: the neuron alone
    tensor([[1.]], dtype=torch.float64)
    """
    deg = graph.hidden(graph.positive_degree)
    return MeasureValues(torch.where(deg == 0, torch.ones_like(deg), deg))
