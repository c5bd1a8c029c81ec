"""strength: weighted degree on the signed graph, s_i = sum_j w_ij."""

from __future__ import annotations

from engine.measures.citations import CITATIONS
from engine.measures.layered_graph import LayeredGraph, MeasureValues
from engine.shared_docs import shared_docs


__all__ = ["strength"]


@shared_docs(references=CITATIONS["strength"])
def strength(graph: LayeredGraph) -> MeasureValues:
    """Signed strength (weighted degree) of every hidden neuron: s_i = sum_j w_ij.

    Parameters
    ----------
    graph : LayeredGraph
        N networks (``LayeredGraph.of(weights)``), whose signed synapses are summed.

    Returns
    -------
    MeasureValues
        ``values`` (N, H): per hidden neuron (layer order), the sum of its synapse weights, both
        layers' (the units of the weights). Always defined.

    References
    ----------
    {{references}}

    Examples
    --------
    >>> graph = LayeredGraph.of([[[1.0, -0.5], [2.0, 0.0]], [[1.0], [3.0]]])  # one 2-2-1 network
    >>> strength(graph).values
    tensor([[4.0000, 2.5000]], dtype=torch.float64)
    """
    return MeasureValues(graph.hidden(graph.signed_strength))
