"""Runs inside the sandboxed interpreter before the user's code: an audit hook, then main.py.

Passed to ``python -I -B -c`` and kept free of imports beyond the standard library. The hook
refuses writes outside the working directory, network use and new processes. It is an extra
layer only: code in the same interpreter can switch it off, so the boundary is the operating
system's (namespaces, a separate uid, rlimits), set up before this script starts.
"""

import os
import runpy
import sys

ROOT = os.path.realpath(os.getcwd())
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
PATH_EVENTS = {
    "os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.symlink",
    "os.link", "os.truncate", "os.utime", "shutil.rmtree", "shutil.copyfile", "shutil.move",
}
BLOCKED = {
    "os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
    "subprocess.Popen", "os.kill", "os.killpg", "ctypes.dlopen", "pty.spawn",
}


def inside(path):
    if isinstance(path, int):
        return True
    try:
        real = os.path.realpath(os.path.join(ROOT, os.fsdecode(path)))
    except (TypeError, ValueError):
        return True
    return real == ROOT or real.startswith(ROOT + os.sep)


def guard(event, args):
    if event == "open":
        path, mode, flags = args
        writing = any(c in (mode or "") for c in "wax+") or (flags or 0) & WRITE_FLAGS
        if path is not None and writing and not inside(path):
            raise PermissionError(f"sandbox: writing outside the working directory: {path}")
    elif event in PATH_EVENTS:
        for arg in args:
            if isinstance(arg, str | bytes | os.PathLike) and not inside(arg):
                raise PermissionError(f"sandbox: {event} outside the working directory: {arg}")
    elif event.startswith("socket.") and event != "socket.gethostname":
        raise PermissionError("sandbox: network access is not allowed")
    elif event in BLOCKED:
        raise PermissionError(f"sandbox: {event} is not allowed (no new processes)")


sys.addaudithook(guard)
sys.argv = ["main.py"]
runpy.run_path("main.py", run_name="__main__")
