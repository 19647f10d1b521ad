"""run_python: run untrusted Python in a subprocess with time, memory, output and process limits,
no network, and writes confined to a temporary working directory.

Isolation, strongest first: a network namespace (``unshare --net``) where the system allows it;
an unprivileged user (``nobody``) when started as root; kernel resource limits; and a Python
audit hook (see ``boot.py``). The result says which of these applied.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
from anyio.abc import ByteReceiveStream

NOBODY = 65534
BOOT = (Path(__file__).with_name("boot.py")).read_text()


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """What one run may use."""

    timeout_s: float = 10.0
    memory_mb: int = 256
    output_bytes: int = 64_000
    file_mb: int = 16
    processes: int = 64


@dataclasses.dataclass(frozen=True, slots=True)
class RunResult:
    """How a run ended. ``ok`` means exit status 0 within every limit."""

    exit_code: int | None
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False
    output_truncated: bool = False
    isolation: tuple[str, ...] = ()

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
            name = signal.Signals(-self.exit_code).name
            hint = {"SIGXCPU": " (CPU time limit)", "SIGKILL": " (killed)"}.get(name, "")
            return f"killed by {name}{hint}"
        return f"exit status {self.exit_code}"


@functools.cache
def _launcher() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The command prefix and the isolation it gives: ``unshare`` cutting the network (and, as
    root, dropping to nobody with an interpreter nobody may run), or the plain interpreter."""
    unshare = shutil.which("unshare")
    candidates: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    if unshare and os.geteuid() == 0:
        drop = (unshare, "--net", f"--setuid={NOBODY}", f"--setgid={NOBODY}", "--")
        for python in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
            if os.path.exists(python):
                candidates.append(((*drop, python), ("network-namespace", "user-nobody")))
        candidates.append(((unshare, "--net", "--", sys.executable), ("network-namespace",)))
    elif unshare:
        net = (unshare, "--user", "--map-root-user", "--net", "--", sys.executable)
        candidates.append((net, ("network-namespace",)))
    for command, isolation in candidates:
        probe = subprocess.run([*command, "-I", "-c", "pass"], capture_output=True, timeout=10)
        if probe.returncode == 0:
            return command, isolation
    return (sys.executable,), ()


async def _read(stream: ByteReceiveStream | None, into: bytearray, budget: list[int],
                overflow: anyio.Event) -> None:
    if stream is None:
        return
    async for data in stream:
        keep = data[: max(budget[0], 0)]
        into += keep
        budget[0] -= len(data)
        if budget[0] < 0:
            overflow.set()
            return


async def run_python(code: str, limits: Limits = Limits()) -> RunResult:
    """Run ``code`` as ``main.py`` in a fresh temporary directory under ``limits``."""
    workdir = Path(tempfile.mkdtemp(prefix="pygent-sandbox-"))
    (workdir / "main.py").write_text(code)
    launcher, isolated = await anyio.to_thread.run_sync(_launcher)
    isolation = ("rlimits", "audit-hook", *isolated)
    if "user-nobody" in isolation:
        os.chown(workdir, NOBODY, NOBODY)
        os.chown(workdir / "main.py", NOBODY, NOBODY)
    rlimits = {
        "RLIMIT_CPU": int(limits.timeout_s) + 1,
        "RLIMIT_AS": limits.memory_mb * 2**20,
        "RLIMIT_FSIZE": limits.file_mb * 2**20,
        "RLIMIT_NPROC": limits.processes,
        "RLIMIT_NOFILE": 64,
        "RLIMIT_CORE": 0,
    }
    command = [
        *launcher, "-I", "-B", "-c", BOOT,
        *(f"{name}={value}" for name, value in rlimits.items()),
    ]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "PYTHONIOENCODING": "utf-8", "LANG": "C.UTF-8"}
    stdout, stderr, budget, overflow = bytearray(), bytearray(), [limits.output_bytes], anyio.Event()
    timed_out = False
    start = time.perf_counter()
    try:
        async with await anyio.open_process(
            command, cwd=workdir, env=env, start_new_session=True, stdin=subprocess.DEVNULL,
        ) as process:
            async with anyio.create_task_group() as group:

                async def watch() -> None:
                    nonlocal timed_out
                    with anyio.move_on_after(limits.timeout_s) as scope:
                        await overflow.wait()
                    timed_out = scope.cancelled_caught
                    _kill_group(process.pid)

                group.start_soon(watch)
                async with anyio.create_task_group() as readers:
                    readers.start_soon(_read, process.stdout, stdout, budget, overflow)
                    readers.start_soon(_read, process.stderr, stderr, budget, overflow)
                await process.wait()
                group.cancel_scope.cancel()
            _kill_group(process.pid)
            exit_code = process.returncode
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return RunResult(
        exit_code=exit_code, stdout=stdout.decode(errors="replace"),
        stderr=stderr.decode(errors="replace"), duration_s=time.perf_counter() - start,
        timed_out=timed_out, output_truncated=overflow.is_set(), isolation=isolation,
    )


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
