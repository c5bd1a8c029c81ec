"""avg_neighbor_strength: ``nx.average_neighbor_degree(G, weight="weight")`` on the signed graph.

sum_j w_ij * deg_j / s_i with deg_j the *unweighted* degree of neighbour j and s_i the signed
strength; 0 where s_i == 0 (networkx's convention).
"""

from __future__ import annotations

import torch

from engine.measures.citations import CITATIONS
from engine.measures.layered_graph import LayeredGraph, MeasureValues
from engine.shared_docs import shared_docs


__all__ = ["avg_neighbor_strength"]


@shared_docs(references=CITATIONS["avg_neighbor_strength"])
def avg_neighbor_strength(graph: LayeredGraph) -> MeasureValues:
    """Average neighbour degree of every hidden neuron, weighted by the signed synapses.

    ``nx.average_neighbor_degree(G, weight="weight")``: (1 / s_i) sum_j w_ij deg_j, with deg_j the
    unweighted degree of neighbour j and s_i the signed strength; 0 where s_i = 0: the weighted average
    nearest-neighbours degree of Barrat et al. [2]_.

    Parameters
    ----------
    graph : LayeredGraph
        N networks (``LayeredGraph.of(weights)``), whose signed synapses weigh the neighbours' degrees.

    Returns
    -------
    MeasureValues
        ``values`` (N, H): per hidden neuron (layer order), a degree (neighbours). Always defined.

    References
    ----------
    {{references}}

    Examples
    --------
    >>> avg_neighbor_strength(LayeredGraph.of([[[1.0], [1.0]], [[-2.0]]])).values  # s = 1 + 1 - 2 = 0
    tensor([[0.]], dtype=torch.float64)
    """
    deg, o = graph.signed_degree, graph.offsets
    parts = []
    for l in graph.hidden_layers:
        down = torch.bmm(graph.weights[l - 1].transpose(1, 2), deg[:, o[l - 1]:o[l], None]).squeeze(2)
        up = torch.bmm(graph.weights[l], deg[:, o[l + 1]:o[l + 2], None]).squeeze(2)
        parts.append(down + up)
    weighted = torch.cat(parts, 1)
    s = graph.hidden(graph.signed_strength)
    return MeasureValues(torch.where(s == 0, torch.zeros_like(s), weighted / torch.where(s == 0, 1, s)))
