"""Worker processes for the CPU measures, one per available core: SciPy's Dijkstra holds the GIL and
LAPACK runs single-threaded (engine.measures.threads), so processes, not threads, fill the cores.

One pool per process, started on first use with the ``spawn`` method (a fork of a process that runs
torch's OpenMP threads can deadlock) and reused for every later batch; about 2 s to start, once.
Daemonic processes (which may not have children) and code read from stdin run without a pool.
``ENGINE_WORKERS`` sets the number of processes (1 = no pool, everything in this process). A pool
that cannot start or breaks is reported once and the work runs in this process instead.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor

import torch

__all__ = ["pool_failed", "process_pool", "worker_count"]

log = logging.getLogger("engine.measures")

_pool: ProcessPoolExecutor | None = None
_disabled = False


def worker_count() -> int:
    """Processes to use: ENGINE_WORKERS if set, else the cores this process may run on.

    Returns
    -------
    int
        At least 1. An ENGINE_WORKERS that is not an integer is warned about and ignored.

    Examples
    --------
    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"ENGINE_WORKERS": "3"}):
    ...     worker_count()
    3
    """
    env = os.environ.get("ENGINE_WORKERS", "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            log.warning("ENGINE_WORKERS=%r is not an integer: using one process per core", env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def process_pool() -> ProcessPoolExecutor | None:
    """The shared pool of ``worker_count()`` spawned processes, started on the first call.

    Returns
    -------
    concurrent.futures.ProcessPoolExecutor or None
        None where one process is all there is: ``worker_count()`` below 2, a worker or other daemonic
        process, code read from stdin, or a pool that failed before (``pool_failed``).

    Examples
    --------
    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"ENGINE_WORKERS": "1"}):
    ...     process_pool() is None
    True
    """
    global _pool
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        _refuse_unguarded_main()
    if _disabled or multiprocessing.current_process().daemon or not _spawnable_main():
        return None
    n = worker_count()
    if n < 2:
        return None
    if _pool is None:
        try:
            _pool = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_init_worker)
        except Exception as e:  # noqa: BLE001 - e.g. no semaphores in a sandbox
            pool_failed(e)
            return None
    return _pool


def _refuse_unguarded_main() -> None:
    """A spawned worker is importing the parent's script, and the script measures as it is imported.

    Without a ``if __name__ == "__main__":`` guard every worker would run the whole script again (its
    measures, analysis and report, in this process); Python's own refusal to start a pool here would
    only make it fall back to that. One line instead, and the worker ends: the parent sees a broken
    pool and computes in its own process, once.
    """
    sys.stderr.write('error: this script measures networks as it is imported; engine\'s worker processes import '
                     'it again (Python\'s spawn): put that code under  if __name__ == "__main__":\n')
    raise SystemExit(2)


def _init_worker() -> None:
    """A worker is one of ``worker_count()`` processes sharing the cores: one thread each, no pool of
    its own."""
    global _disabled
    _disabled = True
    torch.set_num_threads(1)
    # Ctrl-C reaches the whole process group: the parent answers it in one line and ends the pool; a
    # worker's own KeyboardInterrupt would only print a traceback per process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _spawnable_main() -> bool:
    """Spawned workers import the parent's __main__ again: impossible for code read from stdin."""
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    return path is None or os.path.isfile(path)


def pool_failed(error: BaseException) -> None:
    """Give up on worker processes for the rest of this process, with one warning.

    The pool, if any, is shut down without waiting; ``process_pool()`` returns None from then on and
    the measures compute in this process.

    Parameters
    ----------
    error : BaseException
        What went wrong (a pool that cannot start or broke), named in the warning.

    Examples
    --------
    >>> import engine.measures.workers as workers
    >>> from unittest import mock
    >>> with mock.patch.object(workers, "_pool", None), mock.patch.object(workers, "_disabled", False):
    ...     pool_failed(OSError("no semaphores in this sandbox"))
    ...     process_pool() is None
    True
    """
    global _pool, _disabled
    log.warning("worker processes failed (%s: %s); computing in this process instead", type(error).__name__, error)
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
    _pool, _disabled = None, True
