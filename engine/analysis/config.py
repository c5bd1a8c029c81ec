"""Settings of the analysis stage: the schema of the ``analysis`` config group (defaults and rules beside
each field, checked by ``engine.schema``; unknown keys are errors naming the closest known key).
``conf/analysis/default.yaml`` holds only what differs from these defaults."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from engine.schema import MEASURE_NAMES, Check, DictOf, Interval, ListOf, Options, build, check, fail, group, setting

CLASSIFIERS = ("logistic_regression", "svm", "random_forest", "knn", "lda")
REGRESSORS = ("ridge", "random_forest")
FEATURE_SETS = ("cn", "bon", "weights", "spectral", "all")
# early prediction adds the learning curve so far: the trivial baseline structure has to beat
EARLY_FEATURE_SETS = ("cn", "bon", "weights", "spectral", "all", "curve")
PARTS = ("classification", "regression", "bag_of_neurons", "correlations", "cross_benchmark", "early_prediction")


def _default_estimator_params() -> dict[str, dict[str, Any]]:
    return {
        "logistic_regression": {"max_iter": 2000},
        "svm": {"kernel": "rbf"},
        "random_forest": {"n_estimators": 50},    # half scikit-learn's 100 trees, for the 3-minute budget
        "knn": {"n_neighbors": 5},
        "lda": {},
        "ridge": {"alpha": 1.0},
        # R randomForest defaults
        "random_forest_regressor": {"n_estimators": 50, "max_features": 0.33, "min_samples_leaf": 5},
    }


def _keyword_arguments(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ValueError("must be a mapping of keyword arguments (scikit-learn names)")
    return dict(value)


@dataclass
class BoNConfig:
    """Bag-of-Neurons: k-means over the hidden neurons of one benchmark (paper: k=6, n_init=100)."""

    measures: list[str] = setting(lambda: ["strength", "bipartite_clustering", "subgraph_centrality"],
                                  MEASURE_NAMES)                               # the paper's three
    # subgraph centrality reaches 1e89: log10 before the z-score
    log10_measures: list[str] = setting(["subgraph_centrality"], ListOf(str))
    # number of neuron types, or auto (the best silhouette in k_range)
    k: int | str = setting(6, Interval(int, 2), Options(["auto"]))
    k_range: list[int] = setting([2, 10], ListOf(Interval(int, 2), length=2))
    # the paper used 100 (k-means++, max_iter 100); 10 is the fast default
    n_init: int = setting(10, Interval(int, 1))
    max_iter: int = setting(100, Interval(int, 1))
    # fit k-means on a random subsample of this many neurons, predict all; null = all
    fit_sample: int | None = setting(200_000, None, Interval(int, 2))
    silhouette_sample: int = setting(10_000, Interval(int, 2))   # neurons used to score each k when k: auto
    seed: int = setting(0, Interval(int, 0))

    def check_group(self, key: str) -> None:
        if self.k_range[1] < self.k_range[0]:
            raise fail(f"{key}.k_range", self.k_range, "need [kmin, kmax] with kmin <= kmax")


@dataclass
class EarlyConfig:
    """Early prediction: final test accuracy (regression) and performance class (classification)
    predicted from each snapshot epoch's structure, and from the learning curve up to that epoch.
    Same folds and seeds as the main analysis; fewer estimators, as it runs once per snapshot epoch."""

    classifiers: list[str] = setting(["logistic_regression"], ListOf(Options(CLASSIFIERS)))
    regressors: list[str] = setting(["ridge"], ListOf(Options(REGRESSORS)))   # fast: it runs once per snapshot epoch
    # curve: the learning curve so far (the baseline)
    feature_sets: list[str] = setting(lambda: list(EARLY_FEATURE_SETS), ListOf(Options(EARLY_FEATURE_SETS)))
    repeats: int = setting(1, Interval(int, 1))


@dataclass
class AnalysisConfig:
    """Every choice of the analysis stage, with the project's defaults."""

    # parts to run (performance classes always run); a mapping given here updates these defaults.
    # early_prediction needs snapshots at several epochs (population.snapshots).
    enabled: dict[str, bool] = setting(lambda: {p: True for p in PARTS}, DictOf(Options(PARTS), bool), merge=True)
    classes: int = setting(3, Interval(int, 2))   # quantile classes per dataset (3 -> low/medium/high)
    # or fixed test-accuracy cut points, e.g. [0.5, 0.8] -> 3 classes
    thresholds: list[float] | None = setting(None, None, ListOf(Interval(float), min_len=1, increasing=True))
    # stratified k-fold; reduced to the smallest class count when needed
    folds: int = setting(10, Interval(int, 2))
    repeats: int = setting(3, Interval(int, 1))   # repetitions of the k-fold with different seeds
    # repetitions of the (plain) k-fold of the test-accuracy regression
    regression_repeats: int = setting(1, Interval(int, 1))
    seed: int = setting(0, Interval(int, 0))
    # significance level for correlations and the verdict
    alpha: float = setting(0.05, Interval(float, 0, 1, closed="neither"))
    # processes fitting folds in parallel on CPU (-1 = all cores, 1 = serial; joblib's convention)
    n_jobs: int = setting(-1, Interval(int, 1), Interval(int, None, -1))
    classifiers: list[str] = setting(lambda: list(CLASSIFIERS), ListOf(Options(CLASSIFIERS)))
    regressors: list[str] = setting(lambda: list(REGRESSORS), ListOf(Options(REGRESSORS)))
    # spectral: WeightWatcher's metrics
    feature_sets: list[str] = setting(lambda: list(FEATURE_SETS), ListOf(Options(FEATURE_SETS)))
    # per-estimator keyword arguments (scikit-learn names); a mapping given here updates these defaults
    estimator_params: dict[str, dict[str, Any]] = setting(
        _default_estimator_params, DictOf(str, Check(_keyword_arguments, "a mapping of keyword arguments")), merge=True)
    bon: BoNConfig = group(BoNConfig)
    early: EarlyConfig = group(EarlyConfig)

    @classmethod
    def from_mapping(cls, cfg: "AnalysisConfig | Mapping[str, Any] | None") -> "AnalysisConfig":
        """A checked config from a dict / OmegaConf mapping (None gives the defaults; an AnalysisConfig is
        checked as it is). Raises EngineError naming the key (``analysis.<key>``)."""
        return build(cls, cfg, "analysis")

    def validate(self) -> None:
        """Raise EngineError on settings that cannot work."""
        check(self, "analysis")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
