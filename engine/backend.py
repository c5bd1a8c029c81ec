"""Backend selection, made once per run: ``auto | cpu | gpu``."""

from __future__ import annotations

import logging

import torch

from engine.errors import EngineError

__all__ = ["BACKENDS", "backend_name", "describe", "resolve_device"]

log = logging.getLogger(__name__)

BACKENDS = ("auto", "cpu", "gpu")


def resolve_device(backend: str = "auto") -> torch.device:
    """The torch device for a backend name; ``gpu`` without CUDA is an error, ``auto`` falls back."""
    if backend not in BACKENDS:
        raise EngineError(f"backend={backend!r} is unknown: use one of {', '.join(BACKENDS)}")
    has_cuda = torch.cuda.is_available()
    if backend == "gpu" and not has_cuda:
        raise EngineError("backend=gpu but no CUDA GPU is visible to torch: use backend=cpu or backend=auto")
    device = torch.device("cuda") if (backend == "gpu" or (backend == "auto" and has_cuda)) else torch.device("cpu")
    return device


def describe(device: torch.device) -> str:
    """One line naming the device, for the logs."""
    if device.type == "cuda":
        return f"gpu ({torch.cuda.get_device_name(device)}, torch {torch.__version__})"
    return f"cpu ({torch.get_num_threads()} threads, torch {torch.__version__})"


def backend_name(device: torch.device) -> str:
    """The concrete backend (``cpu`` or ``gpu``) of a resolved device, as the stages that take a backend name want it.

    Examples
    --------
    >>> import torch
    >>> backend_name(torch.device("cpu")), backend_name(resolve_device("cpu"))
    ('cpu', 'cpu')
    """
    return "gpu" if device.type == "cuda" else "cpu"

