"""Atomic writes: a result file is complete or absent, never partial."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from engine.errors import EngineError
from engine.shared_docs import shared_docs

__all__ = ["atomic_path", "write_json", "write_parquet"]


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only if the block succeeds.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write; its folder is made. An existing file is replaced whole or left as it was.

    Yields
    ------
    pathlib.Path
        A new empty file in ``path``'s folder, for the block to write; removed if the block raises.

    Raises
    ------
    EngineError
        If the folder cannot be made or written, or the rename fails: what went wrong where (which
        directory, and why); callers that know which setting chose the place add that hint themselves.
        An exception of the block itself passes through unchanged, ``path`` untouched.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     target = Path(tmp) / "out" / "a.txt"
    ...     with atomic_path(target) as part:
    ...         _ = part.write_text("whole")
    ...     try:
    ...         with atomic_path(target) as part:
    ...             _ = part.write_text("half")
    ...             raise RuntimeError("stopped")
    ...     except RuntimeError:
    ...         pass
    ...     print(target.read_text(), sorted(p.name for p in target.parent.iterdir()))
    whole ['a.txt']
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as e:
        raise EngineError(f"cannot write {path}: {_why(path, e)}") from e
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary files
        os.replace(tmp, path)
    except OSError as e:
        raise EngineError(f"writing {path} failed: {_why(path, e)}") from e
    finally:
        if tmp.exists():
            tmp.unlink()


def _why(path: Path, e: OSError) -> str:
    """Why writing ``path`` failed, in words: a path component that is a file, ``path`` being a directory,
    or the system's own reason (permission denied, read-only file system, no space left on device...)."""
    import errno

    from engine.paths import path_problem

    if e.errno == errno.ENAMETOOLONG:
        return f"the path {path_problem(path, 'file')}"
    for parent in path.parents:   # os.path's checks: Path.exists raises where a name is too long
        if os.path.exists(parent):
            if not os.path.isdir(parent):
                return f"{parent} is a file, not a directory"
            break
    if os.path.isdir(path):
        return f"{path} is a directory"
    where = f" in {e.filename and Path(e.filename).parent}" if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS) \
        and e.filename else ""
    return f"{e.strerror or e}{where}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# The path parameter and the failure of the atomic writers here, written once.
_WRITER_DOCS = dict(
    path="""
        path : str or os.PathLike
            The file; its folder is made.""",
    unwritable="""
        EngineError
            If the file cannot be written there (see ``atomic_path``).""")


@shared_docs(**_WRITER_DOCS)
def write_parquet(df, path: str | os.PathLike) -> Path:
    """Write a pandas DataFrame to Parquet atomically (``atomic_path``), without its index.

    Parameters
    ----------
    df : pandas.DataFrame
    {{path}}

    Returns
    -------
    pathlib.Path
        ``path``, a Parquet file of ``df``'s columns (not its index).

    Raises
    ------
    {{unwritable}}

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_parquet(pd.DataFrame({"network": [0, 1], "test_acc": [0.9, 0.8]}), Path(tmp) / "t.parquet")
    ...     print(pd.read_parquet(path).to_dict("list"))
    {'network': [0, 1], 'test_acc': [0.9, 0.8]}
    """
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return Path(path)


@shared_docs(**_WRITER_DOCS)
def write_json(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` as JSON atomically (``atomic_path``), indented.

    Parameters
    ----------
    obj : object
        Dicts (keys become strings), lists, tuples, numbers, strings, booleans, None; NumPy numbers
        and arrays become plain numbers and lists; NaN and infinities, which JSON cannot hold, null.
    {{path}}

    Returns
    -------
    pathlib.Path
        ``path``, the JSON file written.

    Raises
    ------
    TypeError
        If ``obj`` holds something else (a set, an arbitrary object): nothing is written.
    {{unwritable}}

    Examples
    --------
    >>> import json, tempfile, numpy as np
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_json({"acc": np.float32(0.5), "r": float("nan"), 3: np.arange(2)}, Path(tmp) / "s.json")
    ...     print(json.loads(path.read_text()))
    {'acc': 0.5, 'r': None, '3': [0, 1]}
    """
    text = json.dumps(_clean(obj), indent=2, sort_keys=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def _clean(obj: Any) -> Any:
    import math

    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj
