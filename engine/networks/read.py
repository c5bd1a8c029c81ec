"""``read_network``: the network in a file or an object, by one set of rules (engine.networks.layers)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.errors import EngineError
from engine.networks.layers import Network, parse_layers
from engine.weight_stack import check_orientation

__all__ = ["read_file", "read_network"]


def read_network(source: Any, *, orientation: str | None = None, layers: Any = None, key: str | None = None,
                 example_input: Any = None) -> Network:
    """The fully connected network in a file or an object, as weight matrices in forward order.

    Parameters
    ----------
    source : str, os.PathLike, torch.nn.Module, mapping or sequence
        A model file (format told by its content: Keras ``.keras``/``.h5``, anything ``torch.save``
        wrote, ``.safetensors``, ``.npz``); an ``nn.Module`` (its ``nn.Linear`` layers in the order its
        forward pass calls them); a state_dict (name -> tensor, in the model's order); or a list of
        weight matrices in forward order, each (fan_in, fan_out) or (N, fan_in, fan_out).
    orientation : {None, "in_out", "out_in"}
        How 2-D matrices are stored: rows = the layer's inputs ("in_out", Keras ``kernel``, this
        project) or its outputs ("out_in", PyTorch ``weight``). None: a PyTorch ``weight`` is out_in, a
        Keras ``kernel`` in_out, anything else in_out where only that reading chains (refused where both
        readings chain). Given, it applies to every matrix.
    layers : str or list of str, optional
        The weight layers to use, in forward order (``"fc1,fc2,out"``): needed where the file does not
        record the order and several orders fit the shapes. Layers not named are not part of the graph.
    key : str, optional
        In a checkpoint dict holding several dicts of tensors, the one with the model's weights.
    example_input : tensor, optional
        For an ``nn.Module`` whose forward pass does not accept a (2, in_features) batch of zeros.

    Returns
    -------
    Network
        ``weights`` (fan_in, fan_out) per layer, ``layer_names``, ``not_in_graph`` (the parameters that
        are not synapses, per layer), ``order`` (how the order was known), ``source_format``.

    Raises
    ------
    EngineError
        One line saying what the file or object holds and what to do, for anything that is not a
        chain of fully connected layers or whose order or orientation it cannot know.

    Examples
    --------
    >>> import torch
    >>> from engine import read_network
    >>> torch.manual_seed(0) and None
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    >>> net = read_network(model)
    >>> net.layer_sizes, net.layer_names, net.describe_not_in_graph()
    ([4, 3, 2], ['0', '2'], '0: bias; 2: bias')
    >>> torch.equal(net.weights[0], model[0].weight.detach().T)   # (fan_in, fan_out)
    True
    """
    orientation = check_orientation(orientation)
    layers = parse_layers(layers)
    if isinstance(source, Network):
        return source
    if isinstance(source, (str, os.PathLike)):
        return read_file(Path(source), orientation=orientation, layers=layers, key=key)
    if isinstance(source, torch.nn.Module):
        from engine.networks.objects import module_network

        return module_network(source, layers=layers, orientation=orientation, example_input=example_input)
    if isinstance(source, Mapping):
        from engine.networks.torch_files import state_dict_network

        return state_dict_network("state_dict", source, orientation=orientation, layers=layers,
                                  source_format="state_dict")
    if isinstance(source, (list, tuple)) and source and all(isinstance(w, (torch.Tensor, np.ndarray)) or
                                                            hasattr(w, "__array__") for w in source):
        from engine.networks.objects import arrays_network

        return arrays_network(source, orientation=orientation, layers=layers)
    raise EngineError(f"cannot read a network from a {type(source).__name__}: give a model file's path, a "
                      "torch.nn.Module, a state_dict or a list of weight matrices")


def read_file(path: Path, *, orientation: str | None = None, layers: Any = None, key: str | None = None) -> Network:
    """The network in a model file, its format told by its contents (``engine.networks.detect``).

    Parameters
    ----------
    path : pathlib.Path
        A PyTorch/Lightning checkpoint, a Keras archive or HDF5 file, a safetensors file (an engine
        snapshot included), an ``.npz`` archive or a TensorFlow SavedModel/checkpoint.
    orientation, layers, key
        As in ``read_network``.

    Returns
    -------
    Network
        Its synapse matrices in forward order, (fan_in, fan_out) each.

    Raises
    ------
    EngineError
        If the file's format is not one of these, or it holds no chain of fully connected layers.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> with tempfile.TemporaryDirectory() as d:
    ...     np.savez(f"{d}/net.npz", w1=np.ones((4, 3)), w2=np.ones((3, 2)))
    ...     print(read_file(Path(d, "net.npz")).layer_sizes)
    [4, 3, 2]
    """
    from engine.networks import array_files, keras_files, torch_files
    from engine.networks.detect import file_format

    kind = file_format(path)
    if kind == "torch":
        return torch_files.read_torch(path, orientation=orientation, layers=layers, key=key)
    if key is not None:
        raise EngineError(f"{path}: key={key!r} picks a dict in a PyTorch checkpoint, but this is a {kind} file")
    if kind == "keras":
        return keras_files.read_keras_archive(path, orientation=orientation, layers=layers)
    if kind == "hdf5":
        return keras_files.read_keras_h5(path, orientation=orientation, layers=layers)
    if kind == "safetensors":
        return array_files.read_safetensors(path, orientation=orientation, layers=layers)
    return array_files.read_npz(path, orientation=orientation, layers=layers)
