"""current_flow_closeness: ``nx.current_flow_closeness_centrality(G, weight="weight")``, signed graph.

1 / sum_w R(v, w) with R the effective resistance; with X a grounded inverse Laplacian,
sum_w R(v, w) = n X_vv - 2 (X 1)_v + tr X (exactly networkx's accumulation). Undefined (NaN)
where the signed graph is disconnected (a neuron whose synapses are all exactly 0).
"""

from __future__ import annotations

from engine.measures.citations import CITATIONS
from engine.measures.laplacian import grounded_inverse_summary
from engine.measures.layered_graph import LayeredGraph, MeasureValues
from engine.shared_docs import shared_docs


__all__ = ["current_flow_closeness"]


@shared_docs(references=CITATIONS["current_flow_closeness"])
def current_flow_closeness(graph: LayeredGraph) -> MeasureValues:
    """Current-flow closeness of every hidden neuron on the signed graph.

    ``nx.current_flow_closeness_centrality(G, weight="weight")``: 1 / sum_w R(v, w), R the effective
    resistance between v and w in the electrical network whose conductances are the synapse weights.

    Parameters
    ----------
    graph : LayeredGraph
        N networks (``LayeredGraph.of(weights)``), whose signed synapses are the conductances.

    Returns
    -------
    MeasureValues
        ``values`` (N, H): per hidden neuron (layer order), 1 / (sum of resistances), in the units
        of the weights (negative weights can make it negative). NaN for the networks whose signed
        graph is disconnected or whose grounded Laplacian is singular; ``undefined`` marks them.

    References
    ----------
    {{references}}

    Examples
    --------
    >>> current_flow_closeness(LayeredGraph.of([[[1.0, -0.5], [2.0, 0.0]], [[1.0], [3.0]]])).values
    tensor([[-0.1333, -0.0465]], dtype=torch.float64)
    >>> cut = current_flow_closeness(LayeredGraph.of([[[1.0, 0.0]], [[1.0], [0.0]]]))  # 2nd hidden: no synapse
    >>> cut.values, cut.undefined
    (tensor([[nan, nan]], dtype=torch.float64), tensor([True]))
    """
    diag, rowsum, ok = grounded_inverse_summary(graph, graph.weights, graph.signed_connected)
    n = graph.n_nodes
    total = n * diag - 2 * rowsum + diag.sum(1, keepdim=True)
    return MeasureValues(graph.hidden(1.0 / total), ~ok,
                         "signed graph disconnected (a neuron with all synapses exactly 0) "
                         "or its grounded Laplacian is singular")
