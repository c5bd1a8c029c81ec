"""One run, stage by stage: data -> population -> measures -> analysis -> report.

Work is done in chunks of networks; each finished chunk leaves its tables in ``parts/`` (written
atomically, a ``.done`` marker last), so a killed run started again with the same command skips
what it finished. The marker records each part's row count, size and SHA-256 (and the size and
SHA-256 of its weight files, with ``population.save_weights``): a chunk counts as
done only when every part is there, unchanged and as long as the plan says (networks: one per
network; curves: networks x (epochs + 1); neurons: networks x hidden neurons x measured snapshots;
snapshots: networks x kept snapshot epochs);
otherwise it is computed again, with one log line saying why. The final tables are merged from the
parts and checked against the plan before the run reports success.

Nothing is written before the configuration is validated, and nothing (not even the run's record
``.hydra/``, written through ``on_claimed``) before the run has claimed its directory: a run refused
because another run writes there, or because the directory holds a different configuration, leaves
it as it was, and a run that fails before its claim removes what it made.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import logging
import math
import re
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping

import numpy as np
import pandas as pd
import torch

from engine import backend as backend_mod
from engine.config import EngineConfig, parse_shard, validate
from engine.errors import EngineError
from engine.paths import exists, path_problem
from engine.population.train import (METRICS, TrainSettings, class_metrics, silenced_columns, snapshot_epochs,
                                     train_population)
from engine.storage import atomic_path, write_json, write_parquet

log = logging.getLogger("engine")

TABLES = ("networks", "curves", "neurons", "snapshots")


@dataclass
class RunSummary:
    run_dir: Path
    dataset: str
    device: str
    n_networks: int
    chunks_done: int
    chunks_resumed: int
    seconds: dict[str, float] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    conclusion: dict | None = None      # the analysis' conclusion in words (engine.analysis.conclusion)


def auto_chunk_size(sizes: Sequence[int], batch: int, device: torch.device) -> int:
    """Networks per chunk: as many as fit a memory budget (CPU 4 GiB, GPU half its free memory)."""
    n_weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    widest = max(sizes[1:])
    per_net = 4 * (4 * n_weights + 6 * batch * sum(sizes[1:])) + 8 * widest * 64
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        budget = free // 2
    else:
        budget = 4 << 30
    return max(1, int(budget // per_net))


def run(cfg: Mapping | EngineConfig, run_dir: Path, on_claimed: Callable[[Path], None] | None = None) -> RunSummary:
    """Run every configured stage of ``cfg`` (a composed Hydra config, a mapping or an EngineConfig)
    inside ``run_dir``. The whole configuration is validated first, before anything else happens.

    ``on_claimed(run_dir)`` is called once the run owns the directory (lock held, configuration
    recorded or matched), before any work: the place to write the run's own record (the Hydra entry
    point writes ``.hydra/`` and opens its log file there). A run that fails or is refused before
    that point leaves ``run_dir`` as it found it (what it created itself is removed again).
    """
    cfg = validate(cfg)
    ids = parse_shard(cfg.population.shard, cfg.population.size)
    device = backend_mod.resolve_device(cfg.backend.name)
    log.info("backend: %s (backend=%s)", backend_mod.describe(device), cfg.backend.name)
    run_dir = Path(run_dir)
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
                return _run_locked(cfg, run_dir, device, ids, on_claimed, claimed)
            finally:
                if not claimed:
                    _remove_empty(*made)
    finally:
        if not claimed:
            _remove_empty(*created)


def _remove_empty(*paths: Path) -> None:
    """Remove files and empty directories (in this order) that an unclaimed run created; keep the rest."""
    for p in paths:
        try:
            if p.is_dir():
                p.rmdir()  # only when empty
            elif p.exists():
                p.unlink()
        except OSError:
            pass


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


# Settings added after run directories were first recorded, left out of the fingerprint at their default:
# those directories stay resumable, and a run's fingerprint changes only when it uses them.
_LATER_SETTINGS = {("model", "init", "rewire"): "none", ("population", "compare"): None}


def _fingerprint(cfg: EngineConfig) -> str:
    """What a run directory's results depend on (chunking changes how, not what, is computed)."""
    keyed = {k: dataclasses.asdict(getattr(cfg, k)) for k in ("dataset", "model", "train", "population", "measures")}
    for group in ("population", "measures"):
        keyed[group] = {k: v for k, v in keyed[group].items() if k != "chunk_size"}
    for (*path, name), default in _LATER_SETTINGS.items():
        node = keyed
        for part in path:
            node = node[part]
        if node.get(name, default) == default:
            node.pop(name, None)
    return json.dumps(keyed, sort_keys=True)


@dataclass
class _Population:
    """One population a run trains: the run's own, or one arm of ``population.compare`` (engine.arms)."""

    arm: str | None            # the arm's label, the tables' ``arm`` column (None: a run without arms)
    settings: TrainSettings
    prefix: str                # its parts' file names: the dataset, then the arm's label

    def note(self) -> str:
        return f" (arm {self.arm})" if self.arm else ""


def _populations(cfg: EngineConfig, dataset: str) -> list[_Population]:
    if not cfg.population.compare:
        return [_Population(None, TrainSettings(cfg.model, cfg.train), dataset)]
    from engine.arms import arm_config, parse_arms

    out = []
    for arm in parse_arms(cfg.population.compare):
        c = arm_config(cfg, arm)
        out.append(_Population(arm.label, TrainSettings(c.model, c.train), f"{dataset}_{arm.label}"))
    return out


def _check_claim(run_dir: Path, fingerprint: str) -> bool:
    """Refuse a directory made by a different configuration (results would mix); True if it is this one's."""
    path = run_dir / "parts" / "config.json"
    if not path.exists():
        return False
    if path.read_text() != fingerprint:
        raise EngineError(f"{run_dir} holds a run of a different configuration ({path}); "
                          "use a new hydra.run.dir or delete that directory")
    return True


@dataclass
class _Plan:
    """What one chunk must leave in parts/: rows per table."""

    epochs: int
    hidden: int       # hidden neurons per network
    snapshots: int    # measured snapshots per network
    kept: int         # snapshot epochs whose weight and spectral statistics are kept (the last one included)

    def rows(self, n: int) -> dict[str, int]:
        return {"networks": n, "curves": n * (self.epochs + 1), "neurons": n * self.hidden * self.snapshots,
                "snapshots": n * self.kept}


def _measured_epochs(cfg: EngineConfig, epochs: int) -> list[int]:
    if "measures" not in cfg.stages or not cfg.measures.enabled:
        return []
    return snapshot_epochs(cfg.population.snapshots, epochs)


def _kept_epochs(cfg: EngineConfig, epochs: int) -> list[int]:
    """Snapshot epochs whose weights are summarised (statistics, spectra): the snapshots and the last."""
    return sorted(set(snapshot_epochs(cfg.population.snapshots, epochs)) | {epochs})


def _run_locked(cfg: EngineConfig, run_dir: Path, device: torch.device, ids: range,
                on_claimed: Callable[[Path], None] | None, claimed: list[bool]) -> RunSummary:
    from engine.data import check_available, load_dataset

    fingerprint = _fingerprint(cfg)
    known = _check_claim(run_dir, fingerprint)  # refused before anything is written
    dcfg = cfg.dataset
    opts = dict(root=dcfg.root, cache_dir=dcfg.cache_dir, download=dcfg.download)
    check_available(dcfg.name, **opts)

    t0 = time.perf_counter()
    data = load_dataset(dcfg.name, resize=dcfg.resize, grayscale=dcfg.grayscale, test_fraction=dcfg.test_fraction,
                        seed=dcfg.seed, test_size=dcfg.test_size, limit_train=dcfg.limit_train,
                        limit_test=dcfg.limit_test, **opts)
    pops = _populations(cfg, data.name)
    sizes = [data.input_dim, *cfg.model.hidden, data.n_classes]
    log.info("dataset %s: %d train, %d test samples, %d inputs, %d classes; MLP %s",
             data.name, len(data.y_train), len(data.y_test), data.input_dim, data.n_classes,
             "-".join(map(str, sizes)))
    chunk = cfg.population.chunk_size or auto_chunk_size(sizes, cfg.train.batch_size, device)
    chunks = _Chunks(ids, chunk)   # ranges of network ids, made one at a time: nothing per network, per chunk
    epochs = cfg.train.epochs
    plan = _Plan(epochs, sum(cfg.model.hidden), len(_measured_epochs(cfg, epochs)), len(_kept_epochs(cfg, epochs)))
    _log_estimate(cfg, data, sizes, chunks, device, len(pops))
    # only the chunks with a .done marker: what is on disk
    dones = {pop.prefix: _finished(run_dir, pop.prefix, chunks, plan) for pop in pops}
    for done, prefix in ((dones[pop.prefix], pop.prefix) for pop in pops if "train" not in cfg.stages):
        k = next((k for k in range(len(chunks)) if done.get(k, "") is not None), None)
        if k is not None:
            why = done.get(k, "")
            stem = _chunk_stem(run_dir, prefix, chunks[k])
            raise EngineError(f"stages={list(cfg.stages)} skips training but chunk {stem.name} is not done"
                              f"{': ' + why if why else ''}: add train to stages")

    # The claim: from here on this directory is this run's.
    if not known:
        with atomic_path(run_dir / "parts" / "config.json") as tmp:
            tmp.write_text(fingerprint)
    claimed.append(True)
    if on_claimed is not None:
        on_claimed(run_dir)
    for stale in run_dir.rglob(".*.tmp"):  # left by a killed run's atomic writes; we hold the lock
        stale.unlink()

    summary = RunSummary(run_dir, data.name, backend_mod.describe(device), len(ids), 0, 0,
                         {"data": time.perf_counter() - t0})
    to_compute = sum(len(chunks) - sum(1 for why in done.values() if why is None) for done in dones.values())
    spent = 0.0
    # chunk by chunk, every arm of a chunk in turn: a stopped paired run has trained whole pairs
    for k, part, pop in ((k, part, pop) for k, part in enumerate(chunks) for pop in pops):
        stem = _chunk_stem(run_dir, pop.prefix, part)
        why = dones[pop.prefix].get(k, "")   # "": never finished, computed with nothing to say
        if why is None:
            summary.chunks_resumed += 1
            log.info("chunk %d/%d (networks %d..%d)%s already done: resumed", k + 1, len(chunks), part[0],
                     part[-1], pop.note())
            continue
        if why:
            log.warning("chunk %d/%d (networks %d..%d)%s is computed again: %s", k + 1, len(chunks), part[0],
                        part[-1], pop.note(), why)
        else:
            log.info("chunk %d/%d: networks %d..%d%s", k + 1, len(chunks), part[0], part[-1], pop.note())
        t = time.perf_counter()
        before = dict(summary.seconds)
        Path(f"{stem}.done").unlink(missing_ok=True)
        tables = _run_chunk(cfg, data, pop.settings, part, device, run_dir, summary.seconds,
                            prefix=pop.prefix, arm=pop.arm)
        marker = {"networks": [part[0], part[-1]], "rows": {}, "files": {}, "weights": {}}
        for name, df in tables.items():
            path = write_parquet(df, f"{stem}.{name}.parquet")
            marker["rows"][name] = len(df)
            marker["files"][name] = _file_record(path)
        if cfg.population.save_weights:  # outputs the run never reads back: recorded, so that resume checks them
            for epoch in _kept_epochs(cfg, epochs):
                path = _weights_path(run_dir, pop.prefix, epoch, part)
                marker["weights"][str(path.relative_to(run_dir))] = _file_record(path)
        with atomic_path(f"{stem}.done") as tmp:
            tmp.write_text(json.dumps(marker))
        summary.chunks_done += 1
        spent += time.perf_counter() - t
        left = to_compute - summary.chunks_done
        log.info("chunk %d/%d%s done in %s (training %s, measures %s)%s", k + 1, len(chunks), pop.note(),
                 _duration(time.perf_counter() - t),
                 *(_duration(summary.seconds.get(s, 0.0) - before.get(s, 0.0)) for s in ("train", "measures")),
                 f"; about {_duration(spent / summary.chunks_done * left)} left for {left} chunk(s) at this pace"
                 if left else "")

    t = time.perf_counter()
    for name in TABLES:
        frames = []
        for pop, p in ((pop, p) for pop in pops for p in chunks):   # arm after arm, each in network order
            f = Path(f"{_chunk_stem(run_dir, pop.prefix, p)}.{name}.parquet")
            try:
                frames.append(pd.read_parquet(f))
            except Exception as e:  # verified above: only a change while we ran gets here
                raise EngineError(f"cannot read {f} ({type(e).__name__}: {e}); it changed while the run was "
                                  "running: start the run again to compute that chunk again") from None
        frames = [f for f in frames if len(f)]
        summary.tables[name] = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    _check_tables(summary.tables, ids, plan, data.name, [pop.arm for pop in pops])
    for name in TABLES:
        if len(summary.tables[name]):
            write_parquet(summary.tables[name], run_dir / f"{name}.parquet")
    summary.seconds["merge"] = time.perf_counter() - t

    if "analysis" in cfg.stages or "report" in cfg.stages:
        t = time.perf_counter()
        from engine.analysis import run_analysis
        from engine.report import write_report

        result = None
        paired = "arm" in summary.tables["networks"]   # the paired analysis needs no measures
        if "analysis" in cfg.stages and (len(summary.tables["neurons"]) or paired):
            result = run_analysis(summary.tables["networks"], summary.tables["neurons"], cfg.analysis,
                                  backend="gpu" if device.type == "cuda" else "cpu",
                                  snapshots=summary.tables["snapshots"], curves=summary.tables["curves"],
                                  progress=cfg.progress)
            summary.conclusion = result.summary.get("conclusion")
        summary.seconds["analysis"] = time.perf_counter() - t
        if "report" in cfg.stages:
            t = time.perf_counter()
            write_report(run_dir, result, cfg.analysis, progress=cfg.progress)
            summary.seconds["report"] = time.perf_counter() - t
    write_json({"dataset": summary.dataset, "device": summary.device, "networks": summary.n_networks,
                "chunks_run": summary.chunks_done, "chunks_resumed": summary.chunks_resumed,
                "seconds": summary.seconds}, run_dir / "run.json")
    return summary


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


def _chunk_problem(stem: Path, part: Sequence[int], expected: dict[str, int]) -> str | None:
    """None if the chunk's ``.done`` marker and parts are intact and as long as the plan says; else why not."""
    import pyarrow.parquet as pq

    try:
        marker = json.loads(Path(f"{stem}.done").read_text())
        first, last = marker["networks"]
    except (OSError, ValueError, KeyError, TypeError):
        return f"its marker {stem.name}.done is damaged"
    if [first, last] != [part[0], part[-1]]:
        return f"its marker {stem.name}.done is for networks {first}..{last}"
    recorded = marker.get("rows")
    if recorded is not None and recorded != expected:
        diff = ", ".join(f"{n} {recorded.get(n)} rows, the plan needs {expected[n]}" for n in TABLES
                         if recorded.get(n) != expected[n])
        return f"it was computed with other stages or snapshots ({diff})"
    files = marker.get("files") or {}
    for name in TABLES:
        path = Path(f"{stem}.{name}.parquet")
        where = f"parts/{path.name}"
        if not path.is_file():
            return f"{where} is missing"
        want = files.get(name)
        if want is not None:  # markers of this version record size and checksum
            if _changed(path, want):
                return f"{where} changed since it was written (size or SHA-256 differs)"
        try:
            rows = pq.read_metadata(path).num_rows
        except Exception as e:  # pyarrow raises several types for damaged files
            return f"{where} is not a readable Parquet file ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        if rows != expected[name]:
            return f"{where} holds {rows} rows, the plan needs {expected[name]}"
    run_dir = stem.parent.parent
    for name, want in (marker.get("weights") or {}).items():
        path = run_dir / name
        if not path.is_file():
            return f"{name} is missing"
        if _changed(path, want):
            return f"{name} changed since it was written (size or SHA-256 differs)"
    return None


def _check_tables(tables: dict[str, pd.DataFrame], ids: Sequence[int], plan: _Plan, dataset: str,
                  arms: Sequence[str | None] = (None,)) -> None:
    """The merged tables against the plan: every network once (once per arm), every epoch, every hidden neuron."""
    expected = {name: rows * len(arms) for name, rows in plan.rows(len(ids)).items()}
    short = [f"{name}: {len(tables[name])} rows, the plan needs {expected[name]}" for name in TABLES
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


class _Chunks(Sequence):
    """The chunks of a run: contiguous ranges of ``size`` network ids, each made when asked for (a range
    of ids costs the same whatever the population size)."""

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


def _finished(run_dir: Path, dataset: str, chunks: _Chunks, plan: "_Plan") -> dict[int, str | None]:
    """{chunk: None if done and intact, else why it is computed again} for the chunks with a ``.done``
    marker in ``parts/`` (found by listing the directory: as many as the finished chunks, not the planned ones)."""
    pattern = re.compile(rf"{re.escape(dataset)}_(\d+)-(\d+)\.done")
    out: dict[int, str | None] = {}
    for marker in (run_dir / "parts").glob(f"{dataset}_*.done"):
        m = pattern.fullmatch(marker.name)
        k = chunks.index_of(int(m[1]), int(m[2])) if m else None
        if k is not None:
            part = chunks[k]
            out[k] = _chunk_problem(_chunk_stem(run_dir, dataset, part), part, plan.rows(len(part)))
    return out


def _duration(seconds: float) -> str:
    for unit, size in (("years", 365 * 86400), ("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} s"


def _step_rate(cfg: EngineConfig, sizes: list[int], n_nets: int, device: torch.device, seconds: float = 0.3) -> float:
    """Network-steps per second of this code on this device: SGD steps of ``n_nets`` networks of the run's
    shape, at least 3 and about ``seconds`` of them (a short probe on random data)."""
    from engine.population.init import init_population
    from engine.population.mlp import PopulationMLP

    net = PopulationMLP([w.to(device) for w in init_population(sizes, list(range(n_nets)))], cfg.model.activation,
                        loss=cfg.train.loss)
    x = torch.rand(cfg.train.batch_size, sizes[0], device=device)
    y = torch.randint(0, sizes[-1], (cfg.train.batch_size,), device=device)
    net.sgd_step(x, y, cfg.train.lr)   # warm-up
    steps, t0 = 0, time.perf_counter()
    while True:
        net.sgd_step(x, y, cfg.train.lr)
        steps += 1
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if steps >= 3 and time.perf_counter() - t0 >= seconds:
            return n_nets * steps / (time.perf_counter() - t0)


def _log_estimate(cfg: EngineConfig, data, sizes: list[int], chunks: _Chunks, device: torch.device,
                  arms: int = 1) -> None:
    """Before any training: the run's work (training FLOPs from the layer sizes, epochs and samples) and
    its time at the rate this code reaches now on this device (``_step_rate``). Measures are timed after
    the first chunk: the log gives every chunk's time and what is left."""
    from engine.population.train import flops_per_step, train_flops

    n, chunk = len(chunks.ids) * arms, min(chunks.size, len(chunks.ids))
    per_net = train_flops(sizes, len(data.y_train), len(data.y_test), cfg.train.epochs)
    probe = min(chunk, 256 if device.type == "cuda" else 16)   # CPU: about one cache block of paper-size networks
    rate = _step_rate(cfg, sizes, probe, device) * flops_per_step(sizes, cfg.train.batch_size)
    log.info("plan: %d network(s) in %d chunk(s) of up to %d; training %.3g GFLOP per network (%d epoch(s) of "
             "%d samples), %.3g TFLOP in all: about %s at the %.1f GFLOP/s this code reached just now on this "
             "device (measures come on top: each chunk's time is logged when it is done)",
             n, len(chunks) * arms, chunk, per_net / 1e9, cfg.train.epochs, len(data.y_train), per_net * n / 1e12,
             _duration(per_net * n / rate), rate / 1e9)


def _chunk_stem(run_dir: Path, prefix: str, part: Sequence[int]) -> Path:
    """Where one chunk's tables and its ``.done`` marker live (named by its population's prefix, the
    dataset and the arm if any, and its first and last network)."""
    return run_dir / "parts" / f"{prefix}_{part[0]:06d}-{part[-1]:06d}"


def _weights_path(run_dir: Path, prefix: str, epoch: int, part: Sequence[int]) -> Path:
    """One chunk's stacked weights at one snapshot epoch (``population.save_weights``)."""
    return run_dir / "weights" / f"{prefix}_epoch{epoch:03d}_{part[0]:06d}-{part[-1]:06d}.safetensors"


def _run_chunk(cfg: EngineConfig, data, settings: TrainSettings, part: list[int], device: torch.device,
               run_dir: Path, seconds: dict[str, float], prefix: str | None = None,
               arm: str | None = None) -> dict[str, pd.DataFrame]:
    """Train one chunk, measure its snapshots; return its networks, curves, neurons and snapshots tables.
    With an ``arm`` (a paired run), every table gets its ``arm`` column and the networks table the
    strength variance of each initial network (``init_strength_var``)."""
    from engine.analysis.spectral_stats import spectral_stats
    from engine.analysis.weight_stats import weight_stats

    epochs = cfg.train.epochs
    measured = _measured_epochs(cfg, epochs)
    neurons: list[pd.DataFrame] = []
    snapshots: list[pd.DataFrame] = []
    mtime = [0.0]

    def on_snapshot(epoch: int, ids: Sequence[int], weights: list[torch.Tensor]) -> None:
        t = time.perf_counter()
        if epoch in measured:
            neurons.append(_measure(cfg, weights, data.name, epoch, ids))
        if cfg.population.save_weights:
            from engine.weights_io import save_snapshot

            save_snapshot(_weights_path(run_dir, prefix or data.name, epoch, ids), weights,
                          {"dataset": data.name, "epoch": epoch, "networks": list(map(int, ids)),
                           **({"arm": arm} if arm is not None else {})})
        stats = pd.concat([weight_stats(weights), spectral_stats(weights)], axis=1)
        stats.insert(0, "epoch", epoch)
        stats.insert(0, "network", list(ids))
        stats.insert(0, "dataset", data.name)
        snapshots.append(stats)
        mtime[0] += time.perf_counter() - t

    want = _kept_epochs(cfg, epochs)
    t = time.perf_counter()
    res = train_population(data, settings, part, base_seed=cfg.population.seed, device=device,
                           snapshots=want, on_snapshot=on_snapshot, progress=cfg.progress)
    seconds["train"] = seconds.get("train", 0.0) + time.perf_counter() - t - mtime[0]
    seconds["measures"] = seconds.get("measures", 0.0) + mtime[0]

    nets = pd.DataFrame({"dataset": data.name, "network": res.network_ids, "seed": res.seeds,
                         **{m: res.final(m) for m in METRICS}, "diverged": res.diverged,
                         "test_samples": len(data.y_test),
                         **{m: res.final(m) for m in class_metrics(data.n_classes)},
                         **dict(zip(silenced_columns(data.n_classes), res.silenced_first_epoch.T))})
    all_epochs = list(range(epochs + 1))
    curves = pd.DataFrame({
        "dataset": data.name,
        "network": [i for i in res.network_ids for _ in all_epochs],
        "epoch": all_epochs * len(res.network_ids),
        **{m: res.curves[m].reshape(-1) for m in (*METRICS, *class_metrics(data.n_classes))}})
    neuron_df = pd.concat(neurons, ignore_index=True) if neurons else pd.DataFrame()
    if len(neuron_df):
        from engine.measures import summarize

        nets = nets.merge(summarize(neuron_df), on=["dataset", "network"], how="left")
    snapshot_df = pd.concat(snapshots, ignore_index=True)
    final = snapshot_df[snapshot_df["epoch"] == epochs].drop(columns="epoch")
    nets = nets.merge(final, on=["dataset", "network"], how="left")
    tables = {"networks": nets, "curves": curves, "neurons": neuron_df, "snapshots": snapshot_df}
    if arm is not None:
        nets.insert(nets.columns.get_loc("test_samples") + 1, "init_strength_var", res.init_strength_var)
        for df in tables.values():
            if len(df.columns):
                df.insert(1, "arm", arm)
    return tables


def _measure(cfg: EngineConfig, weights: list[torch.Tensor], dataset: str, epoch: int, ids: Sequence[int]) -> pd.DataFrame:
    from engine.measures import neuron_table

    dtype = torch.float64 if cfg.measures.dtype == "float64" else torch.float32
    return neuron_table(weights, dataset=dataset, epoch=epoch, network_ids=list(ids),
                        measures=list(cfg.measures.names), orientation="in_out", dtype=dtype, log_subgraph=cfg.measures.log_subgraph,
                        chunk_size=cfg.measures.chunk_size, progress=cfg.progress)
