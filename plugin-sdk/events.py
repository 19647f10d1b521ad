"""Events: frozen, typed records of something that already happened, carried by the kernel's bus.

Declare one with the :func:`event` decorator::

    @event("greeter.greeted")
    class Greeted(Event):
        text: str

Topics are dot-separated tokens (``agent.created``). Subscribers match them exactly or with
NATS-style wildcards: ``*`` matches one token (``agent.*``), ``>`` one or more trailing tokens
(``agent.>``).

Events can cross a wire: each carries an ``id`` (unique across processes), a timestamp, the
plugin that published it (``source``) and the process it was created in (``origin``);
``@event`` registers topic -> class, and :meth:`Event.from_dict` rebuilds an event from
:meth:`Event.to_dict` (with the class's schema ``version``), in this process or another.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
import socket
import time
import typing
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from .errors import PygentError

_TOPIC = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")

E = TypeVar("E", bound="Event")

def _origin() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


ORIGIN = _origin()
"""This process, as events created here name it in ``origin`` (host, pid and a random tag)."""
_ID_PREFIX = os.urandom(6).hex() + "-"
_ids = itertools.count(1)


def _forked() -> None:
    """A forked child is another process: it gets its own origin and id prefix."""
    global ORIGIN, _ID_PREFIX, _ids
    ORIGIN, _ID_PREFIX, _ids = _origin(), os.urandom(6).hex() + "-", itertools.count(1)


os.register_at_fork(after_in_child=_forked)
_REGISTRY: dict[str, type[Event]] = {}


def new_id() -> str:
    """A new event id, unique across processes: a random per-process prefix and a counter."""
    return _ID_PREFIX + format(next(_ids), "x")


class UnknownEvent(PygentError, LookupError):
    """``from_dict`` got a topic no ``@event`` class is registered for, or a newer schema."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every event. ``topic`` and ``version`` are fixed per class.

    ``id`` is unique across processes (a bridge deduplicates by it), ``ts`` is the creating
    side's wall clock, ``source`` the publishing plugin and ``origin`` the creating process.
    """

    topic: ClassVar[str] = "event"
    version: ClassVar[int] = 1
    """Schema version of the class's fields; raise it when a field changes meaning or goes away."""
    id: str = dataclasses.field(default_factory=new_id)
    ts: float = dataclasses.field(default_factory=time.time)
    source: str = ""
    origin: str = dataclasses.field(default_factory=lambda: ORIGIN)

    @property
    def is_local(self) -> bool:
        """True when this process created the event (a bridge forwards only these)."""
        return self.origin == ORIGIN

    def to_dict(self) -> dict[str, Any]:
        """The event's topic, schema version and fields: JSON-ready for logs and wire formats."""
        return {"topic": self.topic, "version": self.version, **dataclasses.asdict(self)}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Event:
        """Rebuild an event from :meth:`to_dict` output, by its registered topic.

        Unknown fields (from a newer minor revision) are ignored; a missing field, a topic no
        class is registered for, or a schema ``version`` newer than the class's raises
        :class:`UnknownEvent` or ``TypeError`` naming the topic.
        """
        topic = data.get("topic")
        cls = _REGISTRY.get(topic) if isinstance(topic, str) else None
        if cls is None:
            raise UnknownEvent(f"no event class is registered for topic {topic!r}")
        version = data.get("version", 1)
        if not isinstance(version, int) or version > cls.version:
            raise UnknownEvent(
                f"event {topic!r} has schema version {version!r}; this process knows "
                f"version {cls.version} ({cls.__module__}.{cls.__qualname__})"
            )
        kwargs = {}
        for name, as_tuple in _fields(cls):
            if name in data:
                value = data[name]
                kwargs[name] = tuple(value) if as_tuple and isinstance(value, list) else value
        try:
            return cls(**kwargs)
        except TypeError as err:
            raise TypeError(f"event {topic!r}: {err}") from None


def event_types() -> dict[str, type[Event]]:
    """Every registered event class by topic (a copy)."""
    return dict(_REGISTRY)


_FIELDS: dict[type[Event], tuple[tuple[str, bool], ...]] = {}


def _fields(cls: type[Event]) -> tuple[tuple[str, bool], ...]:
    """``cls``'s field names, each with whether it is a tuple (JSON brings lists back)."""
    found = _FIELDS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        found = _FIELDS[cls] = tuple(
            (f.name, typing.get_origin(hints.get(f.name)) is tuple or hints.get(f.name) is tuple)
            for f in dataclasses.fields(cls)
        )
    return found


def check_topic(topic: str) -> str:
    """Return ``topic`` if it is a valid concrete topic (no wildcards), else raise ValueError."""
    if not _TOPIC.match(topic):
        raise ValueError(
            f"invalid event topic {topic!r}: expected dot-separated tokens of letters, digits, "
            "'_' or '-', such as 'agent.created'"
        )
    return topic


def event(topic: str, *, version: int = 1) -> Callable[[type[E]], type[E]]:
    """Class decorator: make ``cls`` a frozen, slotted, keyword-only dataclass published on
    ``topic``, with schema ``version``, and register it for :meth:`Event.from_dict`.

    A topic belongs to one class: registering another class for it raises ``ValueError``
    naming both (re-importing the same class is fine).
    """
    check_topic(topic)

    def wrap(cls: type[E]) -> type[E]:
        if not issubclass(cls, Event):
            raise TypeError(f"@event({topic!r}) decorates {cls.__name__}, which is not an Event")
        name = f"{cls.__module__}.{cls.__qualname__}"
        known = _REGISTRY.get(topic)
        if known is not None and f"{known.__module__}.{known.__qualname__}" != name:
            raise ValueError(
                f"event topic {topic!r} is registered twice: by {known.__module__}."
                f"{known.__qualname__} and by {name}"
            )
        cls.topic, cls.version = topic, version
        made = dataclasses.dataclass(frozen=True, slots=True, kw_only=True)(cls)
        _REGISTRY[topic] = made
        return made

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
