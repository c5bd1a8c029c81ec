"""One factory for every model the analysis fits: cuML on GPU when it imports, scikit-learn otherwise.

cuML mirrors scikit-learn's constructor arguments and fit/predict API for these estimators, so the
rest of the analysis is written once. LDA has no cuML version and always comes from scikit-learn.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from typing import Any

from engine.errors import EngineError

log = logging.getLogger(__name__)

__all__ = ["estimator_class", "make_estimator"]

# name -> (scikit-learn "module:Class", cuML "module:Class" or None)
_ESTIMATORS: dict[str, tuple[str, str | None]] = {
    "logistic_regression": ("sklearn.linear_model:LogisticRegression", "cuml.linear_model:LogisticRegression"),
    "svm": ("sklearn.svm:SVC", "cuml.svm:SVC"),
    "random_forest": ("sklearn.ensemble:RandomForestClassifier", "cuml.ensemble:RandomForestClassifier"),
    "knn": ("sklearn.neighbors:KNeighborsClassifier", "cuml.neighbors:KNeighborsClassifier"),
    "lda": ("sklearn.discriminant_analysis:LinearDiscriminantAnalysis", None),
    "ridge": ("sklearn.linear_model:Ridge", "cuml.linear_model:Ridge"),
    "random_forest_regressor": ("sklearn.ensemble:RandomForestRegressor", "cuml.ensemble:RandomForestRegressor"),
    "kmeans": ("sklearn.cluster:KMeans", "cuml.cluster:KMeans"),
}

# keyword arguments only scikit-learn understands (cuML would reject them)
_SKLEARN_ONLY = {"n_jobs"}


def _load(path: str) -> type:
    module, cls = path.split(":")
    return getattr(importlib.import_module(module), cls)


def estimator_class(name: str, backend: str = "cpu") -> type:
    """The estimator class for ``name``: cuML's where the backend allows it and cuML imports, else scikit-learn's.

    Parameters
    ----------
    name : str
        One of "logistic_regression", "svm", "random_forest", "knn", "lda", "ridge",
        "random_forest_regressor", "kmeans".
    backend : {"cpu", "gpu", "auto"}
        "cpu": scikit-learn; "gpu" or "auto": cuML where it imports (LDA has no cuML version), else
        scikit-learn ("gpu" says so in the log).

    Returns
    -------
    type
        The class, not instantiated.

    Raises
    ------
    EngineError
        If ``name`` is not one of those.

    Examples
    --------
    >>> estimator_class("svm").__name__
    'SVC'
    >>> estimator_class("lda", "gpu").__module__  # no cuML version
    'sklearn.discriminant_analysis'
    >>> estimator_class("xgboost")
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: unknown estimator 'xgboost'; known: ['kmeans', 'knn', 'lda', ...]
    """
    if name not in _ESTIMATORS:
        raise EngineError(f"unknown estimator {name!r}; known: {sorted(_ESTIMATORS)}")
    cpu_path, gpu_path = _ESTIMATORS[name]
    if backend in ("gpu", "auto") and gpu_path is not None:
        try:
            return _load(gpu_path)
        except Exception:  # not installed, or installed without a usable GPU
            if backend == "gpu":
                log.info("cuML not importable: %s uses scikit-learn", name)
    return _load(cpu_path)


def make_estimator(name: str, backend: str = "cpu", **params: Any) -> Any:
    """A fresh, unfitted estimator ``name`` built with ``params`` (scikit-learn argument names).

    Parameters
    ----------
    name : str
        As in ``estimator_class``.
    backend : {"cpu", "gpu", "auto"}
        As in ``estimator_class``.
    **params
        Constructor arguments, scikit-learn's names; for a cuML class, those it does not take
        (``n_jobs``; ``random_state`` on some models) are dropped.

    Returns
    -------
    estimator
        An unfitted scikit-learn (or cuML) estimator.

    Raises
    ------
    EngineError
        If ``name`` is unknown.

    Examples
    --------
    >>> make_estimator("random_forest", n_estimators=10, random_state=0, n_jobs=1)
    RandomForestClassifier(n_estimators=10, n_jobs=1, random_state=0)
    """
    cls = estimator_class(name, backend)
    if not cls.__module__.startswith("sklearn"):
        # cuML lacks a few scikit-learn arguments (n_jobs; random_state on some models): drop what it lacks
        sig = inspect.signature(cls.__init__).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in sig.values())
        dropped = [k for k in params if k in _SKLEARN_ONLY or not (takes_any or k in sig)]
        if dropped:
            log.debug("%s (cuML) ignores %s", name, dropped)
        params = {k: v for k, v in params.items() if k not in dropped}
    return cls(**params)
