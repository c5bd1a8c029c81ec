"""Settings of the analysis stage; mirrors ``conf/analysis/default.yaml`` (unknown keys are errors)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from engine.errors import EngineError

CLASSIFIERS = ("logistic_regression", "svm", "random_forest", "knn", "lda")
REGRESSORS = ("ridge", "random_forest")
FEATURE_SETS = ("cn", "bon", "weights", "spectral", "all")
# early prediction adds the learning curve so far: the trivial baseline structure has to beat
EARLY_FEATURE_SETS = ("cn", "bon", "weights", "spectral", "all", "curve")
PARTS = ("classification", "regression", "bag_of_neurons", "correlations", "cross_benchmark", "early_prediction")


def _default_estimator_params() -> dict[str, dict[str, Any]]:
    return {
        "logistic_regression": {"max_iter": 2000},
        "svm": {"kernel": "rbf"},
        "random_forest": {"n_estimators": 50},
        "knn": {"n_neighbors": 5},
        "lda": {},
        "ridge": {"alpha": 1.0},
        "random_forest_regressor": {"n_estimators": 50, "max_features": 0.33, "min_samples_leaf": 5},
    }


@dataclass
class BoNConfig:
    """Bag-of-Neurons: k-means over the hidden neurons of one benchmark (paper: k=6, n_init=100)."""

    measures: list[str] = field(default_factory=lambda: ["strength", "bipartite_clustering", "subgraph_centrality"])
    log10_measures: list[str] = field(default_factory=lambda: ["subgraph_centrality"])
    k: int | str = 6
    k_range: list[int] = field(default_factory=lambda: [2, 10])
    n_init: int = 10
    max_iter: int = 100
    fit_sample: int | None = 200_000
    silhouette_sample: int = 10_000
    seed: int = 0


@dataclass
class EarlyConfig:
    """Early prediction: final test accuracy (regression) and performance class (classification)
    predicted from each snapshot epoch's structure, and from the learning curve up to that epoch.
    Same folds and seeds as the main analysis; fewer estimators, as it runs once per snapshot epoch."""

    classifiers: list[str] = field(default_factory=lambda: ["logistic_regression"])
    regressors: list[str] = field(default_factory=lambda: ["ridge"])
    feature_sets: list[str] = field(default_factory=lambda: list(EARLY_FEATURE_SETS))
    repeats: int = 1


@dataclass
class AnalysisConfig:
    """Every choice of the analysis stage, with the project's defaults."""

    enabled: dict[str, bool] = field(default_factory=lambda: {p: True for p in PARTS})
    classes: int = 3
    thresholds: list[float] | None = None
    folds: int = 10
    repeats: int = 3
    regression_repeats: int = 1
    seed: int = 0
    alpha: float = 0.05
    n_jobs: int = -1
    classifiers: list[str] = field(default_factory=lambda: list(CLASSIFIERS))
    regressors: list[str] = field(default_factory=lambda: list(REGRESSORS))
    feature_sets: list[str] = field(default_factory=lambda: list(FEATURE_SETS))
    estimator_params: dict[str, dict[str, Any]] = field(default_factory=_default_estimator_params)
    bon: BoNConfig = field(default_factory=BoNConfig)
    early: EarlyConfig = field(default_factory=EarlyConfig)

    @classmethod
    def from_mapping(cls, cfg: "AnalysisConfig | Mapping[str, Any] | None") -> "AnalysisConfig":
        """Build (and validate) a config from a dict / OmegaConf mapping; None gives the defaults."""
        if cfg is None:
            out = cls()
        elif isinstance(cfg, AnalysisConfig):
            out = cfg
        else:
            cfg = _to_dict(cfg)
            if not isinstance(cfg, dict):
                raise EngineError(f"analysis config must be a mapping, got {type(cfg).__name__}")
            known = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(set(cfg) - known)
            if unknown:
                raise EngineError(f"unknown analysis setting(s) {unknown}; known: {sorted(known)}")
            kw = dict(cfg)
            for key, sub in (("bon", BoNConfig), ("early", EarlyConfig)):
                if key in kw:
                    given = kw[key] or {}
                    sknown = {f.name for f in dataclasses.fields(sub)}
                    sunknown = sorted(set(given) - sknown)
                    if sunknown:
                        raise EngineError(f"unknown analysis.{key} setting(s) {sunknown}; known: {sorted(sknown)}")
                    kw[key] = sub(**given)
            if "enabled" in kw:
                en = {p: True for p in PARTS}
                bad = sorted(set(kw["enabled"] or {}) - set(PARTS))
                if bad:
                    raise EngineError(f"unknown analysis.enabled part(s) {bad}; known: {list(PARTS)}")
                en.update({k: bool(v) for k, v in (kw["enabled"] or {}).items()})
                kw["enabled"] = en
            if "estimator_params" in kw:
                params = _default_estimator_params()
                for name, p in (kw["estimator_params"] or {}).items():
                    params[name] = dict(p or {})
                kw["estimator_params"] = params
            out = cls(**kw)
        out.validate()
        return out

    def validate(self) -> None:
        """Raise EngineError on settings that cannot work."""
        if self.thresholds is None and (not isinstance(self.classes, int) or self.classes < 2):
            raise EngineError(f"analysis.classes={self.classes!r}: need an integer >= 2 (or set analysis.thresholds)")
        if self.thresholds is not None:
            t = list(self.thresholds)
            if not t or any(b <= a for a, b in zip(t, t[1:])):
                raise EngineError(f"analysis.thresholds={t}: need a non-empty strictly increasing list of accuracies")
        if self.folds < 2:
            raise EngineError(f"analysis.folds={self.folds}: need at least 2")
        if self.repeats < 1 or self.regression_repeats < 1:
            raise EngineError(f"analysis.repeats={self.repeats}, regression_repeats={self.regression_repeats}: "
                              "need at least 1")
        if self.early.repeats < 1:
            raise EngineError(f"analysis.early.repeats={self.early.repeats}: need at least 1")
        for name, allowed, what in ((self.classifiers, CLASSIFIERS, "classifiers"),
                                    (self.regressors, REGRESSORS, "regressors"),
                                    (self.feature_sets, FEATURE_SETS, "feature_sets"),
                                    (self.early.classifiers, CLASSIFIERS, "early.classifiers"),
                                    (self.early.regressors, REGRESSORS, "early.regressors"),
                                    (self.early.feature_sets, EARLY_FEATURE_SETS, "early.feature_sets")):
            bad = [n for n in name if n not in allowed]
            if bad:
                raise EngineError(f"analysis.{what} has unknown entries {bad}; choose from {list(allowed)}")
        b = self.bon
        if not b.measures:
            raise EngineError("analysis.bon.measures is empty: name at least one neuron measure")
        if b.k != "auto" and (not isinstance(b.k, int) or b.k < 2):
            raise EngineError(f"analysis.bon.k={b.k!r}: need an integer >= 2 or 'auto'")
        if len(b.k_range) != 2 or b.k_range[0] < 2 or b.k_range[1] < b.k_range[0]:
            raise EngineError(f"analysis.bon.k_range={b.k_range}: need [kmin, kmax] with 2 <= kmin <= kmax")
        if b.n_init < 1 or b.max_iter < 1:
            raise EngineError("analysis.bon.n_init and max_iter must be >= 1")
        if b.fit_sample is not None and b.fit_sample < 2:
            raise EngineError(f"analysis.bon.fit_sample={b.fit_sample}: need >= 2 or null (fit on all neurons)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _to_dict(cfg: Any) -> Any:
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(cfg, DictConfig):
            return OmegaConf.to_container(cfg, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        pass
    return dict(cfg)
