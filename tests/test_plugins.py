"""Meta-test: every hook has a test (datasette's test_plugin_hooks_have_tests pattern)."""

from __future__ import annotations

import ast
from pathlib import Path

from .meta import hook_names

ROOT = Path(__file__).parents[1]


def test_plugin_hooks_have_tests() -> None:
    """Each hook NAME needs a test function named ``test_hook_NAME`` somewhere under tests/."""
    tests = {
        node.name
        for path in ROOT.joinpath("tests").rglob("test_*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    untested = [h for h in hook_names() if f"test_hook_{h}" not in tests]
    assert not untested, f"hooks without a test_hook_<name> test: {untested}"
