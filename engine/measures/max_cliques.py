"""max_cliques: ``nx.number_of_cliques(G)`` on the positive graph, the maximal cliques holding a node.

The layered graph is triangle-free, so every edge is a maximal clique: the count is the positive
degree, and 1 for an isolated node (the node alone is its maximal clique).
"""

from __future__ import annotations

import torch

from engine.measures.layered_graph import LayeredGraph, MeasureValues


def max_cliques(graph: LayeredGraph) -> MeasureValues:
    """(N, H) number of maximal cliques containing each hidden neuron."""
    deg = graph.hidden(graph.positive_degree)
    return MeasureValues(torch.where(deg == 0, torch.ones_like(deg), deg))
