"""KeyStore: API keys shown once, stored as argon2 hashes in a JSON file, plus rate limits."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from pygent_sdk import PygentError
from pygent_sdk.http import ROLE_PERMISSIONS, AuthFailed, Principal

PREFIX = "pgk_"


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


class KeyStore:
    """The keys file; verified keys are remembered in memory (by SHA-256) until revoked."""

    def __init__(self, path: Path) -> None:
        from argon2 import PasswordHasher

        self.path = path
        self.hasher = PasswordHasher()
        self.keys: dict[str, KeyInfo] = {}
        self._verified: dict[str, str] = {}  # sha256(key) -> key id
        self._mtime = 0.0
        self.reload_if_changed()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w") as f:
            json.dump([dataclasses.asdict(k) for k in self.keys.values()], f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        tmp.replace(self.path)
        self._mtime = self.path.stat().st_mtime

    def create(self, role: str, name: str = "", rate_per_minute: int | None = None) -> tuple[KeyInfo, str]:
        """A new key: its record and the key itself (shown once, never stored)."""
        if role not in ROLE_PERMISSIONS:
            raise PygentError(f"unknown role {role!r}: expected one of {', '.join(ROLE_PERMISSIONS)}")
        key_id = secrets.token_hex(4)
        key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(24)}"
        info = KeyInfo(key_id, name or f"{role}-{key_id}", role, self.hasher.hash(key), time.time(),
                       rate_per_minute)
        self.keys[key_id] = info
        self._save()
        return info, key

    def revoke(self, key_id: str) -> KeyInfo:
        if key_id not in self.keys:
            raise PygentError(f"no API key with id {key_id!r}; `pygent auth list` shows them")
        info = self.keys[key_id] = dataclasses.replace(self.keys[key_id], revoked=True)
        self._verified = {h: k for h, k in self._verified.items() if k != key_id}
        self._save()
        return info

    def reload_if_changed(self) -> None:
        """Pick up keys created or revoked by another process (``pygent auth``)."""
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return
        if mtime == self._mtime:
            return
        self._mtime = mtime
        rows = {row["id"]: KeyInfo(**row) for row in json.loads(self.path.read_text())}
        self.keys = rows
        self._verified = {h: k for h, k in self._verified.items() if k in rows and not rows[k].revoked}

    def cached(self, key: str) -> KeyInfo | None:
        """The record of a key verified before (and not revoked since), without hashing."""
        self.reload_if_changed()
        known = self._verified.get(hashlib.sha256(key.encode()).hexdigest())
        return self.keys[known] if known is not None else None

    def verify(self, key: str) -> KeyInfo:
        """The key's record; AuthFailed(401) for a malformed, unknown, wrong or revoked key."""
        from argon2.exceptions import VerificationError

        digest = hashlib.sha256(key.encode()).hexdigest()
        key_id = key[len(PREFIX):].partition("_")[0] if key.startswith(PREFIX) else ""
        info = self.keys.get(key_id)
        if info is None or info.revoked:
            raise AuthFailed(401, "unknown or revoked API key")
        try:
            self.hasher.verify(info.hash, key)
        except VerificationError:
            raise AuthFailed(401, "unknown or revoked API key") from None
        self._verified[digest] = key_id
        return info


class RateLimiter:
    """A token bucket per caller: ``rate`` requests per minute, bursts up to ``rate``."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, last time)

    def take(self, caller: str, rate: int) -> None:
        now = time.monotonic()
        tokens, last = self._buckets.get(caller, (float(rate), now))
        tokens = min(float(rate), tokens + (now - last) * rate / 60.0)
        if tokens < 1.0:
            self._buckets[caller] = (tokens, now)
            raise AuthFailed(429, f"rate limit of {rate} requests per minute reached",
                             retry_after=(1.0 - tokens) * 60.0 / rate)
        self._buckets[caller] = (tokens - 1.0, now)


def principal_of(info: KeyInfo) -> Principal:
    return Principal(f"key:{info.id}", info.role)  # type: ignore[arg-type]


def key_row(info: KeyInfo) -> dict[str, Any]:
    """What may be shown about a key."""
    return {"id": info.id, "name": info.name, "role": info.role, "created_at": info.created_at,
            "rate_per_minute": info.rate_per_minute, "revoked": info.revoked}
