"""Architecture boundaries: a plugin imports only the SDK and its own libraries; the kernel and
the SDK never import a plugin; production code never imports the test doubles."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1]


def imports(path: Path) -> list[tuple[int, str, int]]:
    """(line, module, relative level) of every import in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, node.module or "", node.level))
    return found


def violations_in_plugins(root: Path) -> list[str]:
    problems = []
    for plugin in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "__pycache__"):
        for path in plugin.rglob("*.py"):
            depth = len(path.relative_to(plugin).parts)  # 1: directly in the plugin's package
            for line, module, level in imports(path):
                where = f"{plugin.name}/{path.relative_to(plugin)}:{line}"
                if level >= depth + 1:
                    problems.append(f"{where}: relative import reaches outside plugin {plugin.name!r}")
                elif module.startswith("pygent_plugins") and not (
                    module == f"pygent_plugins.{plugin.name}"
                    or module.startswith(f"pygent_plugins.{plugin.name}.")
                ):
                    problems.append(f"{where}: imports {module} (another plugin)")
                elif module.startswith("pygent_kernel."):
                    problems.append(f"{where}: imports {module} (a private kernel module)")
                elif module.startswith("pygent_sdk.testing"):
                    problems.append(f"{where}: imports {module} (test doubles in production code)")
    return problems


def test_no_plugin_imports_another_plugin_or_kernel_internals() -> None:
    problems = violations_in_plugins(ROOT / "plugins")
    assert not problems, "\n".join(problems)


def test_the_check_catches_each_kind_of_violation(tmp_path: Path) -> None:
    bad = tmp_path / "alpha"
    (bad / "sub").mkdir(parents=True)
    (bad / "__init__.py").write_text("from pygent_plugins.beta import X\nimport pygent_kernel.bus\n")
    (bad / "sub" / "m.py").write_text("from ... import gamma\nfrom pygent_sdk.testing import T\n"
                                      "from ..sub import fine\nfrom pygent_plugins.alpha.sub import ok\n")
    problems = violations_in_plugins(tmp_path)
    assert len(problems) == 4, problems
    assert any("pygent_plugins.beta" in p for p in problems)
    assert any("private kernel module" in p for p in problems)
    assert any("outside plugin 'alpha'" in p for p in problems)
    assert any("test doubles" in p for p in problems)


def test_kernel_and_sdk_never_import_a_plugin() -> None:
    problems = [
        f"{path.relative_to(ROOT)}:{line}: imports {module}"
        for folder in ("kernel", "plugin-sdk", "host")
        for path in (ROOT / folder).rglob("*.py")
        for line, module, _ in imports(path)
        if module.startswith("pygent_plugins")
    ]
    assert not problems, "\n".join(problems)
