"""Training a population: N networks together, one shared data order, per-network init seeds."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from engine.data.dataset import Dataset
from engine.errors import EngineError
from engine.population.init import init_population, network_seed
from engine.population.mlp import LOSSES, PopulationMLP

log = logging.getLogger(__name__)

METRICS = ("train_loss", "train_acc", "test_loss", "test_acc", "train_silenced")

# on_snapshot(epoch, network_ids, weights) with weights[l] of shape (n, fan_in, fan_out) on the device
SnapshotCallback = Callable[[int, Sequence[int], list[torch.Tensor]], None]


@dataclass(frozen=True)
class TrainSettings:
    """What a population trains with (the paper's values by default)."""

    hidden: tuple[int, ...] = (200, 100)
    activation: str = "relu"
    init_low: float = -0.9
    init_high: float = 0.9
    layer_streams: str = "shared"
    epochs: int = 30
    batch_size: int = 100
    lr: float = 0.01
    loss: str = "keras"
    shuffle: bool = True
    data_seed: int = 0


@dataclass
class PopulationResult:
    """Per-network outcomes; curves[m] is (N, epochs+1), column 0 = at init.

    ``train_silenced``: share of the epoch's training samples that gave no gradient (the Keras
    clip; 0 for cross_entropy); at epoch 0, the share the initial weights would silence."""

    network_ids: list[int]
    seeds: list[int]
    curves: dict[str, np.ndarray]
    diverged: np.ndarray
    snapshot_epochs: list[int] = field(default_factory=list)

    def final(self, metric: str) -> np.ndarray:
        return self.curves[metric][:, -1]


def snapshot_epochs(spec, epochs: int) -> list[int]:
    """'last' -> [epochs]; 'early' -> [0, 1, epochs] (the random init, after one epoch, the end: what
    early prediction needs at the least); 'all' -> 0..epochs; 'none' -> []; a list of ints -> itself
    (checked)."""
    if spec is None or spec == "none":
        return []
    if spec == "last":
        return [epochs]
    if spec == "early":
        return sorted({0, min(1, epochs), epochs})
    if spec == "all":
        return list(range(epochs + 1))
    if isinstance(spec, int):
        spec = [spec]
    try:
        out = sorted({int(e) for e in spec})
    except (TypeError, ValueError):
        raise EngineError(f"population.snapshots={spec!r}: use last, early, all, none or a list of epochs") from None
    bad = [e for e in out if not 0 <= e <= epochs]
    if bad:
        raise EngineError(f"population.snapshots has epochs {bad} outside 0..train.epochs={epochs}")
    return out


def batch_order(n: int, epoch: int, settings: TrainSettings) -> torch.Tensor:
    """The sample order of one epoch, shared by every network (reproducible from data_seed)."""
    if not settings.shuffle:
        return torch.arange(n)
    gen = torch.Generator().manual_seed(settings.data_seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=gen)


def train_population(data: Dataset, settings: TrainSettings, network_ids: Sequence[int], *, base_seed: int = 0,
                     device: torch.device | str = "cpu", chunk_size: int | None = None, snapshots="last",
                     on_snapshot: SnapshotCallback | None = None, progress: bool = True) -> PopulationResult:
    """Train the networks ``network_ids`` (init seed ``base_seed + id``) and return their curves.

    Networks train in chunks of ``chunk_size`` (all at once by default); ``on_snapshot`` receives the
    weights at every snapshot epoch, on the device, before training goes on.
    """
    _check(settings, data)
    device = torch.device(device)
    ids = [int(i) for i in network_ids]
    if not ids:
        raise EngineError("population is empty: population.size must be at least 1")
    snap = snapshot_epochs(snapshots, settings.epochs)
    chunk = len(ids) if not chunk_size else int(chunk_size)
    sizes = [data.input_dim, *settings.hidden, data.n_classes]
    x_tr, y_tr = data.X_train.to(device), data.y_train.to(device)
    x_te, y_te = data.X_test.to(device), data.y_test.to(device)
    steps_per_epoch = math.ceil(x_tr.shape[0] / settings.batch_size)
    curves = {m: np.full((len(ids), settings.epochs + 1), np.nan) for m in METRICS}
    diverged = np.zeros(len(ids), dtype=bool)
    bar = _progress(len(ids) * settings.epochs * steps_per_epoch, progress)
    for start in range(0, len(ids), chunk):
        part = ids[start:start + chunk]
        rows = slice(start, start + len(part))
        seeds = [network_seed(base_seed, i) for i in part]
        init = init_population(sizes, seeds, low=settings.init_low, high=settings.init_high,
                               layer_streams=settings.layer_streams)
        net = PopulationMLP([w.to(device) for w in init], settings.activation, loss=settings.loss)
        ok = torch.ones(len(part), dtype=torch.bool, device=device)
        for epoch in range(settings.epochs + 1):
            if epoch == 0:
                tr_loss, tr_acc, tr_silenced = net.evaluate(x_tr, y_tr)
            else:
                tr_loss, tr_acc, tr_silenced = _train_epoch(net, x_tr, y_tr, epoch, settings, bar, len(part))
            te_loss, te_acc, _ = net.evaluate(x_te, y_te)
            ok &= net.finite() & torch.isfinite(tr_loss) & torch.isfinite(te_loss)
            for name, value in zip(METRICS, (tr_loss, tr_acc, te_loss, te_acc, tr_silenced)):
                curves[name][rows, epoch] = value.cpu().numpy()
            if epoch in snap and on_snapshot is not None:
                on_snapshot(epoch, part, net.weights())
        diverged[rows] = ~ok.cpu().numpy()
        del net
    if bar is not None:
        bar.close()
    if diverged.any():
        log.warning("%d of %d networks diverged (non-finite loss or weights): flagged in the results",
                    int(diverged.sum()), len(ids))
    return PopulationResult(ids, [network_seed(base_seed, i) for i in ids], curves, diverged, snap)


def _train_epoch(net: PopulationMLP, x, y, epoch: int, settings: TrainSettings, bar, n_nets: int):
    order = batch_order(x.shape[0], epoch, settings).to(x.device)
    loss_sum = torch.zeros(net.n, dtype=torch.float64, device=x.device)
    counts = torch.zeros(2, net.n, dtype=torch.int64, device=x.device)  # correct, silenced
    for start in range(0, x.shape[0], settings.batch_size):
        idx = order[start:start + settings.batch_size]
        loss, correct, silenced = net.sgd_step(x[idx], y[idx], settings.lr)
        loss_sum += loss.double() * idx.numel()
        counts[0] += correct
        counts[1] += silenced
        if bar is not None:
            bar.update(n_nets)
    return loss_sum / x.shape[0], counts[0].double() / x.shape[0], counts[1].double() / x.shape[0]


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="net-step", unit_scale=True, desc="training", smoothing=0.1)


def _check(s: TrainSettings, data: Dataset) -> None:
    if s.epochs < 0:
        raise EngineError(f"train.epochs={s.epochs}: must be >= 0")
    if s.batch_size < 1:
        raise EngineError(f"train.batch_size={s.batch_size}: must be >= 1")
    if not s.lr > 0:
        raise EngineError(f"train.lr={s.lr}: must be > 0")
    if s.loss not in LOSSES:
        raise EngineError(f"train.loss={s.loss!r}: use one of {LOSSES}")
    if not s.hidden or any(h < 1 for h in s.hidden):
        raise EngineError(f"model.hidden={list(s.hidden)}: needs at least one hidden layer, all sizes >= 1")
    if data.X_train.ndim != 2 or data.X_train.shape[0] == 0:
        raise EngineError(f"dataset {data.name}: X_train must be a non-empty (n, d) matrix")
