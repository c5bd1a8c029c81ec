"""Single-threaded LAPACK on CPU: torch's batched eigh / SVD with 2 OpenMP threads measured 100-600x
slower (0.1 s -> 28-66 s for 30 paper-size Gram matrices) on a loaded 2-core machine, because
MKL's many small parallel regions spin on barriers while a thread is descheduled. One thread per
factorisation is as fast unloaded and immune to that. Limited through threadpoolctl (a
scikit-learn dependency) on the OpenMP runtime only: ``torch.set_num_threads`` is avoided on
purpose, since an explicit ``torch.set_num_threads(2)`` made batched ``torch.linalg.inv_ex`` fail
("Pivots given to lu_solve must all be >= 1") with torch 2.13 + MKL.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from typing import Iterator

import torch
from threadpoolctl import ThreadpoolController

__all__ = ["single_threaded_lapack"]

_controller = None


def _openmp_controller():
    global _controller
    if _controller is None:  # made on first use, once torch's OpenMP runtime is loaded
        try:
            _controller = ThreadpoolController()
        except Exception:  # noqa: BLE001 - threadpoolctl failing to inspect the libraries: run as is
            _controller = False
    return _controller


@contextmanager
def single_threaded_lapack(device: torch.device) -> Iterator[None]:
    """On CPU, run the block with the OpenMP runtime limited to one thread; elsewhere do nothing.

    Parameters
    ----------
    device : torch.device
        The device of the factorisations in the block.

    Yields
    ------
    None
        The block runs with one OpenMP thread (CPU); the previous limits are restored after it.

    Examples
    --------
    >>> m = torch.eye(3, dtype=torch.float64).expand(4, 3, 3)
    >>> with single_threaded_lapack(m.device):
    ...     values = torch.linalg.eigvalsh(m)
    >>> values.shape
    torch.Size([4, 3])
    """
    controller = _openmp_controller() if device.type == "cpu" else False
    with (controller.limit(limits=1, user_api="openmp") if controller else nullcontext()):
        yield
