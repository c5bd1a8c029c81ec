"""The step-rate probe: how many network-steps of SGD per second this code reaches on a device.

One probe for the run's time estimate (``engine.estimate``) and the benchmarks
(``benchmarks/train_population.py``, ``benchmarks/gpu_check.py``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from engine.population.init import init_population
from engine.population.mlp import PopulationMLP

__all__ = ["probe_population", "step_rate"]


def probe_population(sizes: Sequence[int], n_nets: int, batch: int, device: torch.device | str = "cpu",
                     activation: str = "relu", loss: str = "keras", first: int = 0
                     ) -> tuple[PopulationMLP, torch.Tensor, torch.Tensor]:
    """``n_nets`` networks of layer ``sizes`` (init seeds ``first``, ``first + 1``, ...) on ``device`` and one
    random batch of ``batch`` samples for them: what ``step_rate`` times (the rate ignores the values).

    Parameters
    ----------
    sizes : sequence of int
        Layer sizes, input first.
    n_nets, batch : int
        Networks, and samples in the batch.
    device, activation, loss
        As ``PopulationMLP`` takes them.
    first : int
        The first network's init seed.

    Returns
    -------
    (PopulationMLP, torch.Tensor, torch.Tensor)
        The networks, inputs (batch, sizes[0]) in [0, 1) and labels (batch,).

    Examples
    --------
    >>> net, x, y = probe_population([4, 3, 2], n_nets=5, batch=8)
    >>> net.n, tuple(x.shape), tuple(y.shape)
    (5, (8, 4), (8,))
    """
    device = torch.device(device)
    net = PopulationMLP([w.to(device) for w in init_population(sizes, list(range(first, first + n_nets)))],
                        activation, loss=loss)
    x = torch.rand(batch, sizes[0], device=device)
    y = torch.randint(0, sizes[-1], (batch,), device=device)
    return net, x, y


def step_rate(nets: PopulationMLP | Sequence[PopulationMLP], x: torch.Tensor, y: torch.Tensor, lr: float = 0.01, *,
              batch: int | None = None, steps: int | None = None, seconds: float = 0.3, repeats: int = 1) -> float:
    """Network-steps of SGD per second: ``steps`` steps of each of ``nets`` in turn over consecutive batches of
    ``batch`` samples of ``x``, ``y`` (all of them by default), after one warm-up step each; with ``steps``
    None, at least 3 and about ``seconds`` of them. The best of ``repeats`` timings counts.

    Parameters
    ----------
    nets : PopulationMLP or sequence of PopulationMLP
        The networks (a population, or several timed one after another, e.g. one network at a time).
    x, y : torch.Tensor
        Samples (n, sizes[0]) and labels (n,), on the networks' device.
    lr : float
        The learning rate of the steps.
    batch : int, optional
        Samples per step; default all of ``x``.
    steps : int, optional
        Steps per network and timing; default: as many as ``seconds`` takes (at least 3).
    seconds : float
        The probe's length when ``steps`` is None.
    repeats : int
        Timings, the fastest counts.

    Returns
    -------
    float
        Network-steps per second (each step of a population of N networks counts N).

    Examples
    --------
    >>> net, x, y = probe_population([4, 3, 2], n_nets=5, batch=8)
    >>> step_rate(net, x, y, steps=3) > 0
    True
    """
    nets = [nets] if isinstance(nets, PopulationMLP) else list(nets)
    device = x.device
    batch = batch or x.shape[0]
    n_batches = max(1, x.shape[0] // batch)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def step(net: PopulationMLP, s: int) -> None:
        b = (s % n_batches) * batch
        net.sgd_step(x[b:b + batch], y[b:b + batch], lr)

    for net in nets:   # warm-up
        step(net, 0)
    best = 0.0
    for _ in range(repeats):
        sync()
        done, t0 = 0, time.perf_counter()
        while True:
            for net in nets:
                step(net, done)
            done += 1
            if steps is not None and done < steps:
                continue
            sync()
            elapsed = time.perf_counter() - t0
            if steps is not None or (done >= 3 and elapsed >= seconds):
                break
        best = max(best, sum(net.n for net in nets) * done / elapsed)
    return best
