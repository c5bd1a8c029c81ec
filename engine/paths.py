"""What a path given on the command line or in the configuration is, in words: one check used by every
place that takes a directory (run directories, ``engine.gather``'s inputs and output, ``dataset.root``,
``dataset.cache_dir``, ``hydra.run.dir``), so that a file given for a directory, a symbolic-link loop
or a name too long for the file system is called what it is, not "does not exist".
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from engine.errors import EngineError

__all__ = ["exists", "path_problem", "require_directory"]


def exists(path: str | os.PathLike) -> bool:
    """Whether ``path`` exists (following links); False, never an exception, where ``Path.exists`` raises
    (a name too long for the file system, a directory that cannot be searched).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    bool

    Examples
    --------
    >>> exists("/"), exists("/nonexistent"), exists("/" + "x" * 5000)
    (True, False, False)
    """
    try:
        os.stat(path)
    except (OSError, ValueError):
        return False
    return True


def path_problem(path: str | os.PathLike, want: str = "directory") -> str | None:
    """None when ``path`` is an existing ``want`` ("directory" or "file", links followed); otherwise what
    it is instead, as words that follow the path: "does not exist", "is a file, not a directory", "is a
    symbolic link loop", "is a symbolic link to X, which does not exist", "lies under X, which is a file",
    "has a name too long for the file system", "cannot be reached: permission denied".

    Parameters
    ----------
    path : str or os.PathLike
    want : {"directory", "file"}
        What ``path`` should be.

    Returns
    -------
    str or None
        None, or the words to print after the path.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     d = Path(tmp)
    ...     _ = (d / "f").write_text("x")
    ...     (d / "loop").symlink_to(d / "loop")
    ...     print(path_problem(d), path_problem(d / "f"), path_problem(d / "f", "file"))
    ...     print(path_problem(d / "nope"), path_problem(d / "loop"), path_problem(d / "f" / "g", "file"), sep="; ")
    None is a file, not a directory None
    does not exist; is a symbolic link loop; lies under .../f, which is a file, not a directory
    """
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            return f"is a symbolic link to {os.readlink(path)}, which does not exist"
        return "does not exist"
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "is a symbolic link loop"
        if e.errno == errno.ENOTDIR:
            blocker = next((p for p in path.parents if os.path.lexists(p) and not os.path.isdir(p)), None)
            return f"lies under {blocker}, which is a file, not a directory" if blocker else "is not a directory"
        if e.errno == errno.ENAMETOOLONG:
            longest = max((len(os.fsencode(p)) for p in path.parts), default=0)
            return (f"has a name too long for the file system ({len(os.fsencode(path))} bytes; its longest "
                    f"component {longest} bytes, where most file systems allow 255)")
        if e.errno in (errno.EACCES, errno.EPERM):
            return "cannot be reached: permission denied"
        return f"cannot be examined: {e.strerror or e}"
    except ValueError as e:   # an embedded NUL byte
        return f"is not a valid path ({e})"
    if want == "directory":
        if stat.S_ISDIR(mode):
            return None
        return "is a file, not a directory" if stat.S_ISREG(mode) else "is not a directory"
    if stat.S_ISREG(mode):
        return None
    return "is a directory, not a file" if stat.S_ISDIR(mode) else "is not a regular file"


def require_directory(path: str | os.PathLike, what: str, fix: str = "") -> Path:
    """``path`` if it is an existing directory, else an EngineError ``"<what> <path> <problem>; <fix>"``.

    Parameters
    ----------
    path : str or os.PathLike
    what : str
        What the directory is, for the message (e.g. ``"run directory"``).
    fix : str
        How to fix it, appended after "; " ("" for nothing).

    Returns
    -------
    pathlib.Path
        ``path``, checked, as a Path.

    Raises
    ------
    EngineError
        If ``path`` is not an existing directory (the problem in ``path_problem``'s words).

    Examples
    --------
    >>> require_directory("/nonexistent/run", "run directory", "pass the directory of a run")
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: run directory /nonexistent/run does not exist; pass the directory of a run
    """
    problem = path_problem(path, "directory")
    if problem:
        raise EngineError(f"{what} {path} {problem}".lstrip() + (f"; {fix}" if fix else ""))
    return Path(path)
