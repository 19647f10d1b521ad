"""autogen-core baseline for bench/kernel.py: publish_message to one subscribed agent's handler.

No ``from __future__ import annotations`` here: autogen-core reads handler type hints at runtime.
"""

import asyncio
import dataclasses
import time

from autogen_core import (
    MessageContext, RoutedAgent, SingleThreadedAgentRuntime, TopicId, message_handler,
    type_subscription,
)


@dataclasses.dataclass
class Msg:
    n: int


@type_subscription(topic_type="bench")
class Counter(RoutedAgent):
    received = 0

    def __init__(self) -> None:
        super().__init__("counts messages")

    @message_handler
    async def on_msg(self, message: Msg, ctx: MessageContext) -> None:
        Counter.received += 1


def rate(n: int) -> float:
    """Messages/s (CPU time) from publish of the first to delivery of the last of ``n`` messages."""

    async def main() -> float:
        Counter.received = 0
        runtime = SingleThreadedAgentRuntime()
        await Counter.register(runtime, "counter", Counter)
        runtime.start()
        start = time.process_time()
        for i in range(n):
            await runtime.publish_message(Msg(i), topic_id=TopicId("bench", "default"))
        await runtime.stop_when_idle()
        elapsed = time.process_time() - start
        assert Counter.received == n, f"autogen delivered {Counter.received} of {n}"
        return n / elapsed

    return asyncio.run(main())
