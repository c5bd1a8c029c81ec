"""Initial weights of a population, one seed per network.

Seeds are per network id (``base_seed + id``), so a network's weights do not depend on the
population size, the chunking or the shard it trains in.
"""

from __future__ import annotations

from typing import Sequence

import torch

from engine.errors import EngineError, require_choice
from engine.population.rewire import REWIRES, pa_rewire

__all__ = ["init_network", "init_population", "LAYER_STREAMS", "network_seed"]

LAYER_STREAMS = ("shared", "independent")


def network_seed(base_seed: int, network_id: int) -> int:
    """The init seed of one network: ``base_seed + network_id``, whatever the population size, chunk or shard.

    Parameters
    ----------
    base_seed : int
        The population's seed (``population.seed``).
    network_id : int
        The network's id in the population (0-based).

    Returns
    -------
    int
        The seed ``init_network`` draws the network's weights with.

    Examples
    --------
    >>> [network_seed(100, i) for i in range(3)]
    [100, 101, 102]
    """
    return int(base_seed) + int(network_id)


def init_network(sizes: Sequence[int], seed: int, *, low: float = -0.9, high: float = 0.9,
                 layer_streams: str = "shared", rewire: str = "none") -> list[torch.Tensor]:
    """Initial weights of one bias-free MLP, uniform in [low, high), drawn from a torch generator seeded with ``seed``.

    ``shared`` imitates the paper's Keras code, which seeded every layer with the same seed: each
    layer's kernel is the first fan_in*fan_out values of one uniform stream, row-major.
    ``independent`` draws the layers one after another from one stream. ``rewire="pa"`` then moves
    each layer's values between its synapses by preferential attachment (``engine.population.rewire``).

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, inputs first: ``[d, *hidden, n_classes]`` (the paper: 784, 200, 100, 10).
    seed : int
        The network's seed (``network_seed``).
    low, high : float, default -0.9, 0.9
        The uniform range of the weights; ``high > low``.
    layer_streams : {"shared", "independent"}, default "shared"
        Every layer from the start of the stream (the paper), or the layers in turn from one stream.
    rewire : {"none", "pa"}, default "none"
        ``"pa"``: preferential-attachment rewiring of each layer's values (same values, other synapses).

    Returns
    -------
    list of torch.Tensor
        Layer l as a (sizes[l], sizes[l+1]) float32 CPU tensor, (fan_in, fan_out).

    Raises
    ------
    EngineError
        An unknown ``layer_streams`` or ``rewire``, or ``high <= low``.

    References
    ----------
    .. [1] L. Scabini, O. M. Bruno, Physica A 615 (2023) 128585 (arXiv:2107.14062), the paper reproduced.
    .. [2] L. Scabini, B. De Baets, O. M. Bruno, "Improving deep neural network random initialization
       through neuronal rewiring", Neurocomputing 599 (2024) (arXiv:2207.08148), for ``rewire="pa"``.

    Examples
    --------
    >>> w = init_network([3, 2, 1], seed=0)
    >>> [tuple(x.shape) for x in w], w[0].dtype
    ([(3, 2), (2, 1)], torch.float32)
    >>> bool(w[1][0, 0] == w[0][0, 0])                 # shared: every layer starts the same stream
    True
    >>> bool(w[0].abs().max() < 0.9)
    True
    >>> rewired = init_network([3, 2, 1], seed=0, rewire="pa")   # the same values per layer, moved
    >>> bool((rewired[0].flatten().sort().values == w[0].flatten().sort().values).all())
    True
    """
    require_choice("init.rewire", rewire, REWIRES)
    require_choice("init.layer_streams", layer_streams, LAYER_STREAMS)
    if not high > low:
        raise EngineError(f"init range ({low}, {high}) is empty: init.high must exceed init.low")
    gen = torch.Generator().manual_seed(seed)
    weights = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        if layer_streams == "shared":
            gen.manual_seed(seed)
        u = torch.rand(fan_in * fan_out, generator=gen, dtype=torch.float32)
        weights.append((low + (high - low) * u).reshape(fan_in, fan_out))
    if rewire == "pa":
        weights = [w[0] for w in pa_rewire([w[None] for w in weights], [seed])]
    return weights


def init_population(sizes: Sequence[int], seeds: Sequence[int], *, rewire: str = "none",
                    device: torch.device | str = "cpu", **kwargs) -> list[torch.Tensor]:
    """Initial weights of N networks stacked, network k drawn as ``init_network(sizes, seeds[k])``.

    With ``rewire="pa"`` the rewiring runs on ``device``, all networks at once, with the same result as
    ``init_network``'s one network at a time.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, inputs first.
    seeds : sequence of int
        N seeds, one per network (``network_seed``).
    rewire : {"none", "pa"}, default "none"
        As in ``init_network``.
    device : torch.device or str, default "cpu"
        Where the stack is placed (and rewired).
    **kwargs
        ``low``, ``high``, ``layer_streams`` of ``init_network``.

    Returns
    -------
    list of torch.Tensor
        Layer l as an (N, sizes[l], sizes[l+1]) float32 tensor on ``device``.

    Raises
    ------
    EngineError
        What ``init_network`` refuses, or an unknown ``rewire``.

    References
    ----------
    .. [1] L. Scabini, B. De Baets, O. M. Bruno, Neurocomputing 599 (2024) (arXiv:2207.08148), for ``rewire="pa"``.

    Examples
    --------
    >>> stack = init_population([4, 3, 2], seeds=[0, 1, 2])
    >>> [tuple(w.shape) for w in stack]
    [(3, 4, 3), (3, 3, 2)]
    >>> bool((stack[0][1] == init_network([4, 3, 2], 1)[0]).all())
    True
    """
    per_net = [init_network(sizes, s, **kwargs) for s in seeds]
    weights = [torch.stack([w[layer] for w in per_net]).to(device) for layer in range(len(sizes) - 1)]
    if rewire not in REWIRES:
        raise EngineError(f"init.rewire={rewire!r} is unknown: use one of {REWIRES}")
    return pa_rewire(weights, list(seeds)) if rewire == "pa" else weights
