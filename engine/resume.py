"""Resume integrity: the chunk plan, each finished chunk's ``.done`` marker, and the merged tables' check.

Work is done in chunks of networks; each finished chunk leaves its tables in ``parts/`` (written
atomically, a ``.done`` marker last), so a killed run started again with the same command skips
what it finished. The marker records each part's row count, size and SHA-256 (and the size and
SHA-256 of its weight files, with ``population.save_weights``): a chunk counts as done only when
every part is there, unchanged and as long as the plan says (networks: one per network; curves:
networks x (epochs + 1); neurons: networks x hidden neurons x measured snapshots; snapshots: networks
x kept snapshot epochs), and holds the weight files the plan saves; otherwise it is computed again,
with one log line saying why. The final tables are merged from the parts and checked against the plan.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from engine.config import EngineConfig
from engine.errors import EngineError
from engine.population.train import snapshot_epochs
from engine.shared_docs import shared_docs
from engine.storage import atomic_path, write_parquet

__all__ = ["Chunks", "Plan", "chunk_stem", "finished_chunks", "kept_epochs", "mark_done", "measured_epochs",
           "merge_parts", "weights_path"]

_TABLES = ("networks", "curves", "neurons", "snapshots")

# Docstring blocks several functions below share (engine.shared_docs).
_DOCS = dict(
    run_dir_prefix="""
        run_dir : Path
            The run directory.
        prefix : str
            The chunk's population (as for ``chunk_stem``).
        """,
    chunk_tables="""
        >>> import tempfile, pandas as pd
        >>> from pathlib import Path
        >>> plan, chunks = Plan(epochs=1, hidden=2, snapshots=1, kept=1), Chunks(range(4), 2)
        >>> def tables(part):   # each table as long as the plan needs, one row per network and item
        ...     rows = plan.rows(len(part))
        ...     return {name: pd.DataFrame({"network": [i for i in part for _ in range(rows[name] // len(part))]})
        ...             for name in rows}
        """,
)


def measured_epochs(cfg: EngineConfig) -> list[int]:
    """The snapshot epochs whose neurons are measured (none without the measures stage).

    Parameters
    ----------
    cfg : EngineConfig
        A validated configuration; ``population.snapshots`` and ``train.epochs`` name the epochs.

    Returns
    -------
    list of int
        Sorted epochs (0 is the initialisation); empty when ``stages`` lacks ``measures`` or
        ``measures.enabled`` is false.

    Examples
    --------
    >>> from engine.config import validate
    >>> measured_epochs(validate({"train": {"epochs": 4}, "population": {"snapshots": "early"}}))
    [0, 1, 4]
    >>> measured_epochs(validate({"train": {"epochs": 4}, "stages": ["train"]}))
    []
    """
    if "measures" not in cfg.stages or not cfg.measures.enabled:
        return []
    return snapshot_epochs(cfg.population.snapshots, cfg.train.epochs)


def kept_epochs(cfg: EngineConfig) -> list[int]:
    """Snapshot epochs whose weights are summarised (statistics, spectra): the snapshots and the last.

    Parameters
    ----------
    cfg : EngineConfig
        A validated configuration.

    Returns
    -------
    list of int
        Sorted epochs: those of ``population.snapshots`` and ``train.epochs``, whatever the stages.

    Examples
    --------
    >>> from engine.config import validate
    >>> kept_epochs(validate({"train": {"epochs": 4}, "population": {"snapshots": [0, 2]}}))
    [0, 2, 4]
    """
    epochs = cfg.train.epochs
    return sorted(set(snapshot_epochs(cfg.population.snapshots, epochs)) | {epochs})


@dataclass
class Plan:
    """What one chunk must leave in parts/: rows per table, and weight files at the ``saved`` epochs.

    Parameters
    ----------
    epochs : int
        Training epochs (a learning curve has ``epochs + 1`` rows: epoch 0 is the initialisation).
    hidden : int
        Hidden neurons per network.
    snapshots : int
        Measured snapshots per network (``measured_epochs``).
    kept : int
        Snapshot epochs whose weight and spectral statistics are kept (``kept_epochs``).
    saved : tuple of int, optional
        Epochs whose weights every chunk writes (``population.save_weights``); empty by default.

    Examples
    --------
    >>> from engine.config import validate
    >>> plan = Plan.of(validate({"train": {"epochs": 4}, "model": {"hidden": [5, 3]},
    ...                          "population": {"snapshots": [0, 2]}}))
    >>> plan
    Plan(epochs=4, hidden=8, snapshots=2, kept=3, saved=())
    >>> plan.rows(2)   # for a chunk of 2 networks
    {'networks': 2, 'curves': 10, 'neurons': 32, 'snapshots': 6}
    """

    epochs: int
    hidden: int       # hidden neurons per network
    snapshots: int    # measured snapshots per network
    kept: int         # snapshot epochs whose weight and spectral statistics are kept (the last one included)
    saved: tuple[int, ...] = ()   # epochs whose weights every chunk writes (population.save_weights)

    @classmethod
    def of(cls, cfg: EngineConfig) -> "Plan":
        """The plan of a validated configuration."""
        kept = kept_epochs(cfg)
        return cls(cfg.train.epochs, sum(cfg.model.hidden), len(measured_epochs(cfg)), len(kept),
                   tuple(kept) if cfg.population.save_weights else ())

    def rows(self, n: int) -> dict[str, int]:
        """Rows of each table for ``n`` networks."""
        return {"networks": n, "curves": n * (self.epochs + 1), "neurons": n * self.hidden * self.snapshots,
                "snapshots": n * self.kept}


class Chunks(Sequence):
    """The chunks of a run: contiguous ranges of ``size`` network ids, each made when asked for (a range
    of ids costs the same whatever the population size).

    Parameters
    ----------
    ids : range
        The run's network ids (its shard of the population).
    size : int
        Networks per chunk (>= 1); the last chunk may be shorter.

    Examples
    --------
    >>> chunks = Chunks(range(10), 4)
    >>> len(chunks), list(chunks)
    (3, [range(0, 4), range(4, 8), range(8, 10)])
    >>> chunks.index_of(4, 7), chunks.index_of(4, 6)   # a marker's networks name a chunk, or none
    (1, None)
    """

    def __init__(self, ids: range, size: int):
        self.ids, self.size = ids, size

    def __len__(self) -> int:
        return math.ceil(len(self.ids) / self.size)

    def __getitem__(self, k: int) -> range:
        if not 0 <= k < len(self):
            raise IndexError(k)
        return self.ids[k * self.size:(k + 1) * self.size]

    def index_of(self, first: int, last: int) -> int | None:
        """The chunk whose networks are first..last, if there is one."""
        k, off = divmod(first - self.ids.start, self.size)
        if off or not 0 <= k < len(self) or self[k][-1] != last:
            return None
        return k


def chunk_stem(run_dir: Path, prefix: str, part: Sequence[int]) -> Path:
    """Where one chunk's tables and its ``.done`` marker live.

    Parameters
    ----------
    run_dir : Path
        The run directory.
    prefix : str
        The chunk's population: the dataset's name, and its arm's in a paired run.
    part : sequence of int
        The chunk's network ids (first and last name it).

    Returns
    -------
    Path
        ``run_dir/parts/<prefix>_<first>-<last>``, to which ``.<table>.parquet`` and ``.done`` are appended.

    Examples
    --------
    >>> from pathlib import Path
    >>> chunk_stem(Path("run"), "digits", range(8, 12)).as_posix()
    'run/parts/digits_000008-000011'
    """
    return run_dir / "parts" / f"{prefix}_{part[0]:06d}-{part[-1]:06d}"


@shared_docs(**_DOCS)
def weights_path(run_dir: Path, prefix: str, epoch: int, part: Sequence[int]) -> Path:
    """One chunk's stacked weights at one snapshot epoch (``population.save_weights``).

    Parameters
    ----------
    {{run_dir_prefix}}
    epoch : int
        The snapshot epoch.
    part : sequence of int
        The chunk's network ids.

    Returns
    -------
    Path
        ``run_dir/weights/<prefix>_epoch<epoch>_<first>-<last>.safetensors``.

    Examples
    --------
    >>> from pathlib import Path
    >>> weights_path(Path("run"), "digits", 30, range(8, 12)).as_posix()
    'run/weights/digits_epoch030_000008-000011.safetensors'
    """
    return run_dir / "weights" / f"{prefix}_epoch{epoch:03d}_{part[0]:06d}-{part[-1]:06d}.safetensors"


@shared_docs(**_DOCS)
def finished_chunks(run_dir: Path, prefix: str, chunks: Chunks, plan: Plan) -> dict[int, str | None]:
    """Which chunks a resumed run may skip: those with an intact ``.done`` marker in ``parts/``.

    The markers are found by listing the directory (as many as the finished chunks, not the planned
    ones). A chunk is intact when its marker is readable and for its networks, every part is there,
    unchanged (size and SHA-256) and as long as ``plan`` says, and the weight files the plan saves
    are there and unchanged.

    Parameters
    ----------
    {{run_dir_prefix}}
    chunks : Chunks
        The run's chunks; a marker for networks that are no chunk of these is ignored.
    plan : Plan
        What each chunk must hold.

    Returns
    -------
    dict of int to str or None
        Per chunk index with a marker: None if it is done and intact, else why it is computed again
        (one phrase, for the log).

    Examples
    --------
    {{chunk_tables}}
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     run_dir = Path(tmp)
    ...     for part in chunks:
    ...         mark_done(run_dir, "digits", part, tables(part), plan)
    ...     _ = Path(f"{chunk_stem(run_dir, 'digits', chunks[1])}.curves.parquet").write_bytes(b"damaged")
    ...     found = finished_chunks(run_dir, "digits", chunks, plan)
    >>> sorted(found), found[0]
    ([0, 1], None)
    >>> found[1]
    'parts/digits_000002-000003.curves.parquet changed since it was written (size or SHA-256 differs)'
    """
    pattern = re.compile(rf"{re.escape(prefix)}_(\d+)-(\d+)\.done")
    out: dict[int, str | None] = {}
    for marker in (run_dir / "parts").glob(f"{prefix}_*.done"):
        m = pattern.fullmatch(marker.name)
        k = chunks.index_of(int(m[1]), int(m[2])) if m else None
        if k is not None:
            part = chunks[k]
            saved = [weights_path(run_dir, prefix, e, part) for e in plan.saved]
            out[k] = _chunk_problem(chunk_stem(run_dir, prefix, part), part, plan.rows(len(part)), saved)
    return out


@shared_docs(**_DOCS)
def mark_done(run_dir: Path, prefix: str, part: Sequence[int], tables: dict[str, pd.DataFrame], plan: Plan) -> None:
    """Write one chunk's tables into ``parts/`` and, last, its ``.done`` marker.

    Every file is written atomically; the marker records the rows, sizes and SHA-256 of the parts and
    of the weight files the plan saves (written before, by the chunk), so that a resume checks them.

    Parameters
    ----------
    {{run_dir_prefix}}
    part : sequence of int
        The chunk's network ids.
    tables : dict of str to pandas.DataFrame
        The chunk's ``networks``, ``curves``, ``neurons`` and ``snapshots`` tables.
    plan : Plan
        Its ``saved`` epochs name the weight files to record (they must exist).

    Examples
    --------
    {{chunk_tables}}
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     mark_done(Path(tmp), "digits", chunks[0], tables(chunks[0]), plan)
    ...     written = sorted(p.name for p in (Path(tmp) / "parts").iterdir())
    >>> written
    ['digits_000000-000001.curves.parquet', 'digits_000000-000001.done', 'digits_000000-000001.networks.parquet',
     'digits_000000-000001.neurons.parquet', 'digits_000000-000001.snapshots.parquet']
    """
    stem = chunk_stem(run_dir, prefix, part)
    marker = {"networks": [part[0], part[-1]], "rows": {}, "files": {}, "weights": {}}
    for name, df in tables.items():
        path = write_parquet(df, f"{stem}.{name}.parquet")
        marker["rows"][name] = len(df)
        marker["files"][name] = _file_record(path)
    for epoch in plan.saved:   # outputs the run never reads back: recorded, so that resume checks them
        path = weights_path(run_dir, prefix, epoch, part)
        marker["weights"][str(path.relative_to(run_dir))] = _file_record(path)
    with atomic_path(f"{stem}.done") as tmp:
        tmp.write_text(json.dumps(marker))


@shared_docs(**_DOCS)
def merge_parts(run_dir: Path, prefixes: Sequence[str], chunks: Chunks, plan: Plan, dataset: str,
                arms: Sequence[str | None] = (None,)) -> dict[str, pd.DataFrame]:
    """The run's tables, merged from its parts (population after population, each in network order) and
    checked against the plan.

    Parameters
    ----------
    run_dir : Path
        The run directory.
    prefixes : sequence of str
        The run's populations (one; one per arm in a paired run), in the order their rows are merged.
    chunks : Chunks
        The run's chunks, all done.
    plan : Plan
        What each chunk holds.
    dataset : str
        The dataset's name, for the error message.
    arms : sequence of str or None, optional
        The arms' names in a paired run (each arm must hold every network once); ``(None,)`` otherwise.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``networks``, ``curves``, ``neurons``, ``snapshots``.

    Raises
    ------
    EngineError
        When a part cannot be read (it changed while the run ran), or the merged tables do not match
        the plan (rows missing, a network missing or duplicated).

    Examples
    --------
    {{chunk_tables}}
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     for part in chunks:
    ...         mark_done(Path(tmp), "digits", part, tables(part), plan)
    ...     merged = merge_parts(Path(tmp), ["digits"], chunks, plan, "digits")
    >>> {name: len(table) for name, table in merged.items()}
    {'networks': 4, 'curves': 8, 'neurons': 8, 'snapshots': 4}
    """
    tables = {}
    for name in _TABLES:
        frames = []
        for prefix, part in ((prefix, part) for prefix in prefixes for part in chunks):
            f = Path(f"{chunk_stem(run_dir, prefix, part)}.{name}.parquet")
            try:
                frames.append(pd.read_parquet(f))
            except Exception as e:  # verified when the run started: only a change while we ran gets here
                raise EngineError(f"cannot read {f} ({type(e).__name__}: {e}); it changed while the run was "
                                  "running: start the run again to compute that chunk again") from None
        frames = [f for f in frames if len(f)]
        tables[name] = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    _check_tables(tables, chunks.ids, plan, dataset, arms)
    return tables


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _file_record(path: Path) -> dict[str, int | str]:
    """What a chunk's marker keeps of one file it wrote."""
    return {"bytes": path.stat().st_size, "sha256": _sha256(path)}


def _changed(path: Path, record: dict) -> bool:
    """Whether ``path`` differs from its ``_file_record`` (the size first: no hashing when it differs)."""
    return path.stat().st_size != record.get("bytes") or _sha256(path) != record.get("sha256")


def _chunk_problem(stem: Path, part: Sequence[int], expected: dict[str, int], saved: Sequence[Path] = ()) -> str | None:
    """None if the chunk's ``.done`` marker and parts are intact and as long as the plan says, and it
    holds the weight files ``saved``; else why not."""
    try:
        marker = json.loads(Path(f"{stem}.done").read_text())
        first, last = marker["networks"]
        recorded, files, weights = marker["rows"], marker["files"], marker["weights"]
    except (OSError, ValueError, KeyError, TypeError):
        return f"its marker {stem.name}.done is damaged (or was written by an older engine)"
    if [first, last] != [part[0], part[-1]]:
        return f"its marker {stem.name}.done is for networks {first}..{last}"
    if recorded != expected:
        diff = ", ".join(f"{n} {recorded.get(n)} rows, the plan needs {expected[n]}" for n in _TABLES
                         if recorded.get(n) != expected[n])
        return f"it was computed with other stages or snapshots ({diff})"
    run_dir = stem.parent.parent
    unsaved = [p.name for p in saved if str(p.relative_to(run_dir)) not in weights]
    if unsaved:
        return f"its weights were not saved ({', '.join(unsaved)}; population.save_weights is on now)"
    for name in _TABLES:
        problem = _part_problem(Path(f"{stem}.{name}.parquet"), files.get(name), expected[name])
        if problem:
            return problem
    for name, want in weights.items():
        path = run_dir / name
        if not path.is_file():
            return f"{name} is missing"
        if _changed(path, want):
            return f"{name} changed since it was written (size or SHA-256 differs)"
    return None


def _part_problem(path: Path, record: dict | None, rows: int) -> str | None:
    """None if one part is there, unchanged since its marker's ``record`` and ``rows`` long; else why not."""
    import pyarrow.parquet as pq

    where = f"parts/{path.name}"
    if not path.is_file():
        return f"{where} is missing"
    if record is None or _changed(path, record):
        return f"{where} changed since it was written (size or SHA-256 differs)"
    try:
        got = pq.read_metadata(path).num_rows
    except Exception as e:  # pyarrow raises several types for damaged files
        return f"{where} is not a readable Parquet file ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
    if got != rows:
        return f"{where} holds {got} rows, the plan needs {rows}"
    return None


def _check_tables(tables: dict[str, pd.DataFrame], ids: Sequence[int], plan: Plan, dataset: str,
                  arms: Sequence[str | None] = (None,)) -> None:
    """The merged tables against the plan: every network once (once per arm), every epoch, every hidden neuron."""
    expected = {name: rows * len(arms) for name, rows in plan.rows(len(ids)).items()}
    short = [f"{name}: {len(tables[name])} rows, the plan needs {expected[name]}" for name in _TABLES
             if len(tables[name]) != expected[name]]
    nets = tables["networks"]
    for arm in arms if not short and len(nets) else ():
        got = nets["network"] if arm is None else nets.loc[nets["arm"] == arm, "network"]
        if not np.array_equal(np.sort(got.to_numpy()), np.asarray(ids)):
            short.append(f"networks{'' if arm is None else f' of arm {arm}'}: ids "
                         f"{sorted(set(ids) - set(got))[:5]} missing or duplicated")
    if short:
        raise EngineError(f"the merged tables of {dataset} do not match the plan ({len(ids)} networks x "
                          f"{plan.hidden} hidden neurons x {plan.snapshots} snapshot(s), {plan.epochs} epoch(s)): "
                          + "; ".join(short))
