"""MNIST-1D (Greydanus 2020): 40-sample 1-D signals of 10 classes, generated offline by the ``mnist1d`` package.

The generator's own defaults (5,000 samples, seed 42, its 80/20 split -> 4,000 train / 1,000 test)
give the standard MNIST-1D, so the ``seed`` of load_dataset does not change it.

``test_size`` other than 1,000 generates 4,000 + test_size samples with the same generator and seed
and keeps the first 4,000 for training: a larger test set measures each network's accuracy with
less sampling noise (1,000 samples: sd ~0.015 at 70 % accuracy), but it is not the standard split.
"""

from __future__ import annotations

import functools

import numpy as np

from engine.data.dataset import Dataset, make_dataset
from engine.errors import EngineError

__all__ = ["load_mnist1d_dataset", "STANDARD_TEST_SIZE", "TRAIN_SIZE"]

TRAIN_SIZE = 4000
STANDARD_TEST_SIZE = 1000


@functools.lru_cache(maxsize=2)
def _generate(test_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST-1D arrays (x, y, x_test, y_test); cached because generation takes ~1.5 s per 5,000 samples."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset as generate
    except ImportError as e:
        raise EngineError("dataset 'mnist1d' needs the mnist1d package: pip install mnist1d") from e
    # The generator reseeds numpy's global RNG; put the caller's RNG state back afterwards.
    state = np.random.get_state()
    args = get_dataset_args()
    # split here, not by the generator's float train_split (int(n * 4000 / n) can round down)
    args.num_samples, args.train_split = TRAIN_SIZE + test_size, 1.0
    try:
        data = generate(args)
    finally:
        np.random.set_state(state)
    x, y = data["x"], data["y"]
    arrays = (x[:TRAIN_SIZE], y[:TRAIN_SIZE], x[TRAIN_SIZE:], y[TRAIN_SIZE:])
    for a in arrays:
        a.flags.writeable = False  # shared by every caller of the cache
    return arrays


def load_mnist1d_dataset(*, test_size: int | None = None, limit_train: int | None = None,
                         limit_test: int | None = None) -> Dataset:
    """MNIST-1D's 40-sample signals, min/max-scaled to [0, 1] with the train set's range (test values clipped to it).

    Parameters
    ----------
    test_size : int or None, optional
        Generated test samples, a positive multiple of 10 (equal classes); None: the standard 1,000.
    limit_train, limit_test : int or None, optional
        Keep the first k samples of each split.

    Returns
    -------
    Dataset
        ``"mnist1d"``: 40 float32 inputs, 10 classes; 4,000 train and ``test_size`` test samples.

    Raises
    ------
    EngineError
        A ``test_size`` that is not a positive multiple of 10; the ``mnist1d`` package not installed.

    References
    ----------
    .. [1] S. Greydanus, D. Kobak, "Scaling down deep learning with MNIST-1D", ICML 2024
       (arXiv:2011.14439).

    Examples
    --------
    Generating the set takes ~1.5 s (then it is cached); a wrong test size is refused before that:

    >>> load_mnist1d_dataset(test_size=1005)
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: dataset.test_size=1005: MNIST-1D draws equal classes, so use a positive multiple of 10 ...
    """
    test_size = STANDARD_TEST_SIZE if test_size is None else int(test_size)
    if test_size < 10 or test_size % 10:
        raise EngineError(f"dataset.test_size={test_size}: MNIST-1D draws equal classes, so use a positive "
                          "multiple of 10 (default 1000, the standard split)")
    x, y, x_test, y_test = _generate(test_size)
    lo, hi = float(x.min()), float(x.max())
    scale = lambda a: np.clip((a - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)  # noqa: E731
    return make_dataset("mnist1d", scale(x), y, scale(x_test), y_test, n_classes=10,
                        limit_train=limit_train, limit_test=limit_test)
