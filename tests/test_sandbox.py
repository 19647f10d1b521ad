"""The sandbox against hostile programs, judged by what happens on the host; the coding agent on it.

Most hostile programs start with ``BYPASS``: the exploit that switched the old in-interpreter
audit hook off (walk up ``sys._getframe()`` to the boot script's globals, replace
``guard.__code__``). Each asserts it worked, so what follows tests the operating system's layers.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from pygent_plugins.coding.agent import NO_SANDBOX, extract_code
from pygent_plugins.sandbox import SandboxPlugin
from pygent_sdk import SANDBOX, Health, Plugin
from pygent_sdk.sandbox import Sandbox, SandboxLimits, SandboxResult, SandboxUnavailable
from pygent_sdk.testing import PluginHarness, ScriptedChatModel

from .agent_kit import stack
from .test_cli import pygent

pytestmark = pytest.mark.anyio


def _bwrap_works() -> bool:
    if shutil.which("bwrap") is None:
        return False
    probe = ["bwrap", "--unshare-all", "--ro-bind", "/", "/", "true"]
    return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0


requires_bwrap = pytest.mark.skipif(
    not _bwrap_works(), reason="bubblewrap is missing or cannot create namespaces here"
)
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="a dedicated uid per run needs root")
UID_BASE = 200_000
WEAK = {"isolation": "weak", "bwrap": "/nonexistent"}
BYPASS = '''
import sys
_frame, _hit = sys._getframe(), False
while _frame is not None:
    _guard = _frame.f_globals.get("guard")
    if callable(_guard):
        _guard.__code__ = (lambda event, args: None).__code__
        _hit = True
    _frame = _frame.f_back
print("BYPASSED" if _hit else "NOT BYPASSED", flush=True)
'''


async def run(code: str, config: dict[str, Any] | None = None, **limits: Any) -> SandboxResult:
    """Run ``code`` in a fresh kernel holding only the sandbox plugin."""
    async with PluginHarness({"sandbox": SandboxPlugin}, {"sandbox": config or {}}) as h:
        sandbox = h.kernel.hook.pygent_sandbox()
        with anyio.fail_after(limits.get("timeout_s", 5) + 20):  # the old sandbox hung here
            return await sandbox.run_python(code, limits=SandboxLimits(**{"timeout_s": 5, **limits}))


@pytest.fixture
def host_dir() -> Iterator[Path]:
    """A world-writable directory on the host: only namespaces keep a sandbox out of it."""
    path = Path(tempfile.mkdtemp(prefix="pygent-host-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def survivors(token: str) -> list[int]:
    """Live host processes with ``token`` in their command line (zombies are already dead)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if "\nState:\tZ" in status:  # dead, waiting for the host's init to reap it
            continue
        if token.encode() in cmdline:
            found.append(int(entry.name))
    return found


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# -- the capability ------------------------------------------------------------------------

@requires_bwrap
async def test_hook_pygent_sandbox(tmp_path: Path) -> None:
    class User(Plugin):
        requires = ("sandbox",)

    async with PluginHarness({"sandbox": SandboxPlugin, "user": User}) as h:
        sandbox = h.plugin("user").context.service(SANDBOX)
        assert isinstance(sandbox, Sandbox) and sandbox is h.kernel.hook.pygent_sandbox()
        assert sandbox.strong and {"user-namespace", "pid-namespace", "network-namespace",
                                   "read-only-filesystem", "audit-hook"} <= set(sandbox.isolation)
        result = await sandbox.run_python(
            "print(open('data/in.txt').read().upper())\nopen('out.txt', 'w').write('mine')\n"
            "open('data/in.txt', 'a').write('!')\nprint(open('out.txt').read(), open('data/in.txt').read())",
            files={"data/in.txt": "hello"}, limits=SandboxLimits(timeout_s=5),
        )
        assert result.ok and result.stdout == "HELLO\nmine hello!\n" and result.describe() == "exit status 0"
        assert result.isolation == sandbox.isolation
        with pytest.raises(ValueError, match="'../x'"):
            await sandbox.run_python("", files={"../x": "no"})
        health = (await h.kernel.health()).plugins["sandbox"]
        assert health.status == "ok" and "network-namespace" in health.detail


@requires_bwrap
async def test_exit_status_and_signals() -> None:
    assert (await run("import sys; sys.exit(3)")).describe() == "exit status 3"
    killed = await run(BYPASS + "import ctypes; ctypes.string_at(0)")
    assert killed.exit_code == -signal.SIGSEGV and killed.describe() == "killed by SIGSEGV"


# -- hostile programs ----------------------------------------------------------------------

@requires_bwrap
async def test_audit_hook_bypass_then_exec_stays_contained(host_dir: Path) -> None:
    marker = host_dir / f"pwned-{uuid.uuid4().hex}"
    code = BYPASS + f'''
import subprocess
for command in (["id", "-u"], ["sh", "-c", "echo pwned > {marker}; echo pwned > /tmp/{marker.name}"]):
    try:
        done = subprocess.run(command, capture_output=True, text=True)
        print(command[0], done.returncode, done.stdout.strip(), done.stderr.strip())
    except OSError as error:
        print(command[0], "refused", error)
'''
    result = await run(code)
    assert result.stdout.startswith("BYPASSED\n"), result.stdout + result.stderr
    assert not marker.exists() and not Path("/tmp", marker.name).exists()
    uid_line = result.stdout.splitlines()[1].split()
    if uid_line[1] == "0":  # `id` ran: as an unprivileged uid, never root or the server's
        assert uid_line[2] not in ("0", str(os.getuid()))
    assert "network-namespace" in result.isolation


@requires_bwrap
async def test_writes_outside_the_work_dir_never_reach_the_host(host_dir: Path) -> None:
    name = f"escape-{uuid.uuid4().hex}.txt"
    code = BYPASS + f'''
import os, sqlite3
attempts = {{
    "chdir": lambda: (os.chdir({str(host_dir)!r}), open("chdir.txt", "w").write("x")),
    "dir_fd": lambda: os.write(os.open("dirfd.txt", os.O_CREAT | os.O_WRONLY,
                                       dir_fd=os.open({str(host_dir)!r}, os.O_RDONLY)), b"x"),
    "sqlite": lambda: sqlite3.connect({str(host_dir / "db.sqlite")!r}).execute("create table t(x)"),
    "root": lambda: open("/{name}", "w").write("x"),
    "dev_shm": lambda: open("/dev/shm/{name}", "w").write("x"),
}}
for name, attempt in attempts.items():
    try:
        attempt()
        print(name, "WROTE")
    except Exception as error:
        print(name, "failed", type(error).__name__)
os.chdir("/work")
open("inside.txt", "w").write("ok")
print(open("inside.txt").read())
'''
    result = await run(code)
    assert result.stdout.startswith("BYPASSED\n"), result.stdout + result.stderr
    assert list(host_dir.iterdir()) == []
    assert not Path("/", name).exists() and not Path("/dev/shm", name).exists()
    assert "WROTE" not in result.stdout and result.stdout.endswith("ok\n")


@requires_bwrap
async def test_secrets_on_the_host_cannot_be_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    secret = uuid.uuid4().hex
    (data_dir / "keys.json").write_text(f'{{"hash": "{secret}"}}')
    tmp_path.chmod(0o755)  # readable by anyone: only the mount namespace keeps it out
    (data_dir / "keys.json").chmod(0o644)
    monkeypatch.setenv("PYGENT_TEST_SECRET", secret)
    code = BYPASS + f'''
import glob, os
for path in [{str(data_dir / "keys.json")!r}, "/etc/passwd", "/etc/shadow", "/root/.bash_history",
             *glob.glob("/proc/*/environ"), *glob.glob("/home/*/*"), *glob.glob("/root/*")]:
    try:
        print(path, open(path, errors="replace").read())
    except Exception as error:
        print(path, "unreadable", type(error).__name__)
print(os.environ)
print(os.listdir("/"))
'''
    result = await run(code)
    assert result.stdout.startswith("BYPASSED\n"), result.stdout + result.stderr
    assert secret not in result.stdout + result.stderr
    assert "root:x:0:0" not in result.stdout
    assert "['work', " in result.stdout or "'work'" in result.stdout  # the sandbox's own root


@requires_bwrap
@pytest.mark.parametrize("parent", ["exits at once", "waits forever"])
async def test_a_setsid_daemon_does_not_outlive_the_run(parent: str) -> None:
    token = f"pygent-daemon-{uuid.uuid4().hex}"
    code = BYPASS + f'''
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)", "{token}"])
    os._exit(0)
time.sleep(0.5)
print("forked", flush=True)
{"" if parent == "exits at once" else "time.sleep(600)"}
'''
    try:
        result = await run(code, timeout_s=2)
        assert result.stdout == "BYPASSED\nforked\n", result.stdout + result.stderr
        assert result.timed_out == (parent == "waits forever") and result.duration_s < 4
        await anyio.sleep(0.3)
        assert survivors(token) == []
    finally:
        kill_all(survivors(token))


@requires_bwrap
@as_root
async def test_weak_isolation_still_kills_a_daemon_through_its_uid() -> None:
    token = f"pygent-daemon-{uuid.uuid4().hex}"
    code = BYPASS + f'''
import os, sys
if os.fork() == 0:
    os.setsid()
    os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)", "{token}"])
print("forked")
'''
    try:
        result = await run(code, WEAK, timeout_s=2)
        assert result.ok and "dedicated-uid" in result.isolation, result.stderr
        await anyio.sleep(0.3)
        assert survivors(token) == []
    finally:
        kill_all(survivors(token))


@requires_bwrap
@pytest.mark.parametrize("config", [{}, pytest.param(WEAK, marks=as_root)], ids=["strong", "weak"])
async def test_cancelling_a_run_kills_all_of_it(config: dict[str, Any]) -> None:
    token = f"pygent-daemon-{uuid.uuid4().hex}"
    code = BYPASS + f'''
import os, sys, time
if os.fork() == 0:
    os.setsid()
    os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)", "{token}"])
time.sleep(600)
'''
    try:
        async with PluginHarness({"sandbox": SandboxPlugin}, {"sandbox": config}) as h:
            with anyio.move_on_after(1.5) as scope:
                await h.kernel.hook.pygent_sandbox().run_python(code, limits=SandboxLimits(timeout_s=30))
            assert scope.cancelled_caught
            await anyio.sleep(0.3)
            assert survivors(token) == []
    finally:
        kill_all(survivors(token))


@as_root
async def test_concurrent_runs_of_two_kernels_never_share_a_uid() -> None:
    code = "import os, time\nprint(os.getuid(), flush=True)\ntime.sleep(1)"
    config = {"sandbox": {**WEAK, "max_parallel": 4}}
    uids: list[int] = []
    async with PluginHarness({"sandbox": SandboxPlugin}, config) as one, \
            PluginHarness({"sandbox": SandboxPlugin}, config) as two:

        async def run_on(h: PluginHarness) -> None:
            result = await h.kernel.hook.pygent_sandbox().run_python(code)
            uids.append(int(result.stdout))

        async with anyio.create_task_group() as group:
            for h in (one, two, one, two):
                group.start_soon(run_on, h)
    assert len(set(uids)) == 4 and all(UID_BASE <= u < UID_BASE + 4 for u in uids)


@requires_bwrap
async def test_fork_bomb_is_contained_and_leaves_nothing() -> None:
    token = f"pygent-bomb-{uuid.uuid4().hex}"
    code = BYPASS + f'''
import os, sys, time
made = 0
for _ in range(500):
    try:
        if os.fork() == 0:
            os.setsid()
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)", "{token}"])
        made += 1
    except OSError:
        pass
print("made", made, flush=True)
time.sleep(600)
'''
    try:
        result = await run(code, timeout_s=3, processes=10)
        assert result.stdout.startswith("BYPASSED\nmade "), result.stdout + result.stderr
        assert int(result.stdout.split()[-1]) < 10 and result.timed_out
        await anyio.sleep(0.3)
        assert survivors(token) == []
    finally:
        kill_all(survivors(token))


@requires_bwrap
async def test_ten_gigabytes_are_refused() -> None:
    result = await run("x = bytearray(10 * 2**30)\nprint('allocated')", memory_mb=256)
    assert not result.ok and "MemoryError" in result.stderr and "allocated" not in result.stdout


@requires_bwrap
async def test_the_work_dir_holds_at_most_disk_mb() -> None:
    code = BYPASS + '''
written = 0
try:
    for i in range(1000):
        with open(f"f{i}", "wb") as f:
            f.write(b"x" * 2**20)
        written += 1
except OSError as error:
    print("stopped", error.errno)
print("MiB", written)
'''
    result = await run(code, disk_mb=8, file_mb=4)
    assert "stopped 28" in result.stdout, result.stdout + result.stderr  # ENOSPC
    assert int(result.stdout.split()[-1]) <= 8 and result.limits.disk_mb == 8


@requires_bwrap
async def test_infinite_loop_is_killed_at_the_time_limit() -> None:
    result = await run("while True:\n    pass", timeout_s=1.5)
    assert result.timed_out and not result.ok and result.describe() == "killed: time limit exceeded"
    assert 1.5 <= result.duration_s < 3


@requires_bwrap
@pytest.mark.parametrize("stream", ["stdout", "stderr"])
async def test_output_flood_is_cut_at_the_byte_cap(stream: str) -> None:
    code = f"import sys\nwhile True:\n    sys.{stream}.write('x' * 4096)"
    result = await run(code, timeout_s=10, output_bytes=10_000)
    assert result.output_truncated and result.describe() == "killed: output limit exceeded"
    assert len(result.stdout.encode()) + len(result.stderr.encode()) <= 10_000
    assert getattr(result, stream).startswith("x" * 9000) and result.duration_s < 3


@requires_bwrap
async def test_tcp_port_on_the_host_cannot_be_reached() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(4)
    port = server.getsockname()[1]
    accepted: list[object] = []

    def accept() -> None:
        try:
            accepted.append(server.accept())
        except OSError:
            pass

    listener = threading.Thread(target=accept)
    listener.start()
    code = BYPASS + f'''
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"hello")
    print("CONNECTED")
except OSError as error:
    print("refused", type(error).__name__)
'''
    try:
        result = await run(code)
    finally:
        listener.join()
        server.close()
    assert result.stdout.startswith("BYPASSED\n") and "CONNECTED" not in result.stdout
    assert accepted == []


@requires_bwrap
async def test_proc_paths_do_not_lead_to_the_host(host_dir: Path) -> None:
    name = f"pygent-proc-{uuid.uuid4().hex}"
    code = BYPASS + f'''
import glob, os
targets = [p + "/{name}" for p in glob.glob("/proc/*/root/tmp") + glob.glob("/proc/*/cwd")]
targets += [p + "{host_dir}/{name}" for p in glob.glob("/proc/*/root")]
targets += glob.glob("/proc/self/fd/*") + glob.glob("/proc/1/fd/*")
for target in targets:
    try:
        with open(target, "a") as f:
            f.write("{name}")
        print("wrote", target)
    except Exception as error:
        print("failed", target, type(error).__name__)
'''
    result = await run(code)
    assert result.stdout.startswith("BYPASSED\n"), result.stdout + result.stderr
    assert not Path("/tmp", name).exists() and list(host_dir.iterdir()) == []
    assert not Path(os.getcwd(), name).exists()


@requires_bwrap
async def test_signals_never_reach_host_processes() -> None:
    victim = subprocess.Popen(["sleep", "60"], **({"user": 65534} if os.geteuid() == 0 else {}))
    code = BYPASS + f'''
import os, signal
for attempt in (lambda: os.kill({victim.pid}, signal.SIGKILL),
                lambda: signal.pidfd_send_signal(os.pidfd_open({victim.pid}), signal.SIGKILL),
                lambda: os.kill(os.getppid(), signal.SIGKILL),
                lambda: os.kill(-1, signal.SIGKILL)):
    try:
        attempt()
    except Exception as error:
        print("failed", type(error).__name__, flush=True)
'''
    try:
        await run(code)
        await anyio.sleep(0.2)
        assert victim.poll() is None, "a sandboxed program killed a host process"
    finally:
        victim.kill()
        victim.wait()


# -- configuration ---------------------------------------------------------------------------

@pytest.mark.parametrize(("bwrap", "problem"), [
    ("/nonexistent", "bubblewrap (bwrap) is not installed"),
    ("false", "bubblewrap could not start a sandbox (exit 1"),  # there, but namespaces fail
])
async def test_strong_isolation_refuses_without_bubblewrap(bwrap: str, problem: str) -> None:
    async with PluginHarness({"sandbox": SandboxPlugin}, {"sandbox": {"bwrap": bwrap}}) as h:
        sandbox = h.kernel.hook.pygent_sandbox()
        assert not sandbox.strong and sandbox.isolation == ()
        with pytest.raises(SandboxUnavailable, match=r"apt-get install bubblewrap.*isolation = \"weak\""):
            await sandbox.run_python("print('ran')")
        assert problem in sandbox.refusal()
        health = (await h.kernel.health()).plugins["sandbox"]
        assert health == Health.down(str(SandboxUnavailable(sandbox.refusal())))


async def test_weak_isolation_runs_when_the_config_accepts_it() -> None:
    result = await run("print(6 * 7)", WEAK)
    assert result.ok and result.stdout == "42\n"
    assert "network-namespace" not in result.isolation and {"rlimits", "audit-hook"} <= set(result.isolation)


@requires_bwrap
async def test_limits_are_clamped_to_the_server_wide_maximum() -> None:
    config = {"max_memory_mb": 64, "max_timeout_s": 1.0, "max_output_bytes": 2000}
    big = await run("x = bytearray(150 * 2**20)\nprint('allocated')", config, memory_mb=4096, timeout_s=30)
    assert big.limits.memory_mb == 64 and big.limits.timeout_s == 1.0
    assert "MemoryError" in big.stderr and "allocated" not in big.stdout
    loop = await run("while True: pass", config, timeout_s=30)
    assert loop.timed_out and loop.duration_s < 2.5
    flood = await run("while True: print('x' * 100)", config, output_bytes=10**6)
    assert flood.output_truncated and len(flood.stdout) <= 2000


# -- the coding agent on the sandbox ---------------------------------------------------------

def test_extract_code() -> None:
    assert extract_code("Here:\n```python\nprint(1)\n```\nDone") == "print(1)"
    assert extract_code("```\nprint(2)\n```") == "print(2)"
    assert extract_code("print(3)") == "print(3)"
    assert extract_code("```python\nprint(4)") == "print(4)"  # cut off by max_tokens


@requires_bwrap
async def test_coding_agent_retries_with_feedback_and_reports_every_attempt() -> None:
    model = ScriptedChatModel([
        "```python\ndef fib(n):\n    return fib(n-1) + fib(n-2)\n```",
        "```python\ndef fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n```",
    ])
    async with PluginHarness(*stack(model)) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        info = await registry.create("coding", config={"check": "assert fib(10) == 55\nprint('checked')"})
        result = await registry.run(info.id, "Write fib(n).")
        assert result.success
        assert result.output.startswith("Solved on attempt 2: the program ran cleanly and passed the check.")
        first, second = result.steps
        assert not first.ok and "RecursionError" in first.stderr and first.exit_code == 1
        assert second.ok and second.stdout == "checked\n"
        assert "network-namespace" in second.isolation
        feedback = model.calls[1][0][-1].content
        assert feedback.startswith("The program failed (exit status 1)") and "RecursionError" in feedback
        assert "assert fib(10) == 55" in model.calls[0][0][-1].content
        statuses = [e.status for e in h.events_on("agent.status")]
        assert statuses == ["running", "waiting", "running", "waiting", "running", "completed"]


@requires_bwrap
async def test_coding_agent_is_not_solved_when_the_check_fails() -> None:
    wrong = "```python\ndef add(a, b):\n    return a - b\n```"
    model = ScriptedChatModel([wrong, wrong])
    async with PluginHarness(*stack(model)) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        info = await registry.create("coding", config={"check": "assert add(2, 3) == 5", "max_attempts": 2})
        result = await registry.run(info.id, "Write add(a, b).")
        assert not result.success
        assert result.output == "Not solved after 2 attempt(s); the last one ended: exit status 1."
        assert [(s.attempt, s.ok) for s in result.steps] == [(1, False), (2, False)]
        assert all("AssertionError" in s.stderr for s in result.steps)


@requires_bwrap
@pytest.mark.parametrize("exit", ["import sys\nsys.exit(0)", "import os\nos._exit(0)"])
async def test_coding_agent_exiting_early_never_skips_the_check(exit: str) -> None:
    wrong = f"```python\ndef add(a, b):\n    return a - b\nprint('done', flush=True)\n{exit}\n```"
    model = ScriptedChatModel([wrong])
    async with PluginHarness(*stack(model)) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        info = await registry.create("coding", config={"check": "assert add(2, 3) == 5", "max_attempts": 1})
        result = await registry.run(info.id, "Write add(a, b).")
        assert not result.success and not result.steps[0].ok
        assert result.steps[0].stdout.startswith("done\n")
        if "sys.exit" in exit:  # the exit ends only the solution; the check runs and fails
            assert "AssertionError" in result.steps[0].stderr and result.steps[0].exit_code == 1
        else:  # the process ends before the check: no nonce, so not passed
            assert result.steps[0].exit_code == 0 and result.steps[0].status == "exited before the check ran"


@requires_bwrap
async def test_coding_agent_solution_ending_in_sys_exit_zero_still_passes_a_passing_check() -> None:
    model = ScriptedChatModel(["```python\nimport sys\ndef add(a, b):\n    return a + b\nprint(add(1, 1), end='')\nsys.exit()\n```"])
    async with PluginHarness(*stack(model)) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        info = await registry.create("coding", config={"check": "assert add(2, 3) == 5"})
        result = await registry.run(info.id, "Write add(a, b).")
        assert result.success and result.steps[0].stdout == "2"
        assert result.output.endswith("passed the check.\n\nOutput:\n2")


@requires_bwrap
async def test_coding_agent_says_honestly_when_it_fails() -> None:
    model = ScriptedChatModel(["```python\nwhile True: pass\n```", "I cannot do that.", "```python\n1/0\n```"])
    async with PluginHarness(*stack(model)) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        info = await registry.create("coding", config={"timeout_s": 1})
        result = await registry.run(info.id, "Divide.")
        assert not result.success
        assert result.output == "Not solved after 3 attempt(s); the last one ended: exit status 1."
        assert [s.status for s in result.steps] == [
            "killed: time limit exceeded", "exit status 1", "exit status 1"]
        assert registry.get(info.id).status == "error"


@requires_bwrap
async def test_coding_agent_without_check_is_unverified() -> None:
    model = ScriptedChatModel(["```python\nprint(sum(range(101)))\n```"])
    async with PluginHarness(*stack(model)) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        result = await registry.run((await registry.create("coding")).id, "Sum 1..100")
        assert result.success and "no check was given, so the answer is unverified" in result.output
        assert result.output.endswith("Output:\n5050\n")


async def test_coding_agent_refuses_before_asking_the_model_when_the_sandbox_refuses() -> None:
    model = ScriptedChatModel(["```python\nprint('should never run')\n```"])
    plugins, config = stack(model)
    async with PluginHarness(plugins, {**config, "sandbox": {"bwrap": "/nonexistent"}}) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        result = await registry.run((await registry.create("coding")).id, "Print something.")
        assert not result.success and result.output == NO_SANDBOX and model.calls == []


@requires_bwrap
@pytest.mark.parametrize(("body", "verdict", "status"), [
    ("return sum(range(1, 101))", "Solved on attempt 1", 0),
    ("return 5051", "Not solved after 2 attempt(s)", 1),
])
def test_pygent_run_coding_gives_the_verdict_the_program_earns(
    tmp_path: Path, body: str, verdict: str, status: int
) -> None:
    reply = f"```python\ndef total():\n    {body}\n```"
    (tmp_path / "plugins.toml").write_text(
        '[kernel]\ndata_dir = "data"\n[models]\ndefault = "scripted:coder"\n'
        f"[scripted]\nmodels = {{ coder = {json.dumps([reply, reply])} }}\n"
        "[memory]\n[agents]\n[sandbox]\n[coding]\n"
    )
    result = pygent("run", "coding", "Write total(): the sum of 1..100.", "-o", "max_attempts=2",
                    "-o", "check=assert total() == 5050, total()", cwd=tmp_path)
    assert verdict in result.stdout and result.returncode == status, result.stdout + result.stderr
    assert "attempt 1:" in result.stdout
    assert ("attempt 2:" in result.stdout) == (status == 1)
    assert ("AssertionError: 5051" in result.stdout) == (status == 1)
