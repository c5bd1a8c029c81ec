"""The run's configuration: a structured schema for Hydra plus value checks with one-line errors.

Hydra checks types against the schema (``population.size=abc`` fails at parse time); ``validate``
checks values (``population.size=-5``) and names the key and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from engine.errors import EngineError
from engine.population.train import TrainSettings


@dataclass
class DatasetConfig:
    name: str = "digits"
    root: Optional[str] = None          # directory of the files (fashion_mnist: Debian's location by default)
    cache_dir: Optional[str] = None     # download cache (default $ENGINE_DATA_DIR or ~/.cache/engine/data)
    download: bool = True
    resize: Optional[int] = 28          # cifar10: side of the grayscale image (28 -> 784 inputs; null = native 32)
    grayscale: bool = True
    test_fraction: float = 0.25         # digits: held-out share of the stratified split
    test_size: Optional[int] = None     # mnist1d: generated test samples (null: the standard 1,000)
    seed: int = 0                       # digits split / mnist1d generation
    limit_train: Optional[int] = None   # first k samples only (smoke runs)
    limit_test: Optional[int] = None


@dataclass
class InitConfig:
    low: float = -0.9
    high: float = 0.9
    layer_streams: str = "shared"       # shared: every layer seeded alike, as the paper's Keras code


@dataclass
class ModelConfig:
    hidden: list[int] = field(default_factory=lambda: [200, 100])
    activation: str = "relu"
    init: InitConfig = field(default_factory=InitConfig)


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 100
    lr: float = 0.01
    loss: str = "keras"                 # keras: Keras 2.2.4's clipped cross-entropy, as the paper | cross_entropy
    shuffle: bool = True
    data_seed: int = 0


@dataclass
class PopulationConfig:
    size: int = 1000
    seed: int = 0                       # network i starts from init seed `seed + i`
    chunk_size: Optional[int] = None    # networks trained at once (null: automatic, by memory)
    shard: Optional[str] = None         # "i/n": train only the i-th of n contiguous blocks of network ids
    snapshots: Any = "early"            # early (0, 1, last) | last | all | none | [epochs]
    save_weights: bool = False          # write weight snapshots (safetensors) into the run directory


@dataclass
class BackendConfig:
    name: str = "auto"                  # auto | cpu | gpu


@dataclass
class MeasuresConfig:
    enabled: bool = True
    names: list[str] = field(default_factory=lambda: [
        "strength", "avg_neighbor_strength", "current_flow_closeness", "bipartite_clustering",
        "subgraph_centrality", "harmonic_centrality", "second_order_centrality", "max_cliques"])
    dtype: str = "float64"              # float64 (exact) | float32 (faster)
    log_subgraph: bool = False          # store log(subgraph centrality) instead of the value
    chunk_size: Optional[int] = None    # networks per measure batch (null: automatic)


@dataclass
class EngineConfig:
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    population: PopulationConfig = field(default_factory=PopulationConfig)
    backend: BackendConfig = field(default_factory=BackendConfig)
    measures: MeasuresConfig = field(default_factory=MeasuresConfig)
    analysis: Any = field(default_factory=dict)
    stages: list[str] = field(default_factory=lambda: ["train", "measures", "analysis", "report"])
    progress: bool = True


STAGES = ("train", "measures", "analysis", "report")


def register() -> None:
    ConfigStore.instance().store(name="engine_schema", node=EngineConfig)


def parse_shard(shard: str | None, size: int) -> list[int]:
    """Network ids of a shard "i/n" (contiguous blocks, 0-based i); all ids when shard is None."""
    if shard in (None, "", "none"):
        return list(range(size))
    try:
        i, n = (int(p) for p in str(shard).split("/"))
    except ValueError:
        raise EngineError(f"population.shard={shard!r}: write it as i/n, e.g. population.shard=0/4") from None
    if not (n >= 1 and 0 <= i < n):
        raise EngineError(f"population.shard={shard!r}: need 0 <= i < n")
    return list(range(i * size // n, (i + 1) * size // n))


def validate(cfg: DictConfig) -> None:
    """Value checks of a composed config; raises EngineError naming the key."""
    from engine.backend import BACKENDS
    from engine.data import DATASETS
    from engine.measures import MEASURES
    from engine.population.init import LAYER_STREAMS
    from engine.population.mlp import ACTIVATIONS, LOSSES

    def need(ok: bool, key: str, value: Any, rule: str) -> None:
        if not ok:
            raise EngineError(f"{key}={value!r}: {rule}")

    need(cfg.dataset.name in DATASETS, "dataset.name", cfg.dataset.name, f"unknown dataset; use one of {list(DATASETS)}")
    ts = cfg.dataset.test_size
    need(ts is None or cfg.dataset.name == "mnist1d", "dataset.test_size", ts,
         "only mnist1d generates its test set; leave it null for other datasets")
    need(ts is None or (ts >= 10 and ts % 10 == 0), "dataset.test_size", ts,
         "use a positive multiple of 10 (MNIST-1D draws equal classes)")
    need(cfg.population.size >= 1, "population.size", cfg.population.size, "must be a positive integer")
    need(cfg.population.chunk_size is None or cfg.population.chunk_size >= 1, "population.chunk_size",
         cfg.population.chunk_size, "must be a positive integer or null")
    need(len(cfg.model.hidden) >= 1 and all(h >= 1 for h in cfg.model.hidden), "model.hidden",
         list(cfg.model.hidden), "needs at least one hidden layer and positive sizes, e.g. [200,100]")
    need(cfg.model.activation in ACTIVATIONS, "model.activation", cfg.model.activation, f"use one of {ACTIVATIONS}")
    need(cfg.model.init.layer_streams in LAYER_STREAMS, "model.init.layer_streams", cfg.model.init.layer_streams,
         f"use one of {LAYER_STREAMS}")
    need(cfg.model.init.high > cfg.model.init.low, "model.init.high", cfg.model.init.high, "must exceed model.init.low")
    need(cfg.train.epochs >= 0, "train.epochs", cfg.train.epochs, "must be >= 0")
    need(cfg.train.batch_size >= 1, "train.batch_size", cfg.train.batch_size, "must be >= 1")
    need(cfg.train.lr > 0, "train.lr", cfg.train.lr, "must be > 0")
    need(cfg.train.loss in LOSSES, "train.loss", cfg.train.loss, f"use one of {LOSSES}")
    need(cfg.backend.name in BACKENDS, "backend", cfg.backend.name, f"use one of {BACKENDS}")
    need(cfg.measures.dtype in ("float64", "float32"), "measures.dtype", cfg.measures.dtype, "use float64 or float32")
    unknown = [m for m in cfg.measures.names if m not in MEASURES]
    need(not unknown, "measures.names", unknown, f"unknown measure(s); known: {list(MEASURES)}")
    bad = [s for s in cfg.stages if s not in STAGES]
    need(not bad, "stages", list(cfg.stages), f"unknown stage(s) {bad}; known: {list(STAGES)}")
    parse_shard(cfg.population.shard, cfg.population.size)


def train_settings(cfg: DictConfig) -> TrainSettings:
    return TrainSettings(hidden=tuple(int(h) for h in cfg.model.hidden), activation=cfg.model.activation,
                         init_low=float(cfg.model.init.low), init_high=float(cfg.model.init.high),
                         layer_streams=cfg.model.init.layer_streams, epochs=int(cfg.train.epochs),
                         batch_size=int(cfg.train.batch_size), lr=float(cfg.train.lr), loss=cfg.train.loss,
                         shuffle=bool(cfg.train.shuffle), data_seed=int(cfg.train.data_seed))


def to_container(cfg: DictConfig) -> dict:
    return OmegaConf.to_container(cfg, resolve=True)
