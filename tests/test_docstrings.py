"""Every public name carries numpydoc sections with an example; everything else is private.

A name is public when it is in its module's ``__all__`` (package ``__init__`` files only re-export).
Functions: Parameters (when they take any), Returns or Yields (unless annotated ``-> None``) and
Examples; classes: Parameters or Attributes, and Examples. The examples run as doctests
(pyproject's ``--doctest-modules``). Every module under engine/ that defines public functions or
classes declares ``__all__``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[1] / "engine"
MODULES = sorted(p for p in ENGINE.rglob("*.py") if p.name != "__init__.py")


def _all(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return [e.value for e in node.value.elts]
    return None


def _missing(node: ast.FunctionDef | ast.ClassDef) -> list[str]:
    doc = ast.get_docstring(node) or ""
    need = ["Examples"]
    if isinstance(node, ast.ClassDef):
        if "Attributes" not in doc:
            need.append("Parameters")
        return [s for s in need if s not in doc]
    a = node.args
    names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs] + [x.arg for x in (a.vararg, a.kwarg) if x]
    if any(n not in ("self", "cls") for n in names):
        need.append("Parameters")
    returns_none = isinstance(node.returns, ast.Constant) and node.returns.value is None
    if not returns_none and "Yields" not in doc:
        need.append("Returns")
    return [s for s in need if s not in doc]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ENGINE.parent)))
def test_public_names_have_numpydoc_sections(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    public = _all(tree)
    defined = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("_")]
    if public is None:
        assert not defined, f"{path.name} defines {[n.name for n in defined]} but no __all__"
        return
    problems = [f"{n.name}: missing {', '.join(m)}" for n in defined if n.name in public and (m := _missing(n))]
    assert not problems, f"{path.relative_to(ENGINE.parent)}: " + "; ".join(problems)


def test_names_outside_all_are_private():
    """A module-level function or class that its module does not export starts with an underscore."""
    leaks = []
    for path in MODULES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        public = _all(tree) or []
        leaks += [f"{path.relative_to(ENGINE.parent)}:{n.name}" for n in tree.body
                  if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("_")
                  and n.name not in public]
    assert not leaks, f"public-looking names not in __all__: {leaks}"
