"""The one data container every source returns: flattened float32 inputs in [0, 1], int64 labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.errors import EngineError

__all__ = ["check_limit", "Dataset", "first", "make_dataset"]


@dataclass(frozen=True)
class Dataset:
    """A benchmark as CPU tensors, validated on construction (a loader bug fails here, not as a wrong accuracy).

    Every loader returns one (``load_dataset``); build one from arrays with ``make_dataset``.

    Parameters
    ----------
    name : str
        The benchmark's registered name (``"digits"``, ``"mnist"``, ...), used in error messages.
    X_train, X_test : torch.Tensor
        (n_train, d) and (n_test, d) float32 inputs, finite and in [0, 1]; the same d for both.
    y_train, y_test : torch.Tensor
        (n_train,) and (n_test,) int64 class labels in [0, n_classes).
    n_classes : int
        Number of classes (10 for every registered benchmark).

    Attributes
    ----------
    input_dim, n_train, n_test : int
        d, n_train, n_test.

    Raises
    ------
    EngineError
        A wrong dtype or shape, an empty split, inputs outside [0, 1] or not finite, a label outside
        [0, n_classes), or train and test inputs of different widths.

    Examples
    --------
    >>> import torch
    >>> data = Dataset("toy", torch.rand(6, 4), torch.tensor([0, 1, 2, 0, 1, 2]),
    ...                torch.rand(3, 4), torch.tensor([2, 1, 0]), n_classes=3)
    >>> data.input_dim, data.n_train, data.n_test
    (4, 6, 3)
    >>> Dataset("toy", torch.rand(2, 4) * 2, torch.tensor([0, 1]), torch.rand(1, 4), torch.tensor([0]), n_classes=2)
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: toy: X_train values must be finite and in [0, 1]
    """

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
    """Refuse a sample limit (``limit_train``/``limit_test``) that is not None or a positive integer.

    Parameters
    ----------
    limit : int or None
        The number of samples to keep; None keeps all.
    what : str
        The setting's name, for the error message.

    Raises
    ------
    EngineError
        ``limit`` is a bool, not an integer, or below 1.

    Examples
    --------
    >>> check_limit(100, "limit_train")
    >>> check_limit(0, "limit_train")
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: limit_train must be a positive integer or None, got 0
    """
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise EngineError(f"{what} must be a positive integer or None, got {limit!r}")


def first(array, limit: int | None):
    """The first ``limit`` samples of an array (all of them when limit is None or larger than the array).

    Parameters
    ----------
    array : numpy.ndarray or torch.Tensor
        Samples along axis 0.
    limit : int or None
        How many to keep (a valid limit, see ``check_limit``); None keeps all.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        A view of ``array[:limit]`` (``array`` itself when limit is None).

    Examples
    --------
    >>> import numpy as np
    >>> first(np.arange(5), 3), first(np.arange(5), None), first(np.arange(5), 9)
    (array([0, 1, 2]), array([0, 1, 2, 3, 4]), array([0, 1, 2, 3, 4]))
    """
    return array if limit is None else array[:limit]


def make_dataset(name: str, X_train: np.ndarray | torch.Tensor, y_train: np.ndarray | torch.Tensor,
                 X_test: np.ndarray | torch.Tensor, y_test: np.ndarray | torch.Tensor, *, n_classes: int,
                 limit_train: int | None = None, limit_test: int | None = None) -> Dataset:
    """Build a Dataset from arrays already scaled to [0, 1]: flatten, cast, keep the first ``limit`` samples.

    Parameters
    ----------
    name : str
        The benchmark's name.
    X_train, X_test : numpy.ndarray or torch.Tensor
        (n, ...) inputs in [0, 1], any float dtype; each sample is flattened to d values, cast to float32.
        NumPy input is copied (the Dataset never aliases a cached or read-only array).
    y_train, y_test : numpy.ndarray or torch.Tensor
        (n,) integer labels in [0, n_classes), cast to int64.
    n_classes : int
        Number of classes.
    limit_train, limit_test : int or None, optional
        Keep only the first k samples of each split (None: all).

    Returns
    -------
    Dataset
        ``X_*`` (n, d) float32, ``y_*`` (n,) int64, on the CPU.

    Raises
    ------
    EngineError
        What ``Dataset`` refuses (values outside [0, 1], labels out of range, an empty split, ...).

    Examples
    --------
    >>> import numpy as np
    >>> images = np.linspace(0, 1, 5 * 2 * 2).reshape(5, 2, 2)        # five 2x2 "images"
    >>> data = make_dataset("toy", images, [0, 1, 0, 1, 0], images[:2], [1, 0], n_classes=2, limit_train=3)
    >>> data.X_train.shape, data.X_train.dtype, data.y_train.tolist(), data.n_test
    (torch.Size([3, 4]), torch.float32, [0, 1, 0], 2)
    """

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
