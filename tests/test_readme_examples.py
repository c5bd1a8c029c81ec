"""The README's Python examples run as written, in order, in a fresh directory; the README's test
command is the one CI runs; every function of the Python API has an example. (The docstrings' examples
run as doctests: pyproject's --doctest-modules.)"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import engine

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


# Each ```python block of the README, in order, each in its own namespace, as a reader pastes them.
_RUN_BLOCKS = """
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
for code in re.findall(r"```python\\n(.*?)```", text, flags=re.S):
    exec(compile(code, sys.argv[1], "exec"), {"__name__": "__main__"})
"""


def test_readme_python_examples_run(tmp_path):
    """In a fresh interpreter, as a reader runs them (this one has imported every module of engine for
    the doctests)."""
    assert len(re.findall(r"```python\n", README.read_text(encoding="utf-8"))) >= 2
    p = subprocess.run([sys.executable, "-c", _RUN_BLOCKS, str(README)], cwd=tmp_path, capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "0: bias; 2: weight, bias, running_mean, running_var, num_batches_tracked" in p.stdout
    assert (tmp_path / "mine" / "report.html").is_file() and (tmp_path / "mine" / "analysis" / "networks.parquet").is_file()


def test_ci_runs_the_readme_test_command():
    commands = re.findall(r"```bash\n(.*?)```", _section("Test"), flags=re.S)
    assert len(commands) == 1, "the README's Test section shows one command"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1] == commands[0].strip(), "the last line of .ci/run is the README's test command"


@pytest.mark.parametrize("name", sorted(n for n in engine.__all__ if inspect.isfunction(getattr(engine, n))))
def test_every_api_function_has_a_doctest_example(name):
    obj = getattr(engine, name)
    assert ">>>" in (inspect.getdoc(obj) or ""), f"engine.{name}: no Examples (>>>) in its docstring"
