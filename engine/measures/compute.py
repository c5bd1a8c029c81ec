"""compute_measures: the eight measures for every hidden neuron of every network, batched."""

from __future__ import annotations

import logging
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from engine.errors import EngineError
from engine.measures.layered_graph import LayeredGraph, compute_blocks
from engine.measures.registry import MEASURES, REGISTRY, check_measure_names, options_for
from engine.measures.workers import pool_failed, process_pool, worker_count
from engine.progress import progress_bar
from engine.weight_stack import layer_sizes, orient_weights

__all__ = ["auto_chunk_size", "compute_measures", "POOL_MIN_NETWORKS", "resolve_measures"]

log = logging.getLogger("engine.measures")

_CPU_CHUNK_BYTES = 1 << 30  # working memory per chunk on CPU
POOL_MIN_NETWORKS = 16     # fewer networks: worker processes cost more than they save


def resolve_measures(measures: Sequence[str] | str | None) -> list[str]:
    """The measure names to compute, checked: all of ``MEASURES`` for None.

    Parameters
    ----------
    measures : sequence of str, str or None
        One name or several, from ``MEASURES``; None for all eight.

    Returns
    -------
    list of str
        The names, in the order given (``MEASURES``' order for None).

    Raises
    ------
    EngineError
        If a name is unknown or repeated, or none is given (``registry.check_measure_names``).

    Examples
    --------
    >>> resolve_measures("strength")
    ['strength']
    >>> len(resolve_measures(None))
    8
    >>> resolve_measures(["strenght"])
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: measures=['strenght']: unknown strenght; choose from strength, ...
    """
    if measures is None:
        return list(MEASURES)
    names = [measures] if isinstance(measures, str) else list(measures)
    try:
        return check_measure_names(names)
    except ValueError as e:
        raise EngineError(f"measures={names!r}: {e}") from None


def _bytes_per_network(sizes: list[int], itemsize: int) -> int:
    """Rough peak working memory of one network (blocks, Schur matrix, biadjacency SVD, clustering)."""
    synapses = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    m = sum(sizes[1:])
    even, odd = sum(sizes[0::2]), sum(sizes[1::2])
    widest = max(sizes[1:-1])
    return itemsize * (12 * synapses + 6 * m * m + sizes[0] * m + 4 * even * odd + 4 * widest * max(sizes))


def auto_chunk_size(sizes: list[int], dtype: torch.dtype, device: torch.device) -> int:
    """How many networks of this shape one chunk of the measures computes at a time.

    A rough peak working memory per network (blocks, the Schur matrix of current-flow closeness, the
    biadjacency SVD, clustering) against a budget: 1 GiB on CPU, a quarter of the free memory on CUDA.

    Parameters
    ----------
    sizes : list of int
        Neurons per layer, inputs first ``[n_0, ..., n_L]``.
    dtype : torch.dtype
        The compute dtype (float32 or float64).
    device : torch.device
        Where the measures run; a CUDA device is asked for its free memory.

    Returns
    -------
    int
        Networks per chunk, at least 1.

    Examples
    --------
    >>> import torch
    >>> auto_chunk_size([784, 200, 100, 10], torch.float64, torch.device("cpu"))  # the paper's networks
    31
    >>> auto_chunk_size([784, 200, 100, 10], torch.float32, torch.device("cpu"))
    62
    """
    budget = _CPU_CHUNK_BYTES
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        budget = free // 4
    return max(1, int(budget // _bytes_per_network(sizes, torch.finfo(dtype).bits // 8)))


def compute_measures(weights: Sequence[torch.Tensor], measures: Sequence[str] | None = None, *,
                     orientation: str | None = None, dtype: torch.dtype = torch.float64, log_subgraph: bool = False,
                     chunk_size: int | None = None, progress: bool = False) -> torch.Tensor:
    """The measures of every hidden neuron of N networks, batched on the weights' device.

    Parameters
    ----------
    weights : sequence of torch.Tensor or array-like
        The weight stack: L >= 2 blocks, block l of shape (N, n_l, n_{l+1}), or (n_l, n_{l+1}) for
        one network; rows are the layer's inputs (see ``orientation``), all on one device.
    measures : sequence of str, str or None
        Names from ``MEASURES`` (default: all eight, in that order).
    orientation : {"in_out", "out_in"} or None
        "in_out": rows are inputs; "out_in": rows are outputs (PyTorch's ``nn.Linear.weight``,
        transposed here); None: in_out where only that reading of the shapes chains, refused where
        they also chain as out_in (square layers: say which). A model: ``engine.measure_network``.
    dtype : torch.dtype
        torch.float64 (default) or torch.float32: the precision of the computation and the result.
    log_subgraph : bool
        subgraph_centrality as its natural log (the values reach 1e89).
    chunk_size : int or None
        Networks processed at a time (None: from the free memory). On CPU, spans of networks go to
        one worker process per core (``engine.measures.workers``: SciPy's Dijkstra holds the GIL,
        and LAPACK runs single-threaded, see ``engine.measures.threads``).
    progress : bool
        Show a progress bar over the networks (off by default).

    Returns
    -------
    torch.Tensor
        (N, H, M) in ``dtype`` on the weights' device: H hidden neurons, layer 1 first, M measures
        in the order of ``measures``. NaN where a measure is undefined (one warning per measure
        saying for how many networks and why), and for every measure of a network with non-finite
        weights (one warning).

    Raises
    ------
    EngineError
        If the weights are not a weight stack (``engine.weight_stack.check_weight_stack``), a
        measure is unknown or named twice, ``dtype`` is not supported or ``chunk_size`` < 1.

    References
    ----------
    .. [1] L. Scabini, O. M. Bruno, "Structure and performance of fully connected neural networks:
       emerging complex network properties", Physica A 615 (2023) 128585 (arXiv:2107.14062).
       Each measure's own module cites its definition.

    Examples
    --------
    >>> w1 = torch.tensor([[1.0, -0.5], [2.0, 0.0]]); w2 = torch.tensor([[1.0], [3.0]])
    >>> compute_measures([w1, w2], ["strength", "max_cliques"])
    tensor([[[4.0000, 3.0000],
             [2.5000, 1.0000]]], dtype=torch.float64)
    """
    names = resolve_measures(measures)
    options = options_for(names, {"log_subgraph": log_subgraph})
    blocks, nonfinite = compute_blocks(orient_weights(weights, orientation), dtype)
    n = blocks[0].shape[0]
    sizes = layer_sizes(blocks)
    device = blocks[0].device
    if chunk_size is None:
        chunk_size = auto_chunk_size(sizes, dtype, device)
    elif int(chunk_size) < 1:
        raise EngineError(f"chunk_size={chunk_size} must be a positive number of networks (or None)")
    chunk_size = int(chunk_size)

    out = torch.empty(n, sum(sizes[1:-1]), len(names), dtype=dtype, device=device)
    undefined = {name: torch.zeros(n, dtype=torch.bool, device=device) for name in names}
    reasons: dict[str, str] = {}
    spans = [(s, min(n, s + chunk_size)) for s in range(0, n, chunk_size)]
    pool = process_pool() if device.type == "cpu" and n >= POOL_MIN_NETWORKS else None
    if pool is not None:  # smaller spans, so that every worker gets several
        task = max(1, min(chunk_size, -(-n // (4 * worker_count()))))
        spans = [(s, min(n, s + task)) for s in range(0, n, task)]
    results = _span_results(blocks, spans, names, options, pool if len(spans) > 1 else None)
    with progress_bar(n, progress, "measures", "net") as bar:
        for (start, stop), (values, span_undefined, span_reasons) in zip(spans, results):
            out[start:stop] = values
            for name, mask in span_undefined.items():
                undefined[name][start:stop] |= mask
            reasons.update(span_reasons)
            bar.update(stop - start)
    if nonfinite.any():
        out[nonfinite] = float("nan")
        log.warning("%d of %d networks have non-finite weights (diverged training?): all their measures "
                    "are NaN", int(nonfinite.sum()), n)
    for name in names:
        bad = undefined[name] & ~nonfinite
        if bad.any():
            log.warning("%s is undefined (NaN) for %d of %d networks: %s", name, int(bad.sum()), n, reasons[name])
    return out


def _span_results(blocks: list[torch.Tensor], spans: list[tuple[int, int]], names: list[str],
                  options: dict[str, dict[str, Any]], pool) -> Iterator[tuple]:
    """``_measure_span`` of every span, in order, as each is done: from the worker pool (its map yields
    in order as results arrive) or, without a pool or once it breaks (a killed worker, no semaphores:
    one warning), computed here from the first span the pool did not deliver."""
    done = 0
    if pool is not None:
        try:
            for values, undefined, reasons in pool.map(
                    _measure_span_in_worker, [[b[s:e].numpy() for b in blocks] for s, e in spans],
                    [names] * len(spans), [options] * len(spans)):
                yield torch.from_numpy(values), {k: torch.from_numpy(m) for k, m in undefined.items()}, reasons
                done += 1
        except Exception as e:  # noqa: BLE001 - a broken pool: compute the rest here
            pool_failed(e)
    for s, e in spans[done:]:
        yield _measure_span([b[s:e] for b in blocks], names, options)


def _measure_span_in_worker(blocks: list[np.ndarray], names: list[str], options: dict[str, dict[str, Any]]
                            ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, str]]:
    """``_measure_span`` in a worker process, with NumPy arrays across the process boundary: pickling
    torch tensors runs OpenMP in the pool's feeder and manager threads, whose thread teams then outlive
    the call and oversubscribe the cores (training after the measures ran 45% slower on 2 cores)."""
    values, undefined, reasons = _measure_span([torch.from_numpy(b) for b in blocks], names, options)
    return values.numpy(), {k: m.numpy() for k, m in undefined.items()}, reasons


def _measure_span(blocks: list[torch.Tensor], names: list[str], options: dict[str, dict[str, Any]]
                  ) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, str]]:
    """(n, H, M) values of one span of networks, their undefined masks and reasons (run in this
    process or in a worker process: it reads nothing but its arguments). ``options``: per measure,
    the options it accepts (``registry.options_for``)."""
    graph = LayeredGraph(blocks)
    values = torch.empty(blocks[0].shape[0], graph.n_hidden, len(names), dtype=blocks[0].dtype,
                         device=blocks[0].device)
    undefined: dict[str, torch.Tensor] = {}
    reasons: dict[str, str] = {}
    for k, name in enumerate(names):
        result = REGISTRY[name](graph, **options[name])
        values[:, :, k] = result.values
        if result.undefined is not None and result.undefined.any():
            undefined[name] = result.undefined
            reasons[name] = result.reason
    return values, undefined, reasons
