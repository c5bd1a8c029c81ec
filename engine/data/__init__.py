"""Benchmarks as flattened float32 tensors in [0, 1]: ``load_dataset(name)`` -> Dataset.

Offline: ``digits`` (scikit-learn, the default) and ``mnist1d`` (generated). From files:
``fashion_mnist`` (Debian's dataset-fashion-mnist or any directory of the IDX .gz files).
Downloaded once into a checksum-verified cache: ``mnist``, ``kmnist``, ``cifar10``.
"""

from engine.data.dataset import Dataset
from engine.data.loader import DATASETS, check_available, load_dataset

__all__ = ["DATASETS", "Dataset", "check_available", "load_dataset"]
