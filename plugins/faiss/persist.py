"""A collection's files: numbered snapshot directories, a ``CURRENT`` pointer and a write-ahead log.

Layout under the collection's directory::

    CURRENT            the number of the live snapshot (replaced atomically)
    gen-000007/        a complete snapshot: state.json, meta.json, exact.faiss[, ann.faiss]
        wal.log        every write acknowledged since that snapshot (appended, fsynced)

A snapshot is written into ``gen-N.tmp`` (each file fsynced), renamed to ``gen-N`` and only then
named by ``CURRENT``; older generations are removed afterwards. N follows the highest number
present, so a ``gen-N`` renamed but never named by ``CURRENT`` (a kill between the two) is
never in the way of the next snapshot. A kill at any moment leaves
``CURRENT`` naming a complete snapshot whose log holds every acknowledged write after it.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import struct
import zlib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import IO, Any

from pygent_sdk.files import open_private, private_dir, touch_private, write_private
from pygent_sdk.vectors import VectorError

_FRAME = struct.Struct("<II")  # payload length, crc32 of the payload
_HEADER = struct.Struct("<I")  # length of the JSON header inside the payload
_GEN = re.compile(r"gen-(\d+)(?:\.tmp)?")


class DataLocked(VectorError):
    """Another process holds the store's data directory."""


def lock(path: Path) -> IO[str]:
    """Take the exclusive lock ``path`` (flock) for as long as the returned file stays open:
    two processes on one data directory would each write from their own copy in memory and
    lose each other's writes."""
    file = open_private(path)
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.close()
        raise DataLocked(
            f"faiss: another process holds the lock {path} (a running `pygent serve`, or another "
            "command on the same data directory); one process at a time owns the FAISS "
            "collections: stop it, or go through it (the HTTP API)") from None
    return file


class LockedStore:
    """Stands in for the store while another process owns the data directory: the plugin still
    starts (so `pygent auth ...`, `pygent jobs list` work beside a running server). Each call
    tries the lock again: while the owner runs it raises :class:`DataLocked` naming the lock;
    once the owner has stopped, the real store is loaded and answers."""

    name = "faiss"

    def __init__(self, error: DataLocked, claim: Callable[[], Awaitable[Any]]) -> None:
        self.error, self._claim = error, claim

    def __getattr__(self, attr: str) -> Callable[..., Any]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            store = await self._claim()  # the real store once the owner has let go
            return await getattr(store, attr)(*args, **kwargs)

        return call


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (renames, new files) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def current(root: Path) -> Path | None:
    """The live snapshot directory of a collection, or None when it has none yet."""
    pointer = root / "CURRENT"
    if not pointer.exists():
        return None
    return root / pointer.read_text().strip()


def write_snapshot(root: Path, write: Callable[[Path], None]) -> Path:
    """Write a new snapshot with ``write(tmp_dir)`` and make it the live one; return its path."""
    private_dir(root)
    name = f"gen-{_highest(root) + 1:06d}"
    tmp = root / f"{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    private_dir(tmp)
    write(tmp)
    for path in tmp.iterdir():
        fsync_file(path)
    fsync_dir(tmp)
    os.replace(tmp, root / name)
    fsync_dir(root)
    write_private(root / "CURRENT", name)  # the commit point
    fsync_dir(root)
    for stale in root.iterdir():
        if stale.name != name and stale.name.startswith("gen-"):
            shutil.rmtree(stale, ignore_errors=True)
    return root / name


def _highest(root: Path) -> int:
    """The highest generation number under ``root``, live or not: a kill between a snapshot's
    rename and its ``CURRENT`` leaves a ``gen-N`` that is not live, and the next snapshot must
    not be renamed onto it."""
    numbers = [int(m[1]) for p in root.iterdir() if (m := _GEN.fullmatch(p.name))]
    return max(numbers, default=0)


def write_json(path: Path, data: Any) -> None:
    touch_private(path)
    path.write_text(json.dumps(data, separators=(",", ":")))


class Wal:
    """The append-only log of one snapshot: each record is a JSON header plus raw bytes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    @property
    def size(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def append(self, header: dict[str, Any], blob: bytes = b"") -> None:
        """Append one record and fsync it: once this returns, the record survives a crash."""
        if self._file is None:
            touch_private(self.path)
            self._file = open(self.path, "ab")  # noqa: SIM115 - kept open between writes
        head = json.dumps(header, separators=(",", ":")).encode()
        payload = _HEADER.pack(len(head)) + head + blob
        self._file.write(_FRAME.pack(len(payload), zlib.crc32(payload)) + payload)
        self._file.flush()
        os.fsync(self._file.fileno())

    def records(self) -> Iterator[tuple[dict[str, Any], bytes]]:
        """Every complete record in order; a torn tail (a crash mid-append) is cut off."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        offset = 0
        while offset + _FRAME.size <= len(data):
            length, crc = _FRAME.unpack_from(data, offset)
            payload = data[offset + _FRAME.size: offset + _FRAME.size + length]
            if len(payload) < length or zlib.crc32(payload) != crc:
                break
            (head_len,) = _HEADER.unpack_from(payload)
            body = _HEADER.size + head_len
            yield json.loads(payload[_HEADER.size: body]), payload[body:]
            offset += _FRAME.size + length
        if offset < len(data):  # never acknowledged: drop it so later appends follow good data
            with open(self.path, "r+b") as f:
                f.truncate(offset)
                os.fsync(f.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
