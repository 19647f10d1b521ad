"""Where the ``pygent`` command's configuration comes from and how its commands start a kernel."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from pygent_kernel import ConfigFile, Kernel, discovery, parse_config, read_config
from pygent_kernel.config import not_found


DEFAULTS = "default_plugins.toml"


def defaults_text() -> str:
    """The built-in plugins.toml: the embedded main job, commented (what ``pygent init`` writes)."""
    return resources.files("pygent_host").joinpath(DEFAULTS).read_text()


def load(config_path: Path | None) -> ConfigFile:
    """The config at ``config_path``, or the built-in defaults when it is None."""
    if config_path is None:
        import tomllib

        return parse_config(tomllib.loads(defaults_text()), source="<built-in defaults>")
    if not config_path.exists():
        raise not_found(config_path)
    return read_config(config_path)


def resolve(config_path: Path, explicit: bool) -> Path | None:
    """``config_path`` if it exists; None (the built-in defaults) if it was not asked for."""
    if config_path.exists():
        return config_path
    if explicit:
        raise not_found(config_path)
    return None


def without_listeners(config: ConfigFile) -> ConfigFile:
    """``config`` with plugins that open network listeners disabled (``Plugin.listens``)."""
    names = [e.name for e in config.plugins if e.enabled]
    classes, _ = discovery.load(names)
    return dataclasses.replace(config, plugins=tuple(
        dataclasses.replace(e, enabled=False) if getattr(classes.get(e.name), "listens", False) else e
        for e in config.plugins
    ))


def with_overrides(config: ConfigFile, tables: Mapping[str, Mapping[str, Any]]) -> ConfigFile:
    """``config`` with keys of the given tables replaced (a table not in the file is added)."""
    from pygent_kernel import PluginEntry

    entries = list(config.plugins)
    for name, keys in tables.items():
        keys = dict(keys)
        enabled = keys.pop("enabled", None)
        found = next((i for i, e in enumerate(entries) if e.name == name), None)
        entry = entries[found] if found is not None else PluginEntry(name)
        entry = dataclasses.replace(
            entry, options={**entry.options, **keys},
            enabled=entry.enabled if enabled is None else bool(enabled),
        )
        if found is None:
            entries.append(entry)
        else:
            entries[found] = entry
    return dataclasses.replace(config, plugins=tuple(entries))


def kernel_factory(config_path: Path | None):  # type: ignore[no-untyped-def]
    """The ``CliContext.kernel`` of a command: ``kernel(**tables)`` starts the configured kernel.

    Plugins that open listeners stay off unless a table override enables them (``pygent serve``
    is the http plugin's own command and turns its table on).
    """

    @asynccontextmanager
    async def kernel(**tables: Mapping[str, Any]) -> AsyncIterator[Kernel]:
        config = without_listeners(load(config_path))
        kernel = Kernel(with_overrides(config, tables))
        kernel.raise_fatal()
        async with kernel:
            yield kernel

    return kernel
