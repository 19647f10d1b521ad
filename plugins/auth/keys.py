"""KeyStore: API keys shown once, stored as argon2 hashes in a JSON file, plus rate limits.

Several processes share the store (a running server, ``pygent auth`` commands): every change is a
read-modify-write under an exclusive ``flock`` on ``keys.lock``, written by atomic replace, and
then bumps a generation counter kept in ``keys.lock``. A server compares that counter (one
``pread``) and the file's identity before each check, so a revocation holds from the next request
on, however coarse the file system's timestamps are.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import secrets
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pygent_sdk import PygentError
from pygent_sdk.files import FILE_MODE, private_dir, write_private
from pygent_sdk.http import ROLE_PERMISSIONS, AuthFailed, Principal

PREFIX = "pgk_"
UNKNOWN = "unknown or revoked API key"  # one answer for every failure: ids do not leak
# Verified instead of a key's hash when the id is unknown or revoked, so that a wrong secret for a
# known id takes as long as an unknown id (argon2-cffi's default parameters, as new keys use).
_DUMMY_HASH = ("$argon2id$v=19$m=65536,t=3,p=4$Z0fnYBrvKCFmK3NTFxvk6Q$"
               "8N1P+QHefXcF0PXY9YPKlNvnD4XD8FL8FFQvQds04f4")
_GEN = struct.Struct("<Q")


@dataclasses.dataclass(frozen=True, slots=True)
class KeyInfo:
    """A stored key: never the key itself, only its argon2 hash."""

    id: str
    name: str
    role: str
    hash: str
    created_at: float
    rate_per_minute: int | None = None
    revoked: bool = False


def key_id_of(key: str) -> str:
    """The id part of ``pgk_<id>_<secret>`` ("" when malformed)."""
    return key[len(PREFIX):].partition("_")[0] if key.startswith(PREFIX) else ""


class KeyStore:
    """The keys file; verified keys are remembered in memory (by SHA-256) until revoked."""

    def __init__(self, path: Path) -> None:
        from argon2 import PasswordHasher

        self.path = path
        self._file = os.fspath(path)  # stat()ed per request: skip the Path conversion
        self.hasher = PasswordHasher()
        self.keys: dict[str, KeyInfo] = {}
        self._verified: dict[str, str] = {}  # sha256(key) -> key id
        self._seen: tuple[Any, ...] = ()
        self._mutex = threading.Lock()  # flock does not exclude threads sharing one descriptor
        private_dir(path.parent)
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
        self._lock_fd = os.open(path.with_name("keys.lock"), flags, FILE_MODE)
        self.refresh()

    def close(self) -> None:
        os.close(self._lock_fd)

    # Reading ---------------------------------------------------------------------------------

    def _version(self) -> tuple[Any, ...]:
        """What changes with every write: the generation counter and the file's identity."""
        try:
            st = os.stat(self._file)
        except FileNotFoundError:
            return (os.pread(self._lock_fd, _GEN.size, 0),)
        return os.pread(self._lock_fd, _GEN.size, 0), st.st_ino, st.st_mtime_ns, st.st_size

    def refresh(self) -> None:
        """Pick up keys created or revoked by another process; costs a ``pread`` and a ``stat``."""
        version = self._version()
        if version == self._seen:
            return
        self._load()
        self._seen = version

    def _load(self) -> None:
        try:
            rows = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            rows = []
        except ValueError as error:
            raise PygentError(f"{self.path} is not valid JSON ({error}); restore it from a backup"
                              ) from None
        self.keys = {row["id"]: KeyInfo(**row) for row in rows}
        self._verified = {h: k for h, k in self._verified.items() if self._active(k)}

    def _active(self, key_id: str) -> bool:
        info = self.keys.get(key_id)
        return info is not None and not info.revoked

    # Writing ---------------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the store for a read-modify-write, against threads and other processes."""
        with self._mutex:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                self._load()
                yield
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _save(self) -> None:
        """Write the keys (atomic, 0600), then bump the generation: readers reload on next check."""
        rows = [dataclasses.asdict(k) for k in self.keys.values()]
        write_private(self.path, json.dumps(rows, indent=1))
        raw = os.pread(self._lock_fd, _GEN.size, 0)
        generation = _GEN.unpack(raw)[0] + 1 if len(raw) == _GEN.size else 1
        os.pwrite(self._lock_fd, _GEN.pack(generation), 0)
        os.fsync(self._lock_fd)
        self._seen = self._version()

    def create(self, role: str, name: str = "",
               rate_per_minute: int | None = None) -> tuple[KeyInfo, str]:
        """A new key: its record and the key itself (shown once, never stored)."""
        if role not in ROLE_PERMISSIONS:
            raise PygentError(f"unknown role {role!r}: expected one of "
                              f"{', '.join(ROLE_PERMISSIONS)}")
        key_id = secrets.token_hex(4)
        key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(24)}"
        info = KeyInfo(key_id, name or f"{role}-{key_id}", role, self.hasher.hash(key), time.time(),
                       rate_per_minute)
        with self._locked():
            if key_id in self.keys:  # 1 in 4 billion; never overwrite a key
                raise PygentError(f"key id {key_id} is taken; run the command again")
            self.keys[key_id] = info
            self._save()
        return info, key

    def revoke(self, key_id: str) -> KeyInfo:
        """Mark a key revoked; once this returns, no process using the store accepts it."""
        with self._locked():
            if key_id not in self.keys:
                raise PygentError(f"no API key with id {key_id!r}; `pygent auth list` shows them")
            info = self.keys[key_id] = dataclasses.replace(self.keys[key_id], revoked=True)
            self._verified = {h: k for h, k in self._verified.items() if k != key_id}
            self._save()
        return info

    # Checking --------------------------------------------------------------------------------

    def cached(self, key: str) -> KeyInfo | None:
        """The record of a key verified before (and not revoked since), without hashing."""
        self.refresh()
        known = self._verified.get(hashlib.sha256(key.encode()).hexdigest())
        return self.keys[known] if known is not None else None

    def verify(self, key: str) -> KeyInfo:
        """The key's record; AuthFailed(401) for a malformed, unknown, wrong or revoked key.

        Runs argon2 once whatever the outcome (against a dummy hash when the id is unknown or
        revoked), so the time taken does not tell which ids exist. Thread-safe; remembers nothing:
        call :meth:`remember` afterwards, on the thread that also calls :meth:`refresh`.
        """
        from argon2.exceptions import VerificationError

        info = self.keys.get(key_id_of(key))
        usable = info is not None and not info.revoked
        try:
            self.hasher.verify(info.hash if usable else _DUMMY_HASH,  # type: ignore[union-attr]
                               key)
        except VerificationError:
            raise AuthFailed(401, UNKNOWN) from None
        if not usable:
            raise AuthFailed(401, UNKNOWN)
        return info  # type: ignore[return-value]

    def remember(self, key: str, info: KeyInfo) -> KeyInfo:
        """Cache a verified key, unless it was revoked while argon2 ran (then AuthFailed 401)."""
        self.refresh()
        if not self._active(info.id):
            raise AuthFailed(401, UNKNOWN)
        self._verified[hashlib.sha256(key.encode()).hexdigest()] = info.id
        return self.keys[info.id]


class RateLimiter:
    """A token bucket per caller: ``rate`` events per minute, bursts up to ``rate``.

    Buckets that have refilled are dropped once there are many, so the table stays bounded.
    """

    MAX_BUCKETS = 4096

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, last time)

    def _level(self, caller: str, rate: int, now: float) -> float:
        tokens, last = self._buckets.get(caller, (float(rate), now))
        return min(float(rate), tokens + (now - last) * rate / 60.0)

    def take(self, caller: str, rate: int, what: str = "requests") -> None:
        """Spend one token, or raise AuthFailed(429) when none is left."""
        now = time.monotonic()
        tokens = self._level(caller, rate, now)
        if tokens < 1.0:
            self._buckets[caller] = (tokens, now)
            raise AuthFailed(429, f"rate limit of {rate} {what} per minute reached",
                             retry_after=(1.0 - tokens) * 60.0 / rate)
        self._put(caller, tokens - 1.0, now)

    def give_back(self, caller: str, rate: int) -> None:
        """Return a token taken for something that turned out not to count."""
        now = time.monotonic()
        self._put(caller, min(float(rate), self._level(caller, rate, now) + 1.0), now)

    def _put(self, caller: str, tokens: float, now: float) -> None:
        self._buckets[caller] = (tokens, now)
        if len(self._buckets) > self.MAX_BUCKETS:
            self._buckets = {c: (t, last) for c, (t, last) in self._buckets.items()
                             if now - last < 60.0}


def principal_of(info: KeyInfo) -> Principal:
    return Principal(f"key:{info.id}", info.role)  # type: ignore[arg-type]


def key_row(info: KeyInfo) -> dict[str, Any]:
    """What may be shown about a key."""
    return {"id": info.id, "name": info.name, "role": info.role, "created_at": info.created_at,
            "rate_per_minute": info.rate_per_minute, "revoked": info.revoked}
