"""A researcher's own networks: read from files (Keras, PyTorch, Lightning, safetensors, NumPy) or
objects (an ``nn.Module``, a state_dict, a list of matrices) by one set of rules for what is a synapse,
which way a matrix points and which layer comes first (``layers.py``); one module per format."""

from engine.networks.layers import Network
from engine.networks.read import read_file, read_network
from engine.weight_stack import ORIENTATIONS

__all__ = ["ORIENTATIONS", "Network", "read_file", "read_network"]
