"""Events: frozen, typed records of something that already happened, carried by the kernel's bus.

Declare one with the :func:`event` decorator::

    @event("greeter.greeted")
    class Greeted(Event):
        text: str

Topics are dot-separated tokens (``agent.created``). Subscribers match them exactly or with
NATS-style wildcards: ``*`` matches one token (``agent.*``), ``>`` one or more trailing tokens
(``agent.>``).
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

_TOPIC = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")

E = TypeVar("E", bound="Event")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every event. ``topic`` is fixed per class; ``ts`` is the publish-side wall clock."""

    topic: ClassVar[str] = "event"
    ts: float = dataclasses.field(default_factory=time.time)
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The event's fields and topic, for logs and wire formats."""
        return {"topic": self.topic, **dataclasses.asdict(self)}


def check_topic(topic: str) -> str:
    """Return ``topic`` if it is a valid concrete topic (no wildcards), else raise ValueError."""
    if not _TOPIC.match(topic):
        raise ValueError(
            f"invalid event topic {topic!r}: expected dot-separated tokens of letters, digits, "
            "'_' or '-', such as 'agent.created'"
        )
    return topic


def event(topic: str) -> Callable[[type[E]], type[E]]:
    """Class decorator: make ``cls`` a frozen, slotted, keyword-only dataclass published on ``topic``."""
    check_topic(topic)

    def wrap(cls: type[E]) -> type[E]:
        if not issubclass(cls, Event):
            raise TypeError(f"@event({topic!r}) decorates {cls.__name__}, which is not an Event")
        cls.topic = topic
        return dataclasses.dataclass(frozen=True, slots=True, kw_only=True)(cls)

    return wrap


# Events the kernel itself publishes.


@event("kernel.started")
class KernelStarted(Event):
    """Every enabled plugin has started (or failed under an ``on_error = "continue"`` policy)."""

    plugins: tuple[str, ...]


@event("kernel.stopping")
class KernelStopping(Event):
    """Shutdown has begun; plugins stop next, in reverse start order."""

    reason: str


@event("kernel.plugin.started")
class PluginStarted(Event):
    """A plugin reported ready."""

    plugin: str


@event("kernel.plugin.stopped")
class PluginStopped(Event):
    """A plugin stopped cleanly."""

    plugin: str


@event("kernel.plugin.failed")
class PluginFailed(Event):
    """A plugin failed in ``phase`` (load, register, start, run, stop) with ``error``."""

    plugin: str
    phase: str
    error: str
