"""The docstring examples of engine/ run as doctests in the test suite (pyproject: ``--doctest-modules``
over testpaths ``tests`` and ``engine``).

A module that needs a package not installed here (an optional extra: CuPy, cuML, ...) is left out of
the doctests, named in the summary, instead of failing the collection; a module of the engine that
fails to import for any other reason still fails it. Doctests run in a temporary directory, so that an
example that writes a file writes nothing into the checkout.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from _pytest.doctest import DoctestItem

ENGINE = Path(__file__).resolve().parent / "engine"
_left_out: dict[str, str] = {}


def pytest_ignore_collect(collection_path: Path, config: pytest.Config):
    path = Path(collection_path)
    if path.suffix != ".py" or path.name == "__main__.py" or not path.is_relative_to(ENGINE):
        return None
    module = ".".join(("engine", *path.relative_to(ENGINE).with_suffix("").parts)).removesuffix(".__init__")
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name is None or e.name.split(".")[0] == "engine":
            return None   # the doctest collector reports it as the error it is
        _left_out[module] = e.name
        return True
    return None


def pytest_terminal_summary(terminalreporter):
    if _left_out:
        terminalreporter.write_line("doctests left out (a package not installed): " + ", ".join(
            f"{module} (needs {package})" for module, package in sorted(_left_out.items())))


@pytest.fixture(autouse=True)
def _doctests_run_in_a_tmp_dir(request):
    if isinstance(request.node, DoctestItem):
        request.getfixturevalue("monkeypatch").chdir(request.getfixturevalue("tmp_path"))
