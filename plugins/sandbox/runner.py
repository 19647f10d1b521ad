"""BwrapSandbox: untrusted Python under bubblewrap, a uid of its own and kernel resource limits.

One run, from the outside in:

- ``prlimit`` sets the address space, CPU time, file size, open files and process count, then
  execs the rest, so every process of the run inherits kernel-enforced limits;
- as root, the run gets a dedicated uid (``uid_base + slot``; one per concurrent run): it owns
  nothing on the host, and ``RLIMIT_NPROC`` counts only that run's processes;
- ``bwrap`` puts it in new user, PID, network, IPC, UTS and cgroup namespaces, with a read-only
  root holding only the interpreter and system libraries, ``/proc`` of its own PID namespace,
  a minimal read-only ``/dev``, and ``/work``, a tmpfs of ``disk_mb`` filled from memfds, as the
  only writable path; ``--die-with-parent``, ``--new-session``, ``--as-pid-1`` (the program is
  the namespace's pid 1: when it ends, everything in it ends); no user namespaces inside;
- inside, ``boot.py`` installs an audit hook (an extra layer, never the boundary).

stdout and stderr go to files outside the sandbox, polled for size: a run that writes more than
its ``output_bytes`` is killed, and only that many bytes are ever read into memory. At the time
limit, on cancellation or past the output cap, bwrap's process group is killed, which takes the
PID namespace with it, and, as root, every process left with the run's uid is killed too.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Literal

import anyio
from anyio.abc import Process
from pygent_sdk.sandbox import SandboxLimits, SandboxResult, SandboxUnavailable

BOOT = Path(__file__).with_name("boot.py").read_text()
INNER_UID = 65534
POLL_S = 0.02
STRONG_LAYERS = (
    "bubblewrap", "user-namespace", "pid-namespace", "network-namespace", "ipc-namespace",
    "uts-namespace", "read-only-filesystem",
)
SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
FIX = ('install bubblewrap (`apt-get install bubblewrap`, or `make` as root), or accept weaker '
       'isolation explicitly with isolation = "weak" in the [sandbox] table of plugins.toml')


def clamp(asked: SandboxLimits, most: SandboxLimits) -> SandboxLimits:
    """``asked``, each value capped at the server-wide maximum ``most``."""
    return SandboxLimits(**{
        name: min(getattr(asked, name), getattr(most, name))
        for name in SandboxLimits.__dataclass_fields__
    })


class BwrapSandbox:
    """The :class:`pygent_sdk.sandbox.Sandbox` of the ``sandbox`` plugin."""

    def __init__(
        self, *, mode: Literal["strong", "weak"], bwrap: str, python: str, binds: list[str],
        maximum: SandboxLimits, uid_base: int, max_parallel: int,
    ) -> None:
        self.mode = mode
        self.bwrap = shutil.which(bwrap)
        self.python = python
        self.binds = binds
        self.maximum = maximum
        self.uid_base = uid_base
        self.as_root = os.geteuid() == 0
        self.max_parallel = max_parallel
        self._locks = Path(tempfile.gettempdir(), f"pygent-sandbox-{os.geteuid()}-{uid_base}")
        self._strong = False
        self.problem = ""
        """Why strong isolation is unavailable ("" when it is)."""

    # -- setup -------------------------------------------------------------------------------

    async def probe(self) -> None:
        """Try a real run once; record whether strong isolation works and, if not, why."""
        if self.bwrap is None:
            self.problem = "bubblewrap (bwrap) is not installed or not on PATH"
            return
        slot, lock = await self._acquire_slot()
        try:
            with anyio.fail_after(30):
                probe = await anyio.run_process(
                    [*self._bwrap_command(1, {}), "-I", "-c", "print('ok')"], cwd="/",
                    check=False, **self._user_kwargs(self.uid_base + slot),
                )
        finally:
            os.close(lock)
        if probe.returncode == 0 and probe.stdout == b"ok\n":
            self._strong, self.problem = True, ""
        else:
            error = probe.stderr.decode(errors="replace").strip()[-300:]
            code = probe.returncode
            self.problem = f"bubblewrap could not start a sandbox (exit {code}: {error})"

    @property
    def strong(self) -> bool:
        return self._strong

    @property
    def isolation(self) -> tuple[str, ...]:
        if not self._strong and self.mode == "strong":
            return ()
        layers = STRONG_LAYERS if self._strong else ("process-session",)
        return (*layers, *(("dedicated-uid",) if self.as_root else ()), "rlimits", "audit-hook")

    def refusal(self) -> str:
        """The message of the SandboxUnavailable raised when runs are refused."""
        return (f"The sandbox refuses to run untrusted code: strong isolation is unavailable "
                f"({self.problem}). To fix: {FIX}.")

    # -- one run -----------------------------------------------------------------------------

    async def run_python(
        self, code: str, *, files: Mapping[str, str | bytes] | None = None,
        limits: SandboxLimits | None = None,
    ) -> SandboxResult:
        if not self.isolation:
            raise SandboxUnavailable(self.refusal())
        inputs = {PurePosixPath("main.py"): code.encode()}
        for name, data in (files or {}).items():
            inputs[_relative(name)] = data.encode() if isinstance(data, str) else data
        limits = clamp(limits or SandboxLimits(), self.maximum)
        slot, lock = await self._acquire_slot()
        try:
            return await self._run(inputs, limits, self.uid_base + slot)
        finally:
            os.close(lock)

    async def _acquire_slot(self) -> tuple[int, int]:
        """A free slot (so a uid no other run uses, in any process) and the fd locking it."""
        self._locks.mkdir(mode=0o700, exist_ok=True)
        info = self._locks.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            raise SandboxUnavailable(f"{self._locks} is not a directory of this user's; remove it")
        while True:
            for slot in range(self.max_parallel):
                path = self._locks / f"{slot}.lock"
                fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return slot, fd
                except BlockingIOError:
                    os.close(fd)
            await anyio.sleep(POLL_S)

    async def _run(
        self, inputs: dict[PurePosixPath, bytes], limits: SandboxLimits, uid: int,
    ) -> SandboxResult:
        root = Path(tempfile.mkdtemp(prefix="pygent-sandbox-"))
        fds: list[int] = []
        try:
            with open(root / "stdout", "xb", opener=_private) as stdout, \
                    open(root / "stderr", "xb", opener=_private) as stderr:
                if self._strong:  # inputs reach the sandbox's tmpfs through memfds, not the disk
                    files = {path: _memfd(path.name, data, fds) for path, data in inputs.items()}
                    command = [*self._rlimits(limits), *self._bwrap_command(limits.disk_mb, files)]
                    cwd, home = Path("/"), Path("/work")
                else:
                    cwd = home = self._workdir(root, uid, inputs)
                    command = [*self._rlimits(limits), self.python]
                start = time.perf_counter()
                process = await anyio.open_process(
                    [*command, "-I", "-B", "-c", BOOT], stdin=subprocess.DEVNULL, stdout=stdout,
                    stderr=stderr, cwd=cwd, env=self._env(home), start_new_session=True,
                    pass_fds=fds, **self._user_kwargs(uid),
                )
                ended = "cancelled"
                try:
                    ended = await self._watch(process, (stdout, stderr), limits, start)
                    duration = time.perf_counter() - start
                finally:  # also when cancelled: nothing of the run may outlive it
                    with anyio.CancelScope(shield=True):
                        _kill_group(process.pid)
                        await process.wait()
                        if not (self._strong and ended == "exit"):  # else the PID namespace
                            await self._kill_uid(uid)  # ended with its pid 1: nothing is left
                        await process.aclose()
            out, err, cut = _read_outputs(root, limits.output_bytes)
        finally:
            for fd in fds:
                os.close(fd)
            shutil.rmtree(root, ignore_errors=True)
        return SandboxResult(
            exit_code=self._exit_code(process.returncode), stdout=out, stderr=err,
            duration_s=duration, timed_out=ended == "timeout",
            output_truncated=ended == "output" or cut, isolation=self.isolation, limits=limits,
        )

    @staticmethod
    async def _watch(
        process: Process, outputs: tuple[BinaryIO, BinaryIO], limits: SandboxLimits, start: float,
    ) -> str:
        """Wait for the run to end: "exit", or "timeout" / "output" when a limit killed it."""
        while True:
            with anyio.move_on_after(POLL_S):
                await process.wait()
                return "exit"
            if sum(os.fstat(f.fileno()).st_size for f in outputs) > limits.output_bytes:
                return "output"
            if time.perf_counter() - start > limits.timeout_s:
                return "timeout"

    # -- pieces ------------------------------------------------------------------------------

    def _workdir(self, root: Path, uid: int, inputs: dict[PurePosixPath, bytes]) -> Path:
        """Weak isolation: ``root/work`` on the host holding the inputs, owned by the run's uid."""
        root.chmod(0o711)  # the run's uid may pass through to work/, not list root/
        work = root / "work"
        work.mkdir(mode=0o700)
        for name, data in inputs.items():
            path = work.joinpath(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        if self.as_root:
            for path in (work, *work.rglob("*")):
                os.chown(path, uid, uid, follow_symlinks=False)
        return work

    def _bwrap_command(self, disk_mb: int, inputs: Mapping[PurePosixPath, int]) -> list[str]:
        """bwrap and its options; ``/work`` is a tmpfs of ``disk_mb`` holding ``inputs``
        (path -> a readable fd)."""
        assert self.bwrap is not None
        command = [
            self.bwrap, "--unshare-all", "--unshare-user", "--disable-userns",
            "--uid", str(INNER_UID), "--gid", str(INNER_UID), "--hostname", "sandbox",
            "--die-with-parent", "--new-session", "--as-pid-1", "--cap-drop", "ALL", "--clearenv",
            "--ro-bind", "/usr", "/usr",
        ]
        for path in SYSTEM_DIRS:
            if os.path.islink(path):
                command += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                command += ["--ro-bind", path, path]
        prefix = str(Path(os.path.realpath(self.python)).parents[1])
        for path in (prefix, *self.binds):
            if not (path == "/usr" or path.startswith("/usr/")):
                command += ["--ro-bind", path, path]
        command += ["--proc", "/proc", "--dev", "/dev",
                    "--perms", "0700", "--size", str(disk_mb * 2**20), "--tmpfs", "/work"]
        made: set[PurePosixPath] = set()
        for path, fd in inputs.items():
            for parent in reversed(path.parents[:-1]):
                if parent not in made:
                    made.add(parent)
                    command += ["--perms", "0700", "--dir", f"/work/{parent}"]
            command += ["--perms", "0600", "--file", str(fd), f"/work/{path}"]
        command += [
            "--chdir", "/work",
            *(arg for name, value in self._env(Path("/work")).items()
              for arg in ("--setenv", name, value)),
            "--remount-ro", "/dev", "--remount-ro", "/", self.python,
        ]
        return command

    @staticmethod
    def _env(home: Path) -> dict[str, str]:
        return {"PATH": "/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(home),
                "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}

    @staticmethod
    def _rlimits(limits: SandboxLimits) -> list[str]:
        """``prlimit`` setting every limit (soft = hard) before the sandbox starts."""
        memory = limits.memory_mb * 2**20
        cpu = int(limits.timeout_s) + 1
        return [
            shutil.which("prlimit") or "prlimit", f"--as={memory}", f"--cpu={cpu}",
            f"--fsize={limits.file_mb * 2**20}", f"--nofile={limits.open_files}",
            f"--nproc={limits.processes + 1}", "--core=0", "--",  # + bwrap itself
        ]

    def _user_kwargs(self, uid: int) -> dict[str, object]:
        return {"user": uid, "group": uid, "extra_groups": []} if self.as_root else {}

    async def _kill_uid(self, uid: int) -> None:
        """As root: SIGKILL every process the run's uid still has (none should be left)."""
        if self.as_root:
            kill = shutil.which("kill") or "/bin/kill"
            await anyio.run_process([kill, "-9", "-1"], check=False,
                                    stderr=subprocess.DEVNULL, **self._user_kwargs(uid))

    def _exit_code(self, code: int | None) -> int | None:
        """bwrap reports a child killed by signal N as 128 + N; return -N as Popen does."""
        if self._strong and code is not None and 128 < code < 128 + signal.NSIG:
            return 128 - code
        return code


def _memfd(name: str, data: bytes, opened: list[int]) -> int:
    """An in-memory file holding ``data``, read from its start; its fd is added to ``opened``."""
    fd = os.memfd_create(f"pygent-{name}")
    opened.append(fd)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def _relative(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts or str(path) == "main.py":
        raise ValueError(
            f"sandbox file {name!r}: use a relative path inside the work directory, not main.py"
        )
    return path


def _read_outputs(root: Path, budget: int) -> tuple[str, str, bool]:
    """stdout and stderr, at most ``budget`` bytes together, and whether they were cut."""
    texts, cut = [], False
    for name in ("stdout", "stderr"):
        with (root / name).open("rb") as f:
            data = f.read(budget + 1)
        cut = cut or len(data) > budget
        data = data[:budget]
        budget -= len(data)
        texts.append(data.decode(errors="replace"))
    return texts[0], texts[1], cut


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
