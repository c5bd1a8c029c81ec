"""scikit-learn's embedded 8x8 handwritten digits (1,797 images, 64 inputs): offline, the default benchmark."""

from __future__ import annotations

from engine.data.dataset import Dataset, make_dataset
from engine.errors import EngineError

__all__ = ["load_digits_dataset"]


def load_digits_dataset(*, test_fraction: float = 0.25, seed: int = 0, limit_train: int | None = None,
                        limit_test: int | None = None) -> Dataset:
    """scikit-learn's 8x8 digits, pixels (0..16) scaled by 1/16, in a stratified train/test split.

    The split is fixed by ``test_fraction`` and ``seed``.

    Parameters
    ----------
    test_fraction : float, default 0.25
        The test share of the 1,797 images, in (0, 1).
    seed : int, default 0
        The split's seed (``train_test_split(random_state=seed)``).
    limit_train, limit_test : int or None, optional
        Keep the first k samples of each split.

    Returns
    -------
    Dataset
        ``"digits"``: 64 float32 inputs in [0, 1], 10 classes; 1,347 / 450 samples at the defaults.

    Raises
    ------
    EngineError
        ``test_fraction`` not strictly between 0 and 1.

    Examples
    --------
    >>> data = load_digits_dataset(limit_test=10)
    >>> data.n_train, data.n_test, data.input_dim
    (1347, 10, 64)
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise EngineError(f"test_fraction must be strictly between 0 and 1, got {test_fraction}")
    bunch = load_digits()
    X = bunch.data.astype("float32") / 16.0
    y = bunch.target.astype("int64")
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_fraction, random_state=seed,
                                                        stratify=y)
    return make_dataset("digits", X_train, y_train, X_test, y_test, n_classes=10,
                        limit_train=limit_train, limit_test=limit_test)
