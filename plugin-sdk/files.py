"""Private files: data that only the server's own user may read, from the first byte.

Directories are created 0700 and files 0600 whatever the umask, with no window in which they
exist with looser permissions. The kernel creates every plugin's ``data_dir`` with
:func:`private_dir`; plugins write their files with :func:`write_private` (atomic replace) or
:func:`open_private` (append, e.g. logs), or create one for a library to open with
:func:`touch_private` (e.g. a SQLite database: SQLite gives its -wal and -shm files the
database file's mode).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path, *, tighten: bool = True) -> Path:
    """Create ``path`` and its missing parents with mode 0700; return it.

    ``tighten``: also set an existing ``path`` to 0700 (leave it False for a directory the user
    may share, such as a configured root). Parents that exist are never changed.
    """
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIR_MODE)  # the umask can only remove bits from 0700
        except FileExistsError:
            continue  # created meanwhile by another process
        os.chmod(directory, DIR_MODE)
    if tighten and not missing:
        os.chmod(path, DIR_MODE)
    return path


def write_private(path: Path, data: bytes | str) -> None:
    """Replace ``path`` atomically with ``data``, as a 0600 file (readers see old or new, whole)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def touch_private(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 if missing, else set it to 0600; return it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return Path(path)


def open_private(path: Path, mode: str = "a", encoding: str | None = "utf-8") -> IO[str]:
    """Open ``path`` to append (``"a"``) or write (``"w"``) as a 0600 file (existing: set 0600)."""
    flags = {"a": os.O_APPEND, "w": os.O_TRUNC}[mode] | os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, mode, encoding=encoding)
    except BaseException:
        os.close(fd)
        raise
