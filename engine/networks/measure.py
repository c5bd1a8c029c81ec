"""``measure_network``: the per-neuron measures of one network a researcher brings, as a table."""

from __future__ import annotations

from typing import Any, Sequence

import pandas as pd
import torch

from engine.errors import EngineError
from engine.networks.layers import Network
from engine.networks.read import read_network

__all__ = ["measure_network", "network_epoch", "network_facts"]


def measure_network(source: Any, measures: Sequence[str] | None = None, *, orientation: str | None = None,
                    layers: Any = None, key: str | None = None, example_input: Any = None, name: str | None = None,
                    dtype: torch.dtype = torch.float64, log_subgraph: bool = False, backend: str = "auto",
                    progress: bool = False) -> pd.DataFrame:
    """The complex-network measures of every hidden neuron of a network: a file, a model or matrices.

    Parameters
    ----------
    source : str, os.PathLike, torch.nn.Module, mapping, sequence or Network
        What ``engine.read_network`` reads: a model file, an ``nn.Module`` (its ``nn.Linear`` layers in
        forward order), a state_dict, or a list of weight matrices in forward order.
    measures : list of str, optional
        A subset of ``engine.MEASURES`` (default: all eight).
    orientation, layers, key, example_input
        As in ``engine.read_network``: how matrices are stored ("in_out" or "out_in"; required for a
        list of matrices whose shapes chain both ways), the weight layers in forward order, which
        dict of a checkpoint, an input batch for the module's forward pass.
    name : str, optional
        The ``dataset`` column (default: the file's stem, or the model's class name).
    dtype : torch.dtype
        Compute precision (default float64, as the paper's networkx values).
    log_subgraph : bool
        Report log(subgraph_centrality) (its values reach 1e89).
    backend : {"auto", "cpu", "gpu"}
        Where to compute (auto: a CUDA GPU where there is one).
    progress : bool
        A progress bar over the networks.

    Returns
    -------
    pandas.DataFrame
        One row per hidden neuron: ``dataset``, ``network`` (0..N-1 for a stack of N), ``epoch`` (-1, or
        a snapshot's epoch), ``layer`` (1 = first hidden layer), ``neuron``, then one float64 column per
        measure. ``df.attrs`` says what was measured: ``layer_names``, ``layer_sizes``,
        ``not_in_graph`` (the parameters that are not synapses), ``order`` (how the layer order was known)
        and ``source_format``.

    Raises
    ------
    EngineError
        One line, for what cannot be read as a chain of fully connected layers (see ``read_network``).

    Examples
    --------
    >>> import torch
    >>> from engine import measure_network
    >>> torch.manual_seed(0) and None
    >>> model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 4),
    ...                             torch.nn.ReLU(), torch.nn.Linear(4, 3))
    >>> table = measure_network(model, ["strength", "max_cliques"])
    >>> table[["layer", "neuron", "strength"]].shape
    (8, 3)
    >>> w1, w2 = model[0].weight.detach().double(), model[2].weight.detach().double()
    >>> bool(torch.allclose(torch.tensor(table["strength"][:4].to_numpy()), w1.sum(1) + w2.sum(0)))
    True
    """
    from engine.backend import resolve_device
    from engine.measures import neuron_table

    network = read_network(source, orientation=orientation, layers=layers, key=key, example_input=example_input)
    if len(network.weights) < 2:
        raise EngineError(f"{name or 'the network'}: a single weight matrix {tuple(network.weights[0].shape)} has no "
                          "hidden layer, so there are no hidden neurons to measure")
    device = resolve_device(backend)
    weights = [w.to(device) for w in network.stacked()]
    table = neuron_table(weights, dataset=name or _default_name(source), epoch=network_epoch(network),
                         measures=measures, orientation="in_out", dtype=dtype, log_subgraph=log_subgraph,
                         progress=progress)
    table.attrs.update(network_facts(network))
    return table


def network_facts(network: Network) -> dict[str, Any]:
    """What was read, as JSON-able values: a measured table's ``attrs``, a population's per-network columns.

    Parameters
    ----------
    network : Network
        What ``read_network`` returned.

    Returns
    -------
    dict
        ``source_format`` (str), ``layer_names`` (list of str), ``layer_sizes`` (list of int), ``order``
        (str), ``not_in_graph`` (str, ``Network.describe_not_in_graph``), ``pruned`` (list of str).

    Examples
    --------
    >>> import torch
    >>> net = read_network(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2)))
    >>> network_facts(net)["layer_sizes"], network_facts(net)["not_in_graph"]
    ([4, 3, 2], '0: bias; 2: bias')
    """
    return {"source_format": network.source_format, "layer_names": list(network.layer_names),
            "layer_sizes": network.layer_sizes, "order": network.order,
            "not_in_graph": network.describe_not_in_graph(), "pruned": list(network.pruned)}


def network_epoch(network: Network) -> int:
    """The epoch of a network's weights: an engine snapshot's recorded epoch, else -1 ("final weights").

    Parameters
    ----------
    network : Network
        What ``read_network`` returned (``metadata["epoch"]`` where it has one).

    Returns
    -------
    int
        The epoch, or -1 where none (or no integer) is recorded.

    Examples
    --------
    >>> import torch
    >>> net = read_network([torch.ones(4, 3), torch.ones(3, 2)])
    >>> network_epoch(net)
    -1
    >>> net.metadata["epoch"] = "7"
    >>> network_epoch(net)
    7
    """
    try:
        return int(network.metadata.get("epoch", -1))
    except (TypeError, ValueError):
        return -1


def _default_name(source: Any) -> str:
    import os
    from pathlib import Path

    if isinstance(source, (str, os.PathLike)):
        return Path(source).stem
    if isinstance(source, torch.nn.Module):
        return type(source).__name__
    return "network"
