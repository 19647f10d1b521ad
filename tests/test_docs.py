"""Meta-tests: what the project declares is documented, with the signature it really has
(datasette's tests/test_docs.py pattern). Each test lists every gap at once."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import click
from pygent_host.cli import cli, plugin_commands
from pygent_kernel import Kernel, KernelSettings
from pygent_sdk import Event

from .meta import builtin_plugins, event_classes

DOCS = Path(__file__).parents[1] / "docs"
BASE_FIELDS = {f.name for f in dataclasses.fields(Event)}


def documented_signatures(page: str) -> dict[str, list[str]]:
    """``## name(a, b)`` headings of ``page``: name -> argument names."""
    found = re.findall(r"^#+ `?([\w.]+)\(([^)]*)\)`?$", (DOCS / page).read_text(), re.M)
    return {name: [a.strip() for a in args.split(",") if a.strip()] for name, args in found}


def test_every_hook_is_documented_with_its_signature() -> None:
    kernel = Kernel.from_mapping({name: {} for name in builtin_plugins()})
    documented = documented_signatures("hooks.md")
    problems = []
    for name in sorted(vars(kernel.pm.hook)):
        spec = getattr(kernel.pm.hook, name).spec
        if spec is None:
            continue
        if name not in documented:
            problems.append(f"{name}: no '## {name}({', '.join(spec.argnames)})' heading")
        elif documented[name] != list(spec.argnames):
            problems.append(f"{name}: documented ({', '.join(documented[name])}), "
                            f"declared ({', '.join(spec.argnames)})")
    assert not problems, "docs/hooks.md:\n" + "\n".join(problems)


def test_every_event_is_documented_with_its_fields() -> None:
    text = (DOCS / "events.md").read_text()
    problems = []
    for cls in event_classes():
        fields = [f.name for f in dataclasses.fields(cls) if f.name not in BASE_FIELDS]
        match = re.search(rf"^### {re.escape(cls.topic)}\n`(\w+)\(([^)]*)\)`", text, re.M)
        if match is None:
            problems.append(f"{cls.topic}: no '### {cls.topic}' heading followed by "
                            f"`{cls.__name__}({', '.join(fields)})`")
            continue
        args = [a.strip() for a in match.group(2).split(",") if a.strip()]
        if (match.group(1), args) != (cls.__name__, fields):
            problems.append(f"{cls.topic}: documented {match.group(1)}({', '.join(args)}), "
                            f"declared {cls.__name__}({', '.join(fields)})")
    assert not problems, "docs/events.md:\n" + "\n".join(problems)


def test_every_kernel_setting_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    missing = [key for key in KernelSettings.model_fields if f"`{key}`" not in text]
    assert not missing, f"docs/configuration.md lacks kernel settings {missing}"


def test_every_builtin_plugin_config_key_is_documented() -> None:
    from pygent_kernel import discovery

    classes, failures = discovery.load(builtin_plugins())
    assert not failures
    text = "\n".join(p.read_text() for p in DOCS.glob("*.md"))
    missing = [
        f"[{name}] {key}" for name, cls in classes.items() for key in cls.Config.model_fields
        if not re.search(rf"`{re.escape(key)}`", text)
    ]
    assert not missing, f"config keys no page of docs/ mentions as `key`: {missing}"


def _commands(group: click.Group, prefix: str = "pygent") -> list[str]:
    names = []
    for name, command in group.commands.items():
        names.append(f"{prefix} {name}")
        if isinstance(command, click.Group):
            names.extend(_commands(command, f"{prefix} {name}"))
    return names


def test_every_cli_command_is_documented() -> None:
    text = (DOCS / "cli.md").read_text()
    commands = _commands(cli) + _commands(plugin_commands())
    assert "pygent agents run" in commands and "pygent init" in commands  # both sources seen
    missing = [c for c in commands if f"`{c}" not in text]
    assert not missing, f"docs/cli.md lacks {missing}"
