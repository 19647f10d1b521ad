"""Errors a plugin author raises or handles. Each one's message is a complete, user-facing paragraph."""

from __future__ import annotations


class PygentError(Exception):
    """Base of every error PyGent raises on purpose; ``str(err)`` is meant for the user as it is."""


class ConfigError(PygentError):
    """A configuration file or table is malformed; the message names the file, table and key."""

    def __init__(
        self, message: str, *, file: str | None = None, table: str | None = None,
        key: str | None = None,
    ) -> None:
        self.file, self.table, self.key = file, table, key
        where = " ".join(
            part for part in (
                file or "",
                f"[{table}]" if table else "",
                f"key '{key}'" if key else "",
            ) if part
        )
        super().__init__(f"{where}: {message}" if where else message)


class PluginError(PygentError):
    """A named plugin failed in one phase of its life (load, register, start, run, stop)."""

    def __init__(self, plugin: str, phase: str, message: str) -> None:
        self.plugin, self.phase = plugin, phase
        super().__init__(f"Plugin '{plugin}' failed to {phase}: {message}")


class DependencyError(PygentError):
    """Plugins' ``provides``/``requires`` cannot be satisfied (missing provider or a cycle)."""

    def __init__(self, message: str, *, plugins: tuple[str, ...] = ()) -> None:
        self.plugins = plugins
        super().__init__(message)


class ConfigErrors(PygentError):
    """Several configuration problems found at once; ``errors`` holds each of them."""

    def __init__(self, errors: list[PygentError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))
