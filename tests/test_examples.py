"""The documented embedding example runs as written."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_embedding_example_runs(tmp_path: Path) -> None:
    shutil.copy(ROOT / "plugins.toml", tmp_path / "plugins.toml")
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "examples" / "embed.py")], cwd=tmp_path,
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "subscriber received 3 orders, total 58.75" in result.stdout
    assert "heartbeat #1" in result.stdout and "Kernel stopped cleanly." in result.stdout
    assert "shop.order.placed" not in (tmp_path / ".pygent" / "events.jsonl").read_text()


def test_make_demo_script_runs_on_the_embedded_model(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "examples" / "agents_demo.py")], cwd=tmp_path,
        capture_output=True, text=True, timeout=240, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "used calculator(17*23) → 391" in out and "attempt 1:" in out
    assert "The stored conversation of the general agent" in out and "Demo finished." in out
    assert "tokens generated" in out
