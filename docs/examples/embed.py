"""Embed the PyGent kernel in your own application.

Starts the plugins that plugins.toml enables, publishes events of the application's own type,
reads them back through a subscription, waits for a heartbeat, and prints health and bus stats.
Run from the repository root: ``python docs/examples/embed.py [plugins.toml]``.
"""

from __future__ import annotations

import sys

import anyio
from pygent_kernel import Kernel
from pygent_sdk import Event, event
from rich.console import Console
from rich.table import Table

console = Console()


@event("shop.order.placed")
class OrderPlaced(Event):
    """An order came in (the application's own event type)."""

    order_id: int
    total: float


async def main(config: str) -> None:
    async with Kernel.from_config(config) as kernel:
        console.print(f"[green]Kernel started[/] from {config}: {', '.join(kernel.order)}")
        with kernel.bus.subscribe("shop.>", overflow="wait") as orders, \
                kernel.bus.subscribe("heartbeat.beat") as beats:
            for order_id, total in [(1, 9.5), (2, 42.0), (3, 7.25)]:
                await kernel.bus.publish(OrderPlaced(order_id=order_id, total=total, source="shop"))
                console.print(f"  published shop.order.placed #{order_id}")
            received = [await anext(orders) for _ in range(3)]
            console.print(f"  subscriber received {len(received)} orders, "
                          f"total {sum(o.total for o in received):.2f}")  # type: ignore[attr-defined]
            with anyio.fail_after(10):
                beat = await anext(beats)
            console.print(f"  heartbeat #{beat.seq} after {beat.uptime:.1f} s")  # type: ignore[attr-defined]
        health = await kernel.health()
        table = Table(title=f"Health: {health.status}")
        table.add_column("plugin")
        table.add_column("status")
        table.add_column("detail")
        for name, report in health.plugins.items():
            table.add_row(name, report.status, report.detail)
        console.print(table)
        stats = kernel.bus.stats()
        console.print(f"Bus: {stats.published} events published; " + "; ".join(
            f"{s.name}: {s.delivered} delivered, {s.dropped} dropped" for s in stats.subscriptions
        ))
    console.print("[green]Kernel stopped cleanly.[/]")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else "plugins.toml")
