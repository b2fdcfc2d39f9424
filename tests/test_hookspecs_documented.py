"""Every hook is documented with its exact signature, and every hook has a test.

The rule for "has a test": ``tests/test_plugins.py`` defines ``test_hook_<hook name>``, a test
that registers a plugin implementing that hook and checks physsim uses what it registered.
Being an ordinary test there, it must also pass.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from physsim import hookspecs

REPO = Path(__file__).resolve().parents[1]
HOOKS_MD = REPO / "docs" / "plugins" / "hooks.md"
PLUGIN_TESTS = REPO / "tests" / "test_plugins.py"

HOOKS: dict[str, Callable[..., Any]] = {
    name: fn for name, fn in vars(hookspecs).items()
    if inspect.isfunction(fn) and hasattr(fn, "physsim_spec")
}


def _annotation(value: Any) -> str:
    # hookspecs uses `from __future__ import annotations`: annotations are the source strings
    return value if isinstance(value, str) else inspect.formatannotation(value)


def typed_signature(fn: Callable[..., Any]) -> str:
    """``name(arg: Type, ...) -> Return`` exactly as written in physsim/hookspecs.py."""
    sig = inspect.signature(fn)
    params = ", ".join(f"{p.name}: {_annotation(p.annotation)}" for p in sig.parameters.values())
    return f"{fn.__name__}({params}) -> {_annotation(sig.return_annotation)}"


def short_signature(fn: Callable[..., Any]) -> str:
    """``name(arg, ...)``, the form used in headings."""
    return f"{fn.__name__}({', '.join(inspect.signature(fn).parameters)})"


def test_hooks_found() -> None:
    assert "register_attacks" in HOOKS and "on_run_end" in HOOKS


def test_typed_signature_format() -> None:
    assert typed_signature(hookspecs.register_attacks) == (
        "register_attacks(register: Callable[[type[Attack]], None]) -> None")


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_hook_has_a_docstring(name: str) -> None:
    doc = inspect.getdoc(HOOKS[name])
    assert doc and "Called" in doc, f"{name}: say in the docstring when the hook is called"


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_hook_is_documented_with_its_exact_signature(name: str) -> None:
    text = HOOKS_MD.read_text(encoding="utf-8")
    fn = HOOKS[name]
    assert f"\n## {short_signature(fn)}\n" in text, f"no '## {short_signature(fn)}' heading"
    assert f"def {typed_signature(fn)}\n" in text, f"hooks.md lacks: def {typed_signature(fn)}"


def test_hooks_md_documents_only_real_hooks() -> None:
    headings = re.findall(r"^## (\w+)\(", HOOKS_MD.read_text(encoding="utf-8"), re.M)
    assert sorted(headings) == sorted(HOOKS)


def _test_functions() -> set[str]:
    tree = ast.parse(PLUGIN_TESTS.read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_hook_has_a_test(name: str) -> None:
    assert f"test_hook_{name}" in _test_functions(), f"tests/test_plugins.py: test_hook_{name}"
