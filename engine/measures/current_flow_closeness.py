"""current_flow_closeness: ``nx.current_flow_closeness_centrality(G, weight="weight")``, signed graph.

1 / sum_w R(v, w) with R the effective resistance; with X a grounded inverse Laplacian,
sum_w R(v, w) = n X_vv - 2 (X 1)_v + tr X (exactly networkx's accumulation). Undefined (NaN)
where the signed graph is disconnected (a neuron whose synapses are all exactly 0).
"""

from __future__ import annotations

from engine.measures.laplacian import grounded_inverse_summary
from engine.measures.layered_graph import LayeredGraph, MeasureValues


def current_flow_closeness(graph: LayeredGraph) -> MeasureValues:
    """(N, H) current-flow closeness of each hidden neuron on the signed graph."""
    diag, rowsum, ok = grounded_inverse_summary(graph, graph.weights, graph.signed_connected)
    n = graph.n_nodes
    total = n * diag - 2 * rowsum + diag.sum(1, keepdim=True)
    return MeasureValues(graph.hidden(1.0 / total), ~ok,
                         "signed graph disconnected (a neuron with all synapses exactly 0) "
                         "or its grounded Laplacian is singular")
