"""Analysis stage: performance classes, classifiers, Bag-of-Neurons, correlations, cross-benchmark,
the noise ceiling of test accuracy, early prediction, and a conclusion in words.

``run_analysis(networks, neurons, cfg, backend, snapshots=, curves=)`` takes the run's
networks.parquet and neurons.parquet tables (and snapshots.parquet, curves.parquet for early
prediction) and returns an ``AnalysisResult``: a JSON-ready summary of every number, the neuron-type
label of every neurons row, and the tables the report draws from.
"""

from engine.config import AnalysisConfig
from engine.analysis.run import AnalysisResult, run_analysis

__all__ = ["AnalysisConfig", "AnalysisResult", "run_analysis"]
