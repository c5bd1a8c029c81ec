"""The registry of measures: one entry per measure, in the order of neurons.parquet's columns.

Each entry names the keyword options its compute function accepts (``options``); calling an entry
with any other option is an EngineError, and ``options_for`` hands each measure only its own.
The networkx references come from ``engine.measures.reference`` (which does not import this module).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from engine.errors import EngineError
from engine.measures.avg_neighbor_strength import avg_neighbor_strength
from engine.measures.bipartite_clustering import bipartite_clustering
from engine.measures.current_flow_closeness import current_flow_closeness
from engine.measures.harmonic_centrality import harmonic_centrality
from engine.measures.layered_graph import LayeredGraph, MeasureValues
from engine.measures.max_cliques import max_cliques
from engine.measures.reference import REFERENCES
from engine.measures.second_order_centrality import second_order_centrality
from engine.measures.strength import strength
from engine.measures.subgraph_centrality import subgraph_centrality
from engine.schema import closest

__all__ = ["check_measure_names", "Measure", "MEASURES", "options_for", "REGISTRY"]


@dataclass(frozen=True)
class Measure:
    """One measure: its name, the graph it reads, its definition, its batched computation and networkx twin.

    Call it on a ``LayeredGraph`` (``REGISTRY[name](graph, **options)``).

    Attributes
    ----------
    name : str
        The measure's name, a column of ``neurons.parquet``.
    graph : {"signed", "positive"}
        "signed": every non-zero synapse; "positive": the synapses > 0, every node kept.
    definition : str
        The networkx call and the formula, in words.
    compute : callable
        ``(LayeredGraph, **options) -> MeasureValues``, batched over the networks.
    options : tuple of str
        The keyword options ``compute`` accepts besides the graph.
    reference : callable
        ``(ReferenceNetwork, nodes=None) -> np.ndarray``: the networkx computation (``reference.py``).

    Raises
    ------
    EngineError
        When called with an option that is not in ``options``.

    Examples
    --------
    >>> m = REGISTRY["strength"]
    >>> m.graph, m.options
    ('signed', ())
    >>> m(LayeredGraph.of([[[1.0, -0.5], [2.0, 0.0]], [[1.0], [3.0]]])).values
    tensor([[4.0000, 2.5000]], dtype=torch.float64)
    >>> m(LayeredGraph.of([[[1.0]], [[1.0]]]), log_subgraph=True)
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: measure strength has no option(s) ['log_subgraph']: it accepts no options
    """

    name: str
    graph: str  # "signed" (all synapses) or "positive" (synapses > 0, all nodes kept)
    definition: str
    compute: Callable[..., MeasureValues]  # (LayeredGraph, **options) -> MeasureValues, batched over networks
    options: tuple[str, ...] = ()  # the keyword options ``compute`` accepts besides the graph

    @property
    def reference(self) -> Callable:
        """(ReferenceNetwork, nodes=None) -> np.ndarray: the networkx computation (``reference.py``)."""
        return REFERENCES[self.name]

    def __call__(self, graph: LayeredGraph, **options: Any) -> MeasureValues:
        """``compute(graph, **options)``; an option this measure does not accept is an EngineError."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            accepted = ", ".join(self.options) if self.options else "no options"
            raise EngineError(f"measure {self.name} has no option(s) {unknown}: it accepts {accepted}")
        return self.compute(graph, **options)


REGISTRY: dict[str, Measure] = {m.name: m for m in [
    Measure("strength", "signed", "weighted degree: sum of the node's synapse weights", strength),
    Measure("avg_neighbor_strength", "signed",
            'nx.average_neighbor_degree(G, weight="weight"): sum_j w_ij deg_j / s_i (0 if s_i = 0)',
            avg_neighbor_strength),
    Measure("current_flow_closeness", "signed",
            'nx.current_flow_closeness_centrality(G, weight="weight"): 1 / sum_w R(v, w)',
            current_flow_closeness),
    Measure("bipartite_clustering", "positive",
            'nx.bipartite.clustering(G, mode="max"): Latapy clustering over second neighbours',
            bipartite_clustering),
    Measure("subgraph_centrality", "positive", "nx.subgraph_centrality(G): diag(expm(A)), A binary",
            subgraph_centrality, options=("log_subgraph", "method")),
    Measure("harmonic_centrality", "positive",
            'nx.harmonic_centrality(G, distance="weight"): sum of 1 / shortest-path distance',
            harmonic_centrality),
    Measure("second_order_centrality", "positive",
            "nx.second_order_centrality(G): std of random-walk return times (NaN if disconnected)",
            second_order_centrality),
    Measure("max_cliques", "positive", "nx.number_of_cliques(G): maximal cliques containing the node",
            max_cliques),
]}

MEASURES: tuple[str, ...] = tuple(REGISTRY)


def check_measure_names(value: Any) -> list[str]:
    """The one check of measure names: a non-empty list of distinct measures of the registry.

    Read by ``compute_measures`` and ``neuron_table`` (``measures=``) and by the settings that name
    measures (``measures.names``, ``analysis.bon.measures``, ``engine.inspect --measures``), which
    prefix the message with the setting.

    Parameters
    ----------
    value : list or tuple of str
        Measure names, from ``MEASURES``.

    Returns
    -------
    list of str
        The names, in the order given.

    Raises
    ------
    ValueError
        If ``value`` is not a list, is empty, names an unknown measure or one twice.

    Examples
    --------
    >>> check_measure_names(["strength", "max_cliques"])
    ['strength', 'max_cliques']
    >>> check_measure_names(["strenght"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown strenght; choose from strength, ..., max_cliques; did you mean strength?
    """
    if not isinstance(value, (list, tuple)):
        raise ValueError("must be a list of measure names")
    names = list(value)
    unknown = [m for m in names if m not in REGISTRY]
    if unknown:
        near = closest(str(unknown[0]), MEASURES)
        raise ValueError(f"unknown {', '.join(map(str, unknown))}; choose from {', '.join(MEASURES)}"
                         + (f"; did you mean {near}?" if near else ""))
    if not names:
        raise ValueError(f"names no measure; choose at least one of {', '.join(MEASURES)}")
    if len(set(names)) != len(names):
        raise ValueError(f"{names} names a measure twice")
    return names

_OPTIONS: frozenset[str] = frozenset(o for m in REGISTRY.values() for o in m.options)


def options_for(names: Sequence[str], options: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per measure in ``names``, the subset of ``options`` it accepts.

    Parameters
    ----------
    names : sequence of str
        Measure names, from ``MEASURES`` (checked by the caller).
    options : mapping of str to any
        Keyword options for the measures' compute functions (e.g. ``log_subgraph``, ``method``).

    Returns
    -------
    dict of str to dict
        Per name, the options its ``Measure.options`` lists.

    Raises
    ------
    EngineError
        If an option is accepted by no measure (a misspelt option is never dropped silently).

    Examples
    --------
    >>> options_for(["strength", "subgraph_centrality"], {"log_subgraph": True})
    {'strength': {}, 'subgraph_centrality': {'log_subgraph': True}}
    >>> options_for(["strength"], {"log_subgrap": True})
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: unknown measure option(s) ['log_subgrap']: the measures accept ['log_subgraph', 'method']
    """
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise EngineError(f"unknown measure option(s) {unknown}: the measures accept {sorted(_OPTIONS)}")
    return {name: {k: v for k, v in options.items() if k in REGISTRY[name].options} for name in names}
