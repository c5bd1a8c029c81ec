"""Docstring text that several public functions share, written once (as SciPy's ``doccer`` does).

A docstring holds a line ``{{name}}`` where a shared block goes (a Parameters entry, a Returns
section, a reference); ``@shared_docs(name=text)`` puts the text there, indented as the placeholder
is, when the module is imported. ``help()``, the doctests and numpydoc see the filled docstring.
"""

from __future__ import annotations

import inspect
import re
from typing import Callable, TypeVar

__all__ = ["shared_docs"]

_T = TypeVar("_T")
_PLACEHOLDER = re.compile(r"^(?P<indent>[ \t]*)\{\{(?P<name>\w+)\}\}[ \t]*$", re.M)


def shared_docs(**blocks: str) -> Callable[[_T], _T]:
    """Fill the ``{{name}}`` lines of a function's or class's docstring with shared blocks of text.

    Parameters
    ----------
    **blocks : str
        Per placeholder name, its text (any indentation: it is dedented, then indented as the
        placeholder line is).

    Returns
    -------
    callable
        A decorator that fills the docstring of the object it decorates and returns the object itself.

    Raises
    ------
    KeyError
        A placeholder of the docstring has no block (a programming error, raised at import).

    Examples
    --------
    >>> NODES = '''nodes : sequence of int, optional
    ...     Node ids to report; default the hidden neurons.'''
    >>> @shared_docs(nodes=NODES)
    ... def strength(net, nodes=None):
    ...     '''Strength of each node.
    ...
    ...     Parameters
    ...     ----------
    ...     {{nodes}}
    ...     '''
    >>> print(strength.__doc__.strip())
    Strength of each node.
    <BLANKLINE>
        Parameters
        ----------
        nodes : sequence of int, optional
            Node ids to report; default the hidden neurons.
    """
    texts = {name: inspect.cleandoc(text) for name, text in blocks.items()}

    def fill(obj: _T) -> _T:
        if obj.__doc__:
            obj.__doc__ = _PLACEHOLDER.sub(
                lambda m: "\n".join(m["indent"] + line if line else "" for line in texts[m["name"]].splitlines()),
                obj.__doc__)
        return obj

    return fill
