"""scikit-learn's embedded 8x8 handwritten digits (1,797 images, 64 inputs): offline, the default benchmark."""

from __future__ import annotations

from engine.data.dataset import Dataset, make_dataset
from engine.errors import EngineError

__all__ = ["load_digits_dataset"]


def load_digits_dataset(*, test_fraction: float = 0.25, seed: int = 0, limit_train: int | None = None,
                        limit_test: int | None = None) -> Dataset:
    """Pixels (0..16) scaled by 1/16; a stratified train/test split fixed by ``test_fraction`` and ``seed``."""
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
