"""Settings of the analysis stage: the schema of the ``analysis`` config group (defaults and rules beside
each field, checked by ``engine.schema``; unknown keys are errors naming the closest known key).

The classes live in ``engine.config`` with the run's other groups, so that checking a configuration
does not import the analysis stack; they are importable from here as before.
``conf/analysis/default.yaml`` holds only what differs from these defaults."""

from engine.config import (CLASSIFIERS, EARLY_FEATURE_SETS, FEATURE_SETS, PARTS, REGRESSORS, AnalysisConfig,
                           BoNConfig, EarlyConfig)

__all__ = ["CLASSIFIERS", "EARLY_FEATURE_SETS", "FEATURE_SETS", "PARTS", "REGRESSORS", "AnalysisConfig", "BoNConfig",
           "EarlyConfig"]
