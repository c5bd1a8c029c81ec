"""One run per run directory: the lock, the claim and the cleanup of a run that never claimed.

A run takes the directory's lock (``parts/.lock``: a second run into the same directory is refused, not
interleaved), then checks the directory's claim (``parts/config.json``: the settings its results depend
on) against its own before anything is written. Settings declared ``how`` in the schema
(``engine.config.HOW_SETTINGS``: chunk sizes, backend, data locations, ...) are not part of the claim; a
claim recorded before a setting existed counts it at its default. A claim that differs is refused
naming the keys. A run that is refused, or fails before its claim, removes what it made.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from engine.config import HOW_SETTINGS, EngineConfig
from engine.errors import EngineError
from engine.paths import exists, path_problem
from engine.run_dir import read_record
from engine.schema import flat_settings, is_how, setting_default
from engine.storage import atomic_path

__all__ = ["check_claim", "claim", "claim_record", "owned", "remove_empty"]

_MISSING = "(not recorded)"


def claim_record(cfg: EngineConfig) -> dict[str, Any]:
    """What a run directory's results depend on: every setting of ``cfg`` but the ``how`` ones, nested by
    group, as JSON gives it back.

    Parameters
    ----------
    cfg : EngineConfig
        A validated configuration (``engine.config.validate``).

    Returns
    -------
    dict
        Groups of settings (``dataset``, ``model``, ``train``, ``population``, ``measures``).

    Examples
    --------
    >>> from engine.config import validate
    >>> record = claim_record(validate({"train": {"lr": 0.5}}))
    >>> record["train"]["lr"], "download" in record["dataset"], "backend" in record
    (0.5, False, False)
    """
    tree = dataclasses.asdict(cfg)
    for key in HOW_SETTINGS:
        *path, name = key.split(".")
        node = tree
        for part in path:
            node = node[part]
        node.pop(name, None)
    return json.loads(json.dumps(tree))


def _differences(recorded: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The settings (dotted keys) whose values differ, ``how`` settings left out; a key one side lacks
    (recorded before the setting existed) counts at its default."""
    a, b = flat_settings(recorded), flat_settings(now)

    def value(side: dict[str, Any], key: str) -> Any:
        if key in side:
            return side[key]
        try:
            return json.loads(json.dumps(setting_default(EngineConfig, key)))
        except KeyError:
            return _MISSING

    return [f"{k}: {value(a, k)!r} there, {value(b, k)!r} now" for k in sorted(set(a) | set(b))
            if not is_how(k, HOW_SETTINGS) and value(a, k) != value(b, k)]


def check_claim(run_dir: Path, record: dict[str, Any]) -> bool:
    """Whether ``run_dir`` is claimed by a run of these settings (True) or by none (False).

    Parameters
    ----------
    run_dir : Path
        The run directory; its claim is ``parts/config.json``.
    record : dict
        This run's settings, as ``claim_record`` gives them.

    Returns
    -------
    bool
        True if the directory holds a claim of the same settings (``how`` settings aside; a key the
        claim lacks counts at its default), False if it holds no claim.

    Raises
    ------
    EngineError
        When the claim is of other settings (its results would mix with ours), naming the keys that
        differ (at most eight, then how many more), or when ``parts/config.json`` is damaged or holds no
        settings.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from engine.config import validate
    >>> record = claim_record(validate({}))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     run_dir = Path(tmp)
    ...     before = check_claim(run_dir, record)
    ...     with owned(run_dir) as claimed:
    ...         claim(run_dir, record, before, claimed)
    ...     after = check_claim(run_dir, record)
    ...     try:
    ...         check_claim(run_dir, claim_record(validate({"train": {"lr": 0.5}})))
    ...     except EngineError as e:
    ...         refusal = str(e).replace(tmp, "RUN")
    >>> before, after
    (False, True)
    >>> print(refusal)
    RUN holds a run of a different configuration (train.lr: 0.01 there, 0.5 now; recorded in
    RUN/parts/config.json): use a new hydra.run.dir or delete that directory
    """
    path = run_dir / "parts" / "config.json"
    if not path.exists():
        return False
    recorded = read_record(path, "use a new hydra.run.dir or delete that directory")
    if recorded is None:
        raise EngineError(f"{path} holds no settings: use a new hydra.run.dir or delete that directory")
    diff = _differences(recorded, record)
    if diff:
        shown = "; ".join(diff[:8]) + (f"; and {len(diff) - 8} more" if len(diff) > 8 else "")
        raise EngineError(f"{run_dir} holds a run of a different configuration ({shown}; recorded in {path}): "
                          "use a new hydra.run.dir or delete that directory")
    return True


def claim(run_dir: Path, record: dict[str, Any], known: bool, claimed: list[bool]) -> None:
    """Claim ``run_dir`` (held by ``owned``) for a run of these settings: from now on what ``owned`` made is kept.

    Records the settings (``parts/config.json``, written atomically) unless the directory is ``known`` to
    hold them already, marks the claim in ``claimed``, and removes the temporary files (``.*.tmp``) that
    a killed run's atomic writes left.

    Parameters
    ----------
    run_dir : Path
        The run directory, held under its lock by ``owned``.
    record : dict
        This run's settings (``claim_record``).
    known : bool
        What ``check_claim`` answered: True if the directory already holds this claim.
    claimed : list of bool
        The list ``owned`` yielded; True is appended to it.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from engine.config import validate
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     run_dir = Path(tmp) / "run"
    ...     with owned(run_dir) as claimed:
    ...         (run_dir / ".left-by-a-killed-run.tmp").touch()
    ...         claim(run_dir, claim_record(validate({})), False, claimed)   # a new directory: not known
    ...     kept = sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*"))
    >>> claimed, kept
    ([True], ['parts', 'parts/.lock', 'parts/config.json'])
    """
    if not known:
        with atomic_path(run_dir / "parts" / "config.json") as tmp:
            tmp.write_text(json.dumps(record, sort_keys=True))
    claimed.append(True)
    for stale in run_dir.rglob(".*.tmp"):  # we hold the lock: no other run is writing them
        stale.unlink()


def remove_empty(*paths: Path) -> None:
    """Remove files and empty directories (in this order) that an unclaimed run created; keep the rest.

    Parameters
    ----------
    *paths : Path
        Files and directories, deepest first; a directory is removed only when empty, a path that is
        gone or cannot be removed is passed over (never an error).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     made, full = Path(tmp) / "made", Path(tmp) / "full"
    ...     made.mkdir(); full.mkdir(); (full / "result.parquet").touch()
    ...     remove_empty(made, full, Path(tmp) / "never-made")
    ...     left = sorted(p.name for p in Path(tmp).iterdir())
    >>> left
    ['full']
    """
    for p in paths:
        try:
            if p.is_dir():
                p.rmdir()  # only when empty
            elif p.exists():
                p.unlink()
        except OSError:
            pass


@contextmanager
def owned(run_dir: Path) -> Iterator[list[bool]]:
    """Hold ``run_dir`` (made if needed) under its lock (``parts/.lock``) for one run.

    If the run never claims the directory (``claim``), what this call made (the directory and its
    parents, ``parts/``, the lock file) is removed again when the block ends, whether it ends normally
    or by an error.

    Parameters
    ----------
    run_dir : Path
        The run directory.

    Yields
    ------
    list of bool
        Empty; ``claim`` appends True to it once the run has claimed the directory.

    Raises
    ------
    EngineError
        When ``run_dir`` cannot be a directory (a file, a link loop, a name too long, ...), cannot be
        made, or another run holds its lock (a second run into one directory is refused, not interleaved).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     run_dir = Path(tmp) / "outputs" / "run"
    ...     with owned(run_dir) as claimed:
    ...         try:
    ...             with owned(run_dir):
    ...                 pass
    ...         except EngineError as e:
    ...             second = str(e).replace(tmp, "TMP")
    ...     left = list(Path(tmp).iterdir())   # never claimed: nothing is left
    >>> print(second)
    another run is writing into TMP/outputs/run: wait for it to finish or use another hydra.run.dir
    >>> left
    []
    """
    problem = path_problem(run_dir)
    if problem not in (None, "does not exist"):   # a file, a link loop, a name too long, ...
        raise EngineError(f"cannot use the run directory {run_dir}: it {problem}; choose another (hydra.run.dir)")
    created = [p for p in (run_dir, *run_dir.parents) if not exists(p)]  # ours to remove if we fail early
    claimed: list[bool] = []
    try:
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise EngineError(f"cannot make the run directory {run_dir}: {e.strerror or e}; choose another "
                              "(hydra.run.dir)") from None
        with _exclusive(run_dir) as made:
            try:
                yield claimed
            finally:
                if not claimed:
                    remove_empty(*made)
    finally:
        if not claimed:
            remove_empty(*created)


@contextmanager
def _exclusive(run_dir: Path) -> Iterator[list[Path]]:
    """One writer per run directory: a second run into the same directory is refused, not interleaved.
    Yields the paths this call created (the lock file, ``parts/``), so that an unclaimed run can take
    them back."""
    parts, lock = run_dir / "parts", run_dir / "parts" / ".lock"
    made = [p for p in (lock, parts) if not p.exists()]
    parts.mkdir(exist_ok=True)
    with open(lock, "a") as fh:  # "a": never truncates a file another run holds
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise EngineError(f"another run is writing into {run_dir}: wait for it to finish or use another "
                              "hydra.run.dir") from None
        try:
            yield made
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
