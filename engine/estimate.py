"""Sizing and the time estimate of a run, before any work: networks per chunk from a memory budget, and
the training's work (FLOPs) at the step rate this code reaches now on this device."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from engine.config import EngineConfig

__all__ = ["auto_chunk_size", "duration", "log_estimate"]

log = logging.getLogger("engine")


def auto_chunk_size(sizes: Sequence[int], batch: int, device: torch.device) -> int:
    """Networks per chunk: as many as fit a memory budget (CPU 4 GiB, GPU half its free memory).

    Parameters
    ----------
    sizes : sequence of int
        Layer sizes of one network, input first.
    batch : int
        Samples per SGD step.
    device : torch.device
        Where the chunk trains.

    Returns
    -------
    int
        At least 1.

    Examples
    --------
    >>> import torch
    >>> auto_chunk_size([64, 200, 100, 10], 100, torch.device("cpu"))
    3096
    """
    n_weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    widest = max(sizes[1:])
    per_net = 4 * (4 * n_weights + 6 * batch * sum(sizes[1:])) + 8 * widest * 64
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        budget = free // 2
    else:
        budget = 4 << 30
    return max(1, int(budget // per_net))


def duration(seconds: float) -> str:
    """A duration in words a person reads at a glance.

    Parameters
    ----------
    seconds : float
        The duration, in seconds (>= 0).

    Returns
    -------
    str
        One decimal and the largest unit it holds twice (s, min, h, days, years).

    Examples
    --------
    >>> duration(42), duration(600), duration(3 * 86400)
    ('42.0 s', '10.0 min', '3.0 days')
    """
    for unit, size in (("years", 365 * 86400), ("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} s"


def log_estimate(cfg: EngineConfig, n_train: int, n_test: int, sizes: list[int], networks: int, chunk: int,
                 chunks: int, device: torch.device) -> None:
    """Log, before any training, the run's work and its time at the rate this code reaches now on this device.

    The work is the training's FLOPs (from the layer sizes, epochs and samples); the rate is measured by
    training a few networks of these sizes for about 0.3 s (``engine.population.throughput``). Measures
    are timed after the first chunk: the log gives every chunk's time and what is left.

    Parameters
    ----------
    cfg : EngineConfig
        A validated configuration (``train.epochs``, ``train.batch_size``, ``train.lr``, ``train.loss``,
        ``model.activation``).
    n_train, n_test : int
        Training and test samples of the dataset.
    sizes : list of int
        Layer sizes of one network, input first.
    networks : int
        Networks the run trains.
    chunk : int
        Networks per chunk (at most 16 on CPU, 256 on GPU of them are trained to measure the rate).
    chunks : int
        Chunks of the run.
    device : torch.device
        Where the run trains.

    Examples
    --------
    >>> import io, logging, torch
    >>> from engine.config import validate
    >>> cfg = validate({"train": {"epochs": 2, "batch_size": 10}})
    >>> logger, stream = logging.getLogger("engine"), io.StringIO()
    >>> handler, level = logging.StreamHandler(stream), logger.level
    >>> logger.addHandler(handler); logger.setLevel(logging.INFO)
    >>> try:
    ...     log_estimate(cfg, 100, 20, [8, 5, 3], 10, 5, 2, torch.device("cpu"))
    ... finally:
    ...     logger.removeHandler(handler); logger.setLevel(level)
    >>> print(stream.getvalue())
    plan: 10 network(s) in 2 chunk(s) of up to 5; training ... GFLOP per network (2 epoch(s) of 100 samples),
    ... TFLOP in all: about ... at the ... GFLOP/s this code reached just now on this device (measures come on
    top: each chunk's time is logged when it is done)
    """
    from engine.population.throughput import probe_population, step_rate
    from engine.population.train import flops_per_step, train_flops

    per_net = train_flops(sizes, n_train, n_test, cfg.train.epochs)
    probe = min(chunk, 256 if device.type == "cuda" else 16)   # CPU: about one cache block of paper-size networks
    net, x, y = probe_population(sizes, probe, cfg.train.batch_size, device, cfg.model.activation, cfg.train.loss)
    rate = step_rate(net, x, y, cfg.train.lr) * flops_per_step(sizes, cfg.train.batch_size)
    log.info("plan: %d network(s) in %d chunk(s) of up to %d; training %.3g GFLOP per network (%d epoch(s) of "
             "%d samples), %.3g TFLOP in all: about %s at the %.1f GFLOP/s this code reached just now on this "
             "device (measures come on top: each chunk's time is logged when it is done)",
             networks, chunks, chunk, per_net / 1e9, cfg.train.epochs, n_train, per_net * networks / 1e12,
             duration(per_net * networks / rate), rate / 1e9)
