"""strength: weighted degree on the signed graph, s_i = sum_j w_ij."""

from __future__ import annotations

from engine.measures.layered_graph import LayeredGraph, MeasureValues


def strength(graph: LayeredGraph) -> MeasureValues:
    """Signed strength of every hidden neuron, (N, H)."""
    return MeasureValues(graph.hidden(graph.signed_strength))
