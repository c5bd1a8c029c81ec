"""Independent one-network training: the oracle that population training must equal.

Deliberately different code: torch.nn.Linear layers, autograd and torch.optim.SGD, one network,
and the losses written as their definitions (Keras 2.2.4's formula, torch's cross_entropy), with
autograd deriving the gradient that the population kernel derives by hand.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.data.dataset import Dataset
from engine.population.init import init_network
from engine.population.train import METRICS, TrainSettings, batch_order, class_metrics, silenced_columns

__all__ = ["as_arrays", "train_one"]

_ACT = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "linear": nn.Identity}


def _keras_categorical_crossentropy(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample loss of Keras 2.2.4 (TensorFlow backend) on a softmax output, and which samples the
    clip silences: output /= sum(output); output = clip(output, eps, 1 - eps); -sum(onehot * log(output))."""
    eps = torch.tensor(1e-7, dtype=torch.float32)
    out = F.softmax(logits, dim=1)
    out = out / out.sum(1, keepdim=True)
    p_true = out.gather(1, y[:, None])[:, 0]
    silenced = (p_true < eps) | (p_true > 1 - eps)
    return -torch.log(torch.clamp(p_true, eps, 1 - eps)), silenced.detach()


def _loss(logits: torch.Tensor, y: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample loss and silenced mask of ``name``."""
    if name == "keras":
        return _keras_categorical_crossentropy(logits, y)
    return F.cross_entropy(logits, y, reduction="none"), torch.zeros(len(y), dtype=torch.bool)


def train_one(data: Dataset, settings: TrainSettings, seed: int) -> tuple[list[torch.Tensor], dict[str, list[float]]]:
    """Train one network alone (torch.nn.Linear, autograd, torch.optim.SGD): the oracle ``train_population`` must equal.

    Same init (``init_network``), the same sample order (``batch_order``) and the losses written as their
    definitions; the tests compare its curves and final weights with the population's.

    Parameters
    ----------
    data : Dataset
        The benchmark.
    settings : TrainSettings
        Model and training settings (as for ``train_population``).
    seed : int
        The network's init seed (``network_seed(base_seed, id)``).

    Returns
    -------
    weights : list of torch.Tensor
        The final weights, layer l as (fan_in, fan_out) float32.
    history : dict of str to list of float
        Per-epoch values (epochs + 1, index 0 at init) of ``METRICS`` and ``class_metrics(C)`` (accuracies
        as fractions), and ``train_silenced_e1_c{k}`` (one value each: the share of class k's training
        samples the loss silenced over epoch 1).

    Examples
    --------
    >>> from engine.data.dataset import make_dataset
    >>> from engine.population.train import ModelConfig, TrainConfig, TrainSettings
    >>> g = torch.Generator().manual_seed(0)
    >>> data = make_dataset("toy", torch.rand(8, 4, generator=g), torch.arange(8) % 2,
    ...                     torch.rand(4, 4, generator=g), torch.arange(4) % 2, n_classes=2)
    >>> settings = TrainSettings(ModelConfig(hidden=[3]), TrainConfig(epochs=1, batch_size=4, lr=0.05))
    >>> weights, history = train_one(data, settings, seed=0)
    >>> [tuple(w.shape) for w in weights], len(history["test_acc"]), float(history["train_silenced_e1_c0"][0])
    ([(4, 3), (3, 2)], 2, 0.0)
    """
    model, train = settings.model, settings.train
    sizes = [data.input_dim, *model.hidden, data.n_classes]
    init = init_network(sizes, seed, low=model.init.low, high=model.init.high, layer_streams=model.init.layer_streams,
                        rewire=model.init.rewire)
    layers: list[nn.Module] = []
    for i, w in enumerate(init):
        lin = nn.Linear(w.shape[0], w.shape[1], bias=False)
        with torch.no_grad():
            lin.weight.copy_(w.t())
        layers.append(lin)
        if i < len(init) - 1:
            layers.append(_ACT[model.activation]())
    model = nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=train.lr)
    hist: dict[str, list[float]] = {m: [] for m in (*METRICS, *class_metrics(data.n_classes))}
    n_classes = data.n_classes

    def evaluate(x, y):
        with torch.no_grad():
            out = model(x)
            loss, silenced = _loss(out, y, train.loss)
            return loss.mean().item(), (out.argmax(1) == y).double().mean().item(), silenced.double().mean().item()

    def per_class(x, y):
        """The lost-class metrics by their definitions, one class at a time."""
        with torch.no_grad():
            pred = model(x).argmax(1).numpy()
        y = y.numpy()
        lost = [c for c in range(n_classes) if (y == c).any() and not (pred == c).any()]
        kept = ~np.isin(y, lost)
        out = {"test_lost": len(lost), "test_lost_classes": sum(1 << c for c in lost),
               "test_acc_predicted": float((pred[kept] == y[kept]).mean()) if kept.any() else float("nan")}
        for c in range(n_classes):
            out[f"test_acc_c{c}"] = float((pred[y == c] == c).mean()) if (y == c).any() else float("nan")
        return out

    silenced_first = np.zeros(n_classes)
    for epoch in range(train.epochs + 1):
        if epoch == 0:
            tr = evaluate(data.X_train, data.y_train)
        else:
            order = batch_order(data.X_train.shape[0], epoch, settings)
            loss_sum, correct, silenced = 0.0, 0, 0
            for start in range(0, len(order), train.batch_size):
                idx = order[start:start + train.batch_size]
                out = model(data.X_train[idx])
                per_sample, mask = _loss(out, data.y_train[idx], train.loss)
                loss = per_sample.mean()
                loss_sum += loss.item() * len(idx)
                correct += int((out.argmax(1) == data.y_train[idx]).sum())
                silenced += int(mask.sum())
                if epoch == 1:
                    for c in data.y_train[idx][mask].tolist():
                        silenced_first[c] += 1
                opt.zero_grad()
                loss.backward()
                opt.step()
            tr = (loss_sum / len(order), correct / len(order), silenced / len(order))
        te = evaluate(data.X_test, data.y_test)
        for k, v in zip(("train_loss", "train_acc", "train_silenced", "test_loss", "test_acc"), (*tr, *te[:2])):
            hist[k].append(v)
        for k, v in per_class(data.X_test, data.y_test).items():
            hist[k].append(v)
    sizes = np.array([(data.y_train == c).sum().item() for c in range(n_classes)])
    for name, share, size in zip(silenced_columns(n_classes), silenced_first / np.maximum(sizes, 1), sizes):
        hist[name] = [share if size and train.epochs >= 1 else float("nan")]
    weights = [m.weight.detach().t().contiguous() for m in model if isinstance(m, nn.Linear)]
    return weights, hist


def as_arrays(hist: dict[str, list[float]]) -> dict[str, np.ndarray]:
    """A ``train_one`` history as NumPy arrays, to compare with ``PopulationResult.curves`` rows.

    Parameters
    ----------
    hist : dict of str to list of float
        The history ``train_one`` returns.

    Returns
    -------
    dict of str to numpy.ndarray
        The same keys, each list as a 1-D array.

    Examples
    --------
    >>> as_arrays({"test_acc": [0.5, 0.75]})
    {'test_acc': array([0.5 , 0.75])}
    """
    return {k: np.asarray(v) for k, v in hist.items()}
