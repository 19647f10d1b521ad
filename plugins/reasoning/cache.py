"""The result cache: results by (query, mode, task, settings, collection, corpus version), the
least recently used dropped first; the corpus version changes with every ingest."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from pygent_sdk.knowledge import Knowledge
from pygent_sdk.reasoning import ReasoningResult


async def corpus_version(knowledge: Knowledge | None, collection: str | None) -> tuple[str, int]:
    """A digest of ``collection``'s documents (id, content hash, chunks, ingest time), which an
    ingest, a replacement or a deletion changes, and how many documents there are; ("none", 0)
    without a knowledge service."""
    if knowledge is None:
        return "none", 0
    documents = await knowledge.documents(collection)
    rows = sorted(f"{d.id}:{d.sha256}:{d.chunks}:{d.ingested_at}" for d in documents)
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16], len(documents)


def cache_key(query: str, mode: str, task: str | None, settings: Mapping[str, Any] | None,
              collection: str | None, version: str) -> str:
    """The key of a run: its inputs as canonical JSON, hashed."""
    data = [" ".join(query.split()), mode, task, settings, collection, version]
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


class ResultCache:
    """At most ``size`` results (0: none kept), least recently used dropped first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, ReasoningResult] = OrderedDict()

    def get(self, key: str) -> ReasoningResult | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: str, result: ReasoningResult) -> None:
        if self.size <= 0:
            return
        self._items[key] = result
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
