"""Training a population: N networks together, one shared data order, per-network init seeds."""

from __future__ import annotations

import logging
import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from engine.data.dataset import Dataset
from engine.errors import EngineError
from engine.population.init import LAYER_STREAMS, init_population, network_seed
from engine.population.mlp import ACTIVATIONS, LOSSES, PopulationMLP
from engine.population.rewire import REWIRES, strength_variance
from engine.schema import Interval, ListOf, Options, check, fail, group, setting

__all__ = ["batch_order", "class_metrics", "EXPLODED", "flops_per_step", "InitConfig", "lost_class_metrics",
           "LOST_METRICS", "MASK_BITS", "METRICS", "ModelConfig", "PopulationResult", "silenced_columns",
           "snapshot_epochs", "train_flops", "train_population", "TrainConfig", "TrainSettings"]

log = logging.getLogger(__name__)

METRICS = ("train_loss", "train_acc", "test_loss", "test_acc", "train_silenced")

# Per network and epoch, from the test predictions every epoch makes anyway (``class_metrics``):
# test_lost: the test set's classes the network never predicts (no test sample is predicted as them);
# test_lost_classes: which, as a bit mask (bit c set: class c lost; -1 for data of more than MASK_BITS
# classes); test_acc_predicted: accuracy on the test samples of the classes it does predict (NaN if it
# predicts none of the test set's classes); test_acc_c{k}: accuracy on the test samples of class k.
LOST_METRICS = ("test_lost", "test_lost_classes", "test_acc_predicted")
MASK_BITS = 63

# A network is flagged ``diverged`` when, at any epoch, a loss or weight is not finite, or its largest
# |weight| (over all layers) exceeds EXPLODED times the larger of 1 and its largest |weight| at init.
# The weights, not the loss: the Keras loss is capped at -log(1e-7) = 16.1, so an exploded network's
# loss looks like a merely bad one's. Trained networks stay within a few times their init scale (the
# paper's settings: at most 1.4x on digits, Fashion-MNIST and MNIST-1D, with either loss); numerically
# exploded ones (cross_entropy at lr 0.5 to 10) reach 1e3 to 1e24 times it, their measures numerically
# meaningless. The floor of 1 keeps a tiny init (|w| << 1) that grows to ordinary weights from counting.
EXPLODED = 1e3

# on_snapshot(epoch, network_ids, weights) with weights[l] of shape (n, fan_in, fan_out) on the device
SnapshotCallback = Callable[[int, Sequence[int], list[torch.Tensor]], None]


# The schema of the model and train config groups (engine.config composes them with the others): each
# field's default (the paper's values) and rule stand together; engine.schema checks them.

@dataclass
class InitConfig:
    low: float = setting(-0.9, Interval(float))
    high: float = setting(0.9, Interval(float))
    # shared: every layer seeded alike, as the paper's Keras code | independent: one stream on
    layer_streams: str = setting("shared", Options(LAYER_STREAMS))
    # none: the paper's init | pa: each layer's values moved between its synapses by preferential
    # attachment (Scabini, De Baets & Bruno 2024), which lowers the variance of neuronal strength
    rewire: str = setting("none", Options(REWIRES))

    def check_group(self, key: str) -> None:
        if not self.high > self.low:
            raise fail(f"{key}.high", self.high, f"must exceed {key}.low={self.low}")


@dataclass
class ModelConfig:
    """The paper's MLP: hidden 200, 100; ReLU; softmax output; no biases; init U(-0.9, 0.9)."""

    hidden: list[int] = setting([200, 100], ListOf(Interval(int, 1), min_len=1))   # hidden layer sizes, any depth
    activation: str = setting("relu", Options(ACTIVATIONS))
    init: InitConfig = group(InitConfig)


@dataclass
class TrainConfig:
    """The paper's training: plain SGD, one sample order shared by all networks."""

    epochs: int = setting(30, Interval(int, 0))
    batch_size: int = setting(100, Interval(int, 1))
    lr: float = setting(0.01, Interval(float, 0, closed="neither"))
    # keras: Keras 2.2.4's clipped cross-entropy, as the paper | cross_entropy: torch's
    loss: str = setting("keras", Options(LOSSES))
    shuffle: bool = setting(True, bool)
    data_seed: int = setting(0, Interval(int, 0))  # the sample order of every epoch


@dataclass(frozen=True)
class TrainSettings:
    """What a population trains with: the model and train groups of the schema (the paper's values by
    default), e.g. ``TrainSettings(ModelConfig(hidden=[9, 7]), TrainConfig(epochs=3, lr=0.05))``."""

    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class PopulationResult:
    """Per-network outcomes; curves[m] is (N, epochs+1), column 0 = at init: ``METRICS``, then the
    per-class ``class_metrics`` (see LOST_METRICS). ``diverged``: see EXPLODED.

    ``train_silenced``: share of the epoch's training samples that gave no gradient (the Keras
    clip; 0 for cross_entropy); at epoch 0, the share the initial weights would silence.
    ``silenced_first_epoch``: (N, C), per class, the share of its training samples that gave no
    gradient over epoch 1 (NaN without a training epoch or training sample of the class)."""

    network_ids: list[int]
    seeds: list[int]
    curves: dict[str, np.ndarray]
    diverged: np.ndarray
    snapshot_epochs: list[int] = field(default_factory=list)
    # (N,) variance of neuronal strength of the initial weights (engine.population.rewire.strength_variance)
    init_strength_var: np.ndarray | None = None
    silenced_first_epoch: np.ndarray | None = None

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


def class_metrics(n_classes: int) -> list[str]:
    """The per-class curves of a population trained on ``n_classes`` classes (see LOST_METRICS).

    Examples
    --------
    >>> class_metrics(3)
    ['test_lost', 'test_lost_classes', 'test_acc_predicted', 'test_acc_c0', 'test_acc_c1', 'test_acc_c2']
    """
    return [*LOST_METRICS, *(f"test_acc_c{k}" for k in range(n_classes))]


def silenced_columns(n_classes: int) -> list[str]:
    """Column names of ``PopulationResult.silenced_first_epoch`` in networks.parquet: ``train_silenced_e1_c{k}``."""
    return [f"train_silenced_e1_c{k}" for k in range(n_classes)]


def lost_class_metrics(counts: np.ndarray, class_sizes: np.ndarray) -> dict[str, np.ndarray]:
    """The per-class metrics of N networks from their prediction counts on one test set.

    Parameters
    ----------
    counts : (2, N, C) int array
        ``[0, k, c]``: test samples network k predicts as class c; ``[1, k, c]``: samples of class c it
        predicts correctly (``PopulationMLP.evaluate``'s ``class_counts``).
    class_sizes : (C,) int array
        Test samples of each class.

    Returns
    -------
    dict
        ``class_metrics(C)`` -> (N,) arrays: ``test_lost`` (int64), ``test_lost_classes`` (int64 bit
        mask, -1 for more than MASK_BITS classes), ``test_acc_predicted`` and ``test_acc_c{k}`` (float64;
        NaN where there are no samples to count).

    Examples
    --------
    >>> counts = np.array([[[3, 0, 1]], [[2, 0, 1]]])   # one network: predicts class 1 never
    >>> m = lost_class_metrics(counts, np.array([2, 1, 1]))
    >>> int(m["test_lost"][0]), int(m["test_lost_classes"][0]), float(m["test_acc_predicted"][0])
    (1, 2, 1.0)
    >>> [float(m[f"test_acc_c{k}"][0]) for k in range(3)]
    [1.0, 0.0, 1.0]
    """
    predicted, correct = np.asarray(counts[0]), np.asarray(counts[1])
    sizes = np.asarray(class_sizes)
    n_classes = sizes.size
    lost = (predicted == 0) & (sizes > 0)
    out: dict[str, np.ndarray] = {"test_lost": lost.sum(1).astype(np.int64)}
    if n_classes <= MASK_BITS:
        out["test_lost_classes"] = (lost.astype(np.int64) << np.arange(n_classes, dtype=np.int64)).sum(1)
    else:
        out["test_lost_classes"] = np.full(lost.shape[0], -1, dtype=np.int64)
    kept = (sizes * ~lost).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["test_acc_predicted"] = np.where(kept > 0, correct.sum(1) / np.maximum(kept, 1), np.nan)
        for k in range(n_classes):
            out[f"test_acc_c{k}"] = correct[:, k] / sizes[k] if sizes[k] else np.full(lost.shape[0], np.nan)
    return out


def flops_per_step(sizes: Sequence[int], batch: int) -> int:
    """Floating-point operations of one SGD step of one network of layer ``sizes`` on ``batch`` samples:
    a forward pass (2BW), weight gradients (2BW) and input gradients of every layer but the first
    (2B(W - W0); none for the data). W: the synapses, W0: those of the first layer."""
    w = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return batch * (6 * sum(w) - 2 * w[0])


def train_flops(sizes: Sequence[int], n_train: int, n_test: int, epochs: int) -> int:
    """Floating-point operations of training one network of layer ``sizes``: ``flops_per_step`` over every
    training sample of every epoch, and evaluations (a forward pass, 2W per sample) at every epoch on the
    test set and, at epoch 0, on the training set."""
    W = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return epochs * flops_per_step(sizes, n_train) + (epochs + 1) * n_test * 2 * W + n_train * 2 * W


def batch_order(n: int, epoch: int, settings: TrainSettings) -> torch.Tensor:
    """The sample order of one epoch, shared by every network (reproducible from data_seed)."""
    if not settings.train.shuffle:
        return torch.arange(n)
    gen = torch.Generator().manual_seed(settings.train.data_seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=gen)


def train_population(data: Dataset, settings: TrainSettings, network_ids: Sequence[int], *, base_seed: int = 0,
                     device: torch.device | str = "cpu", chunk_size: int | None = None, snapshots="last",
                     on_snapshot: SnapshotCallback | None = None, progress: bool = True) -> PopulationResult:
    """Train the networks ``network_ids`` (init seed ``base_seed + id``) and return their curves.

    Networks train in chunks of ``chunk_size`` (all at once by default); ``on_snapshot`` receives the
    weights at every snapshot epoch, on the device, before training goes on.
    """
    _check(settings, data)
    model, train = settings.model, settings.train
    device = torch.device(device)
    ids = [int(i) for i in network_ids]
    if not ids:
        raise EngineError("population is empty: population.size must be at least 1")
    snap = snapshot_epochs(snapshots, train.epochs)
    chunk = len(ids) if not chunk_size else int(chunk_size)
    sizes = [data.input_dim, *model.hidden, data.n_classes]
    x_tr, y_tr = data.X_train.to(device), data.y_train.to(device)
    x_te, y_te = data.X_test.to(device), data.y_test.to(device)
    steps_per_epoch = math.ceil(x_tr.shape[0] / train.batch_size)
    curves = {m: np.full((len(ids), train.epochs + 1), np.nan) for m in METRICS}
    n_classes = data.n_classes
    for m in class_metrics(n_classes):
        curves[m] = np.zeros((len(ids), train.epochs + 1), dtype=np.int64) if m in LOST_METRICS[:2] \
            else np.full((len(ids), train.epochs + 1), np.nan)
    test_sizes = torch.bincount(data.y_test, minlength=n_classes).numpy()
    train_sizes = torch.bincount(data.y_train, minlength=n_classes).numpy()
    silenced_first = np.full((len(ids), n_classes), np.nan)
    if n_classes > MASK_BITS:
        log.warning("%s has %d classes: test_lost_classes (a %d-bit mask) is -1; test_lost and test_acc_c{k} "
                    "say how many and which", data.name, n_classes, MASK_BITS)
    diverged = np.zeros(len(ids), dtype=bool)
    init_var = np.full(len(ids), np.nan)
    bar = _progress(len(ids) * train.epochs * steps_per_epoch, progress)
    for start in range(0, len(ids), chunk):
        part = ids[start:start + chunk]
        rows = slice(start, start + len(part))
        seeds = [network_seed(base_seed, i) for i in part]
        init = init_population(sizes, seeds, low=model.init.low, high=model.init.high,
                               layer_streams=model.init.layer_streams, rewire=model.init.rewire, device=device)
        init_var[rows] = strength_variance(init).cpu().numpy()
        net = PopulationMLP(init, model.activation, loss=train.loss)
        ok = torch.ones(len(part), dtype=torch.bool, device=device)
        limit = EXPLODED * _largest_weight(net).clamp(min=1.0)
        by_class = torch.zeros(len(part), n_classes, dtype=torch.int64, device=device)
        for epoch in range(train.epochs + 1):
            if epoch == 0:
                tr_loss, tr_acc, tr_silenced = net.evaluate(x_tr, y_tr)
            else:
                tr_loss, tr_acc, tr_silenced = _train_epoch(net, x_tr, y_tr, epoch, settings, bar, len(part),
                                                            by_class if epoch == 1 else None)
            counts = torch.zeros(2, len(part), n_classes, dtype=torch.int64, device=device)
            te_loss, te_acc, _ = net.evaluate(x_te, y_te, class_counts=counts)
            ok &= net.finite() & torch.isfinite(tr_loss) & torch.isfinite(te_loss) & (_largest_weight(net) <= limit)
            for name, value in zip(METRICS, (tr_loss, tr_acc, te_loss, te_acc, tr_silenced)):
                curves[name][rows, epoch] = value.cpu().numpy()
            for name, value in lost_class_metrics(counts.cpu().numpy(), test_sizes).items():
                curves[name][rows, epoch] = value
            if epoch in snap and on_snapshot is not None:
                with _paused(bar):   # the measures' time is not training's: not in the bar's rate or estimate
                    on_snapshot(epoch, part, net.weights())
        if train.epochs >= 1:
            with np.errstate(invalid="ignore", divide="ignore"):
                silenced_first[rows] = np.where(train_sizes > 0, by_class.cpu().numpy() / np.maximum(train_sizes, 1),
                                                np.nan)
        diverged[rows] = ~ok.cpu().numpy()
        del net
    if bar is not None:
        bar.close()
    if diverged.any():
        log.warning("%d of %d networks diverged (a non-finite loss or weight, or weights grown past %gx their "
                    "initial scale): flagged in the results", int(diverged.sum()), len(ids), EXPLODED)
    return PopulationResult(ids, [network_seed(base_seed, i) for i in ids], curves, diverged, snap,
                            init_strength_var=init_var, silenced_first_epoch=silenced_first)


def _largest_weight(net: PopulationMLP) -> torch.Tensor:
    """(N,) the largest |weight| of each network over all layers (NaN where a weight is NaN)."""
    out = None
    for w in (net.w0.view(net.n, -1), *(d.flatten(1) for d in net.deep)):
        lo, hi = torch.aminmax(w, dim=1)
        big = torch.maximum(hi, -lo)
        out = big if out is None else torch.maximum(out, big)
    return out


def _train_epoch(net: PopulationMLP, x, y, epoch: int, settings: TrainSettings, bar, n_nets: int,
                 silenced_by_class: torch.Tensor | None = None):
    order = batch_order(x.shape[0], epoch, settings).to(x.device)
    batch, lr = settings.train.batch_size, settings.train.lr
    loss_sum = torch.zeros(net.n, dtype=torch.float64, device=x.device)
    counts = torch.zeros(2, net.n, dtype=torch.int64, device=x.device)  # correct, silenced
    for start in range(0, x.shape[0], batch):
        idx = order[start:start + batch]
        loss, correct, silenced = net.sgd_step(x[idx], y[idx], lr, silenced_by_class)
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


@contextmanager
def _paused(bar) -> Iterator[None]:
    """The block's time (another stage's work) left out of the bar's elapsed time, rate and estimate."""
    try:
        yield
    finally:
        if bar is not None:
            bar.unpause()   # tqdm: elapsed and the next rate restart from the last update before the block


def _check(s: TrainSettings, data: Dataset) -> None:
    """The settings by the schema's rules (library callers build TrainSettings without a config), and the data."""
    check(s.model, "model")
    check(s.train, "train")
    if data.X_train.ndim != 2 or data.X_train.shape[0] == 0:
        raise EngineError(f"dataset {data.name}: X_train must be a non-empty (n, d) matrix")
