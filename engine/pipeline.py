"""One run, stage by stage: data -> population -> measures -> analysis -> report.

``run`` reads as the steps of a run: take the run directory (``engine.ownership``: the lock, the claim,
the cleanup of a run that never claimed), load the data, plan the chunks (``engine.resume``, sized and
timed by ``engine.estimate``), train and measure every chunk not already done and mark it done, merge,
analyse, report. A killed run started again with the same command skips the chunks it finished.

Nothing is written before the configuration is validated, and nothing (not even the run's record
``.hydra/``, written through ``on_claimed``) before the run has claimed its directory: a run refused
because another run writes there, or because the directory holds a different configuration, leaves
it as it was, and a run that fails before its claim removes what it made.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import pandas as pd
import torch

from engine import backend as backend_mod
from engine.config import EngineConfig, parse_shard, validate
from engine.errors import EngineError
from engine.estimate import auto_chunk_size, duration, log_estimate
from engine.ownership import check_claim, claim, claim_record, owned
from engine.population.train import METRICS, TrainSettings, class_metrics, silenced_columns, train_population
from engine.resume import (Chunks, Plan, chunk_stem, finished_chunks, kept_epochs, mark_done, measured_epochs,
                           merge_parts, weights_path)
from engine.storage import write_json, write_parquet

__all__ = ["RunSummary", "run"]

log = logging.getLogger("engine")


@dataclass
class RunSummary:
    """What a run did: where, on what, how many chunks it ran and resumed, each stage's seconds, its tables
    and the analysis' conclusion in words (what ``run`` returns).

    Attributes
    ----------
    run_dir : Path
        The run directory.
    dataset : str
        The dataset's name.
    device : str
        The device in words (``engine.backend.describe``).
    n_networks : int
        Networks of the run (its shard of the population).
    chunks_done, chunks_resumed : int
        Chunks computed by this run, and chunks an earlier run had finished (skipped).
    seconds : dict of str to float
        Wall-clock seconds per stage (``data``, ``train``, ``measures``, ``snapshots``, ``merge``,
        ``analysis``, ``report``: those that ran).
    tables : dict of str to pandas.DataFrame
        The merged ``networks``, ``curves``, ``neurons`` and ``snapshots`` tables.
    conclusion : dict or None
        The analysis' conclusion in words (``engine.analysis.conclusion``); None without the analysis stage.

    Examples
    --------
    >>> from pathlib import Path
    >>> summary = RunSummary(Path("outputs/run"), "digits", "cpu", n_networks=8, chunks_done=1, chunks_resumed=1)
    >>> summary.seconds, summary.tables, summary.conclusion
    ({}, {}, None)
    """

    run_dir: Path
    dataset: str
    device: str
    n_networks: int
    chunks_done: int
    chunks_resumed: int
    seconds: dict[str, float] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    conclusion: dict | None = None      # the analysis' conclusion in words (engine.analysis.conclusion)


def run(cfg: Mapping | EngineConfig, run_dir: Path, on_claimed: Callable[[Path], None] | None = None) -> RunSummary:
    """Run every configured stage of ``cfg`` inside ``run_dir``, resuming what an earlier run of the same
    settings finished there.

    Parameters
    ----------
    cfg : Mapping or EngineConfig
        A composed Hydra config, a mapping or an EngineConfig; validated first, before anything else happens.
    run_dir : Path
        The run directory (made if needed).
    on_claimed : callable, optional
        ``on_claimed(run_dir)`` is called once the run owns the directory (lock held, configuration
        recorded or matched), before any work: the place to write the run's own record (the Hydra entry
        point writes ``.hydra/`` and opens its log file there).

    Returns
    -------
    RunSummary

    Raises
    ------
    EngineError
        A bad setting, missing data, a directory another run writes into or that holds a run of other
        settings (naming the keys that differ), a merged table that does not match the plan. A run that
        fails or is refused before its claim leaves ``run_dir`` as it found it.

    Examples
    --------
    Two networks of 4 hidden neurons trained one epoch on 200 digits, their strength measured; then a
    run of another learning rate, refused before it writes anything:

    >>> import tempfile
    >>> cfg = {"dataset": {"name": "digits", "limit_train": 200}, "population": {"size": 2},
    ...        "model": {"hidden": [4]}, "train": {"epochs": 1}, "measures": {"names": ["strength"]},
    ...        "stages": ["train", "measures"], "progress": False}
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     summary = run(cfg, tmp)
    ...     try:
    ...         run({**cfg, "train": {"epochs": 1, "lr": 0.5}}, tmp)
    ...     except EngineError as e:
    ...         refusal = str(e).replace(tmp, "RUN")
    >>> summary.dataset, summary.n_networks, summary.chunks_done, summary.chunks_resumed
    ('digits', 2, 1, 0)
    >>> {name: len(table) for name, table in summary.tables.items()}   # neurons: 2 networks x 4 x epochs 0, 1
    {'networks': 2, 'curves': 4, 'neurons': 16, 'snapshots': 4}
    >>> print(refusal)
    RUN holds a run of a different configuration (train.lr: 0.01 there, 0.5 now; recorded in
    RUN/parts/config.json): use a new hydra.run.dir or delete that directory
    """
    cfg = validate(cfg)
    ids = parse_shard(cfg.population.shard, cfg.population.size)
    device = backend_mod.resolve_device(cfg.backend.name)
    log.info("backend: %s (backend=%s)", backend_mod.describe(device), cfg.backend.name)
    run_dir = Path(run_dir)
    with owned(run_dir) as claimed:
        record = claim_record(cfg)
        known = check_claim(run_dir, record)   # refused before anything is written
        t0 = time.perf_counter()
        data = _load_data(cfg)
        pops = _populations(cfg, data.name)
        chunks, plan = _plan(cfg, data, ids, device, len(pops))
        dones = {pop.prefix: finished_chunks(run_dir, pop.prefix, chunks, plan) for pop in pops}
        if "train" not in cfg.stages:
            _require_done(cfg, run_dir, pops, chunks, dones)
        claim(run_dir, record, known, claimed)   # from here on this directory is this run's
        if on_claimed is not None:
            on_claimed(run_dir)
        summary = RunSummary(run_dir, data.name, backend_mod.describe(device), len(ids), 0, 0,
                             {"data": time.perf_counter() - t0})
        _compute_chunks(cfg, data, pops, chunks, plan, dones, device, summary)
        _merge(pops, chunks, plan, summary)
        _analyse_and_report(cfg, run_dir, device, summary)
        write_json({"dataset": summary.dataset, "device": summary.device, "networks": summary.n_networks,
                    "chunks_run": summary.chunks_done, "chunks_resumed": summary.chunks_resumed,
                    "seconds": summary.seconds}, run_dir / "run.json")
        return summary


def _load_data(cfg: EngineConfig):
    """The run's dataset (checked to be there, or downloadable, first), logged with the networks' shape."""
    from engine.data import check_available, load_dataset

    d = cfg.dataset
    opts = dict(root=d.root, cache_dir=d.cache_dir, download=d.download)
    check_available(d.name, **opts)
    data = load_dataset(d.name, resize=d.resize, grayscale=d.grayscale, test_fraction=d.test_fraction, seed=d.seed,
                        test_size=d.test_size, limit_train=d.limit_train, limit_test=d.limit_test, **opts)
    log.info("dataset %s: %d train, %d test samples, %d inputs, %d classes; MLP %s",
             data.name, len(data.y_train), len(data.y_test), data.input_dim, data.n_classes,
             "-".join(map(str, _sizes(cfg, data))))
    return data


def _sizes(cfg: EngineConfig, data) -> list[int]:
    return [data.input_dim, *cfg.model.hidden, data.n_classes]


def _plan(cfg: EngineConfig, data, ids: range, device: torch.device, arms: int) -> tuple[Chunks, Plan]:
    """The run's chunks (ranges of network ids, made one at a time: nothing per network) and what each must
    leave in parts/; the estimate of the training's time logged."""
    sizes = _sizes(cfg, data)
    chunks = Chunks(ids, cfg.population.chunk_size or auto_chunk_size(sizes, cfg.train.batch_size, device))
    log_estimate(cfg, len(data.y_train), len(data.y_test), sizes, len(ids) * arms, min(chunks.size, len(ids)),
                 len(chunks) * arms, device)
    return chunks, Plan.of(cfg)


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


def _require_done(cfg: EngineConfig, run_dir: Path, pops: Sequence[_Population], chunks: Chunks,
                  dones: dict[str, dict[int, str | None]]) -> None:
    """Stages without training need every chunk done already; else an EngineError naming the first that is not."""
    for pop in pops:
        done = dones[pop.prefix]
        k = next((k for k in range(len(chunks)) if done.get(k, "") is not None), None)
        if k is not None:
            why = done.get(k, "")
            stem = chunk_stem(run_dir, pop.prefix, chunks[k])
            raise EngineError(f"stages={list(cfg.stages)} skips training but chunk {stem.name} is not done"
                              f"{': ' + why if why else ''}: add train to stages")


_CHUNK_STAGES = ("train", "measures", "snapshots")


def _compute_chunks(cfg: EngineConfig, data, pops: Sequence[_Population], chunks: Chunks, plan: Plan,
                    dones: dict[str, dict[int, str | None]], device: torch.device, summary: RunSummary) -> None:
    """Train and measure every chunk not done yet and mark it done (chunk by chunk, every arm of a chunk in
    turn: a stopped paired run has trained whole pairs); the log says each chunk's time and what is left."""
    to_compute = sum(len(chunks) - sum(1 for why in done.values() if why is None) for done in dones.values())
    spent = 0.0
    for k, part, pop in ((k, part, pop) for k, part in enumerate(chunks) for pop in pops):
        where = f"chunk {k + 1}/{len(chunks)}"
        why = dones[pop.prefix].get(k, "")   # "": never finished, computed with nothing to say
        if why is None:
            summary.chunks_resumed += 1
            log.info("%s (networks %d..%d)%s already done: resumed", where, part[0], part[-1], pop.note())
            continue
        if why:
            log.warning("%s (networks %d..%d)%s is computed again: %s", where, part[0], part[-1], pop.note(), why)
        else:
            log.info("%s: networks %d..%d%s", where, part[0], part[-1], pop.note())
        t = time.perf_counter()
        before = dict(summary.seconds)
        Path(f"{chunk_stem(summary.run_dir, pop.prefix, part)}.done").unlink(missing_ok=True)
        tables = _run_chunk(cfg, data, pop.settings, part, device, summary.run_dir, summary.seconds,
                            prefix=pop.prefix, arm=pop.arm)
        mark_done(summary.run_dir, pop.prefix, part, tables, plan)
        summary.chunks_done += 1
        spent += time.perf_counter() - t
        left = to_compute - summary.chunks_done
        log.info("%s%s done in %s (training %s, measures %s, snapshot statistics %s)%s", where, pop.note(),
                 duration(time.perf_counter() - t),
                 *(duration(summary.seconds.get(s, 0.0) - before.get(s, 0.0)) for s in _CHUNK_STAGES),
                 f"; about {duration(spent / summary.chunks_done * left)} left for {left} chunk(s) at this pace"
                 if left else "")


def _merge(pops: Sequence[_Population], chunks: Chunks, plan: Plan, summary: RunSummary) -> None:
    """The run's tables merged from its parts, checked against the plan and written, timed."""
    t = time.perf_counter()
    summary.tables = merge_parts(summary.run_dir, [pop.prefix for pop in pops], chunks, plan, summary.dataset,
                                 [pop.arm for pop in pops])
    for name, table in summary.tables.items():
        if len(table):
            write_parquet(table, summary.run_dir / f"{name}.parquet")
    summary.seconds["merge"] = time.perf_counter() - t


def _analyse_and_report(cfg: EngineConfig, run_dir: Path, device: torch.device, summary: RunSummary) -> None:
    """The analysis (where there are measures, or a paired run) and the report stages, timed."""
    if "analysis" not in cfg.stages and "report" not in cfg.stages:
        return
    t = time.perf_counter()
    from engine.analysis import run_analysis
    from engine.report import write_report

    result = None
    tables = summary.tables
    paired = "arm" in tables["networks"]   # the paired analysis needs no measures
    if "analysis" in cfg.stages and (len(tables["neurons"]) or paired):
        result = run_analysis(tables["networks"], tables["neurons"], cfg.analysis,
                              backend=backend_mod.backend_name(device), snapshots=tables["snapshots"],
                              curves=tables["curves"], progress=cfg.progress)
        summary.conclusion = result.summary.get("conclusion")
    summary.seconds["analysis"] = time.perf_counter() - t
    if "report" in cfg.stages:
        t = time.perf_counter()
        write_report(run_dir, result, cfg.analysis, progress=cfg.progress)
        summary.seconds["report"] = time.perf_counter() - t


def _run_chunk(cfg: EngineConfig, data, settings: TrainSettings, part: list[int], device: torch.device,
               run_dir: Path, seconds: dict[str, float], prefix: str | None = None,
               arm: str | None = None) -> dict[str, pd.DataFrame]:
    """Train one chunk, measure its snapshots; return its networks, curves, neurons and snapshots tables.
    ``seconds`` gains each stage's time: training, the neurons' measures, and the snapshots' weight and
    spectral statistics and weight files (``snapshots``)."""
    measured = measured_epochs(cfg)
    neurons: list[pd.DataFrame] = []
    snapshots: list[pd.DataFrame] = []
    spent = dict.fromkeys(_CHUNK_STAGES[1:], 0.0)

    def on_snapshot(epoch: int, ids: Sequence[int], weights: list[torch.Tensor]) -> None:
        t = time.perf_counter()
        if epoch in measured:
            neurons.append(_measure(cfg, weights, data.name, epoch, ids))
        t1 = time.perf_counter()
        if cfg.population.save_weights:
            from engine.weights_io import save_snapshot

            save_snapshot(weights_path(run_dir, prefix or data.name, epoch, ids), weights,
                          {"dataset": data.name, "epoch": epoch, "networks": list(map(int, ids)),
                           **({"arm": arm} if arm is not None else {})})
        snapshots.append(_snapshot_stats(weights, data.name, epoch, ids))
        spent["measures"] += t1 - t
        spent["snapshots"] += time.perf_counter() - t1

    t = time.perf_counter()
    res = train_population(data, settings, part, base_seed=cfg.population.seed, device=device,
                           snapshots=kept_epochs(cfg), on_snapshot=on_snapshot, progress=cfg.progress)
    seconds["train"] = seconds.get("train", 0.0) + time.perf_counter() - t - sum(spent.values())
    for stage, s in spent.items():
        seconds[stage] = seconds.get(stage, 0.0) + s
    return _chunk_tables(data, res, cfg.train.epochs, neurons, snapshots, arm)


def _snapshot_stats(weights: list[torch.Tensor], dataset: str, epoch: int, ids: Sequence[int]) -> pd.DataFrame:
    """One snapshot's weight and spectral statistics, a row per network."""
    from engine.analysis.spectral_stats import spectral_stats
    from engine.analysis.weight_stats import weight_stats

    stats = pd.concat([weight_stats(weights), spectral_stats(weights)], axis=1)
    stats.insert(0, "epoch", epoch)
    stats.insert(0, "network", list(ids))
    stats.insert(0, "dataset", dataset)
    return stats


def _chunk_tables(data, res, epochs: int, neurons: list[pd.DataFrame], snapshots: list[pd.DataFrame],
                  arm: str | None) -> dict[str, pd.DataFrame]:
    """A trained chunk's tables. With an ``arm`` (a paired run), every table gets its ``arm`` column and the
    networks table the strength variance of each initial network (``init_strength_var``)."""
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
