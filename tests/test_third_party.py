"""The example third-party plugin in docs/examples, installed for real and loaded by entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "pygent-greeter"
PYGENT = Path(sys.executable).with_name("pygent")


@pytest.fixture(scope="module")
def greeter_installed() -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         str(EXAMPLE)],
        check=True, capture_output=True, timeout=300,
    )


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PYGENT), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "COLUMNS": "200"})


def test_installed_plugin_is_listed_with_its_own_distribution(greeter_installed: None, tmp_path: Path) -> None:
    (tmp_path / "plugins.toml").write_text('[greeter]\nname = "Ada"\n')
    result = run("plugins", "list", cwd=tmp_path)
    row = next(line for line in result.stdout.splitlines() if "│ greeter" in line)
    assert "pygent-greeter" in row and "1.0.0" in row and "greeting" in row and "ready" in row


def test_installed_plugin_runs_from_plugins_toml(greeter_installed: None, tmp_path: Path) -> None:
    (tmp_path / "plugins.toml").write_text(
        # eventlog comes first, so it is recording when the greeter greets on start-up.
        '[eventlog]\nfile = "events.jsonl"\ntopics = ["greeter.>"]\n[greeter]\nname = "Ada"\n'
        '[heartbeat]\ninterval = 0.05\ncount = 1\n'
    )
    code = (
        "import anyio\nfrom pygent_kernel import Kernel\n"
        "async def main():\n"
        "    async with Kernel.from_config('plugins.toml') as k:\n"
        "        print((await k.health()).plugins['greeter'].detail)\n"
        "anyio.run(main)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "kernel start" in result.stdout
    assert '"text": "Hello, Ada!"' in (tmp_path / "events.jsonl").read_text()


def test_bad_config_for_installed_plugin_is_named(greeter_installed: None, tmp_path: Path) -> None:
    (tmp_path / "plugins.toml").write_text('[greeter]\nname = ""\n')
    result = run("config", "check", cwd=tmp_path)
    assert result.returncode == 1
    assert "plugins.toml [greeter] key 'name': String should have at least 1 character" in result.stderr


def test_example_plugin_own_tests_pass_with_the_sdk_pytest_plugin(greeter_installed: None) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        cwd=EXAMPLE, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


BROKEN_PYPROJECT = """\
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"
[project]
name = "pygent-broken-example"
version = "0.0.1"
[project.entry-points."pygent.plugins"]
broken = "pygent_broken_example:Plugin"
[tool.setuptools]
packages = ["pygent_broken_example"]
"""


@pytest.fixture
def broken_installed(tmp_path: Path):  # type: ignore[no-untyped-def]
    """An installed plugin whose module raises ImportError, removed again after the test."""
    src = tmp_path / "src"
    (src / "pygent_broken_example").mkdir(parents=True)
    (src / "pygent_broken_example" / "__init__.py").write_text('raise ImportError("needs libfoo")\n')
    (src / "pyproject.toml").write_text(BROKEN_PYPROJECT)
    pip = [sys.executable, "-m", "pip", "--quiet"]
    subprocess.run([*pip, "install", "--no-deps", "--no-build-isolation", str(src)],
                   check=True, capture_output=True, timeout=300)
    yield
    subprocess.run([*pip, "uninstall", "--yes", "pygent-broken-example"], check=True,
                   capture_output=True, timeout=300)


def test_a_broken_installed_plugin_is_named_and_harms_nothing(broken_installed: None, tmp_path: Path) -> None:
    (tmp_path / "plugins.toml").write_text(
        '[broken]\non_error = "continue"\n[heartbeat]\ninterval = 0.05\ncount = 1\n'
    )
    listing = run("plugins", "list", cwd=tmp_path)
    assert listing.returncode == 0
    row = next(line for line in listing.stdout.splitlines() if "│ broken" in line)
    assert "error" in row
    assert "Plugin 'broken' failed to load: importing pygent_broken_example:Plugin raised " \
           "ImportError: needs libfoo" in listing.stderr
    check = run("config", "check", cwd=tmp_path)
    assert check.returncode == 0 and 'warning (on_error = "continue")' in check.stderr
    (tmp_path / "plugins.toml").write_text('[broken]\n[heartbeat]\n')
    strict = run("config", "check", cwd=tmp_path)
    assert strict.returncode == 1 and "error: Plugin 'broken' failed to load" in strict.stderr
