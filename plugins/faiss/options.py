"""A collection's index options: the store-wide defaults from ``[faiss]``, overridden per
collection by ``create_collection(..., options={...})``."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

INDEX_TYPES = ("flat", "ivf_flat", "hnsw", "ivf_pq")
IVF_TYPES = ("ivf_flat", "ivf_pq")


@dataclasses.dataclass(frozen=True, slots=True)
class IndexOptions:
    """How one collection indexes its vectors (see docs/faiss.md)."""

    index: str = "flat"
    nlist: int = 0
    """IVF lists; 0: about 4 * sqrt(rows) at each (re)training, at most rows / 39."""
    nprobe: int = 32
    pq_m: int = 0
    """Sub-quantizers of ``ivf_pq``; 0: the largest divisor of the dimension up to dimension / 4."""
    rerank: int = 8
    """``ivf_pq`` fetches ``k * rerank`` candidates and orders them by their exact scores."""
    hnsw_m: int = 32
    ef_search: int = 64
    ef_construction: int = 80

    @classmethod
    def build(
        cls, defaults: IndexOptions, given: Mapping[str, Any] | None, where: str,
    ) -> IndexOptions:
        """``defaults`` with ``given`` applied; unknown keys and bad values are errors."""
        given = dict(given or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(given) - known)
        if unknown:
            raise ValueError(f"{where}: unknown option(s) {unknown}; known: {sorted(known)}")
        for key, value in given.items():
            if key == "index":
                if value not in INDEX_TYPES:
                    raise ValueError(f"{where}: index {value!r} is not one of {list(INDEX_TYPES)}")
            elif isinstance(value, bool) or not isinstance(value, int) or value < (
                0 if key in ("nlist", "pq_m") else 1
            ):
                raise ValueError(
                    f"{where}: option {key!r} must be a positive integer, got {value!r}")
        return dataclasses.replace(defaults, **given)

    def auto_nlist(self, rows: int) -> int:
        return self.nlist or max(1, min(int(4 * math.sqrt(rows)), rows // 39))

    def pq_subquantizers(self, dimension: int) -> int:
        if self.pq_m:
            if dimension % self.pq_m:
                raise ValueError(f"pq_m = {self.pq_m} does not divide the dimension {dimension}")
            return self.pq_m
        return max(m for m in range(1, max(1, dimension // 4) + 1) if dimension % m == 0)
