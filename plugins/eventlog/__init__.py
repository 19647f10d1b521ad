"""eventlog: writes the events matching some topic patterns to a JSON-lines file or the log."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import IO, Literal

from pydantic import Field
from pygent_sdk import Event, Health, Listener, Plugin, PluginConfig, hookimpl
from pygent_sdk.files import open_private, private_dir


class EventLogConfig(PluginConfig):
    """Configuration of the ``[eventlog]`` table."""

    topics: list[str] = Field(
        default_factory=lambda: [">"], description="Topic patterns to record ('>' is every event)."
    )
    file: Path | None = Field(
        None, description="JSON-lines file to append to; unset logs through Python logging."
    )
    level: Literal["debug", "info", "warning"] = Field(
        "info", description="Log level used when no file is set."
    )


class EventLogPlugin(Plugin):
    """Records events as JSON lines, to a file or the log."""

    Config = EventLogConfig
    provides = ("event-log",)
    config: EventLogConfig

    _out: IO[str] | None = None
    written = 0

    async def start(self) -> None:
        if self.config.file is not None:
            private_dir(self.config.file.parent, tighten=False)
            self._out = open_private(self.config.file)  # 0600: events carry users' messages

    async def stop(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    def record(self, event: Event) -> None:
        line = json.dumps(event.to_dict(), default=str)
        if self._out is not None:
            self._out.write(line + "\n")
            self._out.flush()
        else:
            self.context.log.log(logging.getLevelName(self.config.level.upper()), "%s", line)
        self.written += 1

    @hookimpl
    def pygent_listeners(self) -> list[Listener]:
        return [Listener(pattern, self.record, name=f"log {pattern}") for pattern in self.config.topics]

    @hookimpl
    def pygent_health(self) -> Health:
        if self.config.file is not None and (self._out is None or self._out.closed):
            return Health.down(f"{self.config.file} is not open")
        return Health.ok(f"{self.written} events written")
