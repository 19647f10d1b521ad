"""The event bus: topic patterns, per-subscriber order, overflow policies, closing, stats."""

from __future__ import annotations

import anyio
import pytest
from pygent_kernel import EventBus
from pygent_kernel.topics import compile_pattern

from .conftest import Deep, Ping

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("agent.created", "agent.created", True),
        ("agent.created", "agent.deleted", False),
        ("agent.*", "agent.created", True),
        ("agent.*", "agent.status.changed", False),
        ("agent.*", "agent", False),
        ("agent.>", "agent.status.changed", True),
        ("agent.>", "agent", False),
        ("*.created", "agent.created", True),
        (">", "anything.at.all", True),
        ("a.*.c", "a.b.c", True),
        ("a.*.c", "a.b.d", False),
    ],
)
def test_pattern_matching(pattern: str, topic: str, expected: bool) -> None:
    assert compile_pattern(pattern)(topic) is expected


@pytest.mark.parametrize("pattern", ["agent.>.x", "agent..x", "agent.cre ated", ""])
def test_malformed_patterns_are_refused_with_the_pattern_named(pattern: str) -> None:
    with pytest.raises(ValueError, match="invalid topic pattern"):
        compile_pattern(pattern)


async def test_events_reach_matching_subscribers_in_order() -> None:
    bus = EventBus()
    with bus.subscribe("test.*", overflow="wait") as pings, bus.subscribe("test.>") as everything:
        for n in range(5):
            await bus.publish(Ping(n=n))
        await bus.publish(Deep(n=9))
        assert [e.n for e in pings.drain()] == [0, 1, 2, 3, 4]
        assert [e.n for e in everything.drain()] == [0, 1, 2, 3, 4, 9]
    assert bus.published == 6


async def test_drop_oldest_keeps_the_newest_and_counts_drops() -> None:
    bus = EventBus()
    with bus.subscribe("test.ping", maxsize=3, overflow="drop_oldest") as sub:
        for n in range(10):
            await bus.publish(Ping(n=n))
        assert [e.n for e in sub.drain()] == [7, 8, 9]
        stats = sub.stats()
    assert (stats.dropped, stats.delivered, stats.buffered) == (7, 3, 0)


async def test_wait_policy_applies_back_pressure_and_loses_nothing() -> None:
    bus = EventBus()
    received: list[int] = []
    with bus.subscribe("test.ping", maxsize=2, overflow="wait") as sub:

        async def consume() -> None:
            async for event in sub:
                received.append(event.n)
                await anyio.sleep(0)
                if event.n == 99:
                    return

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            for n in range(100):
                await bus.publish(Ping(n=n))
                assert len(sub._buf) <= 2
    assert received == list(range(100))
    assert sub.dropped == 0


async def test_a_full_wait_buffer_blocks_the_publisher() -> None:
    bus = EventBus()
    with bus.subscribe("test.ping", maxsize=1, overflow="wait"):
        await bus.publish(Ping(n=1))
        with anyio.move_on_after(0.05) as scope:
            await bus.publish(Ping(n=2))
    assert scope.cancelled_caught


async def test_closing_ends_iteration_after_buffered_events_and_unsubscribes() -> None:
    bus = EventBus()
    sub = bus.subscribe("test.ping")
    await bus.publish(Ping(n=1))
    sub.close()
    await bus.publish(Ping(n=2))
    assert [e.n async for e in sub] == [1]
    assert bus.stats().subscriptions == ()


async def test_close_wakes_a_waiting_reader() -> None:
    bus = EventBus()
    sub = bus.subscribe("test.ping")
    seen: list[object] = []

    async def read() -> None:
        seen.extend([e async for e in sub])

    async with anyio.create_task_group() as tg:
        tg.start_soon(read)
        await anyio.wait_all_tasks_blocked()
        sub.close()
    assert seen == []


def test_subscription_arguments_are_checked() -> None:
    bus = EventBus()
    with pytest.raises(ValueError, match="maxsize must be >= 1"):
        bus.subscribe("x", maxsize=-1)
    with pytest.raises(ValueError, match="overflow must be 'wait' or 'drop_oldest'"):
        bus.subscribe("x", overflow="block")  # type: ignore[arg-type]


async def test_route_cache_follows_subscription_changes() -> None:
    bus = EventBus()
    await bus.publish(Ping(n=0))
    with bus.subscribe("test.ping") as sub:
        await bus.publish(Ping(n=1))
        assert [e.n for e in sub.drain()] == [1]


def test_events_are_frozen_and_typed() -> None:
    ping = Ping(n=1)
    with pytest.raises(AttributeError):
        ping.n = 2  # type: ignore[misc]
    assert ping.to_dict()["topic"] == "test.ping" and ping.to_dict()["n"] == 1
    with pytest.raises(ValueError, match="invalid event topic"):
        from pygent_sdk import Event, event

        @event("bad topic")
        class Bad(Event):
            pass
