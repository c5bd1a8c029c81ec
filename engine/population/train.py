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
    """The ``model.init`` group: how the initial weights are drawn (``init_network``); the paper's by default.

    Parameters
    ----------
    low, high : float, default -0.9, 0.9
        The uniform range of the weights, U(low, high); ``high > low``.
    layer_streams : {"shared", "independent"}, default "shared"
        Every layer seeded alike (the paper's Keras code), or one stream on through the layers.
    rewire : {"none", "pa"}, default "none"
        ``"pa"``: preferential-attachment rewiring of each layer's values (Scabini, De Baets & Bruno
        2024), which lowers the variance of neuronal strength.

    Raises
    ------
    EngineError
        From ``engine.schema.check`` (``train_population`` runs it): a value outside its rule, ``high <= low``.

    Examples
    --------
    >>> from engine.schema import check
    >>> check(InitConfig(low=0.5, high=0.1), "model.init")
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: model.init.high=0.1: must exceed model.init.low=0.5
    """

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
    """The ``model`` group: the paper's MLP by default (hidden 200, 100; ReLU; softmax output; no biases).

    Parameters
    ----------
    hidden : list of int, default [200, 100]
        Hidden layer widths, any depth, each >= 1 (inputs and outputs come from the data set).
    activation : {"relu", "tanh", "sigmoid", "linear"}, default "relu"
        The hidden layers' activation.
    init : InitConfig
        How the initial weights are drawn.

    Raises
    ------
    EngineError
        From ``engine.schema.check``: an empty ``hidden``, a width below 1, an unknown activation.

    References
    ----------
    .. [1] L. Scabini, O. M. Bruno, Physica A 615 (2023) 128585 (arXiv:2107.14062), the architecture reproduced.

    Examples
    --------
    >>> ModelConfig().hidden, ModelConfig(hidden=[9, 7], activation="tanh").init.low
    ([200, 100], -0.9)
    """

    hidden: list[int] = setting([200, 100], ListOf(Interval(int, 1), min_len=1))   # hidden layer sizes, any depth
    activation: str = setting("relu", Options(ACTIVATIONS))
    init: InitConfig = group(InitConfig)


@dataclass
class TrainConfig:
    """The ``train`` group: the paper's training by default (plain SGD, one sample order shared by all networks).

    Parameters
    ----------
    epochs : int, default 30
        Training epochs, >= 0 (0: the networks at init only).
    batch_size : int, default 100
        Samples per SGD step, >= 1 (the last step of an epoch takes the rest).
    lr : float, default 0.01
        The SGD learning rate, > 0.
    loss : {"keras", "cross_entropy"}, default "keras"
        Keras 2.2.4's clipped categorical cross-entropy (the paper's) or torch's (see ``per_sample_loss``).
    shuffle : bool, default True
        A new sample order every epoch (``batch_order``); False: the data set's order.
    data_seed : int, default 0
        Seed of the sample orders, >= 0.

    Raises
    ------
    EngineError
        From ``engine.schema.check``: a value outside its rule (e.g. ``lr <= 0``).

    Examples
    --------
    >>> TrainConfig(epochs=3, lr=0.05).batch_size
    100
    >>> from engine.schema import check
    >>> check(TrainConfig(lr=0.0), "train")
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: train.lr=0.0: must be a finite number > 0 (default: 0.01)
    """

    epochs: int = setting(30, Interval(int, 0))
    batch_size: int = setting(100, Interval(int, 1))
    lr: float = setting(0.01, Interval(float, 0, closed="neither"))
    # keras: Keras 2.2.4's clipped cross-entropy, as the paper | cross_entropy: torch's
    loss: str = setting("keras", Options(LOSSES))
    shuffle: bool = setting(True, bool)
    data_seed: int = setting(0, Interval(int, 0))  # the sample order of every epoch


@dataclass(frozen=True)
class TrainSettings:
    """What a population trains with: the ``model`` and ``train`` groups of the schema (the paper's values by default).

    Parameters
    ----------
    model : ModelConfig, optional
        The architecture and init.
    train : TrainConfig, optional
        The optimisation.

    Examples
    --------
    >>> s = TrainSettings(ModelConfig(hidden=[9, 7]), TrainConfig(epochs=3, lr=0.05))
    >>> s.model.hidden, s.train.epochs, TrainSettings().train.lr
    ([9, 7], 3, 0.01)
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class PopulationResult:
    """Per-network outcomes of ``train_population``, rows in the order of ``network_ids``.

    Parameters
    ----------
    network_ids : list of int
        The N networks' ids.
    seeds : list of int
        Their init seeds (``network_seed(base_seed, id)``).
    curves : dict of str to numpy.ndarray
        Metric -> (N, epochs + 1), column 0 at init: ``METRICS`` (float64; losses in nats, accuracies and
        ``train_silenced`` as fractions), then ``class_metrics(C)`` (see LOST_METRICS; ``test_lost`` and
        ``test_lost_classes`` int64). ``train_silenced``: the share of the epoch's training samples that
        gave no gradient (the Keras clip; 0 for cross_entropy); at epoch 0, the share the initial weights
        would silence.
    diverged : numpy.ndarray
        (N,) bool: a non-finite loss or weight, or weights grown past EXPLODED times their initial scale.
    snapshot_epochs : list of int
        The epochs whose weights were handed to ``on_snapshot``.
    init_strength_var : numpy.ndarray, optional
        (N,) variance of neuronal strength of the initial weights (``rewire.strength_variance``).
    silenced_first_epoch : numpy.ndarray, optional
        (N, C): per class, the share of its training samples that gave no gradient over epoch 1 (NaN
        without a training epoch or a training sample of the class).

    Examples
    --------
    >>> import numpy as np
    >>> result = PopulationResult([0, 1], [0, 1], {"test_acc": np.array([[0.1, 0.8], [0.1, 0.6]])},
    ...                           diverged=np.array([False, False]))
    >>> result.final("test_acc")
    array([0.8, 0.6])
    """

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
    """The epochs at which a population's weights are kept (and measured), from ``population.snapshots``.

    Parameters
    ----------
    spec : str, int, list of int or None
        ``"last"`` -> [epochs]; ``"early"`` -> [0, 1, epochs] (the random init, after one epoch, the end:
        what early prediction needs at the least); ``"all"`` -> 0..epochs; ``"none"`` or None -> [];
        an int or a list of ints -> those epochs.
    epochs : int
        ``train.epochs``.

    Returns
    -------
    list of int
        Sorted, distinct epochs in 0..epochs.

    Raises
    ------
    EngineError
        A spec that is none of these, or epochs outside 0..epochs.

    Examples
    --------
    >>> snapshot_epochs("early", 30), snapshot_epochs([5, 0, 5], 30), snapshot_epochs("last", 0)
    ([0, 1, 30], [0, 5], [0])
    >>> snapshot_epochs([40], 30)
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: population.snapshots has epochs [40] outside 0..train.epochs=30
    """
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

    Parameters
    ----------
    n_classes : int
        C, the data set's number of classes: one ``test_acc_c{k}`` curve each.

    Returns
    -------
    list of str, length ``len(LOST_METRICS)`` + C
        ``LOST_METRICS``, then ``test_acc_c0`` .. ``test_acc_c{C-1}``: keys of ``PopulationResult.curves``.

    Examples
    --------
    >>> class_metrics(3)
    ['test_lost', 'test_lost_classes', 'test_acc_predicted', 'test_acc_c0', 'test_acc_c1', 'test_acc_c2']
    """
    return [*LOST_METRICS, *(f"test_acc_c{k}" for k in range(n_classes))]


def silenced_columns(n_classes: int) -> list[str]:
    """Column names of ``PopulationResult.silenced_first_epoch`` in networks.parquet.

    Parameters
    ----------
    n_classes : int
        C, the data set's number of classes.

    Returns
    -------
    list of str, length C
        ``train_silenced_e1_c{k}`` for k in 0..C-1.

    Examples
    --------
    >>> silenced_columns(2)
    ['train_silenced_e1_c0', 'train_silenced_e1_c1']
    """
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
    """Floating-point operations of one SGD step of one network on ``batch`` samples.

    A forward pass (2BW), weight gradients (2BW) and the input gradients of every layer but the first
    (2B(W - W0); none for the data): 6BW - 2BW0, W the synapses, W0 those of the first layer.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, inputs first.
    batch : int
        B, samples in the step.

    Returns
    -------
    int
        FLOPs (a multiply and an add count 2).

    Examples
    --------
    >>> flops_per_step([784, 200, 100, 10], 100)       # the paper's network, one batch of 100
    75320000
    """
    w = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return batch * (6 * sum(w) - 2 * w[0])


def train_flops(sizes: Sequence[int], n_train: int, n_test: int, epochs: int) -> int:
    """Floating-point operations of training one network for ``epochs`` epochs, evaluations included.

    ``flops_per_step`` over every training sample of every epoch, plus a forward pass (2W per sample) on
    the test set at every epoch (init included) and on the training set at epoch 0.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, inputs first.
    n_train, n_test : int
        Training and test samples.
    epochs : int
        Training epochs.

    Returns
    -------
    int
        FLOPs of one network (multiply N for a population).

    Examples
    --------
    >>> train_flops([784, 200, 100, 10], n_train=60_000, n_test=10_000, epochs=30) / 1e12   # TFLOP
    1.487332
    """
    W = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return epochs * flops_per_step(sizes, n_train) + (epochs + 1) * n_test * 2 * W + n_train * 2 * W


def batch_order(n: int, epoch: int, settings: TrainSettings) -> torch.Tensor:
    """The sample order of one epoch, shared by every network (reproducible from ``train.data_seed``).

    Parameters
    ----------
    n : int
        Training samples.
    epoch : int
        The epoch (1-based in training).
    settings : TrainSettings
        ``train.shuffle`` and ``train.data_seed`` are read.

    Returns
    -------
    torch.Tensor
        (n,) int64, a permutation of 0..n-1 (``arange(n)`` without shuffle), on the CPU.

    Examples
    --------
    >>> s = TrainSettings()
    >>> bool((batch_order(6, 1, s) == batch_order(6, 1, s)).all()), sorted(batch_order(6, 2, s).tolist())
    (True, [0, 1, 2, 3, 4, 5])
    >>> batch_order(4, 1, TrainSettings(train=TrainConfig(shuffle=False)))
    tensor([0, 1, 2, 3])
    """
    if not settings.train.shuffle:
        return torch.arange(n)
    gen = torch.Generator().manual_seed(settings.train.data_seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=gen)


def train_population(data: Dataset, settings: TrainSettings, network_ids: Sequence[int], *, base_seed: int = 0,
                     device: torch.device | str = "cpu", chunk_size: int | None = None, snapshots="last",
                     on_snapshot: SnapshotCallback | None = None, progress: bool = True) -> PopulationResult:
    """Train the networks ``network_ids`` together (init seed ``base_seed + id``) and return their curves.

    All networks share the data and the sample order of every epoch; only their initial weights differ
    (``init_population``). Networks train in chunks of ``chunk_size`` (all at once by default), each
    chunk as one ``PopulationMLP`` on ``device``; ``on_snapshot`` receives the weights at every snapshot
    epoch, on the device, before training goes on. A network is seeded by its id alone, so its result
    does not depend on the chunking or on which other networks train beside it.

    Parameters
    ----------
    data : Dataset
        The benchmark (moved to ``device`` here).
    settings : TrainSettings
        Architecture, init and training; checked by the schema's rules before any work.
    network_ids : sequence of int
        The ids of the N networks to train (at least one).
    base_seed : int, default 0
        Network k's init seed is ``base_seed + network_ids[k]``.
    device : torch.device or str, default "cpu"
        Where the networks train (``"cuda"`` for a GPU).
    chunk_size : int, optional
        Networks trained at once (bounds the memory); default all.
    snapshots : str, int or list of int, default "last"
        Epochs whose weights go to ``on_snapshot`` (see ``snapshot_epochs``).
    on_snapshot : callable, optional
        ``on_snapshot(epoch, network_ids, weights)``, weights[l] of shape (n, fan_in, fan_out) on the
        device, n the networks of the chunk.
    progress : bool, default True
        A progress bar (network-steps) on stderr.

    Returns
    -------
    PopulationResult
        ``curves[m]`` (N, epochs + 1), accuracies as fractions; ``diverged`` (N,) bool; ``seeds``.

    Raises
    ------
    EngineError
        Settings outside the schema's rules, an empty ``network_ids``, a bad ``snapshots`` spec, an
        unusable data set.

    References
    ----------
    .. [1] L. Scabini, O. M. Bruno, Physica A 615 (2023) 128585 (arXiv:2107.14062): 1,000 networks
       784-200-100-10 per benchmark, differing only in the init seed, trained with SGD.

    Examples
    --------
    Three tiny networks, one epoch, on 12 samples; the weights kept at init and after the epoch:

    >>> from engine.data.dataset import make_dataset
    >>> g = torch.Generator().manual_seed(0)
    >>> data = make_dataset("toy", torch.rand(12, 5, generator=g), torch.arange(12) % 3,
    ...                     torch.rand(6, 5, generator=g), torch.arange(6) % 3, n_classes=3)
    >>> settings = TrainSettings(ModelConfig(hidden=[4]), TrainConfig(epochs=1, batch_size=4, lr=0.1))
    >>> kept = {}
    >>> result = train_population(data, settings, [0, 1, 2], snapshots="all", progress=False,
    ...                           on_snapshot=lambda epoch, ids, w: kept.update({epoch: [x.shape for x in w]}))
    >>> result.curves["test_acc"].shape, result.seeds, bool(result.diverged.any())
    ((3, 2), [0, 1, 2], False)
    >>> bool(((result.curves["test_acc"] >= 0) & (result.curves["test_acc"] <= 1)).all())
    True
    >>> kept[1]
    [torch.Size([3, 5, 4]), torch.Size([3, 4, 3])]
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
