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
    """The init seed of one network."""
    return int(base_seed) + int(network_id)


def init_network(sizes: Sequence[int], seed: int, *, low: float = -0.9, high: float = 0.9,
                 layer_streams: str = "shared", rewire: str = "none") -> list[torch.Tensor]:
    """Weights of one network as float32 CPU tensors, layer l of shape (sizes[l], sizes[l+1]).

    ``shared`` imitates the paper's Keras code, which seeded every layer with the same seed: each
    layer's kernel is the first fan_in*fan_out values of one uniform stream, row-major.
    ``independent`` draws the layers one after another from one stream. ``rewire="pa"`` then moves
    each layer's values between its synapses by preferential attachment (``engine.population.rewire``).
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
    """Stacked initial weights, layer l of shape (N, sizes[l], sizes[l+1]), float32 on ``device``; with
    ``rewire="pa"`` rewired there, all networks at once (the same weights as ``init_network``'s)."""
    per_net = [init_network(sizes, s, **kwargs) for s in seeds]
    weights = [torch.stack([w[layer] for w in per_net]).to(device) for layer in range(len(sizes) - 1)]
    if rewire not in REWIRES:
        raise EngineError(f"init.rewire={rewire!r} is unknown: use one of {REWIRES}")
    return pa_rewire(weights, list(seeds)) if rewire == "pa" else weights
