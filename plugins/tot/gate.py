"""A bound on model calls in flight that costs nothing while it is not full.

anyio's CapacityLimiter checkpoints on every acquire (about 15 µs here); a search on an instant
model makes tens of thousands of calls, so the free path here is a counter, and only a caller
that must wait gets an event.
"""

from __future__ import annotations

from collections import deque
from types import TracebackType

import anyio


class Gate:
    """At most ``size`` holders at once; waiters are served first come, first served."""

    def __init__(self, size: int) -> None:
        self.free = size
        self.waiting: deque[anyio.Event] = deque()

    async def __aenter__(self) -> None:
        if self.free and not self.waiting:
            self.free -= 1
            return
        turn = anyio.Event()
        self.waiting.append(turn)
        try:
            await turn.wait()
        except BaseException:
            if turn.is_set():  # the slot was handed over as this waiter was cancelled: pass it on
                self.release()
            else:
                self.waiting.remove(turn)
            raise

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        self.release()

    def release(self) -> None:
        """Hand the slot to the first waiter, or free it."""
        if self.waiting:
            self.waiting.popleft().set()
        else:
            self.free += 1
