"""Paired populations: the arms of ``population.compare``.

``population.compare: [rewire=none, rewire=pa]`` trains the same network ids, with the same init seeds
and the same data order, once per arm: each id gives a pair (or a tuple) of networks that differ only
in what the arms set. An arm is one or more ``key=value`` settings separated by spaces (``key:value``
also works, which Hydra's command line takes unquoted: ``population.compare=[rewire:none,rewire:pa]``).
Keys are settings of how a network is initialised and trained (``model.init.*``, ``model.activation``,
``train.*`` but ``train.epochs``), or the short name ``rewire`` for ``model.init.rewire``; the network's
shape and epochs stay those of the run, so that every network has its partner at every epoch. The
first arm is the reference the others are compared with (``engine.analysis.paired``).

Each arm has a ``label`` (the values it sets, e.g. ``none``, ``pa``): the ``arm`` column of every
table and part of the parts' file names.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Sequence

import yaml

__all__ = ["Arm", "arm_config", "parse_arms"]

_ALIASES = {"rewire": "model.init.rewire"}
# prefixes of the settings an arm may change, and the ones it may not among them
_ARM_KEYS = ("model.init.", "model.activation", "train.")
_FIXED = ("train.epochs",)
_LABEL = re.compile(r"[^A-Za-z0-9._\-]+")


@dataclass(frozen=True)
class Arm:
    """One arm of a paired run, as ``parse_arms`` reads it from ``population.compare``.

    Parameters
    ----------
    label : str
        The values it sets, joined by "_" (e.g. ``pa_0.1``); the ``arm`` column of every table and
        part of file names. Made from the whole spec where values alone would collide.
    spec : str
        The arm as written (e.g. ``"rewire=pa train.lr=0.1"``), for messages.
    settings : tuple of (str, object)
        The dotted keys it sets (short names expanded: ``rewire`` is ``model.init.rewire``) and their
        values as YAML reads them, in the order written.

    Examples
    --------
    >>> parse_arms(["rewire=none", "rewire=pa train.lr=0.1"])[1]
    Arm(label='pa_0.1', spec='rewire=pa train.lr=0.1', settings=(('model.init.rewire', 'pa'), ('train.lr', 0.1)))
    """

    label: str
    spec: str
    settings: tuple[tuple[str, Any], ...]


def parse_arms(specs: Sequence[Any]) -> list[Arm]:
    """The arms of ``population.compare`` (checked: syntax, keys, distinct arms and labels).

    Parameters
    ----------
    specs : list of str
        At least two arms, each ``"key=value [key=value ...]"``.

    Returns
    -------
    list of Arm
        In the given order; the first is the reference.

    Raises
    ------
    ValueError
        Fewer than two arms, an arm not made of key=value settings, a key an arm may not set (only
        ``rewire``, ``model.init.*``, ``model.activation`` and ``train.*`` but ``train.epochs``), a key
        set twice, or the same arm twice; the message names the arm.

    Examples
    --------
    >>> [(a.label, a.settings) for a in parse_arms(["rewire=none", "rewire:pa"])]
    [('none', (('model.init.rewire', 'none'),)), ('pa', (('model.init.rewire', 'pa'),))]
    >>> parse_arms(["rewire=pa train.lr=0.1", "rewire=none"])[0].label
    'pa_0.1'
    """
    if not isinstance(specs, (list, tuple)) or len(specs) < 2:
        raise ValueError("needs a list of at least 2 arms, e.g. [rewire=none, rewire=pa]")
    arms = []
    for i, spec in enumerate(specs):
        if not isinstance(spec, str) or not spec.split():
            raise ValueError(f"arm {i} ({spec!r}) must be a string of key=value settings, e.g. rewire=pa")
        settings = []
        for item in spec.split():
            m = re.fullmatch(r"([A-Za-z_][\w.]*)[=:](.+)", item)
            if not m:
                raise ValueError(f"arm {i} ({spec!r}): {item!r} is not key=value, e.g. rewire=pa")
            key = _ALIASES.get(m[1], m[1])
            if not key.startswith(_ARM_KEYS) or key in _FIXED:
                raise ValueError(f"arm {i} ({spec!r}): {m[1]} cannot differ between arms; an arm sets how a network "
                                 "is initialised or trained (rewire, model.init.*, model.activation, train.* but "
                                 "train.epochs), never its shape or epochs")
            if key in dict(settings):
                raise ValueError(f"arm {i} ({spec!r}) sets {key} twice")
            settings.append((key, _value(m[2])))
        label = _LABEL.sub("-", "_".join(str(v) for _, v in settings)).strip("-") or f"arm{i}"
        arms.append(Arm(label, spec, tuple(settings)))
    if len({a.settings for a in arms}) < len(arms):
        raise ValueError("names the same arm twice")
    if len({a.label for a in arms}) < len(arms):   # labels from the values alone collide: the whole spec
        arms = [dataclasses.replace(a, label=_LABEL.sub("-", a.spec).strip("-")) for a in arms]
        if len({a.label for a in arms}) < len(arms):
            arms = [dataclasses.replace(a, label=f"arm{i}") for i, a in enumerate(arms)]
    return arms


_EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _value(text: str) -> Any:
    """A value as Hydra's command line reads it (``0.1`` and ``1e-3`` numbers, ``true`` a boolean, ``pa`` a
    string): YAML, but for a number in exponent form without a dot, which YAML 1.1 (PyYAML) keeps a string."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return float(value) if isinstance(value, str) and _EXPONENT.fullmatch(value) else value


def arm_config(cfg: Any, arm: Arm) -> Any:
    """The configuration of one arm's population: ``cfg`` with the arm's settings, checked.

    Parameters
    ----------
    cfg : EngineConfig
        The run's configuration (``engine.config.validate``).
    arm : Arm
        One of ``parse_arms(cfg.population.compare)``.

    Returns
    -------
    EngineConfig
        A new, checked configuration; ``population.compare`` is cleared (an arm's configuration
        describes one population). ``cfg`` is unchanged.

    Raises
    ------
    EngineError
        Naming the arm, if it sets an unknown setting or a value the schema's rules refuse.

    Examples
    --------
    >>> from engine.config import validate
    >>> cfg = validate({"population": {"compare": ["rewire=none", "rewire=pa train.lr=0.1"]}})
    >>> pa = arm_config(cfg, parse_arms(cfg.population.compare)[1])
    >>> pa.model.init.rewire, pa.train.lr, pa.population.compare
    ('pa', 0.1, None)
    >>> arm_config(cfg, parse_arms(["train.lr=0", "rewire=pa"])[0])
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: population.compare arm 'train.lr=0': train.lr=0: must be a finite number > 0 ...
    """
    from engine.config import EngineConfig
    from engine.errors import EngineError
    from engine.schema import build

    data = dataclasses.asdict(cfg)
    data["population"]["compare"] = None
    for key, value in arm.settings:
        node = data
        *path, name = key.split(".")
        for part in path:
            node = node[part]
        if name not in node:
            from engine.schema import unknown_setting

            err = unknown_setting(".".join(path), name, node)
            raise EngineError(f"population.compare arm {arm.spec!r}: {err}")
        node[name] = value
    try:
        return build(EngineConfig, data, "")
    except EngineError as e:
        raise EngineError(f"population.compare arm {arm.spec!r}: {e}") from None
