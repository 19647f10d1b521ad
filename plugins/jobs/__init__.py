"""jobs: long background work with progress, cancel, a result, and state kept across restarts.

Plugins offer kinds of job through ``pygent_job_kinds``; anyone starts one through the ``JOBS``
service (``pygent_sdk.jobs``). Routes: ``/api/v1/jobs`` (list, start), ``/jobs/{id}``,
``/jobs/{id}/cancel`` and ``/jobs/{id}/events`` (Server-Sent Events).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskStatus
from pydantic import Field
from pygent_sdk import Health, Plugin, PluginConfig, PygentError, hookimpl
from pygent_sdk.jobs import Jobs, JobsHooks

if TYPE_CHECKING:
    from .manager import Manager

__all__ = ["JobsPlugin"]

CLAIM_EVERY_S = 2.0
"""How often a read-only jobs service tries the lock again, so it takes over once the owner ends."""


class JobsConfig(PluginConfig):
    """Configuration of the ``[jobs]`` table."""

    max_running: int = Field(4, ge=1, description="Jobs that run at once; more wait as submitted.")
    max_queued: int = Field(
        100, ge=1, description="Jobs that may wait for a slot; one more is refused (HTTP 429)."
    )
    keep: int = Field(200, ge=1, description="Finished jobs kept (in memory and on disk).")
    save_interval_s: float = Field(
        1.0, ge=0, description="Most often a running job's progress is written to disk, in seconds."
    )


class JobsPlugin(Plugin):
    """Runs background jobs, reports their progress as events, keeps their state on disk."""

    Config = JobsConfig
    provides = ("jobs",)
    config: JobsConfig
    manager: Manager | None = None

    @hookimpl
    def pygent_addhooks(self, pluginmanager: Any) -> None:
        pluginmanager.add_hookspecs(JobsHooks)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        from .manager import Manager

        self.manager = Manager(
            bus=self.context.bus, source=self.context.name, path=self.context.data_dir / "jobs",
            kinds=lambda: [k for kinds in self.context.hook.pygent_job_kinds() for k in kinds],
            max_running=self.config.max_running, max_queued=self.config.max_queued,
            keep=self.config.keep, save_interval_s=self.config.save_interval_s,
            logger=self.context.log,
        )
        try:
            self.manager.load()
            async with anyio.create_task_group() as tasks:
                self.manager.serve(tasks)
                task_status.started()
                try:
                    while not self.manager.claim():  # read-only: take over once the owner ends
                        await anyio.sleep(CLAIM_EVERY_S)
                    await anyio.sleep_forever()
                finally:
                    self.manager.stop()
        finally:
            self.manager.close()  # after the jobs' last saves

    @hookimpl
    def pygent_jobs(self) -> Jobs | None:
        return self.manager

    def _started(self) -> Manager:
        if self.manager is None:
            raise PygentError("the jobs plugin has not started (it failed or is disabled)")
        return self.manager

    @hookimpl(optionalhook=True)
    def pygent_http_routes(self) -> list[Any]:
        from .http import routes

        return routes(self._started())

    @hookimpl
    def pygent_health(self) -> Health:
        if self.manager is None:
            return Health.degraded("not started")
        if not self.manager.claim():
            return Health.degraded("read-only: another pygent process owns the jobs directory "
                                   "(this one takes over when it ends)")
        running = len(self.manager.list(state="running"))
        return Health.ok(f"{running} running; kinds: {', '.join(k.name for k in self.manager.kinds()) or 'none'}")

    @staticmethod
    @hookimpl
    def pygent_cli_commands(cli: Any) -> None:
        from .cli import register

        register(cli)
