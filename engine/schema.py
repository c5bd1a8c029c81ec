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

__all__ = ["all_measures", "build", "Check", "check", "closest", "default_of", "describe", "DictOf", "fail",
           "flat_settings", "group", "how_keys", "hydra_node", "Interval", "Invalid", "is_how", "ListOf",
           "measure_names", "MEASURE_NAMES", "Null", "Options", "plain", "resolved", "Rule", "setting",
           "setting_default", "Type", "unknown_setting"]


class Invalid(Exception):
    """A rule's refusal; the text says what was wrong when more can be said than the rule itself.
    ``at``: the entry of a mapping that was wrong (its key), shown as ``key.at=value``."""

    _NO = object()

    def __init__(self, why: str = "", at: str | None = None, value: Any = _NO):
        super().__init__(why)
        self.at, self.value = at, value


class Rule:
    """One alternative of a field's rule: ``accept(value)`` returns the value (converted) or raises Invalid."""

    def accept(self, value: Any) -> Any:
        raise NotImplementedError

    def __str__(self) -> str:
        raise NotImplementedError


class Interval(Rule):
    """An int (never a bool) or a finite float, within optional bounds; ``closed`` says which bounds
    belong to the interval ("both", "left", "right", "neither")."""

    def __init__(self, kind: type, low: float | None = None, high: float | None = None, *, closed: str = "both"):
        if kind not in (int, float) or closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"Interval({kind}, closed={closed!r})")
        self.kind, self.low, self.high = kind, low, high
        self.low_in, self.high_in = closed in ("both", "left"), closed in ("both", "right")

    def accept(self, value: Any) -> Any:
        kinds = (int, float) if self.kind is float else (int,)
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise Invalid()
        if self.kind is float:
            value = float(value)
            if not math.isfinite(value):
                raise Invalid()
        if self.low is not None and (value < self.low or (value == self.low and not self.low_in)):
            raise Invalid()
        if self.high is not None and (value > self.high or (value == self.high and not self.high_in)):
            raise Invalid()
        return value

    def __str__(self) -> str:
        what = "an integer" if self.kind is int else "a finite number"
        lo = None if self.low is None else f"{'>=' if self.low_in else '>'} {self.low}"
        hi = None if self.high is None else f"{'<=' if self.high_in else '<'} {self.high}"
        if lo and hi:
            return f"{what} in {'[' if self.low_in else '('}{self.low}, {self.high}{']' if self.high_in else ')'}"
        return f"{what} {lo or hi}" if (lo or hi) else what


class Options(Rule):
    """One of a fixed set of values; ``values`` may be a function, read when first needed (registries)."""

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
        raise Invalid()

    def __str__(self) -> str:
        return "one of " + ", ".join(map(str, self.values))


class Type(Rule):
    def __init__(self, kind: type):
        self.kind = kind

    def accept(self, value: Any) -> Any:
        if isinstance(value, self.kind):
            return value
        raise Invalid()

    def __str__(self) -> str:
        return {bool: "true or false", str: "a string"}.get(self.kind, f"a {self.kind.__name__}")


class Null(Rule):
    def accept(self, value: Any) -> Any:
        if value is None:
            return value
        raise Invalid()

    def __str__(self) -> str:
        return "null"


class ListOf(Rule):
    """A list whose items satisfy ``item`` (a rule or alternatives), with optional length and order."""

    def __init__(self, *item: Any, min_len: int = 0, length: int | None = None, unique: bool = False,
                 increasing: bool = False):
        self.item = _rules_of(item)
        self.min_len, self.length, self.unique, self.increasing = min_len, length, unique, increasing

    def accept(self, value: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            raise Invalid()
        out = []
        for i, v in enumerate(value):
            try:
                out.append(_first_accepting(self.item, v))
            except Invalid:
                raise Invalid(f"item {i} ({v!r}) must be {describe(self.item)}") from None
        if self.length is not None and len(out) != self.length:
            raise Invalid(f"needs exactly {self.length} items")
        if len(out) < self.min_len:
            raise Invalid(f"needs at least {self.min_len} item(s)")
        if self.unique and len(set(out)) != len(out):
            raise Invalid("names an item twice")
        if self.increasing and any(b <= a for a, b in zip(out, out[1:])):
            raise Invalid("must be strictly increasing")
        return out

    def __str__(self) -> str:
        extra = [f"exactly {self.length} items" if self.length is not None else "",
                 f"at least {self.min_len}" if self.min_len else "", "strictly increasing" if self.increasing else "",
                 "distinct" if self.unique else ""]
        extra = ", ".join(e for e in extra if e)
        return f"a list of {describe(self.item)}" + (f" ({extra})" if extra else "")


class DictOf(Rule):
    """A mapping whose keys satisfy ``keys`` (an unknown key is named with the closest known one) and
    whose values satisfy ``values``."""

    def __init__(self, keys: Any = None, values: Any = None):
        self.keys = _rules_of([keys]) if keys is not None else ()
        self.values = _rules_of([values]) if values is not None else ()

    def accept(self, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise Invalid()
        out = {}
        for k, v in value.items():
            if self.keys:
                try:
                    k = _first_accepting(self.keys, k)
                except Invalid:
                    known = [str(o) for r in self.keys if isinstance(r, Options) for o in r.values]
                    near = closest(str(k), known)
                    raise Invalid("unknown key" + (f"; did you mean {near}?" if near else
                                                   f"; known: {', '.join(known)}" if known else ""), at=k) from None
            if self.values:
                try:
                    v = _first_accepting(self.values, v)
                except Invalid as e:
                    raise Invalid(str(e) or f"must be {describe(self.values)}", at=k, value=v) from None
            out[k] = v
        return out

    def __str__(self) -> str:
        return "a mapping" + (f" of {describe(self.values)}" if self.values else "")


class Check(Rule):
    """A rule written as a function: ``fn(value)`` returns the value (converted) or raises EngineError,
    ValueError or TypeError with the reason; ``text`` describes what it accepts."""

    def __init__(self, fn: Callable[[Any], Any], text: str):
        self.fn, self.text = fn, text

    def accept(self, value: Any) -> Any:
        try:
            return self.fn(value)
        except (EngineError, ValueError, TypeError) as e:
            raise Invalid(str(e)) from None

    def __str__(self) -> str:
        return self.text


def _rules_of(rules: Iterable[Any]) -> tuple[Rule, ...]:
    """Rules from a field's declaration: None accepts null, a type accepts its instances."""
    out = []
    for r in rules:
        if r is None:
            out.append(Null())
        elif isinstance(r, type):
            out.append(Type(r))
        elif isinstance(r, Rule):
            out.append(r)
        else:
            raise TypeError(f"not a rule: {r!r}")
    return tuple(out)


def _first_accepting(rules: tuple[Rule, ...], value: Any) -> Any:
    """The value as the first rule that accepts it returns it; Invalid (with the most specific reason) if none does."""
    specific = []
    for r in rules:
        try:
            return r.accept(value)
        except Invalid as e:
            if str(e):
                specific.append(e)
    raise specific[0] if len(specific) == 1 else Invalid()


def describe(rules: tuple[Rule, ...]) -> str:
    return " or ".join(map(str, rules))


# --- declaring fields ---------------------------------------------------------------------------------

def setting(default: Any, *rules: Any, merge: bool = False, how: bool = False) -> Any:
    """A schema field: its default and its rules (alternatives). A callable default is a factory; a list
    or dict default is copied for every instance. ``merge``: a mapping given for this field updates the
    default mapping instead of replacing it (e.g. only the analysis parts one turns off). ``how``: the
    setting changes how the run's tables are computed (chunking, device, where the data lives), never
    what they hold: a run resumes, and runs gather as one population, whatever its value (``how_keys``)."""
    meta = {"rules": _rules_of(rules), "merge": merge, "how": how}
    if callable(default):
        return dataclasses.field(default_factory=default, metadata=meta)
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def group(cls: type, how: bool = False) -> Any:
    """A nested group of settings (a schema dataclass), defaulting to its own defaults; ``how``: every
    setting of the group changes how, not what, the run's tables are computed (see ``setting``)."""
    return dataclasses.field(default_factory=cls, metadata={"group": cls, "how": how})


def how_keys(cls: type, key: str = "") -> tuple[str, ...]:
    """The dotted keys of the settings and groups of the schema group ``cls`` declared ``how`` (a group's
    key stands for all its settings): the one list of what may differ between a run and its resume, and
    between runs gathered as one population.

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
    """Whether the dotted ``key`` is one of ``keys`` (``how_keys``) or a setting inside one of them."""
    return any(key == k or key.startswith(k + ".") for k in keys)


def flat_settings(tree: Mapping[str, Any]) -> dict[str, Any]:
    """Nested groups of settings (plain dicts) as one mapping of dotted keys to values; an empty group is a value.

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
    """The default of the setting at the dotted ``key`` of the schema group ``cls``; KeyError if there is none."""
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
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


# --- validating -----------------------------------------------------------------------------------------

def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to ``name`` (difflib), or None."""
    near = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return near[0] if near else None


def unknown_setting(key: str, name: str, known: Iterable[str]) -> EngineError:
    """The error for ``key.name`` where the group ``key`` has only the settings ``known``."""
    known = list(known)
    near = closest(name, known)
    hint = f"did you mean {_join(key, near)}?" if near else f"known keys of {key or 'the configuration'}: " \
        + ", ".join(known)
    return EngineError(f"{_join(key, name)}: unknown setting; {hint}")


def plain(value: Any) -> Any:
    """OmegaConf containers as plain dicts and lists (values resolved); anything else unchanged."""
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
    """A composed configuration as plain dicts and lists, every interpolation resolved, without the top-level
    keys ``skip`` (Hydra's own node, which needs Hydra's runtime); anything that is not an OmegaConf mapping
    is returned as ``plain`` returns it. An interpolation that cannot be resolved is an EngineError naming
    its key."""
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
    except Invalid as e:
        if e.at is not None:
            shown = "" if e.value is Invalid._NO else f"={e.value!r}"
            raise EngineError(f"{key}.{e.at}{shown}: {e}") from None
        why = str(e) or f"must be {describe(rules)}"
        raise EngineError(f"{key}={value!r}: {why}{_with_default(f)}{_string_hint(rules, value)}") from None


def _string_hint(rules: tuple[Rule, ...], value: Any) -> str:
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
    except (yaml.YAMLError, Invalid):
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
    """A checked instance of the schema group ``cls`` from ``given``: a mapping (dict, OmegaConf), an
    instance of ``cls`` (checked as it is) or None (the defaults). Raises EngineError naming the key."""
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
    """Validate a schema instance built in code (every field against its rule, nested groups, the group's
    own check); returns it unchanged. Raises EngineError naming the key."""
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
    """The error of a rule between fields (a group's ``check_group``), in the validator's format."""
    return EngineError(f"{key}={value!r}: {why}")


def hydra_node(cls: type) -> type:
    """``cls`` for Hydra's ConfigStore: the same groups, keys and defaults, every leaf typed Any (values
    are checked by ``build``, not converted by OmegaConf)."""
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
    """The one check of measure names (``engine.measures.registry.check_measure_names``), for
    measures.names, analysis.bon.measures and engine.inspect --measures. Raises ValueError."""
    from engine.measures.registry import check_measure_names

    return check_measure_names(value)


MEASURE_NAMES = Check(measure_names, "a non-empty list of distinct measures of engine.measures.registry")


def all_measures() -> list[str]:
    """Every measure of the registry, in its order (the default of measures.names)."""
    from engine.measures.registry import MEASURES

    return list(MEASURES)
