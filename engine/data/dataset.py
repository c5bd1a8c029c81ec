"""The one data container every source returns: flattened float32 inputs in [0, 1], int64 labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.errors import EngineError

__all__ = ["check_limit", "Dataset", "first", "make_dataset"]


@dataclass(frozen=True)
class Dataset:
    """A benchmark as CPU tensors: ``X_*`` (n, d) float32 in [0, 1], ``y_*`` (n,) int64 in [0, n_classes)."""

    name: str
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int

    def __post_init__(self) -> None:
        # A loader bug must fail here, loudly, not as a wrong accuracy later.
        for split, X, y in (("train", self.X_train, self.y_train), ("test", self.X_test, self.y_test)):
            if X.dtype != torch.float32 or X.ndim != 2:
                raise EngineError(f"{self.name}: X_{split} must be a 2-D float32 tensor, got {X.dtype} {tuple(X.shape)}")
            if y.dtype != torch.int64 or y.ndim != 1 or len(y) != len(X):
                raise EngineError(f"{self.name}: y_{split} must be int64 of shape ({len(X)},), "
                                  f"got {y.dtype} {tuple(y.shape)}")
            if len(X) == 0:
                raise EngineError(f"{self.name}: the {split} split is empty")
            if not bool(torch.isfinite(X).all()) or float(X.min()) < 0.0 or float(X.max()) > 1.0:
                raise EngineError(f"{self.name}: X_{split} values must be finite and in [0, 1]")
            if int(y.min()) < 0 or int(y.max()) >= self.n_classes:
                raise EngineError(f"{self.name}: y_{split} labels must be in [0, {self.n_classes}), "
                                  f"found [{int(y.min())}, {int(y.max())}]")
        if self.X_train.shape[1] != self.X_test.shape[1]:
            raise EngineError(f"{self.name}: train inputs have {self.X_train.shape[1]} features, "
                              f"test inputs {self.X_test.shape[1]}")

    @property
    def input_dim(self) -> int:
        """Number of input features d (784 for 28x28 images)."""
        return int(self.X_train.shape[1])

    @property
    def n_train(self) -> int:
        return int(self.X_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.X_test.shape[0])


def check_limit(limit: int | None, what: str) -> None:
    """``limit_train``/``limit_test`` must be None or a positive integer."""
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise EngineError(f"{what} must be a positive integer or None, got {limit!r}")


def first(array, limit: int | None):
    """The first ``limit`` samples (all of them when limit is None or larger than the array)."""
    return array if limit is None else array[:limit]


def make_dataset(name: str, X_train: np.ndarray | torch.Tensor, y_train: np.ndarray | torch.Tensor,
                 X_test: np.ndarray | torch.Tensor, y_test: np.ndarray | torch.Tensor, *, n_classes: int,
                 limit_train: int | None = None, limit_test: int | None = None) -> Dataset:
    """Build a Dataset from arrays already scaled to [0, 1]: flatten, cast, keep the first ``limit`` samples."""

    def tensor(a) -> torch.Tensor:
        # numpy input is copied: the Dataset must not alias a cached or read-only array
        return a if isinstance(a, torch.Tensor) else torch.from_numpy(np.array(a))

    def inputs(X) -> torch.Tensor:
        X = tensor(X)
        return X.reshape(len(X), -1).to(torch.float32).contiguous()

    def labels(y) -> torch.Tensor:
        return tensor(y).reshape(-1).to(torch.int64).contiguous()

    return Dataset(name=name,
                   X_train=inputs(first(X_train, limit_train)), y_train=labels(first(y_train, limit_train)),
                   X_test=inputs(first(X_test, limit_test)), y_test=labels(first(y_test, limit_test)),
                   n_classes=int(n_classes))
