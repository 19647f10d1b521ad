"""Meta-tests: what the project declares is documented (datasette's tests/test_docs.py pattern)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from pygent_host.cli import cli
from pygent_kernel import KernelSettings

from .meta import event_classes, hook_names

DOCS = Path(__file__).parents[1] / "docs"


def headings(page: str) -> set[str]:
    return set(re.findall(r"^#+ `?([\w.>* -]+?)`?(?:\(.*\))?$", (DOCS / page).read_text(), re.M))


@pytest.mark.parametrize("hook", hook_names())
def test_every_hook_is_documented(hook: str) -> None:
    assert hook in headings("hooks.md"), f"docs/hooks.md has no heading for hook {hook}"


@pytest.mark.parametrize("topic", [c.topic for c in event_classes()])
def test_every_event_is_documented(topic: str) -> None:
    assert topic in headings("events.md"), f"docs/events.md has no heading for event {topic}"


@pytest.mark.parametrize("key", list(KernelSettings.model_fields))
def test_every_kernel_setting_is_documented(key: str) -> None:
    assert f"`{key}`" in (DOCS / "configuration.md").read_text()


def _commands(group: click.Group, prefix: str = "pygent") -> list[str]:
    names = []
    for name, command in group.commands.items():
        names.append(f"{prefix} {name}")
        if isinstance(command, click.Group):
            names.extend(_commands(command, f"{prefix} {name}"))
    return names


@pytest.mark.parametrize("command", _commands(cli))
def test_every_cli_command_is_documented(command: str) -> None:
    assert f"`{command}" in (DOCS / "cli.md").read_text()
