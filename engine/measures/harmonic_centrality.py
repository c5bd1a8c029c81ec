"""harmonic_centrality: ``nx.harmonic_centrality(G, distance="weight")`` on the positive graph.

Sum over the other reachable nodes u of 1 / d(v, u), synapse weights (> 0) used as distances
(shortest paths may zigzag between layers; unreachable nodes add 0). Both backends condense the
inputs and outputs into hops between hidden neurons: on CPU the pruned sparse method of
``engine.measures.condensed_paths`` (compiled with Numba, a NumPy/SciPy twin without it), one network
after the other in the measures' worker processes; on CUDA the dense batched min-plus kernels of
``engine.measures.shortest_paths``.
"""

from __future__ import annotations

import torch

from engine.measures import condensed_paths, shortest_paths
from engine.measures.citations import CITATIONS
from engine.measures.layered_graph import LayeredGraph, MeasureValues
from engine.shared_docs import shared_docs

__all__ = ["harmonic_centrality"]


def _use_batched_distances(graph: LayeredGraph) -> bool:
    """CUDA tensors take the dense batched kernels; CPU ones the pruned sparse method."""
    return graph.device.type == "cuda"


@shared_docs(references=CITATIONS["harmonic_centrality"])
def harmonic_centrality(graph: LayeredGraph) -> MeasureValues:
    """Harmonic centrality of every hidden neuron on the positive graph, weights as distances.

    ``nx.harmonic_centrality(G, distance="weight")``: the sum over the other nodes u of 1 / d(v, u),
    d the shortest-path length with the synapse weights (> 0) as edge lengths; unreachable nodes add 0.

    Parameters
    ----------
    graph : LayeredGraph
        N networks (``LayeredGraph.of(weights)``), whose positive synapses are the edges, their weights the lengths.

    Returns
    -------
    MeasureValues
        ``values`` (N, H): per hidden neuron (layer order), in 1 / (units of the weights). Always
        defined. CUDA tensors: the batched kernels of ``engine.measures.shortest_paths``; CPU: the
        pruned sparse method of ``engine.measures.condensed_paths``.

    References
    ----------
    {{references}}

    Examples
    --------
    >>> harmonic_centrality(LayeredGraph.of([[[1.0, -0.5], [2.0, 0.0]], [[1.0], [3.0]]])).values  # on CPU
    tensor([[2.7500, 0.9500]], dtype=torch.float64)
    """
    if _use_batched_distances(graph):
        return MeasureValues(shortest_paths.harmonic_centrality_of_blocks(graph.weights, graph.dtype))
    # float64 whatever the graph's dtype: the edge set (weight > 0) is the same, the sums more exact
    values = condensed_paths.harmonic([w.detach().to("cpu", torch.float64).numpy() for w in graph.weights])
    return MeasureValues(torch.as_tensor(values, dtype=graph.dtype, device=graph.device))
