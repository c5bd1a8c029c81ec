"""Where the package's data directories are: the Hydra configs (``conf/``) and the CUDA sources
(``kernels/``).

In the repository both live at the top level, beside ``engine/``; a wheel carries them inside the
package, as ``engine/conf`` and ``engine/kernels`` (``pyproject.toml`` maps them there). The
installed copy is looked up first with ``importlib.resources``, then the repository's, so an
installed wheel, an editable install and a plain clone on ``PYTHONPATH`` all work.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import engine
from engine.errors import EngineError
from engine.shared_docs import shared_docs

__all__ = ["conf_dir", "kernels_dir"]


def _directory(name: str, what: str) -> Path:
    candidates = []
    packaged = importlib.resources.files("engine") / name
    if isinstance(packaged, Path):  # a real directory (not inside a zip): Hydra and NVRTC need files
        candidates.append(packaged)
    # A clone or an editable install: the top-level folder beside the package.
    candidates.append(Path(engine.__file__).resolve().parents[1] / name)
    for path in candidates:
        if path.is_dir():
            return path.resolve()
    raise EngineError(f"{what} not found: looked for the directory {name}/ in "
                      + " and ".join(str(p) for p in candidates)
                      + "; install the engine wheel, or run from a full checkout of the repository")


# What conf_dir and kernels_dir raise, written once.
_NOT_FOUND = """
    EngineError
        If neither exists (a partial install), naming where it looked."""


@shared_docs(not_found=_NOT_FOUND)
def conf_dir() -> Path:
    """The Hydra config directory (``config.yaml`` and the config groups).

    Returns
    -------
    pathlib.Path
        The installed package's ``engine/conf``, or a checkout's top-level ``conf/``; absolute.

    Raises
    ------
    {{not_found}}

    Examples
    --------
    >>> (conf_dir() / "config.yaml").is_file()
    True
    """
    return _directory("conf", "Hydra configs")


@shared_docs(not_found=_NOT_FOUND)
def kernels_dir() -> Path:
    """The directory of the CUDA sources (``*.cu``), compiled by NVRTC at run time.

    Returns
    -------
    pathlib.Path
        Found as ``conf_dir`` finds ``conf``: the installed package's ``engine/kernels``, else a
        checkout's top-level ``kernels/``; absolute.

    Raises
    ------
    {{not_found}}

    Examples
    --------
    >>> any(kernels_dir().glob("*.cu"))
    True
    """
    return _directory("kernels", "CUDA kernel sources")
