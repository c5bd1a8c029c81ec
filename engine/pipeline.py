"""One run, stage by stage: data -> population -> measures -> analysis -> report.

Work is done in chunks of networks; each finished chunk leaves its tables in ``parts/`` (written
atomically, a ``.done`` marker last), so a killed run started again with the same command skips
what it finished. The final tables are merged from the parts.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import pandas as pd
import torch
from omegaconf import DictConfig

from engine import backend as backend_mod
from engine.config import parse_shard, to_container, train_settings, validate
from engine.errors import EngineError
from engine.population.train import METRICS, TrainSettings, snapshot_epochs, train_population
from engine.storage import atomic_path, write_json, write_parquet

log = logging.getLogger("engine")

TABLES = ("networks", "curves", "neurons")


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


def run(cfg: DictConfig, run_dir: Path) -> RunSummary:
    """Run every configured stage of ``cfg`` inside ``run_dir``."""
    validate(cfg)
    device = backend_mod.resolve_device(cfg.backend.name)
    log.info("backend: %s (backend=%s)", backend_mod.describe(device), cfg.backend.name)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(run_dir):
        return _run_locked(cfg, run_dir, device)


@contextmanager
def _exclusive(run_dir: Path) -> Iterator[None]:
    """One writer per run directory: a second run into the same directory is refused, not interleaved."""
    (run_dir / "parts").mkdir(exist_ok=True)
    with open(run_dir / "parts" / ".lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise EngineError(f"another run is writing into {run_dir}: wait for it to finish or use another "
                              "hydra.run.dir") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run_locked(cfg: DictConfig, run_dir: Path, device: torch.device) -> RunSummary:
    from engine.data import check_available, load_dataset

    for stale in run_dir.rglob(".*.tmp"):  # left by a killed run's atomic writes; we hold the lock
        stale.unlink()
    _claim(run_dir, cfg)
    dcfg = cfg.dataset
    opts = dict(root=dcfg.root, cache_dir=dcfg.cache_dir, download=dcfg.download)
    check_available(dcfg.name, **opts)

    t0 = time.perf_counter()
    data = load_dataset(dcfg.name, resize=dcfg.resize, grayscale=dcfg.grayscale, test_fraction=dcfg.test_fraction,
                        seed=dcfg.seed, limit_train=dcfg.limit_train, limit_test=dcfg.limit_test, **opts)
    settings = train_settings(cfg)
    sizes = [data.input_dim, *settings.hidden, data.n_classes]
    log.info("dataset %s: %d train, %d test samples, %d inputs, %d classes; MLP %s",
             data.name, len(data.y_train), len(data.y_test), data.input_dim, data.n_classes,
             "-".join(map(str, sizes)))
    ids = parse_shard(cfg.population.shard, cfg.population.size)
    if not ids:
        raise EngineError(f"population.shard={cfg.population.shard} of population.size={cfg.population.size} "
                          "holds no network: use fewer shards")
    chunk = cfg.population.chunk_size or auto_chunk_size(sizes, settings.batch_size, device)
    chunks = [ids[i:i + chunk] for i in range(0, len(ids), chunk)]
    summary = RunSummary(run_dir, data.name, backend_mod.describe(device), len(ids), 0, 0,
                         {"data": time.perf_counter() - t0})
    for k, part in enumerate(chunks):
        stem = _chunk_stem(run_dir, data.name, part)
        if Path(f"{stem}.done").exists():
            summary.chunks_resumed += 1
            log.info("chunk %d/%d (networks %d..%d) already done: resumed", k + 1, len(chunks), part[0], part[-1])
            continue
        if "train" not in cfg.stages:
            raise EngineError(f"stages={list(cfg.stages)} skips training but {stem}.done is missing: "
                              "add train to stages")
        log.info("chunk %d/%d: networks %d..%d", k + 1, len(chunks), part[0], part[-1])
        tables = _run_chunk(cfg, data, settings, part, device, run_dir, summary.seconds)
        for name, df in tables.items():
            write_parquet(df, f"{stem}.{name}.parquet")
        with atomic_path(f"{stem}.done") as tmp:
            tmp.write_text(json.dumps({"networks": [part[0], part[-1]]}))
        summary.chunks_done += 1

    t = time.perf_counter()
    for name in TABLES:
        files = [Path(f"{_chunk_stem(run_dir, data.name, p)}.{name}.parquet") for p in chunks]
        frames = [pd.read_parquet(f) for f in files if f.exists()]
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        summary.tables[name] = df
        if len(df):
            write_parquet(df, run_dir / f"{name}.parquet")
    summary.seconds["merge"] = time.perf_counter() - t

    if "analysis" in cfg.stages or "report" in cfg.stages:
        t = time.perf_counter()
        from engine.analysis import run_analysis
        from engine.report import write_report

        result = None
        if "analysis" in cfg.stages and len(summary.tables["neurons"]):
            result = run_analysis(summary.tables["networks"], summary.tables["neurons"], cfg.analysis,
                                  backend="gpu" if device.type == "cuda" else "cpu")
        summary.seconds["analysis"] = time.perf_counter() - t
        if "report" in cfg.stages:
            t = time.perf_counter()
            write_report(run_dir, result, cfg.analysis)
            summary.seconds["report"] = time.perf_counter() - t
    write_json({"dataset": summary.dataset, "device": summary.device, "networks": summary.n_networks,
                "chunks_run": summary.chunks_done, "chunks_resumed": summary.chunks_resumed,
                "seconds": summary.seconds}, run_dir / "run.json")
    return summary


def _chunk_stem(run_dir: Path, dataset: str, part: Sequence[int]) -> Path:
    """Where one chunk's tables and its ``.done`` marker live (named by its first and last network)."""
    return run_dir / "parts" / f"{dataset}_{part[0]:06d}-{part[-1]:06d}"


def _run_chunk(cfg: DictConfig, data, settings: TrainSettings, part: list[int], device: torch.device,
               run_dir: Path, seconds: dict[str, float]) -> dict[str, pd.DataFrame]:
    """Train one chunk, measure its snapshots; return its networks, curves and neurons tables."""
    from engine.analysis.weight_stats import weight_stats

    measured = snapshot_epochs(cfg.population.snapshots, settings.epochs) if "measures" in cfg.stages \
        and cfg.measures.enabled else []
    neurons: list[pd.DataFrame] = []
    extra: dict[str, pd.DataFrame] = {}
    mtime = [0.0]

    def on_snapshot(epoch: int, ids: Sequence[int], weights: list[torch.Tensor]) -> None:
        t = time.perf_counter()
        if epoch in measured:
            neurons.append(_measure(cfg, weights, data.name, epoch, ids))
        if cfg.population.save_weights:
            from engine.weights_io import save_snapshot

            save_snapshot(run_dir / "weights" / f"{data.name}_epoch{epoch:03d}_{ids[0]:06d}-{ids[-1]:06d}.safetensors",
                          weights, {"dataset": data.name, "epoch": epoch, "networks": list(map(int, ids))})
        if epoch == settings.epochs:
            extra["weights"] = weight_stats(weights)
        mtime[0] += time.perf_counter() - t

    want = sorted(set(snapshot_epochs(cfg.population.snapshots, settings.epochs)) | {settings.epochs})
    t = time.perf_counter()
    res = train_population(data, settings, part, base_seed=cfg.population.seed, device=device,
                           snapshots=want, on_snapshot=on_snapshot, progress=cfg.progress)
    seconds["train"] = seconds.get("train", 0.0) + time.perf_counter() - t - mtime[0]
    seconds["measures"] = seconds.get("measures", 0.0) + mtime[0]

    nets = pd.DataFrame({"dataset": data.name, "network": res.network_ids, "seed": res.seeds,
                         **{m: res.final(m) for m in METRICS}, "diverged": res.diverged})
    epochs = list(range(settings.epochs + 1))
    curves = pd.DataFrame({
        "dataset": data.name,
        "network": [i for i in res.network_ids for _ in epochs],
        "epoch": epochs * len(res.network_ids),
        **{m: res.curves[m].reshape(-1) for m in METRICS}})
    neuron_df = pd.concat(neurons, ignore_index=True) if neurons else pd.DataFrame()
    if len(neuron_df):
        from engine.measures import summarize

        nets = nets.merge(summarize(neuron_df), on=["dataset", "network"], how="left")
    if "weights" in extra:
        nets = pd.concat([nets, extra["weights"]], axis=1)
    return {"networks": nets, "curves": curves, "neurons": neuron_df}


def _measure(cfg: DictConfig, weights: list[torch.Tensor], dataset: str, epoch: int, ids: Sequence[int]) -> pd.DataFrame:
    from engine.measures import neuron_table

    dtype = torch.float64 if cfg.measures.dtype == "float64" else torch.float32
    return neuron_table(weights, dataset=dataset, epoch=epoch, network_ids=list(ids),
                        measures=list(cfg.measures.names), dtype=dtype, log_subgraph=cfg.measures.log_subgraph,
                        chunk_size=cfg.measures.chunk_size)


def _claim(run_dir: Path, cfg: DictConfig) -> None:
    """Refuse to resume into a directory made by a different configuration (results would mix)."""
    keyed = {k: v for k, v in to_container(cfg).items() if k in ("dataset", "model", "train", "population", "measures")}
    for group in ("population", "measures"):  # chunking changes how, not what, is computed
        keyed[group] = {k: v for k, v in keyed[group].items() if k != "chunk_size"}
    fingerprint = json.dumps(keyed, sort_keys=True)
    path = run_dir / "parts" / "config.json"
    if path.exists():
        if path.read_text() != fingerprint:
            raise EngineError(f"{run_dir} holds a run of a different configuration ({path}); "
                              "use a new hydra.run.dir or delete that directory")
        return
    with atomic_path(path) as tmp:
        tmp.write_text(fingerprint)
