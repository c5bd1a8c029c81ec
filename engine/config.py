"""The run's configuration: one schema, the defaults and the rules of every setting.

Each config group is one dataclass (Hydra's structured config): the field's default and its rule
(type, range, choices) stand together (``engine.schema``). The model and train groups live beside the
training code (``engine.population.train``, which library callers use without a config); this module
has the others (the analysis group included) and composes them
into ``EngineConfig``, which Hydra composes from (``register``). The YAML files in ``conf/`` hold only
what differs from these defaults. ``validate`` checks a whole composed configuration (unknown keys,
every value, the rules between groups) before any work and returns it as typed objects.

A new setting is one field here (or in its group's dataclass) plus the code that uses it.

The groups' docstrings list their settings by name only: each setting's default, rule and meaning are
written once, at its declaration (``setting(default, rules...)`` and the comment beside it), and
``python -m engine.run --cfg job`` prints the values a run composes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from engine.arms import arm_config, parse_arms
from engine.backend import BACKENDS
from engine.data.loader import DATASETS
from engine.errors import EngineError
from engine.population.train import ModelConfig, TrainConfig, snapshot_epochs
from engine.schema import (MEASURE_NAMES, Check, DictOf, Interval, ListOf, Options, all_measures, build, check, fail,
                           group, how_keys, setting)

__all__ = ["AnalysisConfig", "BackendConfig", "BoNConfig", "DatasetConfig", "EarlyConfig", "EngineConfig",
           "HOW_SETTINGS", "MeasuresConfig", "parse_shard", "PARTS", "PopulationConfig", "register", "validate"]

_STAGES = ("train", "measures", "analysis", "report")
_SNAPSHOT_NAMES = ("early", "last", "all", "none")


def _shard_of(text: Any) -> tuple[int, int] | None:
    """(i, n) of a shard "i/n" (0-based i < n); None for no shard (null, "", "none"). Raises ValueError."""
    if text in (None, "", "none"):
        return None
    if not isinstance(text, str):
        raise ValueError("write it as i/n, e.g. population.shard=0/4")
    try:
        i, n = (int(p) for p in str(text).split("/"))
    except ValueError:
        raise ValueError("write it as i/n, e.g. population.shard=0/4") from None
    if not (n >= 1 and 0 <= i < n):
        raise ValueError("need 0 <= i < n, e.g. population.shard=0/4")
    return i, n


def _shard_text(text: Any) -> Any:
    _shard_of(text)
    return text


def parse_shard(shard: str | None, size: int) -> range:
    """Network ids of a shard "i/n" of a population (``population.shard``).

    Parameters
    ----------
    shard : str or None
        ``"i/n"``: the i-th (0-based, i < n) of n contiguous blocks of ids; None, "" or "none": all.
    size : int
        The population's size (``population.size``).

    Returns
    -------
    range
        The ids of the shard (nothing is built per network, whatever the size); the blocks of
        ``0/n`` ... ``n-1/n`` cover ``range(size)`` once. Empty where n > size leaves block i none.

    Raises
    ------
    EngineError
        If ``shard`` is not of the form i/n with 0 <= i < n.

    Examples
    --------
    >>> parse_shard("1/4", 10), parse_shard(None, 10)
    (range(2, 5), range(0, 10))
    >>> parse_shard("4/4", 10)
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: population.shard='4/4': need 0 <= i < n, e.g. population.shard=0/4
    """
    try:
        parts = _shard_of(shard)
    except ValueError as e:
        raise EngineError(f"population.shard={shard!r}: {e}") from None
    if parts is None:
        return range(size)
    i, n = parts
    return range(i * size // n, (i + 1) * size // n)


@dataclass
class DatasetConfig:
    """The ``dataset`` group: which benchmark, where its files are, how it is split and cut down.

    Attributes
    ----------
    name, root, cache_dir, download, resize, grayscale, test_fraction, test_size, seed, limit_train, limit_test
        Declared below, each with its default, its rule and what it means (see the module docstring);
        the rules between them: ``check_group``.

    Examples
    --------
    >>> build(DatasetConfig, {"name": "mnist1d", "test_size": 500}, "dataset").test_size
    500
    >>> build(DatasetConfig, {"test_fraction": 1.5}, "dataset")
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: dataset.test_fraction=1.5: must be a finite number in (0, 1) (default: 0.25)
    """

    name: str = setting("digits", Options(DATASETS))
    # directory of the files (fashion_mnist: Debian's location by default)
    root: Optional[str] = setting(None, None, str, how=True)
    # download cache (default $ENGINE_DATA_DIR or ~/.cache/engine/data)
    cache_dir: Optional[str] = setting(None, None, str, how=True)
    download: bool = setting(True, bool, how=True)
    # cifar10: side of the grayscale image (28 -> 784 inputs; null = native 32)
    resize: Optional[int] = setting(28, None, Interval(int, 1))
    grayscale: bool = setting(True, bool)
    # digits: held-out share of the stratified split
    test_fraction: float = setting(0.25, Interval(float, 0, 1, closed="neither"))
    # mnist1d: generated test samples, a positive multiple of 10 (null: the standard 1,000)
    test_size: Optional[int] = setting(None, None, Interval(int, 10))
    seed: int = setting(0, Interval(int, 0))                             # digits split / mnist1d generation
    limit_train: Optional[int] = setting(None, None, Interval(int, 1))   # first k samples only (smoke runs)
    limit_test: Optional[int] = setting(None, None, Interval(int, 1))

    def check_group(self, key: str) -> None:
        if self.test_size is not None:
            if self.name != "mnist1d":
                raise fail(f"{key}.test_size", self.test_size,
                           "only mnist1d generates its test set; leave it null for other datasets")
            if self.test_size % 10:
                raise fail(f"{key}.test_size", self.test_size,
                           "use a positive multiple of 10 (MNIST-1D draws equal classes)")


@dataclass
class PopulationConfig:
    """The ``population`` group: how many networks, their seeds, which epochs are measured, paired arms.

    Attributes
    ----------
    size, seed, chunk_size, shard, snapshots, save_weights, compare
        Declared below, each with its default, its rule and what it means (see the module docstring).
        ``compare`` is read by ``engine.arms``; the rules between it, ``shard``, ``snapshots`` and
        the other groups are ``EngineConfig``'s.

    Examples
    --------
    >>> build(PopulationConfig, {"size": 8, "snapshots": [0, 5]}, "population").snapshots
    [0, 5]
    >>> build(PopulationConfig, {"shard": "4/4"}, "population")
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: population.shard='4/4': need 0 <= i < n, e.g. population.shard=0/4 (default: null)
    """

    size: int = setting(1000, Interval(int, 1))               # networks, differing only in their init seed
    seed: int = setting(0, Interval(int, 0))                  # network i starts from init seed `seed + i`
    # networks trained at once (null: as many as fit the memory budget)
    chunk_size: Optional[int] = setting(None, None, Interval(int, 1), how=True)
    # "i/n": this job trains the i-th of n contiguous blocks of network ids
    shard: Optional[str] = setting(None, None, Check(_shard_text, "i/n with 0 <= i < n, e.g. 0/4"))
    # epochs whose weights are measured: early = [0, 1, last] | last | all | none | [0, 10, 30]
    snapshots: Any = setting("early", Options(_SNAPSHOT_NAMES), None, Interval(int, 0), ListOf(Interval(int, 0)))
    # also write the snapshots as safetensors (a resume that turns it on computes again the chunks without them)
    save_weights: bool = setting(False, bool, how=True)
    # paired populations: the same ids and seeds trained once per arm, e.g. [rewire=none, rewire=pa]
    # (engine.arms); the first arm is the reference of the paired analysis. null: one population
    compare: Optional[list[str]] = setting(None, None, Check(lambda v: parse_arms(v) and list(v),
                                                             "a list of at least 2 arms of key=value settings, "
                                                             "e.g. [rewire=none, rewire=pa]"))


@dataclass
class BackendConfig:
    """The ``backend`` group: where training and the measures run (``engine.backend.resolve_device``).

    Attributes
    ----------
    name
        Declared below, each with its default, its rule and what it means (see the module docstring).

    Examples
    --------
    >>> build(BackendConfig, {"name": "cpu"}, "backend")
    BackendConfig(name='cpu')
    >>> build(BackendConfig, {"name": "cuda"}, "backend")
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: backend.name='cuda': must be one of auto, cpu, gpu (default: auto)
    """

    name: str = setting("auto", Options(BACKENDS))


@dataclass
class MeasuresConfig:
    """The ``measures`` group: which complex-network measures of the hidden neurons, in which precision.

    Attributes
    ----------
    enabled, names, dtype, log_subgraph, chunk_size
        Declared below, each with its default, its rule and what it means (see the module docstring).

    Examples
    --------
    >>> build(MeasuresConfig, {"names": ["strength"], "dtype": "float32"}, "measures").names
    ['strength']
    >>> build(MeasuresConfig, {"dtype": "float16"}, "measures")
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: measures.dtype='float16': must be one of float64, float32 (default: float64)
    """

    enabled: bool = setting(True, bool)
    names: list[str] = setting(all_measures, MEASURE_NAMES)   # default: every measure of the registry
    dtype: str = setting("float64", Options(("float64", "float32")))   # float64 (networkx to ~1e-11) | float32
    log_subgraph: bool = setting(False, bool)                 # store log(subgraph centrality) (values reach 1e89)
    # networks per measure batch (null: automatic)
    chunk_size: Optional[int] = setting(None, None, Interval(int, 1), how=True)


# --- the analysis group (here, not in engine.analysis: importing that package would
# load the whole analysis stack, scikit-learn included, into every command line's start) ------------------

_CLASSIFIERS = ("logistic_regression", "svm", "random_forest", "knn", "lda")
_REGRESSORS = ("ridge", "random_forest")
_SCALERS = ("winsorized", "standard")
_FEATURE_SETS = ("cn", "bon", "weights", "spectral", "all")
# early prediction adds the learning curve so far: the trivial baseline structure has to beat
_EARLY_FEATURE_SETS = ("cn", "bon", "weights", "spectral", "all", "curve")
PARTS = ("classification", "regression", "bag_of_neurons", "correlations", "cross_benchmark", "early_prediction",
         "lost_classes")


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
    """The ``analysis.bon`` group: Bag-of-Neurons, k-means over the hidden neurons of one benchmark
    (paper: k=6, n_init=100).

    Attributes
    ----------
    measures, log10_measures, k, k_range, n_init, max_iter, fit_sample, silhouette_sample, seed
        Declared below, each with its default, its rule and what it means (see the module docstring);
        the rule between them: ``check_group``.

    Examples
    --------
    >>> build(BoNConfig, {"k": "auto", "k_range": [2, 4]}, "analysis.bon").k
    'auto'
    >>> build(BoNConfig, {"k_range": [5, 3]}, "analysis.bon")
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: analysis.bon.k_range=[5, 3]: need [kmin, kmax] with kmin <= kmax
    """

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
    """The ``analysis.early`` group: early prediction, the final test accuracy (regression) and
    performance class (classification) predicted from each snapshot epoch's structure, and from the
    learning curve up to that epoch. Same folds and seeds as the main analysis; fewer estimators, as it
    runs once per snapshot epoch.

    Attributes
    ----------
    classifiers, regressors, feature_sets, repeats
        Declared below, each with its default, its rule and what it means (see the module docstring).

    Examples
    --------
    >>> build(EarlyConfig, {"feature_sets": ["cn", "curve"]}, "analysis.early").feature_sets
    ['cn', 'curve']
    >>> build(EarlyConfig, {"repeats": 0}, "analysis.early")
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: analysis.early.repeats=0: must be an integer >= 1 (default: 1)
    """

    classifiers: list[str] = setting(["logistic_regression"], ListOf(Options(_CLASSIFIERS)))
    regressors: list[str] = setting(["ridge"], ListOf(Options(_REGRESSORS)))   # fast: it runs once per snapshot epoch
    # curve: the learning curve so far (the baseline)
    feature_sets: list[str] = setting(lambda: list(_EARLY_FEATURE_SETS), ListOf(Options(_EARLY_FEATURE_SETS)))
    repeats: int = setting(1, Interval(int, 1))


@dataclass
class AnalysisConfig:
    """The ``analysis`` group: every choice of the analysis stage, with the project's defaults.

    Each setting is declared below with its default, its rule and what it means (see the module
    docstring).

    Attributes
    ----------
    enabled, classes, thresholds, folds, repeats, regression_repeats, seed, alpha
        Which parts run; the performance classes; the cross-validation and the significance level.
    scaler, n_jobs, classifiers, regressors, feature_sets, estimator_params
        The estimators and what they are fitted on.
    bon, early
        The groups ``BoNConfig`` and ``EarlyConfig``.

    Examples
    --------
    >>> cfg = AnalysisConfig.from_mapping({"enabled": {"regression": False}, "folds": 5})
    >>> cfg.folds, cfg.enabled["regression"], cfg.enabled["classification"]
    (5, False, True)
    >>> AnalysisConfig.from_mapping({"alpha": 0})
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: analysis.alpha=0: must be a finite number in (0, 1) (default: 0.05)
    """

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
    # feature scaling fitted inside each training fold: winsorized (z-scores of each feature clipped to
    # its 1-99 % range: heavy-tailed measures such as harmonic centrality reach 10+ sd and would let
    # one network steer a linear model) or standard (plain z-scores)
    scaler: str = setting("winsorized", Options(_SCALERS))
    # processes fitting folds in parallel on CPU (-1 = all cores, 1 = serial; joblib's convention)
    n_jobs: int = setting(-1, Interval(int, 1), Interval(int, None, -1))
    classifiers: list[str] = setting(lambda: list(_CLASSIFIERS), ListOf(Options(_CLASSIFIERS)))
    regressors: list[str] = setting(lambda: list(_REGRESSORS), ListOf(Options(_REGRESSORS)))
    # spectral: WeightWatcher's metrics
    feature_sets: list[str] = setting(lambda: list(_FEATURE_SETS), ListOf(Options(_FEATURE_SETS)))
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


@dataclass
class EngineConfig:
    """The whole configuration of a run: the groups of settings and the stages to run.

    ``validate`` builds it from a composed configuration; ``dataclasses.asdict`` gives it back as
    plain data. ``check_group`` holds the rules between groups.

    Attributes
    ----------
    dataset, model, train, population, backend, measures, analysis, stages, progress
        Declared below, each with its default, its rule and what it means (see the module docstring);
        ``model`` and ``train`` are ``engine.population.train``'s ``ModelConfig`` and ``TrainConfig``.
        Those declared ``how`` change how, not what, a run's tables are computed (``HOW_SETTINGS``).

    Examples
    --------
    >>> cfg = validate({"population": {"size": 4}, "train": {"epochs": 2}})
    >>> cfg.population.size, cfg.train.epochs, cfg.dataset.name
    (4, 2, 'digits')
    >>> validate({"population": {"snapshots": [0, 40]}})
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: population.snapshots has epochs [40] outside 0..train.epochs=30
    """

    dataset: DatasetConfig = group(DatasetConfig)
    model: ModelConfig = group(ModelConfig)
    train: TrainConfig = group(TrainConfig)
    population: PopulationConfig = group(PopulationConfig)
    backend: BackendConfig = group(BackendConfig, how=True)
    measures: MeasuresConfig = group(MeasuresConfig)
    # the tables' settings only: analysis and report run anew on every run (and on every gather)
    analysis: AnalysisConfig = group(AnalysisConfig, how=True)
    # which tables a run computes is checked chunk by chunk (their rows) on resume and compared by gather
    stages: list[str] = setting(lambda: list(_STAGES), ListOf(Options(_STAGES)), how=True)
    progress: bool = setting(True, bool, how=True)

    def check_group(self, key: str) -> None:
        """Rules between groups."""
        pop = self.population
        if not len(parse_shard(pop.shard, pop.size)):
            raise fail("population.shard", pop.shard,
                       f"holds no network of population.size={pop.size}: use fewer shards")
        snapshot_epochs(pop.snapshots, self.train.epochs)   # epochs within 0..train.epochs
        for arm in parse_arms(pop.compare) if pop.compare else ():
            arm_config(self, arm)                           # every arm's settings by the schema's rules
        if ("measures" in self.stages and self.measures.enabled and "analysis" in self.stages
                and self.analysis.enabled["bag_of_neurons"]):
            missing = [m for m in self.analysis.bon.measures if m not in self.measures.names]
            if missing:
                raise fail("analysis.bon.measures", self.analysis.bon.measures,
                           f"needs {missing}, which measures.names={self.measures.names} does not compute: add them "
                           "there or set analysis.enabled.bag_of_neurons=false")


# Settings that change how, not what, a run computes (declared ``how`` beside each field above): a run
# resumes, and runs gather as one population, whatever their values.
HOW_SETTINGS = how_keys(EngineConfig)


def register() -> None:
    """Give Hydra the schema (``engine_schema`` in conf/config.yaml's defaults list).

    Stores ``hydra_node(EngineConfig)`` in Hydra's ConfigStore, where ``conf/config.yaml`` names it;
    call it once before Hydra composes (``engine.run`` does).

    Examples
    --------
    >>> from hydra.core.config_store import ConfigStore
    >>> register()
    >>> "engine_schema.yaml" in ConfigStore.instance().list("/")
    True
    """
    from hydra.core.config_store import ConfigStore

    from engine.schema import hydra_node

    ConfigStore.instance().store(name="engine_schema", node=hydra_node(EngineConfig))


def validate(cfg: Mapping | EngineConfig) -> EngineConfig:
    """The whole composed configuration, checked before any work, as typed objects.

    Parameters
    ----------
    cfg : mapping or EngineConfig
        Hydra's composed configuration (its ``hydra`` node is left out), a saved one, a dict of the
        settings that differ from the defaults, or an EngineConfig (checked as it is).

    Returns
    -------
    EngineConfig

    Raises
    ------
    EngineError
        One line naming the key: an unknown key (with the closest known key), a value its field's
        rule refuses, a rule between fields or groups broken, an interpolation that cannot be resolved.

    Examples
    --------
    >>> validate({"measures": {"names": ["strength"]}, "stages": ["train", "measures"]}).measures.names
    ['strength']
    >>> validate({"train": {"epoch": 3}})
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: train.epoch: unknown setting; did you mean train.epochs?
    """
    from engine.schema import resolved

    if not isinstance(cfg, EngineConfig):
        cfg = resolved(cfg)   # without Hydra's own node, when present
        if isinstance(cfg, Mapping):
            cfg = {k: v for k, v in cfg.items() if k != "hydra"}
    return build(EngineConfig, cfg, "")
