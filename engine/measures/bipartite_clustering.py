"""bipartite_clustering: ``nx.bipartite.clustering(G, mode="max")`` (Latapy) on the positive graph.

c(u) = (1 / |N2(u)|) sum_{v in N2(u)} |N(u) & N(v)| / max(|N(u)|, |N(v)|), N2(u) the second
neighbours of u (u excluded), and 0 where N2(u) is empty. In a layered graph the second neighbours
of a layer-l neuron lie in layers l-2, l and l+2, and the common-neighbour counts are products of
the binary blocks P_l: same layer P_{l-1}^T P_{l-1} + P_l P_l^T, two layers up P_l P_{l+1}.
"""

from __future__ import annotations

import torch

from engine.measures.citations import CITATIONS
from engine.measures.layered_graph import LayeredGraph, MeasureValues, binary_product
from engine.shared_docs import shared_docs


__all__ = ["bipartite_clustering"]


@shared_docs(references=CITATIONS["bipartite_clustering"])
def bipartite_clustering(graph: LayeredGraph) -> MeasureValues:
    """Latapy clustering (mode max) of every hidden neuron on the positive graph.

    ``nx.bipartite.clustering(G, mode="max")``: c(u) = (1 / |N2(u)|) sum_{v in N2(u)}
    |N(u) & N(v)| / max(|N(u)|, |N(v)|), N2(u) the second neighbours of u; 0 where N2(u) is empty.

    Parameters
    ----------
    graph : LayeredGraph
        N networks (``LayeredGraph.of(weights)``), whose positive synapses are the edges, unweighted.

    Returns
    -------
    MeasureValues
        ``values`` (N, H), always defined: per hidden neuron (layer order), a clustering coefficient in [0, 1].

    References
    ----------
    {{references}}

    Examples
    --------
    >>> bipartite_clustering(LayeredGraph.of([[[1.0, -0.5], [2.0, 0.0]], [[1.0], [3.0]]], dtype=torch.float32)).values
    tensor([[0.3333, 0.3333]])
    """
    p, deg, o = graph.positive_masks, graph.positive_degree, graph.offsets
    last = len(graph.sizes) - 1
    out = []
    for l in graph.hidden_layers:
        deg_u = deg[:, o[l]:o[l + 1]]
        total = torch.zeros_like(deg_u)
        count = torch.zeros_like(deg_u)
        common_same = binary_product(p[l - 1].transpose(1, 2), p[l - 1]) + binary_product(p[l], p[l].transpose(1, 2))
        common_same.diagonal(dim1=1, dim2=2).zero_()  # u is not its own second neighbour
        pairs = [(common_same, l)]
        if l + 2 <= last:
            pairs.append((binary_product(p[l], p[l + 1]), l + 2))
        if l - 2 >= 0:
            pairs.append((binary_product(p[l - 2], p[l - 1]).transpose(1, 2), l - 2))
        for common, k in pairs:
            deg_v = deg[:, o[k]:o[k + 1]]
            larger = torch.maximum(deg_u.unsqueeze(2), deg_v.unsqueeze(1)).clamp_min(1)
            total += (common / larger).sum(2)  # common == 0 outside N2(u): adds nothing
            count += (common > 0).sum(2)
        out.append(torch.where(count > 0, total / count.clamp_min(1), torch.zeros_like(total)))
    return MeasureValues(torch.cat(out, 1))
