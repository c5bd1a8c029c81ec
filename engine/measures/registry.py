"""The registry of measures: one entry per measure, in the order of neurons.parquet's columns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from engine.measures import reference
from engine.measures.avg_neighbor_strength import avg_neighbor_strength
from engine.measures.bipartite_clustering import bipartite_clustering
from engine.measures.current_flow_closeness import current_flow_closeness
from engine.measures.harmonic_centrality import harmonic_centrality
from engine.measures.max_cliques import max_cliques
from engine.measures.second_order_centrality import second_order_centrality
from engine.measures.strength import strength
from engine.measures.subgraph_centrality import subgraph_centrality


@dataclass(frozen=True)
class Measure:
    name: str
    graph: str  # "signed" (all synapses) or "positive" (synapses > 0, all nodes kept)
    definition: str
    compute: Callable  # (LayeredGraph, **options) -> MeasureValues, batched over networks
    reference: Callable  # (ReferenceNetwork, nodes=None) -> np.ndarray, networkx


REGISTRY: dict[str, Measure] = {m.name: m for m in [
    Measure("strength", "signed", "weighted degree: sum of the node's synapse weights",
            strength, reference.strength),
    Measure("avg_neighbor_strength", "signed",
            'nx.average_neighbor_degree(G, weight="weight"): sum_j w_ij deg_j / s_i (0 if s_i = 0)',
            avg_neighbor_strength, reference.avg_neighbor_strength),
    Measure("current_flow_closeness", "signed",
            'nx.current_flow_closeness_centrality(G, weight="weight"): 1 / sum_w R(v, w)',
            current_flow_closeness, reference.current_flow_closeness),
    Measure("bipartite_clustering", "positive",
            'nx.bipartite.clustering(G, mode="max"): Latapy clustering over second neighbours',
            bipartite_clustering, reference.bipartite_clustering),
    Measure("subgraph_centrality", "positive", "nx.subgraph_centrality(G): diag(expm(A)), A binary",
            subgraph_centrality, reference.subgraph_centrality),
    Measure("harmonic_centrality", "positive",
            'nx.harmonic_centrality(G, distance="weight"): sum of 1 / shortest-path distance',
            harmonic_centrality, reference.harmonic_centrality),
    Measure("second_order_centrality", "positive",
            "nx.second_order_centrality(G): std of random-walk return times (NaN if disconnected)",
            second_order_centrality, reference.second_order_centrality),
    Measure("max_cliques", "positive", "nx.number_of_cliques(G): maximal cliques containing the node",
            max_cliques, reference.max_cliques),
]}

MEASURES: tuple[str, ...] = tuple(REGISTRY)
