"""The in-process event bus: topic-pattern subscriptions with bounded, per-subscriber buffers.

Publishing appends to each matching subscription's buffer without yielding, unless a ``wait``
buffer is full; the subscriber's ``async for`` yields only when its buffer is empty. Routes from
a topic to its subscriptions are cached and rebuilt when subscriptions change.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Callable

import anyio
from pygent_sdk.bus import Overflow
from pygent_sdk.events import Event

from .topics import compile_pattern

log = logging.getLogger("pygent.bus")

_ROUTE_CACHE_LIMIT = 4096


@dataclasses.dataclass(frozen=True, slots=True)
class SubscriptionStats:
    """Counters of one subscription."""

    name: str
    pattern: str
    overflow: Overflow
    maxsize: int
    buffered: int
    delivered: int
    dropped: int
    errors: int


@dataclasses.dataclass(frozen=True, slots=True)
class BusStats:
    """Counters of the whole bus."""

    published: int
    subscriptions: tuple[SubscriptionStats, ...]
    injected: int = 0
    """Of ``published``, the events that came from another process through :meth:`EventBus.inject`."""


class Subscription:
    """A bounded buffer of the events matching ``pattern``, iterated with ``async for``.

    Closing it (or leaving its ``with`` block) unsubscribes; iteration then ends once the events
    already buffered have been read.
    """

    __slots__ = (
        "pattern", "name", "maxsize", "overflow", "matches", "delivered", "dropped", "errors",
        "_bus", "_buf", "_has_items", "_has_room", "_closed",
    )

    def __init__(
        self, bus: EventBus, pattern: str, maxsize: int, overflow: Overflow, name: str
    ) -> None:
        if maxsize < 1:
            raise ValueError(f"subscription {name or pattern!r}: maxsize must be >= 1, got {maxsize}")
        if overflow not in ("wait", "drop_oldest"):
            raise ValueError(
                f"subscription {name or pattern!r}: overflow must be 'wait' or 'drop_oldest', "
                f"got {overflow!r}"
            )
        self.matches: Callable[[str], bool] = compile_pattern(pattern)
        self.pattern, self.name, self.maxsize, self.overflow = pattern, name or pattern, maxsize, overflow
        self.delivered = self.dropped = self.errors = 0
        self._bus = bus
        self._buf: deque[Event] = deque()
        self._has_items: anyio.Event | None = None
        self._has_room: anyio.Event | None = None
        self._closed = False

    def offer(self, event: Event) -> bool:
        """Buffer ``event`` without waiting; False when a ``wait`` buffer is full."""
        if self._closed:
            return True
        buf = self._buf
        if len(buf) >= self.maxsize:
            if self.overflow == "wait":
                return False
            buf.popleft()
            self.dropped += 1
            if self.dropped == 1:
                log.warning(
                    "subscription %r is full (%d events): dropping its oldest events; "
                    "see the bus stats for the count", self.name, self.maxsize,
                )
        buf.append(event)
        waiter = self._has_items
        if waiter is not None:
            self._has_items = None
            waiter.set()
        return True

    async def put(self, event: Event) -> None:
        """Buffer ``event``, waiting for room in a full ``wait`` buffer."""
        while not self.offer(event):
            if self._has_room is None:
                self._has_room = anyio.Event()
            await self._has_room.wait()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        buf = self._buf
        while not buf:
            if self._closed:
                raise StopAsyncIteration
            waiter = self._has_items = anyio.Event()
            await waiter.wait()
        event = buf.popleft()
        self.delivered += 1
        room = self._has_room
        if room is not None:
            self._has_room = None
            room.set()
        return event

    def drain(self) -> list[Event]:
        """Take every buffered event now, without waiting."""
        events = list(self._buf)
        self._buf.clear()
        self.delivered += len(events)
        if self._has_room is not None:
            self._has_room.set()
            self._has_room = None
        return events

    def close(self) -> None:
        """Unsubscribe; wakes the reader and any publisher waiting for room."""
        if self._closed:
            return
        self._closed = True
        self._bus._remove(self)
        for waiter in (self._has_items, self._has_room):
            if waiter is not None:
                waiter.set()
        self._has_items = self._has_room = None

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> SubscriptionStats:
        return SubscriptionStats(
            self.name, self.pattern, self.overflow, self.maxsize, len(self._buf),
            self.delivered, self.dropped, self.errors,
        )


class EventBus:
    """Publishes typed events to the subscriptions whose pattern matches their topic."""

    def __init__(self, default_maxsize: int = 1000) -> None:
        self.default_maxsize = default_maxsize
        self.published = 0
        self.injected = 0
        self._subs: list[Subscription] = []
        self._routes: dict[str, tuple[Subscription, ...]] = {}

    async def publish(self, event: Event) -> None:
        """Deliver ``event`` to every matching subscription."""
        self.published += 1
        topic = event.topic
        subs = self._routes.get(topic)
        if subs is None:
            subs = self._route(topic)
        for sub in subs:
            if not sub.offer(event):
                await sub.put(event)

    async def inject(self, event: Event) -> None:
        """Deliver an event that another process created (a bridge's way in).

        Subscribers see it like any other; a bridge forwards only ``event.is_local`` events,
        so an injected event never echoes back. Raises ValueError for a local event.
        """
        if event.is_local:
            raise ValueError(
                f"inject() takes events from another process; {event.topic} {event.id} is local: "
                "publish() it"
            )
        self.injected += 1
        await self.publish(event)

    def subscribe(
        self, pattern: str, *, maxsize: int | None = None, overflow: Overflow = "drop_oldest",
        name: str = "",
    ) -> Subscription:
        """Subscribe to ``pattern`` from now on (see :mod:`pygent_kernel.topics`)."""
        sub = Subscription(self, pattern, maxsize or self.default_maxsize, overflow, name)
        self._subs.append(sub)
        self._routes.clear()
        return sub

    def stats(self) -> BusStats:
        return BusStats(self.published, tuple(s.stats() for s in self._subs), self.injected)

    def _route(self, topic: str) -> tuple[Subscription, ...]:
        if len(self._routes) >= _ROUTE_CACHE_LIMIT:
            self._routes.clear()
        subs = self._routes[topic] = tuple(s for s in self._subs if s.matches(topic))
        return subs

    def _remove(self, sub: Subscription) -> None:
        self._subs.remove(sub)
        self._routes.clear()
