"""strength: weighted degree on the signed graph, s_i = sum_j w_ij."""

from __future__ import annotations

from engine.measures.layered_graph import LayeredGraph, MeasureValues


__all__ = ["strength"]


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
    .. [1] L. Scabini, O. M. Bruno, Physica A 615 (2023) 128585 (arXiv:2107.14062), the paper reproduced.
    .. [2] A. Barrat, M. Barthelemy, R. Pastor-Satorras, A. Vespignani, "The architecture of complex
       weighted networks", PNAS 101 (2004) 3747.

    Examples
    --------
    >>> graph = LayeredGraph.of([[[1.0, -0.5], [2.0, 0.0]], [[1.0], [3.0]]])  # one 2-2-1 network
    >>> strength(graph).values
    tensor([[4.0000, 2.5000]], dtype=torch.float64)
    """
    return MeasureValues(graph.hidden(graph.signed_strength))
