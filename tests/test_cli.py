"""The `pygent` command, run as a user runs it: a subprocess, reading its output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PYGENT = Path(sys.executable).with_name("pygent")


def pygent(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PYGENT), *args], cwd=cwd, capture_output=True, text=True, timeout=60,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def test_version() -> None:
    result = pygent("--version")
    assert result.returncode == 0 and result.stdout.strip() == "pygent 0.1.0"


def test_plugins_list_shows_builtins_with_distribution(tmp_path: Path) -> None:
    (tmp_path / "plugins.toml").write_text("[heartbeat]\n[eventlog]\nenabled = false\n")
    result = pygent("plugins", "list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert "pygent-factory" in rows["heartbeat"] and "ready" in rows["heartbeat"]
    assert "disabled" in rows["eventlog"] and "event-log" in rows["eventlog"]


def test_plugins_list_health_starts_the_plugins(tmp_path: Path) -> None:
    (tmp_path / "plugins.toml").write_text("[heartbeat]\n")
    result = pygent("plugins", "list", "--health", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ok: 0 beats" in result.stdout


def test_an_explicit_config_file_must_exist(tmp_path: Path) -> None:
    result = pygent("plugins", "list", cwd=tmp_path, env={"PYGENT_CONFIG": "missing.toml"})
    assert result.returncode == 2
    assert "missing.toml: file not found" in result.stderr
    assert pygent("plugins", "list", cwd=tmp_path).returncode == 0  # the default may be absent


def test_plugins_info_shows_the_config_schema() -> None:
    result = pygent("plugins", "info", "heartbeat")
    assert result.returncode == 0, result.stderr
    for text in ("[heartbeat] configuration", "interval", "Seconds between beats.", "5.0", "on_error"):
        assert text in result.stdout


def test_plugins_info_unknown_name_lists_installed() -> None:
    result = pygent("plugins", "info", "nope")
    assert result.returncode == 2
    assert "No installed plugin is named 'nope'; installed plugins:" in result.stderr


MALFORMED = {
    "wrong type": ('[heartbeat]\ninterval = "fast"\n', "[heartbeat] key 'interval'"),
    "unknown key": ("[heartbeat]\nintervall = 1\n", "key 'intervall': unknown key; expected one of: interval, count"),
    "unknown plugin": ("[heartbeet]\n", "no installed plugin is named 'heartbeet'; installed plugins:"),
    "missing env var": ('[eventlog]\nfile = "${PYGENT_NO_SUCH_VAR}"\n', "environment variable PYGENT_NO_SUCH_VAR is not set"),
    "not TOML": ("[heartbeat\n", "is not valid TOML"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_config_check_names_the_culprit_without_a_traceback(tmp_path: Path, case: str) -> None:
    text, expected = MALFORMED[case]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = pygent("config", "check", str(path))
    assert result.returncode in (1, 2)
    assert expected in result.stderr and str(path) in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_config_check_accepts_the_repository_plugins_toml() -> None:
    root = Path(__file__).parents[1]
    result = pygent("config", "check", str(root / "plugins.toml"))
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "is valid: 20 plugins enabled; start order: eventlog → heartbeat → models" in text
    assert text.endswith("coding → faiss → rag → research → tot → cot → reasoning → auth")


def test_run_with_a_failing_plugin_prints_one_paragraph(tmp_path: Path) -> None:
    # eventlog cannot open a file inside a path that is a file: it raises on start.
    (tmp_path / "blocker").write_text("")
    (tmp_path / "plugins.toml").write_text('[eventlog]\nfile = "blocker/events.jsonl"\n')
    result = pygent("run", cwd=tmp_path)
    assert result.returncode == 2
    assert "Plugin 'eventlog' failed to start: NotADirectoryError" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    (tmp_path / "plugins.toml").write_text(
        '[heartbeat]\ninterval = 0.05\n[eventlog]\nfile = "events.jsonl"\n'
    )
    proc = subprocess.Popen([str(PYGENT), "run"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        log = tmp_path / "events.jsonl"
        while time.monotonic() < deadline and (not log.exists() or "heartbeat.beat" not in log.read_text()):
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "Stopping (received SIGINT)" in out and "Stopped cleanly." in out
    topics = log.read_text()
    assert "heartbeat.beat" in topics and "kernel.stopping" in topics
