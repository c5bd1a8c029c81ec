"""MNIST-1D (Greydanus 2020): 40-sample 1-D signals of 10 classes, generated offline by the ``mnist1d`` package.

The generator's own defaults (5,000 samples, seed 42, its 80/20 split -> 4,000 train / 1,000 test)
give the standard MNIST-1D, so the ``seed`` of load_dataset does not change it.
"""

from __future__ import annotations

import functools

import numpy as np

from engine.data.dataset import Dataset, make_dataset
from engine.errors import EngineError


@functools.lru_cache(maxsize=1)
def _generate() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The standard MNIST-1D arrays (x, y, x_test, y_test); cached because generation takes ~1.5 s."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset as generate
    except ImportError as e:
        raise EngineError("dataset 'mnist1d' needs the mnist1d package: pip install mnist1d") from e
    # The generator reseeds numpy's global RNG; put the caller's RNG state back afterwards.
    state = np.random.get_state()
    try:
        data = generate(get_dataset_args())
    finally:
        np.random.set_state(state)
    arrays = (data["x"], data["y"], data["x_test"], data["y_test"])
    for a in arrays:
        a.flags.writeable = False  # shared by every caller of the cache
    return arrays


def load_mnist1d_dataset(*, limit_train: int | None = None, limit_test: int | None = None) -> Dataset:
    """Signals min/max-scaled to [0, 1] with the train set's range (test values clipped to it)."""
    x, y, x_test, y_test = _generate()
    lo, hi = float(x.min()), float(x.max())
    scale = lambda a: np.clip((a - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)  # noqa: E731
    return make_dataset("mnist1d", scale(x), y, scale(x_test), y_test, n_classes=10,
                        limit_train=limit_train, limit_test=limit_test)
