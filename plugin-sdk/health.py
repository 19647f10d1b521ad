"""Health reports a plugin returns from the ``pygent_health`` hook."""

from __future__ import annotations

import dataclasses
from typing import Literal

Status = Literal["ok", "degraded", "down"]
_RANK: dict[str, int] = {"ok": 0, "degraded": 1, "down": 2}


@dataclasses.dataclass(frozen=True, slots=True)
class Health:
    """One plugin's health: ``ok``, ``degraded`` (works, with a problem) or ``down``."""

    status: Status = "ok"
    detail: str = ""

    @classmethod
    def ok(cls, detail: str = "") -> Health:
        return cls("ok", detail)

    @classmethod
    def degraded(cls, detail: str) -> Health:
        return cls("degraded", detail)

    @classmethod
    def down(cls, detail: str) -> Health:
        return cls("down", detail)


def worst(statuses: list[Status]) -> Status:
    """The worst of several statuses (``ok`` for none)."""
    return max(statuses, key=_RANK.__getitem__, default="ok")


@dataclasses.dataclass(frozen=True, slots=True)
class KernelHealth:
    """Overall status (the worst plugin's) and each enabled plugin's report."""

    status: Status
    plugins: dict[str, Health]


@dataclasses.dataclass(frozen=True, slots=True)
class PluginStatus:
    """A configured plugin as the kernel sees it."""

    name: str
    state: str
    summary: str
    provides: tuple[str, ...]
    requires: tuple[str, ...]
    error: str | None = None

