"""The References of the measures' docstrings, each work written once.

Every measure's batched module and its networkx twin in ``engine.measures.reference`` cite [1] the
paper reproduced and [2] the measure's source: their References sections hold a ``{{references}}``
line that ``engine.shared_docs.shared_docs(references=CITATIONS[measure])`` fills at import.
"""

from __future__ import annotations

__all__ = ["CITATIONS"]

_PAPER = ".. [1] L. Scabini, O. M. Bruno, Physica A 615 (2023) 128585 (arXiv:2107.14062), the paper reproduced.\n"
_BARRAT = """.. [2] A. Barrat, M. Barthelemy, R. Pastor-Satorras, A. Vespignani, "The architecture of complex
   weighted networks", PNAS 101 (2004) 3747."""
_BRANDES = """.. [2] U. Brandes, D. Fleischer, "Centrality measures based on current flow", STACS 2005, LNCS
   3404, 533-544; K. Stephenson, M. Zelen, "Rethinking centrality: methods and examples",
   Social Networks 11 (1989) 1."""
_LATAPY = """.. [2] M. Latapy, C. Magnien, N. Del Vecchio, "Basic notions for the analysis of large two-mode
   networks", Social Networks 30 (2008) 31."""
_ESTRADA = """.. [2] E. Estrada, J. A. Rodriguez-Velazquez, "Subgraph centrality in complex networks", Phys.
   Rev. E 71 (2005) 056103."""
_MARCHIORI = """.. [2] M. Marchiori, V. Latora, "Harmony in the small-world", Physica A 285 (2000) 539;
   P. Boldi, S. Vigna, "Axioms for centrality", Internet Mathematics 10 (2014) 222."""
_KERMARREC = """.. [2] A.-M. Kermarrec, E. Le Merrer, B. Sericola, G. Tredan, "Second order centrality:
   distributed assessment of nodes criticity in complex networks", Computer Communications 34
   (2011) 619."""
_BRON_KERBOSCH = """.. [2] C. Bron, J. Kerbosch, "Algorithm 457: finding all cliques of an undirected graph", Comm.
   ACM 16 (1973) 575 (the maximal cliques networkx enumerates, with the pivoting of E. Tomita,
   A. Tanaka, H. Takahashi, Theor. Comput. Sci. 363 (2006) 28)."""

# measure name -> its References entries (numpydoc), in the column order of neurons.parquet
CITATIONS = {name: _PAPER + source for name, source in (
    ("strength", _BARRAT), ("avg_neighbor_strength", _BARRAT), ("current_flow_closeness", _BRANDES),
    ("bipartite_clustering", _LATAPY), ("subgraph_centrality", _ESTRADA), ("harmonic_centrality", _MARCHIORI),
    ("second_order_centrality", _KERMARREC), ("max_cliques", _BRON_KERBOSCH))}
