"""What a plugin sees of the event bus: publishing, subscribing and contributing listeners."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Literal, Protocol

from .events import Event

Overflow = Literal["wait", "drop_oldest"]
"""What a full subscription buffer does with a new event: ``wait`` makes the publisher wait for
room (lossless back-pressure); ``drop_oldest`` discards the oldest buffered event and counts it."""


@dataclasses.dataclass(frozen=True, slots=True)
class Listener:
    """A callback a plugin contributes through ``pygent_listeners``.

    The kernel gives each listener its own subscription and task: events reach it in publish
    order, one at a time; an exception it raises is logged and counted and never reaches the
    publisher or another listener.
    """

    pattern: str
    callback: Callable[[Event], Awaitable[None] | None]
    maxsize: int | None = None
    """Buffer size; ``None`` takes the kernel's ``bus_maxsize``."""
    overflow: Overflow = "drop_oldest"
    name: str = ""


class Subscription(Protocol):
    """A bounded buffer of the events matching one pattern; iterate it with ``async for``."""

    pattern: str
    delivered: int
    dropped: int

    def __aiter__(self) -> AsyncIterator[Event]: ...
    async def __anext__(self) -> Event: ...
    def close(self) -> None: ...
    def __enter__(self) -> Subscription: ...
    def __exit__(self, *exc: object) -> None: ...


class Bus(Protocol):
    """The kernel's event bus as plugins use it."""

    async def publish(self, event: Event) -> None:
        """Deliver ``event`` to every matching subscription (waits only on full ``wait`` buffers)."""
        ...

    async def inject(self, event: Event) -> None:
        """Deliver an event created in another process (``not event.is_local``), e.g. by a
        bridge that rebuilt it with ``Event.from_dict``. A bridge forwards only local events,
        so what it injects never echoes back."""
        ...

    def subscribe(
        self, pattern: str, *, maxsize: int | None = None, overflow: Overflow = "drop_oldest",
        name: str = "",
    ) -> Subscription:
        """Subscribe from now on; use as ``with bus.subscribe("agent.*") as sub: async for ...``."""
        ...
