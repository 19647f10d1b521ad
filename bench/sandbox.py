"""What the sandbox's isolation costs per run: `print(1)` under bubblewrap, with weak isolation,
and as a bare `python3 -I -c` subprocess (the baseline), measured in one run.

    .venv/bin/python bench/sandbox.py [RUNS]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import anyio
from pygent_plugins.sandbox import SandboxPlugin
from pygent_sdk.testing import PluginHarness

PYTHON = "/usr/bin/python3"


async def timed(runs: int, once: Callable[[], Awaitable[object]]) -> list[float]:
    await once()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await once()
        times.append(time.perf_counter() - start)
    return times


async def main(runs: int) -> None:
    async def bare() -> None:
        await anyio.run_process([PYTHON, "-I", "-c", "print(1)"], stdin=subprocess.DEVNULL)

    results = {"bare python3 subprocess (baseline)": await timed(runs, bare)}
    for label, config in (("sandbox, strong (bubblewrap)", {}),
                          ("sandbox, weak", {"isolation": "weak", "bwrap": "/nonexistent"})):
        async with PluginHarness({"sandbox": SandboxPlugin}, {"sandbox": config}) as h:
            sandbox = h.kernel.hook.pygent_sandbox()

            async def once() -> None:
                result = await sandbox.run_python("print(1)")
                assert result.ok, result

            results[label] = await timed(runs, once)
    base = statistics.median(results["bare python3 subprocess (baseline)"])
    print(f"print(1), {runs} sequential runs each: median (min-max), ratio to the baseline")
    for label, times in results.items():
        median = statistics.median(times)
        spread = f"{min(times) * 1000:.1f}-{max(times) * 1000:.1f}"
        print(f"  {label:36} {median * 1000:6.1f} ms ({spread})  {median / base:.2f}x")


if __name__ == "__main__":
    anyio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 30)
