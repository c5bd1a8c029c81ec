"""The one exception type users see: a clear message naming what is wrong and how to fix it; and the one
decorator that turns it into a command line's answer."""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable


class EngineError(Exception):
    """Bad input or a bad situation, explained in one message (no deep traceback needed)."""


EXIT_CODE = 2


def cli_errors(*also: type[BaseException], exit: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator for every command line's entry point: an EngineError (or one of ``also``, e.g. OSError)
    becomes the one line ``error: <message>`` on stderr and exit status 2, never a traceback.

    ``main(argv) -> int`` functions return 2 (``sys.exit(main())`` exits with it); with ``exit=True``
    the wrapper raises SystemExit(2) instead, for Hydra task functions and callbacks, whose return
    value nobody reads."""
    catch = (EngineError, *also)

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except catch as e:
                print(f"error: {e}", file=sys.stderr, flush=True)
                if exit:
                    raise SystemExit(EXIT_CODE) from None
                return EXIT_CODE

        return wrapper

    return wrap
