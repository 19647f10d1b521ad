"""The Sandbox capability: run untrusted Python under operating-system isolation and hard limits.

A plugin that runs code it did not write (a model's program, an evolved candidate) never spawns
it itself: it asks for the sandbox service and reads every result's ``isolation``::

    from pygent_sdk.sandbox import SANDBOX, SandboxLimits

    sandbox = self.context.service(SANDBOX)
    result = await sandbox.run_python("print(6 * 7)", limits=SandboxLimits(timeout_s=5))
    result.ok, result.stdout, result.isolation   # True, "42\\n", ("user-namespace", ...)

The provider refuses (:class:`SandboxUnavailable`) when strong isolation is not available and
its configuration does not explicitly accept weaker isolation.
"""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from .errors import PygentError
from .markers import hookspec
from .services import ServiceKey

__all__ = [
    "SANDBOX", "Sandbox", "SandboxHooks", "SandboxLimits", "SandboxResult", "SandboxUnavailable",
]


class SandboxUnavailable(PygentError, RuntimeError):
    """The sandbox cannot give the isolation its configuration requires, so it runs nothing."""


@dataclasses.dataclass(frozen=True, slots=True)
class SandboxLimits:
    """What one run may use. The provider clamps each value to its server-wide maximum."""

    timeout_s: float = 10.0
    """Wall-clock limit; at expiry every process of the run is killed."""
    memory_mb: int = 256
    """Address space per process, in MiB."""
    output_bytes: int = 64_000
    """stdout and stderr together, in bytes; the run is killed when it writes more."""
    file_mb: int = 16
    """Largest file the run may write, in MiB."""
    disk_mb: int = 64
    """All files in the work directory together, in MiB (under bubblewrap: a tmpfs that size)."""
    processes: int = 16
    """Processes and threads the run may have at once (without a cgroup, the run's memory is
    bounded by ``processes * memory_mb``)."""
    open_files: int = 64
    """Open file descriptors per process."""

    def __post_init__(self) -> None:
        for name in SandboxLimits.__dataclass_fields__:
            if not getattr(self, name) > 0:
                raise ValueError(f"SandboxLimits.{name} must be > 0, got {getattr(self, name)!r}")


@dataclasses.dataclass(frozen=True, slots=True)
class SandboxResult:
    """How a run ended. ``ok`` means exit status 0 within every limit."""

    exit_code: int | None
    """The program's exit status; negative: killed by that signal."""
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False
    output_truncated: bool = False
    """The run wrote more than ``limits.output_bytes`` and was killed; the output is cut there."""
    isolation: tuple[str, ...] = ()
    """The isolation layers that were active for this run, e.g. ``("network-namespace", ...)``."""
    limits: SandboxLimits = SandboxLimits()
    """The limits the run actually had, after clamping."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.output_truncated

    def describe(self) -> str:
        """One line: how the run ended."""
        if self.timed_out:
            return "killed: time limit exceeded"
        if self.output_truncated:
            return "killed: output limit exceeded"
        if self.exit_code is not None and self.exit_code < 0:
            try:
                name = signal.Signals(-self.exit_code).name
            except ValueError:
                name = f"signal {-self.exit_code}"
            hint = {"SIGXCPU": " (CPU time limit)", "SIGXFSZ": " (file size limit)",
                    "SIGKILL": " (killed)"}.get(name, "")
            return f"killed by {name}{hint}"
        return f"exit status {self.exit_code}"


@runtime_checkable
class Sandbox(Protocol):
    """Runs untrusted Python; the ``sandbox`` plugin answers it."""

    @property
    def isolation(self) -> tuple[str, ...]:
        """The layers a run gets now (empty when runs are refused)."""
        ...

    @property
    def strong(self) -> bool:
        """True when runs are isolated by the operating system (namespaces, a separate uid)."""
        ...

    async def run_python(
        self, code: str, *, files: Mapping[str, str | bytes] | None = None,
        limits: SandboxLimits | None = None,
    ) -> SandboxResult:
        """Run ``code`` as ``main.py`` in a fresh, empty working directory.

        ``files`` maps relative paths to contents written into that directory first. Raises
        :class:`SandboxUnavailable` when the required isolation is not available, ``ValueError``
        for a file path that is absolute or leaves the directory.
        """
        ...


class SandboxHooks:
    """Hooks of the sandbox capability (registered by the ``sandbox`` plugin)."""

    @hookspec(firstresult=True)
    def pygent_sandbox(self) -> Sandbox | None:
        """Return the sandbox that runs untrusted code.

        Firstresult: the first non-None answer wins. Answered by the ``sandbox`` plugin once it
        has started; fetch it with ``context.service(SANDBOX)``. A plugin offering another
        isolation technology (a VM, gVisor, a remote runner) answers this hook instead.

        :return: The :class:`Sandbox`, or None while this plugin has none to offer (not started).
        """


SANDBOX: ServiceKey[Sandbox] = ServiceKey("pygent_sandbox", Sandbox, provider="sandbox")
"""The sandbox service: ``self.context.service(SANDBOX)``."""
