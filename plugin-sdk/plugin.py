"""The plugin base class, its config base and the context the kernel hands each plugin."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
from anyio.abc import TaskStatus
from pydantic import BaseModel, ConfigDict

from .services import ServiceKey, T

if TYPE_CHECKING:
    import pluggy

    from .bus import Bus
    from .health import KernelHealth, PluginStatus


def add_hookspecs_once(pluginmanager: pluggy.PluginManager, specs: type) -> None:
    """Add the hookspecs of ``specs`` unless another plugin already has: for a capability that
    several plugins provide (vector stores), each registers its specs in ``pygent_addhooks``."""
    names = [n for n in dir(specs) if n.startswith("pygent_")]
    if all(getattr(getattr(pluginmanager.hook, n, None), "spec", None) is not None for n in names):
        return
    pluginmanager.add_hookspecs(specs)


class PluginConfig(BaseModel):
    """Base of every plugin's config: a frozen pydantic model in which unknown keys are errors.

    Document each field with ``Field(description=...)``: ``pygent plugins info`` shows it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclasses.dataclass(frozen=True, slots=True)
class PluginContext:
    """What the kernel gives a plugin: its name, the bus, the hook relay and a data directory."""

    name: str
    bus: Bus
    hook: pluggy.HookRelay
    """Call other plugins' hooks: ``context.hook.pygent_health()``."""
    data_dir: Path
    """A directory of this plugin's own, created 0700 by the kernel before the plugin starts; write
    its files with ``pygent_sdk.files`` (0600 from the first byte)."""
    log: logging.Logger
    stop_timeout: float
    request_shutdown: Callable[[str], None]
    """Ask the kernel to shut down, giving a reason (e.g. a fatal error in a service)."""
    health: Callable[[], Awaitable[KernelHealth]]
    """Every running plugin's health, as ``Kernel.health()`` reports it."""
    plugins: Callable[[], list[PluginStatus]]
    """Every configured plugin's state, as ``Kernel.statuses()`` reports it."""

    def service(self, key: ServiceKey[T], **kwargs: Any) -> T:
        """The service ``key`` names (e.g. ``MEMORY_STORE``), or raise ``ServiceUnavailable``."""
        return key.require(self.hook, who=self.name, **kwargs)

    def optional_service(self, key: ServiceKey[T], **kwargs: Any) -> T | None:
        """The service ``key`` names, or None when no enabled plugin provides it."""
        return key.lookup(self.hook, **kwargs)


class Plugin:
    """Base class of every PyGent plugin.

    Subclass it, set ``Config``, ``provides``, ``requires`` and ``uses``, add ``@hookimpl`` methods, and
    either override :meth:`start`/:meth:`stop` (setup and teardown) or :meth:`run` (a long-running
    service). Register the class under the ``pygent.plugins`` entry-point group. Import heavy
    libraries inside methods, never at module level: ``pygent plugins list`` imports every plugin.
    """

    Config: ClassVar[type[PluginConfig]] = PluginConfig
    provides: ClassVar[tuple[str, ...]] = ()
    """Capabilities this plugin offers to others, e.g. ``("chat-model",)``."""
    requires: ClassVar[tuple[str, ...]] = ()
    """Capabilities that must be provided by plugins started before this one."""
    uses: ClassVar[tuple[str, ...]] = ()
    """Capabilities used when present: their providers start first, but none is needed."""
    listens: ClassVar[bool] = False
    """True for a plugin that opens a network listener (a server): one-shot ``pygent`` commands
    start the kernel without it, so they never take a port."""

    def __init__(self, config: Any, context: PluginContext) -> None:
        self.config = config
        self.context = context

    async def start(self) -> None:
        """Set up; the plugin counts as started when this returns."""

    async def stop(self) -> None:
        """Tear down what :meth:`start` set up; bounded by the kernel's ``stop_timeout``."""

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run the plugin's service: start, report ready, wait to be cancelled, then stop.

        Override for a service with its own loop; call ``task_status.started()`` once ready
        (as with anyio's ``TaskGroup.start``) and clean up when cancelled.
        """
        await self.start()
        try:
            task_status.started()
            await anyio.sleep_forever()
        finally:
            with anyio.move_on_after(self.context.stop_timeout, shield=True):
                await self.stop()

    @classmethod
    def summary(cls) -> str:
        """First line of the class docstring."""
        return (cls.__doc__ or "").strip().partition("\n")[0]
