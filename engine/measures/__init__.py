"""Per-hidden-neuron complex-network measures of populations of MLPs, batched on the weights' device.

``compute_measures(weights)`` -> (N, H, 8); ``neuron_table`` -> neurons.parquet rows;
``summarize`` -> per-network mean/std features. One module per measure, ``registry.REGISTRY``
lists them with their networkx references (``reference.py``).
"""

from engine.measures.compute import compute_measures
from engine.measures.registry import MEASURES, REGISTRY
from engine.measures.table import neuron_table, summarize

__all__ = ["MEASURES", "REGISTRY", "compute_measures", "neuron_table", "summarize"]
