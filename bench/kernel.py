"""Kernel benchmarks, each a ratio against a baseline measured in the same run.

1. Bus: events/s from one publisher to one subscriber, against an asyncio.Queue producer/consumer
   (the practical limit) and against autogen-core's SingleThreadedAgentRuntime publish_message to
   one subscribed agent. Goals: >= 0.5x asyncio.Queue, >= 50x autogen-core.
2. Hook dispatch: ``kernel.hook.pygent_health()`` against the same call on a raw pluggy
   PluginManager with the same spec and implementation. Goal: <= 1.2x.
3. Cold start: wall time of ``pygent plugins list`` (every built-in plugin installed) against
   ``python -c pass``. Goal: under 0.5 s.

Run: ``make bench`` (installs autogen-core), or ``python bench/kernel.py [--quick]``.
Each figure is the best of several rounds, to keep other load on the machine out of it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pluggy
from pygent_kernel import EventBus, Kernel, hookspecs
from pygent_sdk import Event, Health, Plugin, event, hookimpl
from pygent_sdk.markers import PROJECT


@event("bench.tick")
class Tick(Event):
    n: int


def best(runs: int, measure) -> float:  # type: ignore[no-untyped-def]
    return max(measure() for _ in range(runs))


# 1. Bus ----------------------------------------------------------------------------------------


def queue_rate(n: int) -> float:
    async def main() -> float:
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=1000)
        events = [Tick(n=i) for i in range(n)]

        async def consume() -> None:
            for _ in range(n):
                await queue.get()

        start = time.perf_counter()
        consumer = asyncio.create_task(consume())
        for e in events:
            await queue.put(e)
        await consumer
        return n / (time.perf_counter() - start)

    return asyncio.run(main())


def bus_rate(n: int) -> float:
    async def main() -> float:
        bus = EventBus()
        events = [Tick(n=i) for i in range(n)]
        sub = bus.subscribe("bench.tick", maxsize=1000, overflow="wait")

        async def consume() -> None:
            count = 0
            async for _ in sub:
                count += 1
                if count == n:
                    return

        start = time.perf_counter()
        consumer = asyncio.create_task(consume())
        for e in events:
            await bus.publish(e)
        await consumer
        return n / (time.perf_counter() - start)

    return asyncio.run(main())


def autogen_rate(n: int) -> float:
    sys.path.insert(0, str(Path(__file__).parent))
    from _autogen_baseline import rate

    return rate(n)


# 2. Hook dispatch ------------------------------------------------------------------------------


class Healthy(Plugin):
    @hookimpl
    def pygent_health(self) -> Health:
        return Health.ok()


class RawHealthy:
    @hookimpl
    def pygent_health(self) -> Health:
        return Health.ok()


def calls_per_second(call, n: int) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for _ in range(n):
        call()
    return n / (time.perf_counter() - start)


def hook_rates(n: int) -> tuple[float, float]:
    kernel = Kernel.from_mapping({"healthy": {}}, classes={"healthy": Healthy})
    raw = pluggy.PluginManager(PROJECT)
    raw.add_hookspecs(hookspecs)
    raw.register(RawHealthy())
    assert kernel.hook.pygent_health() == raw.hook.pygent_health() == [Health.ok()]
    return (calls_per_second(kernel.hook.pygent_health, n),
            calls_per_second(raw.hook.pygent_health, n))


# 3. Cold start ---------------------------------------------------------------------------------


def wall(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=Path(__file__).parents[1])
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer events and rounds")
    args = parser.parse_args()
    n, rounds = (20_000, 2) if args.quick else (200_000, 5)
    n_autogen = 2_000 if args.quick else 20_000

    print(f"1. Bus, one publisher -> one subscriber (best of {rounds} rounds)")
    queue = best(rounds, lambda: queue_rate(n))
    bus = best(rounds, lambda: bus_rate(n))
    try:
        autogen = best(max(2, rounds // 2), lambda: autogen_rate(n_autogen))
    except ImportError:
        autogen = None
    print(f"   asyncio.Queue (baseline)     {queue:>12,.0f} events/s")
    print(f"   pygent bus                   {bus:>12,.0f} events/s")
    print(f"   ratio vs asyncio.Queue        {bus / queue:>11.2f}x   (goal >= 0.5x)")
    if autogen is None:
        print("   autogen-core not installed: `make bench` installs it")
    else:
        print(f"   autogen-core runtime         {autogen:>12,.0f} msgs/s")
        print(f"   ratio vs autogen-core         {bus / autogen:>11.1f}x   (goal >= 50x)")

    calls = n * 2
    print(f"2. Hook dispatch, pygent_health with one implementation ({calls:,} calls)")
    kernel_hook, raw_hook = (max(r) for r in zip(*(hook_rates(calls) for _ in range(rounds))))
    print(f"   raw pluggy (baseline)        {raw_hook:>12,.0f} calls/s")
    print(f"   kernel.hook                  {kernel_hook:>12,.0f} calls/s")
    print(f"   time ratio kernel/raw         {raw_hook / kernel_hook:>11.2f}x   (goal <= 1.2x)")

    runs = 5 if args.quick else 11
    pygent = str(Path(sys.executable).with_name("pygent"))
    print(f"3. Cold start (median of {runs} runs)")
    bare = wall([sys.executable, "-c", "pass"], runs)
    listing = wall([pygent, "plugins", "list"], runs)
    print(f"   python -c pass (baseline)    {bare:>12.3f} s")
    print(f"   pygent plugins list          {listing:>12.3f} s   (goal < 0.5 s)")
    print(f"   ratio                         {listing / bare:>11.1f}x")


if __name__ == "__main__":
    main()
