"""Backend selection, made once per run: ``auto | cpu | gpu``."""

from __future__ import annotations

import logging

import torch

from engine.errors import EngineError

__all__ = ["BACKENDS", "backend_name", "describe", "resolve_device"]

log = logging.getLogger(__name__)

BACKENDS = ("auto", "cpu", "gpu")


def resolve_device(backend: str = "auto") -> torch.device:
    """The torch device for a backend name (the run's ``backend.name``).

    Parameters
    ----------
    backend : {"auto", "cpu", "gpu"}
        "auto": CUDA when torch sees a GPU, else the CPU; "gpu": CUDA, or an error.

    Returns
    -------
    torch.device
        ``cuda`` (the current CUDA device) or ``cpu``.

    Raises
    ------
    EngineError
        If ``backend`` is unknown, or is "gpu" where torch sees no CUDA GPU.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("tpu")
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: backend='tpu' is unknown: use one of auto, cpu, gpu
    """
    if backend not in BACKENDS:
        raise EngineError(f"backend={backend!r} is unknown: use one of {', '.join(BACKENDS)}")
    has_cuda = torch.cuda.is_available()
    if backend == "gpu" and not has_cuda:
        raise EngineError("backend=gpu but no CUDA GPU is visible to torch: use backend=cpu or backend=auto")
    device = torch.device("cuda") if (backend == "gpu" or (backend == "auto" and has_cuda)) else torch.device("cpu")
    return device


def describe(device: torch.device) -> str:
    """One line naming the device, for the logs and the run summary.

    Parameters
    ----------
    device : torch.device
        A device ``resolve_device`` returned.

    Returns
    -------
    str
        ``"gpu (<device name>, torch <version>)"`` or ``"cpu (<threads> threads, torch <version>)"``.

    Examples
    --------
    >>> describe(torch.device("cpu"))  # doctest: +ELLIPSIS
    'cpu (... threads, torch ...)'
    """
    if device.type == "cuda":
        return f"gpu ({torch.cuda.get_device_name(device)}, torch {torch.__version__})"
    return f"cpu ({torch.get_num_threads()} threads, torch {torch.__version__})"


def backend_name(device: torch.device) -> str:
    """The concrete backend (``cpu`` or ``gpu``) of a resolved device, as the stages that take a backend name want it.

    Parameters
    ----------
    device : torch.device

    Returns
    -------
    {"cpu", "gpu"}
        "gpu" for a CUDA device, else "cpu".

    Examples
    --------
    >>> import torch
    >>> backend_name(torch.device("cpu")), backend_name(resolve_device("cpu"))
    ('cpu', 'cpu')
    """
    return "gpu" if device.type == "cuda" else "cpu"

