"""sandbox: runs untrusted Python under bubblewrap (namespaces, a uid of its own, rlimits).

Answers ``pygent_sandbox`` (``pygent_sdk.sandbox.SANDBOX``). Where strong isolation is not
available it refuses to run anything, unless ``isolation = "weak"`` accepts less. See
docs/sandbox.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field
from pygent_sdk import Health, Plugin, PluginConfig, hookimpl
from pygent_sdk.sandbox import Sandbox, SandboxHooks, SandboxLimits

if TYPE_CHECKING:
    from .runner import BwrapSandbox

__all__ = ["SandboxConfig", "SandboxPlugin"]


class SandboxConfig(PluginConfig):
    """Configuration of the ``[sandbox]`` table."""

    isolation: Literal["strong", "weak"] = Field(
        "strong", description='"strong": run only under bubblewrap, refuse otherwise; "weak": '
        "without bubblewrap, still run (rlimits, a separate uid as root, an audit hook).",
    )
    bwrap: str = Field("bwrap", description="The bubblewrap executable (a name on PATH or a path).")
    python: str = Field(
        "/usr/bin/python3", description="Interpreter for untrusted code; its prefix is mounted "
        "read-only, so it must be readable by an unprivileged uid (not under /root).",
    )
    binds: list[str] = Field(
        default_factory=list, description="Extra host paths mounted read-only in the sandbox.",
    )
    max_timeout_s: float = Field(
        60.0, gt=0, description="Most wall-clock seconds any run may ask for."
    )
    max_memory_mb: int = Field(
        1024, ge=32, description="Most address space (MiB) per process a run may ask for."
    )
    max_output_bytes: int = Field(
        1_000_000, ge=1024, description="Most stdout+stderr bytes a run may ask for."
    )
    max_file_mb: int = Field(64, ge=1, description="Largest file (MiB) a run may ask to write.")
    max_disk_mb: int = Field(
        256, ge=1, description="Most MiB of files a run's work directory may ask to hold (under "
        "bubblewrap a tmpfs, so it counts against the machine's memory).",
    )
    max_processes: int = Field(64, ge=1, description="Most processes a run may ask for.")
    uid_base: int = Field(
        200_000, ge=1000, lt=2**31, description="As root, run N gets uid uid_base + slot "
        "(0 <= slot < max_parallel); these uids must own nothing else.",
    )
    max_parallel: int = Field(8, ge=1, le=256, description="Runs at once; more wait for a slot.")


class SandboxPlugin(Plugin):
    """Runs untrusted Python under OS isolation (bubblewrap) with hard limits."""

    Config = SandboxConfig
    provides = ("sandbox",)
    config: SandboxConfig
    sandbox: BwrapSandbox | None = None

    @hookimpl
    def pygent_addhooks(self, pluginmanager: Any) -> None:
        pluginmanager.add_hookspecs(SandboxHooks)

    async def start(self) -> None:
        from .runner import BwrapSandbox

        c = self.config
        sandbox = BwrapSandbox(
            mode=c.isolation, bwrap=c.bwrap, python=c.python, binds=c.binds,
            maximum=SandboxLimits(
                timeout_s=c.max_timeout_s, memory_mb=c.max_memory_mb,
                output_bytes=c.max_output_bytes, file_mb=c.max_file_mb, disk_mb=c.max_disk_mb,
                processes=c.max_processes, open_files=1024,
            ),
            uid_base=c.uid_base, max_parallel=c.max_parallel,
        )
        await sandbox.probe()
        if not sandbox.strong:
            self.context.log.warning(
                sandbox.refusal() if c.isolation == "strong" else
                f"sandbox: weak isolation accepted by config ({sandbox.problem})"
            )
        self.sandbox = sandbox

    async def stop(self) -> None:
        self.sandbox = None

    @hookimpl
    def pygent_sandbox(self) -> Sandbox | None:
        return self.sandbox

    @hookimpl
    def pygent_health(self) -> Health:
        if self.sandbox is None:
            return Health.down("not started")
        layers = ", ".join(self.sandbox.isolation)
        if self.sandbox.strong:
            return Health.ok(f"strong isolation: {layers}")
        if self.config.isolation == "weak":
            return Health.degraded(f"weak isolation ({self.sandbox.problem}): {layers}")
        return Health.down(self.sandbox.refusal())
