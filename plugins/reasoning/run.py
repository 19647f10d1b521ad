"""One pipeline run's state: its model, retriever, timings, usage and stop signal."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pygent_sdk import ChatMessage, ChatModel, ChatOptions, Usage
from pygent_sdk.guard import guarded_reply
from pygent_sdk.knowledge import Passage, Retriever
from pygent_sdk.reasoning import REPLY_STOPS, StopSignal, TreeSettings


@dataclasses.dataclass
class Run:
    """What the stages of one run share; ``timings`` and ``usage`` grow as they go."""

    session_id: str
    query: str
    config: Any
    """The ``[reasoning]`` config."""
    model: Callable[[], ChatModel]
    """The chat model of the run's own calls, looked up on first use."""
    settings: TreeSettings | None
    collection: str | None
    retriever: Retriever | None
    stop: StopSignal | None
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    usage: Usage = dataclasses.field(default_factory=Usage)

    @property
    def stopped(self) -> bool:
        return self.stop is not None and self.stop()

    @contextlib.contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Add the block's wall time to ``timings[stage]``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - start

    async def ask(self, messages: Sequence[ChatMessage], max_tokens: int, *,
                  answer: bool = False) -> str:
        """The model's reply (greedy, cut where it loops: see :mod:`pygent_sdk.guard`); usage is
        counted. An ``answer`` the model stopped at ``max_tokens`` ends with "…"."""
        options = ChatOptions(max_tokens=max_tokens, temperature=0.0, stop=REPLY_STOPS)
        text, usage = await guarded_reply(self.model(), messages, options,
                                          cut_mark="…" if answer else "")
        self.usage += usage
        return text

    async def retrieve(self, query: str) -> list[Passage]:
        """``[reasoning] k`` passages for ``query`` from the run's collection."""
        assert self.retriever is not None  # the pipeline checks before a retrieving mode runs
        return await self.retriever.retrieve(query, k=self.config.k, collection=self.collection)
