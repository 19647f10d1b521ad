"""One FAISS collection: its indexes, string ids, metadata, search and files. Synchronous and not
locked: the store calls it from worker threads, one writer or many readers at a time.

Every collection keeps an exact index, ``IndexIDMap2(IndexFlat)``, holding every live vector
under its int64 label: it answers searches of ``flat`` collections, of IVF collections before
they are trained, and of filters too selective for the approximate index; it is what IVF trains
on and what HNSW is rebuilt from. ``ivf_flat``, ``ivf_pq`` and ``hnsw`` collections add an
approximate index on top. An upsert of an existing id gives it a new label; labels are never
reused.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pygent_sdk.files import touch_private
from pygent_sdk.vectors import DimensionMismatch, Filter, Metric, VectorHit, matches

from .device import GPU_MAX_K, Device
from .options import IVF_TYPES, IndexOptions
from .persist import Wal, current, write_json, write_snapshot

SELECTIVE = 0.05
"""A filter matching fewer than this share of the rows is answered by the exact index."""


@dataclasses.dataclass(frozen=True, slots=True)
class Policy:
    """Store-wide maintenance rules, from ``[faiss]``."""

    ivf_train_min: int = 10_000
    ivf_retrain_factor: float = 4.0
    hnsw_rebuild_ratio: float = 0.2
    snapshot_bytes: int = 64 << 20


class Collection:
    """Vectors under string ids with metadata, an exact index and an optional approximate one."""

    def __init__(
        self, faiss: Any, root: Path, name: str, dimension: int, metric: Metric,
        options: IndexOptions, policy: Policy, device: Device,
    ) -> None:
        self.faiss, self.root, self.name = faiss, root, name
        self.dimension, self.metric, self.options = dimension, metric, options
        self.policy, self.device = policy, device
        self.ids: dict[str, int] = {}
        self.names: dict[int, str] = {}
        self.meta: dict[int, dict[str, Any]] = {}
        self.next_label = 0
        self.tombstones: set[int] = set()
        """HNSW labels deleted or replaced but still in the graph (faiss cannot remove them)."""
        self.trained_rows = 0
        self.nlist = 0
        self.exact = faiss.IndexIDMap2(faiss.IndexFlat(dimension, self._faiss_metric))
        self.ann: Any = self._new_hnsw() if options.index == "hnsw" else None
        self.wal: Wal | None = None
        self._gpu: dict[str, Any] = {}

    # ---- life cycle -------------------------------------------------------------------------

    @classmethod
    def load(cls, faiss: Any, root: Path, policy: Policy, device: Device) -> Collection | None:
        """The collection saved under ``root``: its live snapshot, then its log replayed; None
        when it has no snapshot (its creation never returned)."""
        live = current(root)
        if live is None:
            return None
        state = json.loads((live / "state.json").read_text())
        options = IndexOptions(**state["options"])
        self = cls(faiss, root, state["name"], state["dimension"], state["metric"], options,
                   policy, device)
        self.ids = state["ids"]
        self.names = {label: key for key, label in self.ids.items()}
        self.meta = {int(k): v for k, v in json.loads((live / "meta.json").read_text()).items()}
        self.next_label, self.nlist = state["next_label"], state["nlist"]
        self.tombstones, self.trained_rows = set(state["tombstones"]), state["trained_rows"]
        self.exact = faiss.read_index(str(live / "exact.faiss"))
        self.ann = faiss.read_index(str(live / "ann.faiss")) if state["ann"] else None
        self.wal = Wal(live / "wal.log")
        reshaped = False
        for header, blob in self.wal.records():
            if header["op"] == "upsert":
                vectors = np.frombuffer(blob, dtype=np.float32).reshape(-1, self.dimension)
                reshaped |= self._apply_upsert(header["ids"], vectors, header["meta"])
            else:
                reshaped |= self._apply_delete(header["ids"])
        if reshaped:
            self.save()
        return self

    def save(self) -> None:
        """Write a snapshot of everything and start an empty log after it."""
        def write(tmp: Path) -> None:
            write_json(tmp / "meta.json", {str(k): v for k, v in self.meta.items()})
            for part, index in (("exact", self.exact), ("ann", self.ann)):
                if index is not None:
                    self.faiss.write_index(index, str(touch_private(tmp / f"{part}.faiss")))
            write_json(tmp / "state.json", {  # last: a snapshot without it is incomplete
                "name": self.name, "dimension": self.dimension, "metric": self.metric,
                "options": dataclasses.asdict(self.options), "ids": self.ids,
                "next_label": self.next_label, "nlist": self.nlist, "ann": self.ann is not None,
                "tombstones": sorted(self.tombstones), "trained_rows": self.trained_rows,
            })

        if self.wal is not None:
            self.wal.close()
        self.wal = Wal(write_snapshot(self.root, write) / "wal.log")

    def close(self) -> None:
        if self.wal is not None:
            self.wal.close()

    # ---- writes -------------------------------------------------------------------------------

    def prepare(self, vectors: Any) -> np.ndarray:
        """Rows as a fresh float32 matrix (normalized for cosine); DimensionMismatch names both."""
        if not isinstance(vectors, np.ndarray):
            for row in vectors:
                if len(row) != self.dimension:
                    raise self._mismatch(len(row))
        x = np.array(vectors, dtype=np.float32, copy=True).reshape(len(vectors), -1)
        if x.shape[1] != self.dimension:
            raise self._mismatch(x.shape[1])
        if not np.isfinite(x).all():
            raise ValueError(f"faiss collection {self.name!r}: vectors must be finite")
        x = np.ascontiguousarray(x)
        if self.metric == "cosine":
            self.faiss.normalize_L2(x)
        return x

    def upsert(
        self, ids: Sequence[str], vectors: Any, metadata: Sequence[Mapping[str, Any]],
    ) -> None:
        """Log, then apply; the log is fsynced before this returns."""
        x = self.prepare(vectors)
        header = {"op": "upsert", "ids": list(ids), "meta": [dict(m) for m in metadata]}
        try:
            text = json.dumps(header)
        except (TypeError, ValueError) as e:
            raise ValueError(f"faiss collection {self.name!r}: metadata must be JSON ({e})") from e
        ids, meta = header["ids"], json.loads(text)["meta"]  # as a reload will see them
        assert self.wal is not None
        self.wal.append(header, x.tobytes())
        self._after_write(self._apply_upsert(ids, x, meta))

    def delete(self, ids: Sequence[str] | None, filter: Filter | None) -> int:
        """Delete ``ids`` (those matching ``filter`` when both are given); how many went."""
        if ids is None:
            doomed = [self.names[label] for label, m in self.meta.items() if matches(m, filter)]
        else:
            doomed = list(dict.fromkeys(key for key in ids if key in self.ids
                                        and matches(self.meta[self.ids[key]], filter)))
        if doomed:
            assert self.wal is not None
            self.wal.append({"op": "delete", "ids": doomed})
            self._after_write(self._apply_delete(doomed))
        return len(doomed)

    def _after_write(self, reshaped: bool) -> None:
        self._gpu.clear()
        if reshaped or (self.wal is not None and self.wal.size > self.policy.snapshot_bytes):
            self.save()

    def _apply_upsert(self, ids: list[str], x: np.ndarray, meta: list[dict[str, Any]]) -> bool:
        last = {key: i for i, key in enumerate(ids)}  # a repeated id: the last one wins
        if len(last) < len(ids):
            keep = sorted(last.values())
            ids, x, meta = [ids[i] for i in keep], x[keep], [meta[i] for i in keep]
        self._remove_labels([self.ids[key] for key in ids if key in self.ids])
        labels = np.arange(self.next_label, self.next_label + len(ids), dtype=np.int64)
        self.next_label += len(ids)
        self.exact.add_with_ids(x, labels)
        if self.ann is not None:
            self.ann.add_with_ids(x, labels)
        for key, label, m in zip(ids, labels.tolist(), meta):
            self.ids[key], self.names[label], self.meta[label] = label, key, m
        return self._maintain()

    def _apply_delete(self, ids: list[str]) -> bool:
        self._remove_labels([self.ids[key] for key in ids if key in self.ids])
        return self._maintain()

    def _remove_labels(self, labels: list[int]) -> None:
        if not labels:
            return
        array = np.array(labels, dtype=np.int64)
        self.exact.remove_ids(array)
        if self.options.index == "hnsw":
            self.tombstones.update(labels)
        elif self.ann is not None:
            self.ann.remove_ids(array)
        for label in labels:
            del self.ids[self.names.pop(label)]
            del self.meta[label]

    def _maintain(self) -> bool:
        """Train, retrain or rebuild the approximate index when due; True when it changed."""
        rows, index = self.exact.ntotal, self.options.index
        if index in IVF_TYPES:
            if (self.ann is None and rows >= self.train_threshold) or (
                self.ann is not None and rows >= self.trained_rows * self.policy.ivf_retrain_factor
            ):
                self._train()
                return True
        elif index == "hnsw" and (
            len(self.tombstones) > self.policy.hnsw_rebuild_ratio * self.ann.ntotal
        ):
            self.ann = self._new_hnsw()
            self.ann.add_with_ids(*self._all())
            self.tombstones.clear()
            return True
        return False

    @property
    def train_threshold(self) -> int:
        """Rows from which an IVF collection trains: ``ivf_train_min``, at least 39 per list."""
        floor = 256 if self.options.index == "ivf_pq" else 1  # 8-bit PQ codebooks need 256 points
        return max(self.policy.ivf_train_min, 39 * self.options.nlist, floor)

    def _train(self) -> None:
        x, labels = self._all()
        nlist = self.options.auto_nlist(len(x))
        index = self.faiss.index_factory(self.dimension, f"IVF{nlist},{self._coder}",
                                         self._faiss_metric)
        if self.options.index == "ivf_pq":
            index.do_polysemous_training = False  # slow, and search reranks by exact scores anyway
        sample = x
        if len(x) > 256 * nlist:
            sample = x[np.random.default_rng(len(x)).choice(len(x), 256 * nlist, replace=False)]
        index.train(sample)
        index.add_with_ids(x, labels)
        self.ann, self.nlist, self.trained_rows = index, nlist, len(x)

    def _all(self) -> tuple[np.ndarray, np.ndarray]:
        rows = self.exact.ntotal
        if rows == 0:
            return np.zeros((0, self.dimension), np.float32), np.zeros(0, np.int64)
        x = self.exact.index.reconstruct_n(0, rows)
        return x, self.faiss.vector_to_array(self.exact.id_map).astype(np.int64)

    def _new_hnsw(self) -> Any:
        graph = self.faiss.index_factory(self.dimension, f"HNSW{self.options.hnsw_m},Flat",
                                         self._faiss_metric)
        graph.hnsw.efConstruction = self.options.ef_construction
        return self.faiss.IndexIDMap2(graph)

    # ---- reads --------------------------------------------------------------------------------

    def count(self, filter: Filter | None) -> int:
        if not filter:
            return len(self.ids)
        return sum(1 for m in self.meta.values() if matches(m, filter))

    def search(self, vector: Sequence[float], k: int, filter: Filter | None) -> list[VectorHit]:
        """The ``k`` best rows matching ``filter``: exactly ``min(k, matching rows)`` of them."""
        rows = len(self.ids)
        if k <= 0 or rows == 0:
            return []
        query = self.prepare([vector])
        allowed = None
        if filter:
            allowed = np.fromiter(
                (label for label, m in self.meta.items() if matches(m, filter)), np.int64)
            if len(allowed) == 0:
                return []
        wanted = min(k, rows if allowed is None else len(allowed))
        found: list[tuple[int, float]] = []
        if self.ann is not None and (allowed is None or len(allowed) >= SELECTIVE * rows):
            found = self._search_ann(query, k, allowed)
        if len(found) < wanted:  # untrained, a selective filter, or the approximate one fell short
            found = self._search_exact(query, k, allowed)
        hits = [VectorHit(self.names[label], score, self.meta[label]) for label, score in found]
        hits.sort(key=lambda h: (-h.score, h.id))
        return hits

    def _search_exact(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None,
    ) -> list[tuple[int, float]]:
        k = min(k, self.exact.ntotal)
        if allowed is None:
            exact = self._on_device("exact", self.exact, k)
            distances, labels = self.device.search(exact, query, k)
        else:
            selector = self.faiss.IDSelectorBatch(allowed)
            params = self.faiss.SearchParameters(sel=selector)
            distances, labels = self.exact.search(query, min(k, len(allowed)), params=params)
        return self._pairs(distances[0], labels[0])

    def _search_ann(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None,
    ) -> list[tuple[int, float]]:
        faiss = self.faiss
        fetch = k * self.options.rerank if self.options.index == "ivf_pq" else k
        if self.options.index == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(self.options.ef_search, fetch))
        else:
            params = faiss.SearchParametersIVF(nprobe=min(self.options.nprobe, self.nlist))
        dead = inner = None
        if allowed is not None:
            params.sel = inner = faiss.IDSelectorBatch(allowed)
        elif self.tombstones:
            inner = faiss.IDSelectorBatch(np.fromiter(self.tombstones, np.int64))
            params.sel = dead = faiss.IDSelectorNot(inner)
        gpu = None
        if params.sel is None and self.options.index != "hnsw":
            gpu = self._on_device("ann", self.ann, fetch)
        if gpu is not None and gpu is not self.ann:
            distances, labels = self.device.search(gpu, query, fetch)
        else:
            distances, labels = self.ann.search(query, fetch, params=params)
        del dead, inner  # the selectors lived until the search returned
        found = [(label, score) for label, score in self._pairs(distances[0], labels[0])
                 if label not in self.tombstones]
        if self.options.index == "ivf_pq" and found:  # order by the exact scores
            x = self.exact.reconstruct_batch(np.array([label for label, _ in found], np.int64))
            scores = (x @ query[0]) if self.metric != "l2" else -((x - query[0]) ** 2).sum(axis=1)
            labels_found = [label for label, _ in found]
            found = sorted(zip(labels_found, scores.tolist()), key=lambda p: -p[1])[:k]
        return found

    def _pairs(self, distances: np.ndarray, labels: np.ndarray) -> list[tuple[int, float]]:
        sign = -1.0 if self.metric == "l2" else 1.0
        return [(int(label), sign * float(d)) for d, label in zip(distances, labels) if label >= 0]

    def _on_device(self, part: str, index: Any, k: int) -> Any:
        """The GPU copy of ``index`` (made after each write), or ``index`` itself on the CPU and
        for a ``k`` beyond what faiss's GPU search can select."""
        if self.device.name != "cuda" or k > GPU_MAX_K:
            return index
        copy = self._gpu.get(part)
        if copy is None:
            copy = self.device.to_gpu(index) or index
            if part == "ann" and copy is not index and hasattr(copy, "nprobe"):
                copy.nprobe = min(self.options.nprobe, self.nlist)
            self._gpu[part] = copy
        return copy

    # ---- figures ------------------------------------------------------------------------------

    @property
    def spec(self) -> str:
        """The index in ``index_factory`` words, e.g. ``IVF256,Flat``."""
        if self.options.index == "hnsw":
            return f"HNSW{self.options.hnsw_m},Flat"
        if self.ann is None:
            return "Flat"
        return f"IVF{self.nlist},{self._coder}"

    @property
    def _coder(self) -> str:
        if self.options.index == "ivf_flat":
            return "Flat"
        return f"PQ{self.options.pq_subquantizers(self.dimension)}"

    @property
    def trained(self) -> bool:
        return self.options.index not in IVF_TYPES or self.ann is not None

    def bytes_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())

    def details(self) -> dict[str, Any]:
        found = {"type": self.options.index, "index": self.spec, "trained": self.trained,
                 "device": self.device.name}
        if self.options.index in IVF_TYPES:
            found |= {"nlist": self.nlist, "nprobe": self.options.nprobe,
                      "train_threshold": self.train_threshold}
        if self.options.index == "hnsw":
            found |= {"tombstones": len(self.tombstones), "ef_search": self.options.ef_search}
        return found

    @property
    def _faiss_metric(self) -> int:
        return self.faiss.METRIC_L2 if self.metric == "l2" else self.faiss.METRIC_INNER_PRODUCT

    def _mismatch(self, size: int) -> DimensionMismatch:
        return DimensionMismatch(
            f"a {size}-dimensional vector cannot go into faiss collection {self.name!r} "
            f"of {self.dimension} dimensions"
        )
