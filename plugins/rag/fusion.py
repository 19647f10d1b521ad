"""Combining rankings: weighted reciprocal rank fusion, and maximal marginal relevance."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def rrf(rankings: Sequence[tuple[Sequence[str], float]], *, k: int = 60) -> list[tuple[str, float]]:
    """Fuse ranked id lists: each ``(ids best first, weight)`` adds ``weight / (k + rank)``
    (rank from 1) to each of its ids; the result is best first, ties in first-seen order."""
    scores: dict[str, float] = {}
    for ids, weight in rankings:
        for rank, key in enumerate(ids, 1):
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: -item[1])


def mmr(query: Any, candidates: Any, *, k: int, lam: float) -> list[int]:
    """Indices of ``k`` of the ``candidates`` (rows of unit vectors, best first) chosen by
    maximal marginal relevance: ``lam * sim(query) - (1 - lam) * max sim(already chosen)``.
    ``lam = 1`` keeps the relevance order; lower values favour diversity."""
    import numpy as np

    vectors = np.asarray(candidates, dtype=np.float32)
    if len(vectors) == 0:
        return []
    relevance = vectors @ np.asarray(query, dtype=np.float32)
    chosen: list[int] = []
    closest = np.full(len(vectors), -np.inf, dtype=np.float32)
    left = np.ones(len(vectors), dtype=bool)
    while len(chosen) < min(k, len(vectors)):
        redundancy = np.where(np.isfinite(closest), closest, 0.0)
        value = np.where(left, lam * relevance - (1 - lam) * redundancy, -np.inf)
        best = int(np.argmax(value))
        chosen.append(best)
        left[best] = False
        closest = np.maximum(closest, vectors @ vectors[best])
    return chosen
