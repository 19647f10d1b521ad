"""Kernel benchmarks, each a ratio against a baseline measured in the same run.

1. Bus, like for like at two levels:
   a. a subscription: one publisher task creating and publishing events, one consumer task
      reading them with ``async for``, against an asyncio.Queue(1000) producer/consumer.
      Goal: >= 0.5x asyncio.Queue.
   b. a handler: events created and published, each delivered to an async callback (a plugin's
      ``Listener``, run by the kernel in its own task, errors contained) in a started kernel,
      against autogen-core's ``SingleThreadedAgentRuntime``: ``publish_message`` of a message to
      a topic, delivered to the ``@message_handler`` of one subscribed agent. Both clocks stop
      when the handler has seen every message. Goal: >= 50x autogen-core.
2. Hooks: ``kernel.hook`` *is* pluggy's ``HookRelay`` (asserted; its ratio is 1.0 by
   construction, so it is not timed). Timed instead is what the kernel adds:
   ``Kernel.call_plugin`` (one plugin's implementation, as health checks and listener collection
   ask) against the same hook on a raw pluggy manager holding only that plugin. Goal: <= 1.2x.
3. Cold start: wall time of ``pygent plugins list`` (every built-in plugin installed) against
   ``python -c pass``. Goal: under 0.5 s.

Run: ``make bench`` (installs autogen-core), or ``python bench/kernel.py [--quick]``.
Each round measures the baseline and PyGent back to back; the ratio of each round is kept and
the median is reported with the lowest and highest, so the run-to-run spread shows. Rates are
in CPU time of this process (``time.process_time``): on a shared machine, other processes'
load does not count. Cold start reports wall time and the child's CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pluggy
from pygent_kernel import EventBus, Kernel, hookspecs
from pygent_sdk import Event, Health, Listener, Plugin, event, hookimpl
from pygent_sdk.markers import PROJECT


@event("bench.tick")
class Tick(Event):
    n: int


def ratios(rounds: int, ours, baseline) -> tuple[float, float, list[float]]:  # type: ignore[no-untyped-def]
    """(our best rate, the baseline's best, the ratio of each round): both measured per round."""
    pairs = [(ours(), baseline()) for _ in range(rounds)]
    return max(p[0] for p in pairs), max(p[1] for p in pairs), [a / b for a, b in pairs]


def spread(values: list[float], digits: int = 2) -> str:
    """``median [min-max]`` of the per-round ratios."""
    return (f"{statistics.median(values):.{digits}f}x "
            f"[{min(values):.{digits}f}-{max(values):.{digits}f}, {len(values)} rounds]")


# 1. Bus ----------------------------------------------------------------------------------------


def queue_rate(n: int) -> float:
    async def main() -> float:
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=1000)

        async def consume() -> None:
            for _ in range(n):
                await queue.get()

        start = time.process_time()
        consumer = asyncio.create_task(consume())
        for i in range(n):
            await queue.put(Tick(n=i))
        await consumer
        return n / (time.process_time() - start)

    return asyncio.run(main())


def bus_rate(n: int) -> float:
    async def main() -> float:
        bus = EventBus()
        sub = bus.subscribe("bench.tick", maxsize=1000, overflow="wait")

        async def consume() -> None:
            count = 0
            async for _ in sub:
                count += 1
                if count == n:
                    return

        start = time.process_time()
        consumer = asyncio.create_task(consume())
        for i in range(n):
            await bus.publish(Tick(n=i))
        await consumer
        return n / (time.process_time() - start)

    return asyncio.run(main())


class Counting(Plugin):
    """Contributes one listener that counts bench.tick events and says when it has seen all."""

    want = 0
    seen = 0
    all_seen: asyncio.Event

    async def on_tick(self, event: Event) -> None:
        self.seen += 1
        if self.seen == self.want:
            self.all_seen.set()

    @hookimpl
    def pygent_listeners(self) -> list[Listener]:
        return [Listener("bench.tick", self.on_tick, maxsize=1000, overflow="wait")]


def listener_rate(n: int) -> float:
    async def main() -> float:
        async with Kernel.from_mapping({"counting": {}}, classes={"counting": Counting}) as kernel:
            counting = kernel.plugins["counting"].instance
            assert isinstance(counting, Counting)
            counting.want, counting.all_seen = n, asyncio.Event()
            start = time.process_time()
            for i in range(n):
                await kernel.bus.publish(Tick(n=i))
            await counting.all_seen.wait()
            return n / (time.process_time() - start)

    return asyncio.run(main())


def autogen_rate(n: int) -> float:
    sys.path.insert(0, str(Path(__file__).parent))
    from _autogen_baseline import rate

    return rate(n)


# 2. Hooks --------------------------------------------------------------------------------------


class Healthy(Plugin):
    @hookimpl
    def pygent_health(self) -> Health:
        return Health.ok()


class Other(Plugin):
    @hookimpl
    def pygent_health(self) -> Health:
        return Health.degraded("not the one asked")


class RawHealthy:
    @hookimpl
    def pygent_health(self) -> Health:
        return Health.ok()


def calls_per_second(call, n: int) -> float:  # type: ignore[no-untyped-def]
    start = time.process_time()
    for _ in range(n):
        call()
    return n / (time.process_time() - start)


def hook_callers() -> tuple[Any, Any]:
    """(one plugin's health through ``Kernel.call_plugin`` among seven, raw pluggy with only it)."""
    others = {f"other{i}": Other for i in range(6)}
    kernel = Kernel.from_mapping({"healthy": {}, **{n: {} for n in others}},
                                 classes={"healthy": Healthy, **others})
    assert kernel.hook is kernel.pm.hook, "kernel.hook is pluggy's own HookRelay"
    raw = pluggy.PluginManager(PROJECT)
    raw.add_hookspecs(hookspecs)
    raw.register(RawHealthy())
    ours = functools.partial(kernel.call_plugin, "pygent_health", "healthy")
    assert ours() == raw.hook.pygent_health() == [Health.ok()]
    return ours, raw.hook.pygent_health


# 3. Cold start ---------------------------------------------------------------------------------


def wall(cmd: list[str], runs: int) -> tuple[float, float]:
    """Median (wall seconds, CPU seconds: user + system) of ``runs`` runs of ``cmd``."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=Path(__file__).parents[1])
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer events and rounds")
    args = parser.parse_args()
    n, rounds = (20_000, 3) if args.quick else (200_000, 7)
    n_handler = 2_000 if args.quick else 20_000

    print(f"1a. Bus: a publisher task -> a subscription read by a consumer task ({n:,} events)")
    bus, queue, per_round = ratios(rounds, lambda: bus_rate(n), lambda: queue_rate(n))
    print(f"   asyncio.Queue(1000) (baseline) {queue:>11,.0f} events/s (best round)")
    print(f"   pygent bus, wait buffer 1000   {bus:>11,.0f} events/s (best round)")
    print(f"   ratio                          {spread(per_round)}   (goal >= 0.5x)")

    print(f"1b. Bus: publish -> an async handler in its own task ({n_handler:,} messages)")
    try:
        autogen_rate(10)
    except ImportError:
        print("   autogen-core not installed: `make bench` installs it")
    else:
        listener, autogen, per_round = ratios(
            max(3, rounds // 2), lambda: listener_rate(n_handler), lambda: autogen_rate(n_handler))
        print(f"   autogen-core publish_message -> @message_handler (baseline) {autogen:>9,.0f} msgs/s")
        print(f"   pygent bus.publish -> plugin Listener in a started kernel  {listener:>9,.0f} msgs/s")
        print(f"   ratio                          {spread(per_round, 1)}   (goal >= 50x)")

    calls = n * 2
    print("2. Hooks: kernel.hook is pluggy's HookRelay (same object): ratio 1.0 by construction")
    print(f"   what the kernel adds, one plugin's pygent_health ({calls:,} calls)")
    ours, raw = hook_callers()
    call_plugin, raw_hook, per_round = ratios(
        rounds, lambda: calls_per_second(ours, calls), lambda: calls_per_second(raw, calls))
    print(f"   raw pluggy, only that plugin (baseline) {raw_hook:>10,.0f} calls/s (best round)")
    print(f"   Kernel.call_plugin, 1 of 7 plugins      {call_plugin:>10,.0f} calls/s (best round)")
    print(f"   time ratio {spread([1 / r for r in per_round])}   (goal <= 1.2x)")

    runs = 5 if args.quick else 11
    pygent = str(Path(sys.executable).with_name("pygent"))
    print(f"3. Cold start (median of {runs} runs)")
    (bare, bare_cpu), (listing, listing_cpu) = wall([sys.executable, "-c", "pass"], runs), wall(
        [pygent, "plugins", "list"], runs)
    print(f"   python -c pass (baseline)    {bare:>8.3f} s wall, {bare_cpu:.3f} s CPU")
    print(f"   pygent plugins list          {listing:>8.3f} s wall, {listing_cpu:.3f} s CPU   (goal < 0.5 s)")
    print(f"   ratio                         {listing / bare:>7.1f}x wall, {listing_cpu / bare_cpu:.1f}x CPU")


if __name__ == "__main__":
    main()
