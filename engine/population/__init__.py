"""Population training: N MLPs trained together with batched matmuls."""

from engine.population.init import init_network, init_population, network_seed
from engine.population.train import (METRICS, InitConfig, ModelConfig, PopulationResult, TrainConfig, TrainSettings,
                                     snapshot_epochs, train_population)

__all__ = ["METRICS", "InitConfig", "ModelConfig", "PopulationResult", "TrainConfig", "TrainSettings", "init_network",
           "init_population", "network_seed", "snapshot_epochs", "train_population"]
