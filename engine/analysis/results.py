"""Typed analysis results: small dataclasses whose fields are the keys of their JSON, in order.

The analysis builds these objects and writes ``to_dict()`` into its summary (``analysis/*.json``); the
report and the Python API read them back with ``from_dict`` from a summary in memory or from
``analysis/summary.json`` (``engine.load_run(run_dir).summary``), instead of indexing nested dicts by
string. A field typed with another record (or a dict or list of them, or ``Skipped`` beside it) is
read back as that record; a part that did not run is a ``Skipped``, the reason in words.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, fields
from typing import Any, Mapping, TypeVar

__all__ = ["Record", "Skipped", "read", "typed_parts"]

_R = TypeVar("_R", bound="Record")


class Record:
    """Mixin for a dataclass that is one JSON object of the analysis summary.

    ``to_dict`` writes every field by name in declaration order (records inside, and dicts and lists of
    them, as their own JSON objects); ``from_dict`` reads them back by the fields' types.

    Attributes
    ----------
    _OMIT_IF_NONE : tuple of str
        Fields whose key the JSON leaves out while they are None (keys only some objects have); read back
        as None when absent.
    _EMPTY_IF_NONE : tuple of str
        Fields the JSON writes as {} while they are None, and reads {} back as None.

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
    # fields the JSON writes as {} while they are None (and reads {} back as None)
    _EMPTY_IF_NONE: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON object: every field by name, in declaration order."""
        out: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if v is None and f.name in self._OMIT_IF_NONE:
                continue
            out[f.name] = {} if v is None and f.name in self._EMPTY_IF_NONE else _encode(v)
        return out

    @classmethod
    def from_dict(cls: type[_R], data: Mapping[str, Any]) -> _R:
        """The object from its JSON object (keys that are not fields are ignored; fields with a default, and
        those the JSON leaves out while None, may be missing)."""
        hints = _hints(cls)
        empty = cls._EMPTY_IF_NONE
        values = {f.name: None if f.name in empty and data[f.name] == {} else read(hints[f.name], data[f.name])
                  for f in fields(cls) if f.name in data}  # type: ignore[arg-type]
        values.update({name: None for name in cls._OMIT_IF_NONE if name not in data})
        return cls(**values)


@dataclass
class Skipped(Record):
    """A part of the analysis that did not run for a dataset, and why (``{"skipped": why}`` in the JSON).

    Attributes
    ----------
    skipped : str
        Why, in words.

    Examples
    --------
    >>> Skipped("no network lost a class").to_dict()
    {'skipped': 'no network lost a class'}
    """

    skipped: str


def typed_parts(part: Mapping[str, Any] | None, record: type[_R], key: str) -> dict[str, _R]:
    """Per dataset, the typed result of one part of the summary, for the datasets where the part has one
    (an entry holding ``key``); skipped datasets (``{"skipped": why}``) and non-dict entries are left out.

    Parameters
    ----------
    part : mapping or None
        One part of the summary (e.g. ``summary["best_classifier"]``): dataset -> JSON object.
    record : type
        The ``Record`` the part's objects are.
    key : str
        A key every computed object of the part has (and a skipped one has not).

    Returns
    -------
    dict of str to record
        In the part's order.

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


def _encode(v: Any) -> Any:
    if isinstance(v, Record):
        return v.to_dict()
    if isinstance(v, dict):
        return {k: _encode(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_encode(x) for x in v]
    return v


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def read(tp: Any, v: Any) -> Any:
    """A JSON value of the summary read as type ``tp``: records from their JSON objects (a ``Skipped`` where
    the type allows one and the object holds ``skipped``), dicts and lists of them item by item, int keys
    from JSON's strings; anything else as it is.

    Parameters
    ----------
    tp : type or type expression
        E.g. ``dict[str, Regression | SkippedFeatureSet]``: a ``Record``, a union with ``Skipped`` or None,
        ``dict[K, T]``, ``list[T]``, or a plain type.
    v : JSON value
        From the summary in memory or read from ``analysis/*.json``.

    Returns
    -------
    The value, typed.

    Examples
    --------
    >>> from engine.analysis.classification import Regression, SkippedFeatureSet
    >>> per = read(dict[str, Regression | SkippedFeatureSet],
    ...            {"cn": {"n": 8, "folds": 4, "repeats": 1, "regressors": {
    ...                "ridge": {"r2_mean": 0.4, "r2_std": 0.1, "kendall_tau": 0.5}}},
    ...             "bon": {"skipped": "Bag-of-Neurons disabled"}})
    >>> per["cn"].regressors["ridge"].r2_mean, per["bon"].skipped
    (0.4, 'Bag-of-Neurons disabled')
    >>> read(dict[int, float], {"0": 0.5, "5": 0.9})
    {0: 0.5, 5: 0.9}
    """
    if v is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        records = [a for a in options if isinstance(a, type) and issubclass(a, Record)]
        if isinstance(v, Mapping) and records:
            skip = [a for a in records if issubclass(a, Skipped)]
            kept = [a for a in records if not issubclass(a, Skipped)]
            return (skip if "skipped" in v and skip else kept or skip)[0].from_dict(v)
        return read(options[0], v) if len(options) == 1 else v
    if isinstance(tp, type) and issubclass(tp, Record) and isinstance(v, Mapping):
        return tp.from_dict(v)
    if origin is dict and isinstance(v, Mapping):
        k_tp, v_tp = typing.get_args(tp)
        return {(int(k) if k_tp is int else k): read(v_tp, x) for k, x in v.items()}
    if origin is list and isinstance(v, list):
        (item,) = typing.get_args(tp)
        return [read(item, x) for x in v]
    return v
