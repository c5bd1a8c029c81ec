"""The one exception type users see: a clear message naming what is wrong and how to fix it; and the one
decorator that turns it into a command line's answer."""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable

__all__ = ["cli_errors", "EngineError", "INTERRUPTED_EXIT_CODE", "require_choice"]


class EngineError(Exception):
    """Bad input or a bad situation, explained in one message (no deep traceback needed).

    Parameters
    ----------
    message : str
        One line: what is wrong (naming the setting, file or value) and how to fix it. Command lines
        print it as ``error: <message>`` and exit with status 2 (``cli_errors``).

    Examples
    --------
    >>> try:
    ...     raise EngineError("train.epochs=-1: must be an integer >= 0")
    ... except EngineError as e:
    ...     print(f"error: {e}")
    error: train.epochs=-1: must be an integer >= 0
    """


_EXIT_CODE = 2
INTERRUPTED_EXIT_CODE = 130   # 128 + SIGINT, as shells report a command stopped by Ctrl-C
_INTERRUPTED = ("interrupted (Ctrl-C): every file is written whole or not at all, so nothing half-written is left; "
               "run the same command again")


def require_choice(key: str, value: Any, choices: tuple) -> None:
    """A choice the schema declares, checked where library code takes it without a config: an EngineError
    naming the setting unless ``value`` is one of ``choices``.

    Parameters
    ----------
    key : str
        The setting's dotted key, for the message (e.g. ``"train.loss"``).
    value : object
        The value given.
    choices : tuple
        The values accepted.

    Raises
    ------
    EngineError
        If ``value`` is not one of ``choices``.

    Examples
    --------
    >>> require_choice("train.loss", "keras", ("keras", "cross_entropy"))
    >>> require_choice("train.loss", "mse", ("keras", "cross_entropy"))
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: train.loss='mse' is unknown: use one of ('keras', 'cross_entropy')
    """
    if value not in choices:
        raise EngineError(f"{key}={value!r} is unknown: use one of {choices}")


def cli_errors(*also: type[BaseException], exit: bool = False,
               interrupted: str = _INTERRUPTED) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator for every command line's entry point: an EngineError (or one of ``also``, e.g. OSError)
    becomes the one line ``error: <message>`` on stderr and exit status 2, never a traceback; Ctrl-C
    (KeyboardInterrupt) becomes the one line ``interrupted``, which says how to go on, and exit status 130.

    Parameters
    ----------
    *also : exception types
        Further exceptions answered the same way (e.g. OSError).
    exit : bool
        False: the wrapper returns the status (for ``main(argv) -> int``, whose ``sys.exit(main())``
        exits with it; the function's own return value passes through when nothing is raised).
        True: it raises ``SystemExit(status)``, for Hydra task functions and callbacks, whose return
        value nobody reads.
    interrupted : str
        The line printed on Ctrl-C (default: every file is whole or absent; run the command again).

    Returns
    -------
    callable
        The decorator.

    Examples
    --------
    >>> import contextlib, sys
    >>> @cli_errors()
    ... def main(argv):
    ...     raise EngineError(f"{argv[0]}: no such run directory")
    >>> with contextlib.redirect_stderr(sys.stdout):   # show the line here
    ...     status = main(["runs/x"])
    error: runs/x: no such run directory
    >>> status
    2
    """
    catch = (EngineError, *also)

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except catch as e:
                print(f"error: {e}", file=sys.stderr, flush=True)
                code = _EXIT_CODE
            except KeyboardInterrupt:
                print(interrupted, file=sys.stderr, flush=True)
                code = INTERRUPTED_EXIT_CODE
            if exit:
                raise SystemExit(code) from None
            return code

        return wrapper

    return wrap
