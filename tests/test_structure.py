"""The shape of the code: package __init__ files only re-export, no import cycle between the measure
registry and the networkx references, every measure declares its options, reading a run directory
does not depend on the report, figures leave pyplot alone."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.errors import EngineError
from engine.measures import MEASURES, REGISTRY, compute_measures
from engine.measures.layered_graph import LayeredGraph, compute_blocks
from engine.measures.reference import REFERENCES
from engine.measures.registry import options_for

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    """Every module a file imports (``from a.b import c`` gives a.b and a.b.c), at any depth."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


@pytest.mark.parametrize("package", ["analysis", "report", "measures"])
def test_package_init_only_re_exports(package):
    tree = ast.parse((ROOT / "engine" / package / "__init__.py").read_text())
    defined = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    assert defined == [], f"engine/{package}/__init__.py defines {defined}: put stage logic in its own module"


def test_public_names_importable_where_they_were():
    from engine.analysis import AnalysisConfig, AnalysisResult, run_analysis  # noqa: F401
    from engine.report import load_run, load_run_config, write_report  # noqa: F401
    from engine.run_dir import load_run as lr, load_run_config as lrc

    import engine.report as report

    assert report.load_run is lr and report.load_run_config is lrc


def test_reading_a_run_directory_does_not_need_the_report():
    assert not any(m.startswith(("engine.report", "engine.analysis")) for m in _imports(ROOT / "engine" / "run_dir.py"))


def test_reference_does_not_import_the_registry():
    assert not any(m.startswith("engine.measures.registry") for m in _imports(ROOT / "engine/measures/reference.py"))
    assert tuple(REFERENCES) == MEASURES          # the same measures, in the column order
    for name, m in REGISTRY.items():
        assert m.reference is REFERENCES[name]


def test_every_measure_declares_exactly_the_options_it_takes():
    for name, m in REGISTRY.items():
        params = inspect.signature(m.compute).parameters
        kinds = {p.kind for p in params.values()}
        assert inspect.Parameter.VAR_KEYWORD not in kinds, f"{name} takes **kwargs: options would be dropped silently"
        assert sorted(list(params)[1:]) == sorted(m.options), name


def test_an_unknown_option_is_an_error():
    blocks, _ = compute_blocks([torch.rand(2, 4, 3) - 0.3, torch.rand(2, 3, 2) - 0.3], torch.float64)
    graph = LayeredGraph(blocks)
    with pytest.raises(EngineError, match="strength has no option"):
        REGISTRY["strength"](graph, log_subgraph=True)
    with pytest.raises(EngineError, match="unknown measure option"):
        options_for(["strength"], {"log_subgrahp": True})
    assert options_for(["strength", "subgraph_centrality"], {"log_subgraph": True}) == \
        {"strength": {}, "subgraph_centrality": {"log_subgraph": True}}
    plain = REGISTRY["subgraph_centrality"](graph).values
    logged = REGISTRY["subgraph_centrality"](graph, log_subgraph=True).values
    torch.testing.assert_close(torch.log(plain), logged)
    got = compute_measures([b for b in blocks], ["strength", "subgraph_centrality"], log_subgraph=True)
    torch.testing.assert_close(got[:, :, 1], logged)


def test_figures_do_not_touch_pyplot():
    code = ("import sys, engine.report, engine.report.figures\n"
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr



# --- progress bars: only when asked ----------------------------------------------------------------------------

def _weights(n: int, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(n, 6, 5, generator=g, dtype=torch.float64) - 0.3,
            torch.rand(n, 5, 4, generator=g, dtype=torch.float64) - 0.3,
            torch.rand(n, 4, 3, generator=g, dtype=torch.float64) - 0.3]


@pytest.mark.parametrize("n", [3, 20])   # 20: spans in worker processes, results as they arrive
def test_measures_progress_only_when_asked(capfd, n):
    quiet = compute_measures(_weights(n), chunk_size=2)
    assert capfd.readouterr().err == ""
    shown = compute_measures(_weights(n), chunk_size=2, progress=True)
    err = capfd.readouterr().err
    assert "measures" in err and f"/{n} [" in err
    torch.testing.assert_close(shown, quiet, equal_nan=True)


def test_analysis_progress_only_when_asked(capfd):
    from engine.analysis import run_analysis
    from engine.analysis.synthetic import make_population

    nets, neu, _ = make_population(("digits",), networks=24, layer_sizes=(8, 4), epochs=(1, 3), n_types=3, seed=0)
    cfg = {"folds": 3, "repeats": 1, "n_jobs": 1, "classifiers": ["lda"], "regressors": ["ridge"],
           "bon": {"k": 3, "n_init": 1}}
    quiet = run_analysis(nets, neu, cfg)
    assert capfd.readouterr().err == ""
    shown = run_analysis(nets, neu, cfg, progress=True)
    err = capfd.readouterr().err
    assert "classifiers, regressors digits" in err and "early prediction digits" in err
    assert shown.summary["classification"] == quiet.summary["classification"]


def test_every_expected_error_is_checked_by_its_message():
    """A test that expects an error says which one: ``pytest.raises`` always carries ``match=`` (a test
    named for "a clear error" that checks only the exception's type passes on any other error)."""
    bare = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and ast.unparse(node.func) == "pytest.raises"
                    and not any(k.arg == "match" for k in node.keywords)):
                bare.append(f"{path.name}:{node.lineno}")
    assert not bare, f"pytest.raises without match=: {', '.join(bare)}"


def test_the_api_names_stay_the_api_after_their_modules_are_imported():
    """Found in a new user's pass (and by the doctest collection, which imports every module of engine)."""
    code = ("import engine.analyze, engine, importlib, inspect; importlib.import_module('engine.analyze')\n"
            "assert inspect.isfunction(engine.analyze), engine.analyze\n"
            "try:\n    engine.analyze('no_such_dir', 'no_such.csv')\n"
            "except engine.EngineError as e:\n    print('EngineError:', e)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.stdout.startswith("EngineError:") and "no_such_dir" in p.stdout, p.stdout + p.stderr
