"""Command-line overrides checked before Hydra composes them: a misspelt key or config-group option is
one line naming it and the closest known name, exit status 2, where Hydra would print a multi-line
report (``Could not override 'train.epoch'. To append to your config use +train.epoch=5 ...``) that
points at ``+`` instead of at the typo.

Only what the engine's schema and ``conf/`` decide is checked: Hydra's own keys (``hydra.*``, groups
with a ``/`` such as ``hydra/launcher``), flags, appended keys (``+key=``, which the schema checks
after composition), keys new to a mapping setting, sweep expressions (``choice(...)``) and, when the
command line names other config directories (``-cd``, ``hydra.searchpath``), config-group options
are left to Hydra.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Sequence

from engine.config import EngineConfig
from engine.errors import EngineError
from engine.schema import closest, default_of, unknown_setting

__all__ = ["check_overrides"]

_OTHER_CONFIGS = {"-cd", "--config-dir", "-cp", "--config-path", "-cn", "--config-name", "hydra.searchpath",
                  "+hydra.searchpath", "++hydra.searchpath"}
_PLAIN_OPTIONS = re.compile(r"[A-Za-z0-9_\-]+(,[A-Za-z0-9_\-]+)*")   # name, or a comma sweep of names


def check_overrides(args: Sequence[str], conf: Path) -> None:
    """Raise EngineError for the first override in ``args`` that names an unknown setting or config-group
    option; what is left to Hydra (see the module docstring) passes.

    Parameters
    ----------
    args : sequence of str
        The command line's arguments after the program name (``sys.argv[1:]``).
    conf : pathlib.Path
        The Hydra config directory (``engine.resources.conf_dir()``), whose sub-directories are the
        config groups and their YAML files the options.

    Raises
    ------
    EngineError
        Naming the override and the closest known key or option.

    Examples
    --------
    >>> from engine.resources import conf_dir
    >>> check_overrides(["dataset=mnist", "train.epochs=5", "-m", "+sweep=full"], conf_dir())
    >>> check_overrides(["train.epoch=5"], conf_dir())
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: train.epoch: unknown setting; did you mean train.epochs?
    >>> check_overrides(["dataset=mnst"], conf_dir())
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: dataset=mnst: no such option; did you mean dataset=mnist? (options: cifar10, ...)
    """
    groups = {p.name for p in conf.iterdir() if p.is_dir() and p.name != "hydra"}
    ours = not any(a.split("=", 1)[0] in _OTHER_CONFIGS for a in args)
    if not ours:
        groups = set()                        # options may come from the user's own config directories
    for arg in args:
        if arg.startswith("-") or "=" not in arg:
            continue                          # Hydra's flags (-m, --cfg job, -cn NAME, ...)
        key, value = arg.split("=", 1)
        appended = key.startswith("+")
        key = key.lstrip("+~").split("@", 1)[0]
        if not key or key.startswith("hydra") or "/" in key:
            continue
        if key in groups:
            _check_option(key, value, conf / key)
        elif not appended:
            _check_key(key)
            if ours and _is_group(key) and _PLAIN_OPTIONS.fullmatch(value):
                raise EngineError(f"{key}={value}: {key} is a group of settings with no options in conf/ (its "
                                  f"defaults are the schema's); set its keys, e.g. {key}.<key>=<value>")


def _check_option(group: str, value: str, folder: Path) -> None:
    if not _PLAIN_OPTIONS.fullmatch(value):
        return                                # a sweep expression, null, or a path: Hydra's to judge
    options = sorted(p.stem for p in folder.glob("*.yaml"))
    for option in value.split(","):
        if option not in options:
            near = closest(option, options)
            raise EngineError(f"{group}={option}: no such option"
                              + (f"; did you mean {group}={near}?" if near else "")
                              + f" (options: {', '.join(options)})")


def _is_group(key: str) -> bool:
    """Whether ``key`` (a known setting) names a group of settings of the schema."""
    node: Any = EngineConfig
    for name in key.split("."):
        f = {f.name: f for f in dataclasses.fields(node)}[name] if isinstance(node, type) else None
        node = f.metadata.get("group") if f is not None else None
        if node is None:
            return False
    return True


def _check_key(key: str) -> None:
    node: Any = EngineConfig                  # a schema group, then (inside a mapping setting) its default
    path: list[str] = []
    for name in key.split("."):
        if isinstance(node, type):
            fields = {f.name: f for f in dataclasses.fields(node)}
            if name not in fields:
                raise unknown_setting(".".join(path), name, fields)
            f = fields[name]
            node = f.metadata.get("group") or default_of(f)
        elif isinstance(node, Mapping):       # e.g. analysis.enabled, analysis.estimator_params.svm
            if name not in node:
                near = closest(name, [str(k) for k in node])
                where = ".".join(path)
                if near:
                    raise EngineError(f"{where}.{name}: not a key of {where}; did you mean {where}.{near}?")
                return                        # a new key (+key=...), or one a sweep file added: Hydra's
            node = node[name]
        else:
            return                            # a plain value: Hydra and the schema judge the rest
        path.append(name)
