"""heartbeat: publishes a ``heartbeat.beat`` event at a fixed interval, for liveness checks."""

from __future__ import annotations

import time

import anyio
from anyio.abc import TaskStatus
from pydantic import Field
from pygent_sdk import Event, Health, Plugin, PluginConfig, event, hookimpl


@event("heartbeat.beat")
class Beat(Event):
    """The kernel is alive: beat number ``seq``, ``uptime`` seconds after the plugin started."""

    seq: int
    uptime: float


class HeartbeatConfig(PluginConfig):
    """Configuration of the ``[heartbeat]`` table."""

    interval: float = Field(5.0, gt=0, description="Seconds between beats.")
    count: int | None = Field(
        None, ge=1, description="Stop beating after this many beats (unset: beat forever)."
    )


class HeartbeatPlugin(Plugin):
    """Publishes heartbeat.beat events; reports degraded when beats fall behind."""

    Config = HeartbeatConfig
    provides = ("heartbeat",)
    config: HeartbeatConfig

    beats = 0
    _last = 0.0

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        started = self._last = time.monotonic()
        task_status.started()
        while self.config.count is None or self.beats < self.config.count:
            await anyio.sleep(self.config.interval)
            self.beats += 1
            self._last = time.monotonic()
            await self.context.bus.publish(
                Beat(seq=self.beats, uptime=self._last - started, source=self.context.name)
            )
        await anyio.sleep_forever()

    @hookimpl
    def pygent_health(self) -> Health:
        late = time.monotonic() - self._last
        if self.config.count is not None and self.beats >= self.config.count:
            return Health.ok(f"done after {self.beats} beats")
        if late > 3 * self.config.interval:
            return Health.degraded(f"last beat {late:.1f} s ago (interval {self.config.interval:g} s)")
        return Health.ok(f"{self.beats} beats")
