"""Typed analysis results: small dataclasses whose fields are the keys of their JSON, in order.

The analysis builds these objects and writes ``to_dict()`` into its summary (``analysis/*.json``); the
report and the Python API read them back with ``from_dict`` from a summary in memory or from
``analysis/summary.json`` (``engine.load_run(run_dir).summary``), instead of indexing nested dicts by
string.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Mapping, TypeVar

__all__ = ["Record", "typed_parts"]

_R = TypeVar("_R", bound="Record")


class Record:
    """Mixin for a dataclass that is one JSON object of the analysis summary.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Score(Record):
    ...     mean: float
    ...     std: float
    >>> Score(0.9, 0.01).to_dict()
    {'mean': 0.9, 'std': 0.01}
    >>> Score.from_dict({"mean": 0.8, "std": 0.02, "other": 1}).mean
    0.8
    """

    # fields whose key the JSON leaves out while they are None (keys that only some objects have)
    _OMIT_IF_NONE: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON object: every field by name, in declaration order."""
        return {f.name: getattr(self, f.name) for f in fields(self)  # type: ignore[arg-type]
                if not (f.name in self._OMIT_IF_NONE and getattr(self, f.name) is None)}

    @classmethod
    def from_dict(cls: type[_R], data: Mapping[str, Any]) -> _R:
        """The object from its JSON object (keys that are not fields are ignored; fields with a default may
        be missing)."""
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})  # type: ignore[arg-type]


def typed_parts(part: Mapping[str, Any] | None, record: type[_R], key: str) -> dict[str, _R]:
    """Per dataset, the typed result of one part of the summary, for the datasets where the part has one
    (an entry holding ``key``); skipped datasets (``{"skipped": why}``) and non-dict entries are left out.

    Examples
    --------
    >>> from engine.analysis.classification import BestClassifier
    >>> part = {"a": {"feature_set": "cn", "classifier": "svm", "mean": 0.9, "std": 0.01, "chance": 0.5,
    ...               "confusion": [[5, 0], [1, 4]], "class_names": ["low", "high"]},
    ...         "b": {"skipped": "no spread of test accuracy"}}
    >>> best = typed_parts(part, BestClassifier, "classifier")
    >>> list(best), best["a"].classifier, best["a"].mean
    (['a'], 'svm', 0.9)
    """
    return {str(ds): record.from_dict(v) for ds, v in (part or {}).items() if isinstance(v, Mapping) and key in v}
