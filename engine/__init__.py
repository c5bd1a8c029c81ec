"""engine: complex-network structure of trained neural-network populations, batched on GPU or CPU."""

__version__ = "0.1.0"
