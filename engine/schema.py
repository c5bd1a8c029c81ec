"""The settings schema: groups of settings are dataclasses whose fields carry their default and their
rule together, and one validator walks them.

A field's rule stands beside it, as scikit-learn declares ``_parameter_constraints`` next to an
estimator's parameters (``sklearn/cluster/_kmeans.py``)::

    size: int = setting(1000, Interval(int, 1))                 # default 1000, an integer >= 1
    chunk_size: Optional[int] = setting(None, None, Interval(int, 1))   # null or an integer >= 1

The rules after the default are alternatives: a value is valid when one of them accepts it (``None``
accepts null; ``bool``, ``str`` accept values of that type). A callable default is a factory (lists,
dicts, defaults read from a registry). ``group(Cls)`` nests a group.

``build(Cls, mapping, "key")`` makes a checked instance from a mapping (a composed Hydra group, a saved
config, a dict): a key the group does not have is an error naming the closest known key, every value
must satisfy its field's rule (integers given for float fields become floats), nested groups are built
the same way, and the group's own ``check_group(key)`` (rules between its fields) runs last.
``check(obj, "key")`` validates an instance built in code, for library callers who bypass configs.
Every failure is one ``EngineError`` line: ``key=value: what is wrong (default: ...)``.

``hydra_node(Cls)`` is the schema as Hydra's ConfigStore gets it: the same groups, keys and defaults,
with every leaf typed ``Any``, so that values reach ``build`` (one message format, exit code 2)
instead of OmegaConf's type conversion errors.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
from typing import Any, Callable, Iterable, Mapping

from engine.errors import EngineError

__all__ = ["all_measures", "build", "Check", "check", "closest", "default_of", "DictOf", "fail", "flat_settings",
           "group", "how_keys", "hydra_node", "Interval", "is_how", "ListOf", "measure_names", "MEASURE_NAMES",
           "Options", "plain", "resolved", "setting", "setting_default", "unknown_setting"]


class _Invalid(Exception):
    """A rule's refusal; the text says what was wrong when more can be said than the rule itself.
    ``at``: the entry of a mapping that was wrong (its key), shown as ``key.at=value``."""

    _NO = object()

    def __init__(self, why: str = "", at: str | None = None, value: Any = _NO):
        super().__init__(why)
        self.at, self.value = at, value


class _Rule:
    """One alternative of a field's rule: ``accept(value)`` returns the value (converted) or raises _Invalid."""

    def accept(self, value: Any) -> Any:
        raise NotImplementedError

    def __str__(self) -> str:
        raise NotImplementedError


class Interval(_Rule):
    """A rule: an int (never a bool) or a finite float, within optional bounds.

    Parameters
    ----------
    kind : {int, float}
        ``int`` accepts integers only; ``float`` accepts integers and finite floats, returned as float.
    low, high : float or None
        The bounds; None: unbounded on that side.
    closed : {"both", "left", "right", "neither"}
        Which bounds belong to the interval.

    Raises
    ------
    ValueError
        If ``kind`` or ``closed`` is none of the above (a schema declaration error, not a user's).

    Examples
    --------
    >>> rate = Interval(float, 0, 1, closed="neither")
    >>> str(rate), rate.accept(1 / 4)
    ('a finite number in (0, 1)', 0.25)
    >>> str(Interval(int, 1)), str(Interval(int, None, -1))
    ('an integer >= 1', 'an integer <= -1')
    """

    def __init__(self, kind: type, low: float | None = None, high: float | None = None, *, closed: str = "both"):
        if kind not in (int, float) or closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"Interval({kind}, closed={closed!r})")
        self.kind, self.low, self.high = kind, low, high
        self.low_in, self.high_in = closed in ("both", "left"), closed in ("both", "right")

    def accept(self, value: Any) -> Any:
        kinds = (int, float) if self.kind is float else (int,)
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise _Invalid()
        if self.kind is float:
            value = float(value)
            if not math.isfinite(value):
                raise _Invalid()
        if self.low is not None and (value < self.low or (value == self.low and not self.low_in)):
            raise _Invalid()
        if self.high is not None and (value > self.high or (value == self.high and not self.high_in)):
            raise _Invalid()
        return value

    def __str__(self) -> str:
        what = "an integer" if self.kind is int else "a finite number"
        lo = None if self.low is None else f"{'>=' if self.low_in else '>'} {self.low}"
        hi = None if self.high is None else f"{'<=' if self.high_in else '<'} {self.high}"
        if lo and hi:
            return f"{what} in {'[' if self.low_in else '('}{self.low}, {self.high}{']' if self.high_in else ')'}"
        return f"{what} {lo or hi}" if (lo or hi) else what


class Options(_Rule):
    """A rule: one of a fixed set of values.

    Parameters
    ----------
    values : iterable or callable
        The values accepted, or a function returning them, called when first needed (a registry
        that is imported late).

    Examples
    --------
    >>> loss = Options(("keras", "cross_entropy"))
    >>> str(loss), loss.accept("keras")
    ('one of keras, cross_entropy', 'keras')
    """

    def __init__(self, values: Iterable | Callable[[], Iterable]):
        self._values = values

    @property
    def values(self) -> tuple:
        if callable(self._values):
            self._values = self._values()
        return tuple(self._values)

    def accept(self, value: Any) -> Any:
        try:
            if value in self.values:
                return value
        except TypeError:  # unhashable
            pass
        raise _Invalid()

    def __str__(self) -> str:
        return "one of " + ", ".join(map(str, self.values))


class _Type(_Rule):
    def __init__(self, kind: type):
        self.kind = kind

    def accept(self, value: Any) -> Any:
        if isinstance(value, self.kind):
            return value
        raise _Invalid()

    def __str__(self) -> str:
        return {bool: "true or false", str: "a string"}.get(self.kind, f"a {self.kind.__name__}")


class _Null(_Rule):
    def accept(self, value: Any) -> Any:
        if value is None:
            return value
        raise _Invalid()

    def __str__(self) -> str:
        return "null"


class ListOf(_Rule):
    """A rule: a list (or tuple, returned as a list) whose items satisfy ``item``.

    Parameters
    ----------
    *item : rule, type or None
        Alternatives every item must satisfy (as a field's rules: None accepts null, a type its
        instances).
    min_len : int
        The fewest items.
    length : int or None
        The exact number of items; None: any.
    unique : bool
        Refuse an item given twice.
    increasing : bool
        The items must be strictly increasing.

    Examples
    --------
    >>> hidden = ListOf(Interval(int, 1), min_len=1)
    >>> hidden.accept((200, 100)), str(hidden)
    ([200, 100], 'a list of an integer >= 1 (at least 1)')
    """

    def __init__(self, *item: Any, min_len: int = 0, length: int | None = None, unique: bool = False,
                 increasing: bool = False):
        self.item = _rules_of(item)
        self.min_len, self.length, self.unique, self.increasing = min_len, length, unique, increasing

    def accept(self, value: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            raise _Invalid()
        out = []
        for i, v in enumerate(value):
            try:
                out.append(_first_accepting(self.item, v))
            except _Invalid:
                known = [str(o) for r in self.item if isinstance(r, Options) for o in r.values]
                near = closest(v, known) if isinstance(v, str) else None
                raise _Invalid(f"item {i} ({v!r}) must be {_describe(self.item)}"
                               + (f"; did you mean {near}?" if near else "")) from None
        if self.length is not None and len(out) != self.length:
            raise _Invalid(f"needs exactly {self.length} items")
        if len(out) < self.min_len:
            raise _Invalid(f"needs at least {self.min_len} item(s)")
        if self.unique and len(set(out)) != len(out):
            raise _Invalid("names an item twice")
        if self.increasing and any(b <= a for a, b in zip(out, out[1:])):
            raise _Invalid("must be strictly increasing")
        return out

    def __str__(self) -> str:
        extra = [f"exactly {self.length} items" if self.length is not None else "",
                 f"at least {self.min_len}" if self.min_len else "", "strictly increasing" if self.increasing else "",
                 "distinct" if self.unique else ""]
        extra = ", ".join(e for e in extra if e)
        return f"a list of {_describe(self.item)}" + (f" ({extra})" if extra else "")


class DictOf(_Rule):
    """A rule: a mapping whose keys satisfy ``keys`` and whose values satisfy ``values``.

    Parameters
    ----------
    keys : rule, type or None
        The rule of the keys (an unknown key of an ``Options`` rule is named with the closest known
        one); None: any key.
    values : rule, type or None
        The rule of the values; None: any value.

    Examples
    --------
    >>> from engine.config import EngineConfig
    >>> parts = DictOf(Options(("classification", "regression")), bool)
    >>> parts.accept({"regression": False})
    {'regression': False}
    >>> build(EngineConfig, {"analysis": {"enabled": {"regresion": False}}})
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: analysis.enabled.regresion: unknown key; did you mean regression?
    """

    def __init__(self, keys: Any = None, values: Any = None):
        self.keys = _rules_of([keys]) if keys is not None else ()
        self.values = _rules_of([values]) if values is not None else ()

    def accept(self, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise _Invalid()
        out = {}
        for k, v in value.items():
            if self.keys:
                try:
                    k = _first_accepting(self.keys, k)
                except _Invalid:
                    known = [str(o) for r in self.keys if isinstance(r, Options) for o in r.values]
                    near = closest(str(k), known)
                    raise _Invalid("unknown key" + (f"; did you mean {near}?" if near else
                                                   f"; known: {', '.join(known)}" if known else ""), at=k) from None
            if self.values:
                try:
                    v = _first_accepting(self.values, v)
                except _Invalid as e:
                    raise _Invalid(str(e) or f"must be {_describe(self.values)}", at=k, value=v) from None
            out[k] = v
        return out

    def __str__(self) -> str:
        return "a mapping" + (f" of {_describe(self.values)}" if self.values else "")


class Check(_Rule):
    """A rule written as a function.

    Parameters
    ----------
    fn : callable
        ``fn(value)`` returns the value (converted) or raises EngineError, ValueError or TypeError,
        whose message becomes the refusal's reason.
    text : str
        What the rule accepts, in words (shown where no reason is given).

    Examples
    --------
    >>> def even(v):
    ...     if not isinstance(v, int) or v % 2:
    ...         raise ValueError("must be an even integer")
    ...     return v
    >>> rule = Check(even, "an even integer")
    >>> rule.accept(4), str(rule)
    (4, 'an even integer')
    """

    def __init__(self, fn: Callable[[Any], Any], text: str):
        self.fn, self.text = fn, text

    def accept(self, value: Any) -> Any:
        try:
            return self.fn(value)
        except (EngineError, ValueError, TypeError) as e:
            raise _Invalid(str(e)) from None

    def __str__(self) -> str:
        return self.text


def _rules_of(rules: Iterable[Any]) -> tuple[_Rule, ...]:
    """Rules from a field's declaration: None accepts null, a type accepts its instances."""
    out = []
    for r in rules:
        if r is None:
            out.append(_Null())
        elif isinstance(r, type):
            out.append(_Type(r))
        elif isinstance(r, _Rule):
            out.append(r)
        else:
            raise TypeError(f"not a rule: {r!r}")
    return tuple(out)


def _first_accepting(rules: tuple[_Rule, ...], value: Any) -> Any:
    """The value as the first rule that accepts it returns it; _Invalid (with the most specific reason) if none does."""
    specific = []
    for r in rules:
        try:
            return r.accept(value)
        except _Invalid as e:
            if str(e):
                specific.append(e)
    raise specific[0] if len(specific) == 1 else _Invalid()


def _describe(rules: tuple[_Rule, ...]) -> str:
    return " or ".join(map(str, rules))


# --- declaring fields ---------------------------------------------------------------------------------

def setting(default: Any, *rules: Any, merge: bool = False, how: bool = False) -> Any:
    """A schema field: its default and its rules, declared together.

    Parameters
    ----------
    default : object or callable
        The default; a callable is a factory (called for every instance), a list or dict is copied
        for every instance.
    *rules : rule, type or None
        Alternatives: a value is valid when one of them accepts it (None accepts null, a type its
        instances, a rule such as ``Interval`` what it describes).
    merge : bool
        A mapping given for this field updates the default mapping instead of replacing it (e.g. only
        the analysis parts one turns off).
    how : bool
        The setting changes how the run's tables are computed (chunking, device, where the data
        lives), never what they hold: a run resumes, and runs gather as one population, whatever
        its value (``how_keys``).

    Returns
    -------
    dataclasses.Field
        The field, its rules in its metadata, for a schema dataclass.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Demo:
    ...     size: int = setting(1000, Interval(int, 1))
    ...     chunk_size: int | None = setting(None, None, Interval(int, 1), how=True)
    >>> build(Demo, {"chunk_size": 8})
    Demo(size=1000, chunk_size=8)
    >>> build(Demo, {"size": 0}, "population")
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: population.size=0: must be an integer >= 1 (default: 1000)
    """
    meta = {"rules": _rules_of(rules), "merge": merge, "how": how}
    if callable(default):
        return dataclasses.field(default_factory=default, metadata=meta)
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def group(cls: type, how: bool = False) -> Any:
    """A schema field holding a nested group of settings, defaulting to the group's own defaults.

    Parameters
    ----------
    cls : type
        The group: a schema dataclass (its fields made with ``setting`` or ``group``).
    how : bool
        Every setting of the group changes how, not what, the run's tables are computed (see
        ``setting``).

    Returns
    -------
    dataclasses.Field
        The field, for the enclosing schema dataclass.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Inner:
    ...     lr: float = setting(0.01, Interval(float, 0, closed="neither"))
    >>> @dataclass
    ... class Outer:
    ...     train: Inner = group(Inner)
    >>> build(Outer, {"train": {"lr": 1}})
    Outer(train=Inner(lr=1.0))
    """
    return dataclasses.field(default_factory=cls, metadata={"group": cls, "how": how})


def how_keys(cls: type, key: str = "") -> tuple[str, ...]:
    """The dotted keys of the settings and groups of the schema group ``cls`` declared ``how`` (a group's
    key stands for all its settings): the one list of what may differ between a run and its resume, and
    between runs gathered as one population.

    Parameters
    ----------
    cls : type
        A schema group (e.g. ``EngineConfig``).
    key : str
        The dotted key of ``cls`` itself, prefixed to the keys returned ("" at the top).

    Returns
    -------
    tuple of str
        Dotted keys, in declaration order.

    Examples
    --------
    >>> from engine.config import EngineConfig
    >>> "dataset.download" in how_keys(EngineConfig), "train.lr" in how_keys(EngineConfig)
    (True, False)
    """
    out: list[str] = []
    for f in dataclasses.fields(cls):
        sub = _join(key, f.name)
        if f.metadata.get("how"):
            out.append(sub)
        elif f.metadata.get("group"):
            out += how_keys(f.metadata["group"], sub)
    return tuple(out)


def is_how(key: str, keys: Iterable[str]) -> bool:
    """Whether the dotted ``key`` is one of ``keys`` (``how_keys``) or a setting inside one of them.

    Parameters
    ----------
    key : str
        A dotted setting key, e.g. ``"analysis.bon.k"``.
    keys : iterable of str
        Keys of settings and groups, as ``how_keys`` returns them.

    Returns
    -------
    bool

    Examples
    --------
    >>> is_how("analysis.bon.k", ("analysis", "progress")), is_how("train.lr", ("analysis", "progress"))
    (True, False)
    """
    return any(key == k or key.startswith(k + ".") for k in keys)


def flat_settings(tree: Mapping[str, Any]) -> dict[str, Any]:
    """Nested groups of settings (plain dicts) as one mapping of dotted keys to values; an empty group is a value.

    Parameters
    ----------
    tree : mapping
        Nested mappings of settings, e.g. ``dataclasses.asdict(cfg)`` or a saved config.

    Returns
    -------
    dict
        Dotted key to value; values that are lists stay lists.

    Examples
    --------
    >>> flat_settings({"train": {"lr": 0.01, "epochs": 30}, "stages": ["train"], "analysis": {}})
    {'train.lr': 0.01, 'train.epochs': 30, 'stages': ['train'], 'analysis': {}}
    """
    flat: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, Mapping) and node:
            for k, v in node.items():
                walk(v, _join(prefix, str(k)))
        else:
            flat[prefix] = node

    walk(tree, "")
    return flat


def setting_default(cls: type, key: str) -> Any:
    """The default of the setting at a dotted key of a schema group.

    Parameters
    ----------
    cls : type
        A schema group (e.g. ``EngineConfig``).
    key : str
        A dotted key of a setting (not a group) of ``cls``, e.g. ``"train.lr"``.

    Returns
    -------
    object
        The default (a new copy, for lists and dicts).

    Raises
    ------
    KeyError
        If a part of ``key`` names no field of its group, or a part before the last names a setting
        rather than a group; its argument is ``key`` from that part on.

    Examples
    --------
    >>> from engine.config import EngineConfig
    >>> setting_default(EngineConfig, "train.lr"), setting_default(EngineConfig, "model.hidden")
    (0.01, [200, 100])
    """
    node, *rest = key.split(".", 1)
    f = {f.name: f for f in dataclasses.fields(cls)}.get(node)
    if f is None:
        raise KeyError(key)
    if rest:
        if not f.metadata.get("group"):
            raise KeyError(key)
        return setting_default(f.metadata["group"], rest[0])
    return default_of(f)


def default_of(f: dataclasses.Field) -> Any:
    """The default of a dataclass field: its default, or a new value of its default factory.

    Parameters
    ----------
    f : dataclasses.Field
        A field of a schema group (``dataclasses.fields(cls)``).

    Returns
    -------
    object

    Examples
    --------
    >>> import dataclasses
    >>> from engine.config import MeasuresConfig
    >>> [default_of(f) for f in dataclasses.fields(MeasuresConfig)][2:4]
    ['float64', False]
    """
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


# --- validating -----------------------------------------------------------------------------------------

def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to ``name`` (``difflib.get_close_matches``, cutoff 0.6), or None.

    Parameters
    ----------
    name : str
        A name as given (e.g. a misspelt setting).
    known : iterable of str
        The names it should have been one of.

    Returns
    -------
    str or None

    Examples
    --------
    >>> closest("epoch", ["epochs", "lr", "batch_size"]), closest("zzz", ["epochs", "lr"])
    ('epochs', None)
    """
    near = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return near[0] if near else None


def unknown_setting(key: str, name: str, known: Iterable[str]) -> EngineError:
    """The error for ``key.name`` where the group ``key`` has only the settings ``known``.

    Parameters
    ----------
    key : str
        The dotted key of the group ("" at the top).
    name : str
        The unknown setting's name.
    known : iterable of str
        The group's settings: the closest is suggested, or, if none is close, all are listed.

    Returns
    -------
    EngineError
        For the caller to raise.

    Examples
    --------
    >>> str(unknown_setting("train", "epoch", ["epochs", "lr"]))
    'train.epoch: unknown setting; did you mean train.epochs?'
    """
    known = list(known)
    near = closest(name, known)
    hint = f"did you mean {_join(key, near)}?" if near else f"known keys of {key or 'the configuration'}: " \
        + ", ".join(known)
    return EngineError(f"{_join(key, name)}: unknown setting; {hint}")


def plain(value: Any) -> Any:
    """OmegaConf containers as plain dicts and lists (values resolved); anything else unchanged.

    Parameters
    ----------
    value : object
        An OmegaConf ``DictConfig``/``ListConfig``, or anything else.

    Returns
    -------
    object
        A dict or list for an OmegaConf container, else ``value`` itself.

    Raises
    ------
    EngineError
        If an interpolation cannot be resolved (naming its key, as ``resolved`` does).

    Examples
    --------
    >>> from omegaconf import OmegaConf
    >>> plain(OmegaConf.create({"a": 1, "b": "${a}"})), plain(3)
    ({'a': 1, 'b': 1}, 3)
    """
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        return value
    if isinstance(value, (DictConfig, ListConfig)):
        from omegaconf.errors import OmegaConfBaseException

        try:
            return OmegaConf.to_container(value, resolve=True)
        except OmegaConfBaseException as e:
            raise _unresolvable(value, e) from None
    return value


def resolved(cfg: Any, skip: tuple[str, ...] = ("hydra",)) -> Any:
    """A composed configuration as plain dicts and lists, every interpolation resolved.

    Parameters
    ----------
    cfg : object
        A composed configuration (an OmegaConf ``DictConfig``); anything else is returned as
        ``plain`` returns it.
    skip : tuple of str
        Top-level keys left out (Hydra's own node, which needs Hydra's runtime to resolve).

    Returns
    -------
    object
        A dict for a ``DictConfig``.

    Raises
    ------
    EngineError
        If an interpolation cannot be resolved (an unset environment variable, a missing key, a
        value that refers to itself), naming its key and its value as written.

    Examples
    --------
    >>> from omegaconf import OmegaConf
    >>> resolved(OmegaConf.create({"hydra": {"x": "${nope}"}, "train": {"epochs": 3}}))
    {'train': {'epochs': 3}}
    >>> resolved(OmegaConf.create({"train": {"epochs": "${nope}"}}))
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: train.epochs='${nope}': cannot be resolved (Interpolation key 'nope' not found); ...
    """
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if not isinstance(cfg, DictConfig):
        return plain(cfg)
    out = {}
    for key in cfg.keys():
        if key in skip:
            continue
        try:
            node = cfg[key]
            out[key] = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
        except OmegaConfBaseException as e:
            raise _unresolvable(cfg, e) from None
    return out


def _unresolvable(cfg: Any, error: Exception) -> EngineError:
    """The one-line error for an interpolation that cannot be resolved (an unset environment variable, a
    key that does not exist, a value that refers back to itself), naming the key and its value as written."""
    from omegaconf import OmegaConf

    key = str(getattr(error, "full_key", "") or "")
    raw: Any = OmegaConf.to_container(cfg, resolve=False)
    for part in key.split(".") if key else []:
        raw = raw.get(part) if isinstance(raw, Mapping) else None
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    for prefix in ("KeyError raised while resolving interpolation: ", "ValueError raised while resolving interpolation: "):
        reason = reason.removeprefix(prefix)
    reason = reason.strip('"')
    if "Environment variable" in reason:
        hint = "set that environment variable, or give a default: ${oc.env:NAME,default}"
    elif "Recursive" in reason:
        hint = "the value refers back to itself: give a plain value"
    else:
        hint = "give a plain value, or interpolate a key that exists (${group.key})"
    shown = f"{key}={raw!r}" if key else "the configuration"
    return EngineError(f"{shown}: cannot be resolved ({reason}); {hint}")


def _accept(f: dataclasses.Field, value: Any, key: str) -> Any:
    rules = f.metadata.get("rules", ())
    if f.metadata.get("merge") and isinstance(value, Mapping):
        value = {**default_of(f), **value}
    if not rules:
        return value
    try:
        return _first_accepting(rules, value)
    except _Invalid as e:
        if e.at is not None:
            shown = "" if e.value is _Invalid._NO else f"={e.value!r}"
            raise EngineError(f"{key}.{e.at}{shown}: {e}") from None
        why = str(e) or f"must be {_describe(rules)}"
        raise EngineError(f"{key}={value!r}: {why}{_with_default(f)}{_string_hint(rules, value)}") from None


def _string_hint(rules: tuple[_Rule, ...], value: Any) -> str:
    """A hint for a string that the rules would accept as the number, boolean or list it spells (values
    from ``${oc.env:NAME}`` are always strings)."""
    if not isinstance(value, str):
        return ""
    import yaml

    try:
        decoded = yaml.safe_load(value)
        if isinstance(decoded, str):
            return ""
        _first_accepting(rules, decoded)
    except (yaml.YAMLError, _Invalid):
        return ""
    return ("; it is the string " + repr(value) + ", as every value of ${oc.env:NAME} is: write "
            "'${oc.decode:${oc.env:NAME}}' (quoted on the command line) to read it as a number, boolean or list")


def _shown_default(f: dataclasses.Field) -> str:
    d = default_of(f)
    return "null" if d is None else str(d).lower() if isinstance(d, bool) else str(d)


def _with_default(f: dataclasses.Field) -> str:
    shown = _shown_default(f)
    return f" (default: {shown})" if len(shown) <= 40 else ""


def build(cls: type, given: Any, key: str = "") -> Any:
    """A checked instance of a schema group, built from a mapping.

    Parameters
    ----------
    cls : type
        The schema group (e.g. ``EngineConfig``, ``AnalysisConfig``).
    given : mapping, cls instance or None
        A dict or OmegaConf mapping of the settings that differ from the defaults (nested groups as
        nested mappings); an instance of ``cls`` is checked as it is; None gives the defaults.
    key : str
        The dotted key of ``cls`` in the whole configuration, for the messages ("" at the top).

    Returns
    -------
    cls
        With every field checked by its rule (integers given for float fields become floats), nested
        groups built the same way, and the group's ``check_group`` passed.

    Raises
    ------
    EngineError
        One line naming the key: an unknown key (with the closest known one), a value its rule
        refuses (with the rule and the default), a rule between fields broken.

    Examples
    --------
    >>> from engine.config import AnalysisConfig
    >>> build(AnalysisConfig, {"folds": 5}, "analysis").folds
    5
    >>> build(AnalysisConfig, {"fold": 5}, "analysis")
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: analysis.fold: unknown setting; did you mean analysis.folds?
    """
    if isinstance(given, cls):
        return check(given, key)
    given = plain(given)
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        raise EngineError(f"{key or 'the configuration'}={given!r}: must be a group of settings "
                          f"({', '.join(f.name for f in dataclasses.fields(cls))})")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name in given:
        if name not in fields:
            raise unknown_setting(key, str(name), fields)
    values = {}
    for name, value in given.items():
        f, sub = fields[name], _join(key, name)
        nested = f.metadata.get("group")
        values[name] = build(nested, value, sub) if nested else _accept(f, value, sub)
    obj = cls(**values)
    if hasattr(obj, "check_group"):
        obj.check_group(key)
    return obj


def check(obj: Any, key: str = "") -> Any:
    """Validate a schema instance built in code, for library callers who bypass configs.

    Parameters
    ----------
    obj : schema dataclass instance
        E.g. a ``TrainConfig(...)`` made by hand.
    key : str
        Its dotted key, for the messages.

    Returns
    -------
    object
        ``obj``, unchanged (no conversion: ``build`` converts).

    Raises
    ------
    EngineError
        As ``build``: the first field its rule refuses, a nested group of the wrong type, a rule
        between fields broken.

    Examples
    --------
    >>> from engine.population.train import TrainConfig
    >>> check(TrainConfig(epochs=2), "train").epochs
    2
    >>> check(TrainConfig(epochs=-1), "train")
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: train.epochs=-1: must be an integer >= 0 (default: 30)
    """
    for f in dataclasses.fields(obj):
        value, sub = getattr(obj, f.name), _join(key, f.name)
        nested = f.metadata.get("group")
        if nested:
            if not isinstance(value, nested):
                raise EngineError(f"{sub}: must be a {nested.__name__}, got {type(value).__name__}")
            check(value, sub)
        else:
            _accept(f, value, sub)
    if hasattr(obj, "check_group"):
        obj.check_group(key)
    return obj


def fail(key: str, value: Any, why: str) -> EngineError:
    """The error of a rule between fields (a group's ``check_group``), in the validator's format.

    Parameters
    ----------
    key : str
        The dotted key of the setting at fault.
    value : object
        Its value.
    why : str
        What is wrong and how to fix it.

    Returns
    -------
    EngineError
        ``key=value: why``, for the caller to raise.

    Examples
    --------
    >>> str(fail("analysis.bon.k_range", [5, 3], "need [kmin, kmax] with kmin <= kmax"))
    'analysis.bon.k_range=[5, 3]: need [kmin, kmax] with kmin <= kmax'
    """
    return EngineError(f"{key}={value!r}: {why}")


def hydra_node(cls: type) -> type:
    """``cls`` for Hydra's ConfigStore: the same groups, keys and defaults, every leaf typed Any.

    Values then reach ``build`` as given (one message format, exit status 2) instead of failing in
    OmegaConf's type conversion.

    Parameters
    ----------
    cls : type
        A schema group.

    Returns
    -------
    type
        A new dataclass of the same name, nested groups made the same way.

    Examples
    --------
    >>> from omegaconf import OmegaConf
    >>> from engine.population.train import TrainConfig
    >>> node = OmegaConf.structured(hydra_node(TrainConfig))
    >>> node.epochs = "many"          # OmegaConf accepts it; build refuses it in the schema's words
    >>> build(TrainConfig, node, "train")
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: train.epochs='many': must be an integer >= 0 (default: 30)
    """
    specs = []
    for f in dataclasses.fields(cls):
        nested = f.metadata.get("group")
        if nested:
            node = hydra_node(nested)
            specs.append((f.name, node, dataclasses.field(default_factory=node)))
        else:
            specs.append((f.name, Any, dataclasses.field(default=f.default, default_factory=f.default_factory)))
    return dataclasses.make_dataclass(cls.__name__, specs)


# --- rules shared by several groups ---------------------------------------------------------------------

def measure_names(value: Any) -> list[str]:
    """The one check of measure names: measures.names, analysis.bon.measures, ``engine.inspect --measures``.

    Parameters
    ----------
    value : object
        The names as given: a non-empty list of distinct measure names of the registry.

    Returns
    -------
    list of str
        The names, in the given order (``engine.measures.registry.check_measure_names``).

    Raises
    ------
    ValueError
        Naming the unknown or repeated name; the schema turns it into the setting's EngineError.

    Examples
    --------
    >>> measure_names(("max_cliques", "strength"))
    ['max_cliques', 'strength']
    >>> measure_names(["strength", "strength"])
    Traceback (most recent call last):
    ...
    ValueError: ['strength', 'strength'] names a measure twice
    """
    from engine.measures.registry import check_measure_names

    return check_measure_names(value)


MEASURE_NAMES = Check(measure_names, "a non-empty list of distinct measures of engine.measures.registry")


def all_measures() -> list[str]:
    """Every measure of the registry, in its order (the default of measures.names).

    Returns
    -------
    list of str
        A new list, ``engine.measures.registry.MEASURES``'s names.

    Examples
    --------
    >>> all_measures()[:3]
    ['strength', 'avg_neighbor_strength', 'current_flow_closeness']
    """
    from engine.measures.registry import MEASURES

    return list(MEASURES)
