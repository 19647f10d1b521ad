"""Data files are private: the data dir and everything in it is 0700/0600, whatever the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pygent_plugins.auth import AuthPlugin
from pygent_plugins.eventlog import EventLogPlugin
from pygent_sdk.files import open_private, private_dir, touch_private, write_private
from pygent_sdk.testing import PluginHarness

from .agent_kit import stack
from .http_kit import chatty_model

pytestmark = pytest.mark.anyio


@pytest.fixture
def umask_022():  # type: ignore[no-untyped-def]
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def exposed(root: Path) -> list[str]:
    """Paths under ``root`` (itself included) that the group or others may use at all."""
    found = [root, *root.rglob("*")]
    modes = {p: p.lstat().st_mode for p in found}
    return [f"{oct(stat.S_IMODE(mode))} {p}" for p, mode in modes.items() if mode & 0o077]


async def test_data_dir_and_every_file_in_it_are_private(tmp_path: Path, umask_022: None) -> None:
    data = tmp_path / "data"
    plugins, config = stack(chatty_model())
    plugins.update(auth=AuthPlugin, eventlog=EventLogPlugin)
    config.update(kernel={"data_dir": str(data)}, auth={},
                  eventlog={"file": str(data / "eventlog" / "events.jsonl")})
    async with PluginHarness(plugins, config) as h:
        h.kernel.hook.pygent_auth_keys().create("admin")
        registry = h.kernel.hook.pygent_agent_registry()
        info = await registry.create("general", name="private")
        await registry.run(info.id, "remember this")
        await h.settle()
        assert exposed(data) == []
        names = {p.name for p in data.rglob("*")}
        assert {"keys.json", "memory.db", "memory.db-wal", "events.jsonl", f"{info.id}.json"} \
            <= names
    assert exposed(data) == []


def test_helpers_create_private_paths_and_tighten_old_ones(tmp_path: Path, umask_022: None) -> None:
    deep = private_dir(tmp_path / "a" / "b")
    assert exposed(tmp_path / "a") == []
    old = tmp_path / "old.log"
    old.write_text("x")
    old.chmod(0o644)
    with open_private(old) as f:
        f.write("y")
    assert old.read_text() == "xy" and exposed(old) == []
    write_private(deep / "f.json", "{}")
    assert (deep / "f.json").read_text() == "{}" and exposed(tmp_path / "a") == []
    assert [p.name for p in deep.iterdir()] == ["f.json"]  # no temporary file left behind
    touch_private(deep / "db")
    assert exposed(tmp_path / "a") == []
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    private_dir(shared, tighten=False)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755  # a directory the user owns is left alone
