"""Independent one-network training: the oracle that population training must equal.

Deliberately different code: torch.nn.Linear layers, autograd and torch.optim.SGD, one network.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.data.dataset import Dataset
from engine.population.init import init_network
from engine.population.train import TrainSettings, batch_order

_ACT = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "linear": nn.Identity}


def train_one(data: Dataset, settings: TrainSettings, seed: int) -> tuple[list[torch.Tensor], dict[str, list[float]]]:
    """Train one network alone; returns its final weights (fan_in, fan_out) and per-epoch metrics."""
    sizes = [data.input_dim, *settings.hidden, data.n_classes]
    init = init_network(sizes, seed, low=settings.init_low, high=settings.init_high,
                        layer_streams=settings.layer_streams)
    layers: list[nn.Module] = []
    for i, w in enumerate(init):
        lin = nn.Linear(w.shape[0], w.shape[1], bias=False)
        with torch.no_grad():
            lin.weight.copy_(w.t())
        layers.append(lin)
        if i < len(init) - 1:
            layers.append(_ACT[settings.activation]())
    model = nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=settings.lr)
    hist: dict[str, list[float]] = {"train_loss": [], "train_acc": [], "test_loss": [], "test_acc": []}

    def evaluate(x, y):
        with torch.no_grad():
            out = model(x)
            return F.cross_entropy(out, y).item(), (out.argmax(1) == y).double().mean().item()

    for epoch in range(settings.epochs + 1):
        if epoch == 0:
            tr = evaluate(data.X_train, data.y_train)
        else:
            order = batch_order(data.X_train.shape[0], epoch, settings)
            loss_sum, correct = 0.0, 0
            for start in range(0, len(order), settings.batch_size):
                idx = order[start:start + settings.batch_size]
                out = model(data.X_train[idx])
                loss = F.cross_entropy(out, data.y_train[idx])
                loss_sum += loss.item() * len(idx)
                correct += int((out.argmax(1) == data.y_train[idx]).sum())
                opt.zero_grad()
                loss.backward()
                opt.step()
            tr = (loss_sum / len(order), correct / len(order))
        te = evaluate(data.X_test, data.y_test)
        for k, v in zip(hist, (*tr, *te)):
            hist[k].append(v)
    weights = [m.weight.detach().t().contiguous() for m in model if isinstance(m, nn.Linear)]
    return weights, hist


def as_arrays(hist: dict[str, list[float]]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in hist.items()}
