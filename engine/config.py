"""The run's configuration: one schema, the defaults and the rules of every setting.

Each config group is one dataclass (Hydra's structured config): the field's default and its rule
(type, range, choices) stand together (``engine.schema``). The model and train groups live beside the
training code (``engine.population.train``), the analysis group beside the analysis
(``engine.analysis.config``); this module has the others and composes them into ``EngineConfig``,
which Hydra composes from (``register``). The YAML files in ``conf/`` hold only what differs from these
defaults. ``validate`` checks a whole composed configuration (unknown keys, every value, the rules
between groups) before any work and returns it as typed objects.

A new setting is one field here (or in its group's dataclass) plus the code that uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from engine.analysis.config import AnalysisConfig
from engine.backend import BACKENDS
from engine.data.loader import DATASETS
from engine.errors import EngineError
from engine.population.train import ModelConfig, TrainConfig, snapshot_epochs
from engine.schema import MEASURE_NAMES, Check, Interval, ListOf, Options, all_measures, build, fail, group, setting

STAGES = ("train", "measures", "analysis", "report")
SNAPSHOT_NAMES = ("early", "last", "all", "none")


def shard_of(text: Any) -> tuple[int, int] | None:
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
    shard_of(text)
    return text


def parse_shard(shard: str | None, size: int) -> range:
    """Network ids of a shard "i/n" (contiguous blocks, 0-based i); all ids when shard is None. A range:
    nothing is built per network, whatever the population size."""
    try:
        parts = shard_of(shard)
    except ValueError as e:
        raise EngineError(f"population.shard={shard!r}: {e}") from None
    if parts is None:
        return range(size)
    i, n = parts
    return range(i * size // n, (i + 1) * size // n)


@dataclass
class DatasetConfig:
    name: str = setting("digits", Options(DATASETS))
    # directory of the files (fashion_mnist: Debian's location by default)
    root: Optional[str] = setting(None, None, str)
    # download cache (default $ENGINE_DATA_DIR or ~/.cache/engine/data)
    cache_dir: Optional[str] = setting(None, None, str)
    download: bool = setting(True, bool)
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
    size: int = setting(1000, Interval(int, 1))               # networks, differing only in their init seed
    seed: int = setting(0, Interval(int, 0))                  # network i starts from init seed `seed + i`
    # networks trained at once (null: as many as fit the memory budget)
    chunk_size: Optional[int] = setting(None, None, Interval(int, 1))
    # "i/n": this job trains the i-th of n contiguous blocks of network ids
    shard: Optional[str] = setting(None, None, Check(_shard_text, "i/n with 0 <= i < n, e.g. 0/4"))
    # epochs whose weights are measured: early = [0, 1, last] | last | all | none | [0, 10, 30]
    snapshots: Any = setting("early", Options(SNAPSHOT_NAMES), None, Interval(int, 0), ListOf(Interval(int, 0)))
    save_weights: bool = setting(False, bool)                 # also write the snapshots as safetensors


@dataclass
class BackendConfig:
    name: str = setting("auto", Options(BACKENDS))


@dataclass
class MeasuresConfig:
    enabled: bool = setting(True, bool)
    names: list[str] = setting(all_measures, MEASURE_NAMES)   # default: every measure of the registry
    dtype: str = setting("float64", Options(("float64", "float32")))   # float64 (networkx to ~1e-11) | float32
    log_subgraph: bool = setting(False, bool)                 # store log(subgraph centrality) (values reach 1e89)
    chunk_size: Optional[int] = setting(None, None, Interval(int, 1))   # networks per measure batch (null: automatic)


@dataclass
class EngineConfig:
    dataset: DatasetConfig = group(DatasetConfig)
    model: ModelConfig = group(ModelConfig)
    train: TrainConfig = group(TrainConfig)
    population: PopulationConfig = group(PopulationConfig)
    backend: BackendConfig = group(BackendConfig)
    measures: MeasuresConfig = group(MeasuresConfig)
    analysis: AnalysisConfig = group(AnalysisConfig)
    stages: list[str] = setting(lambda: list(STAGES), ListOf(Options(STAGES)))
    progress: bool = setting(True, bool)

    def check_group(self, key: str) -> None:
        """Rules between groups."""
        pop = self.population
        if not len(parse_shard(pop.shard, pop.size)):
            raise fail("population.shard", pop.shard,
                       f"holds no network of population.size={pop.size}: use fewer shards")
        snapshot_epochs(pop.snapshots, self.train.epochs)   # epochs within 0..train.epochs
        if ("measures" in self.stages and self.measures.enabled and "analysis" in self.stages
                and self.analysis.enabled["bag_of_neurons"]):
            missing = [m for m in self.analysis.bon.measures if m not in self.measures.names]
            if missing:
                raise fail("analysis.bon.measures", self.analysis.bon.measures,
                           f"needs {missing}, which measures.names={self.measures.names} does not compute: add them "
                           "there or set analysis.enabled.bag_of_neurons=false")


def register() -> None:
    """Give Hydra the schema (``engine_schema`` in conf/config.yaml's defaults list)."""
    from hydra.core.config_store import ConfigStore

    from engine.schema import hydra_node

    ConfigStore.instance().store(name="engine_schema", node=hydra_node(EngineConfig))


def validate(cfg: Mapping | EngineConfig) -> EngineConfig:
    """The whole composed configuration (Hydra's, a saved one, a dict), checked before any work: unknown
    keys (named with the closest known key), every value by its field's rule, the rules between fields
    and groups. Returns it as typed objects; raises EngineError naming the key."""
    from engine.schema import plain

    if not isinstance(cfg, EngineConfig):
        cfg = plain(cfg)
        if isinstance(cfg, Mapping):
            cfg = {k: v for k, v in cfg.items() if k != "hydra"}   # Hydra's own node, when present
    return build(EngineConfig, cfg, "")
