"""avg_neighbor_strength: ``nx.average_neighbor_degree(G, weight="weight")`` on the signed graph.

sum_j w_ij * deg_j / s_i with deg_j the *unweighted* degree of neighbour j and s_i the signed
strength; 0 where s_i == 0 (networkx's convention).
"""

from __future__ import annotations

import torch

from engine.measures.layered_graph import LayeredGraph, MeasureValues


__all__ = ["avg_neighbor_strength"]


def avg_neighbor_strength(graph: LayeredGraph) -> MeasureValues:
    """Average neighbour degree of every hidden neuron, weighted by the signed synapses.

    ``nx.average_neighbor_degree(G, weight="weight")``: (1 / s_i) sum_j w_ij deg_j, with deg_j the
    unweighted degree of neighbour j and s_i the signed strength; 0 where s_i = 0.

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
    .. [1] L. Scabini, O. M. Bruno, Physica A 615 (2023) 128585 (arXiv:2107.14062), the paper reproduced.
    .. [2] A. Barrat et al., PNAS 101 (2004) 3747: the weighted average nearest-neighbours degree.

    Examples
    --------
    >>> graph = LayeredGraph.of([[[1.0, -0.5], [2.0, 0.0]], [[1.0], [3.0]]])  # one 2-2-1 network
    >>> avg_neighbor_strength(graph).values
    tensor([[1.5000, 2.0000]], dtype=torch.float64)
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
