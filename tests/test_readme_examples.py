"""The README's Python examples run as written (section "Your own networks"), and the public API's
docstring examples run as doctests."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(section: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {section}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end if end > 0 else None], flags=re.S)


def test_your_own_networks_examples_run(tmp_path, monkeypatch, capsys):
    blocks = _blocks("Your own networks")
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    for code in blocks:
        exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
    printed = capsys.readouterr().out
    assert "0: bias; 2: weight, bias, running_mean, running_var, num_batches_tracked" in printed
    assert (tmp_path / "mine" / "report.html").is_file() and (tmp_path / "mine" / "analysis" / "networks.parquet").is_file()


@pytest.mark.parametrize("module", ["engine.networks.read", "engine.networks.measure", "engine.networks.population",
                                    "engine.run_dir"])
def test_api_docstring_examples(module, tmp_path, monkeypatch):
    import importlib

    monkeypatch.chdir(tmp_path)
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0, result
