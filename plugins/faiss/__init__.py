"""faiss: a vector store on FAISS with named collections (flat, IVF, HNSW, IVF-PQ), string ids,
metadata filters, a write-ahead log and snapshots under the data directory, on the CPU or a GPU.

Others reach it through ``context.service(VECTOR_STORE, name="faiss")``; see docs/faiss.md.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any, Literal

import anyio
from pydantic import Field
from pygent_sdk import Health, Plugin, PluginConfig, hookimpl
from pygent_sdk.plugin import add_hookspecs_once
from pygent_sdk.vectors import VectorError, VectorStore, VectorStoreHooks, own_store

if TYPE_CHECKING:
    from .persist import LockedStore
    from .store import FaissStore

__all__ = ["FaissPlugin"]


class FaissConfig(PluginConfig):
    """Configuration of the ``[faiss]`` table; the index keys are defaults that
    ``create_collection(..., options={...})`` overrides per collection."""

    index: Literal["flat", "ivf_flat", "hnsw", "ivf_pq"] = Field(
        "flat", description="Index type of new collections: flat (exact), ivf_flat, hnsw, ivf_pq.")
    nlist: int = Field(0, ge=0, description=(
        "IVF lists; 0: about 4 * sqrt(rows), at most rows / 39, chosen again at each training."))
    nprobe: int = Field(32, ge=1, description="IVF lists searched per query.")
    pq_m: int = Field(0, ge=0, description=(
        "ivf_pq sub-quantizers (must divide the dimension); 0: the largest divisor of the "
        "dimension up to dimension / 4."))
    rerank: int = Field(8, ge=1, description=(
        "ivf_pq fetches k * rerank candidates and orders them by their exact scores."))
    hnsw_m: int = Field(32, ge=2, description="HNSW neighbours per node (the 32 of HNSW32,Flat).")
    ef_search: int = Field(64, ge=1, description="HNSW candidates explored per query (at least k).")
    ef_construction: int = Field(80, ge=1, description="HNSW candidates explored per insertion.")
    ivf_train_min: int = Field(10_000, ge=1, description=(
        "Rows an IVF collection needs before it trains (and at least 39 per list); until then it "
        "is searched exactly."))
    ivf_retrain_factor: float = Field(4.0, gt=1.0, description=(
        "Retrain an IVF collection once its rows have grown by this factor since its training."))
    hnsw_rebuild_ratio: float = Field(0.2, gt=0.0, le=1.0, description=(
        "Rebuild an HNSW graph when deleted or replaced rows exceed this share of it."))
    snapshot_mb: float = Field(64.0, gt=0, description=(
        "Snapshot a collection once its write-ahead log exceeds this many MB (also after "
        "training and on stop)."))
    threads: int = Field(0, ge=0, description=(
        "OpenMP threads of a write (adding, training, rebuilding); 0: faiss's default, one per "
        "core. Each search uses one thread; concurrent searches use the cores."))
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description=(
        "auto: a GPU when faiss is a CUDA build and sees one, else the CPU; cuda: a GPU or a "
        "start error; cpu: never a GPU."))
    float16: bool = Field(False, description=(
        "Keep GPU copies of indexes in float16 (half the GPU memory, a little less precise)."))

class FaissPlugin(Plugin):
    """Vector store on FAISS: flat, IVF, HNSW and IVF-PQ collections, persisted, CPU or GPU."""

    Config = FaissConfig
    provides = ("vector-store",)
    config: FaissConfig
    store: FaissStore | LockedStore | None = None
    locked: VectorError | None = None
    """Why the store is unavailable: another process owns the data directory."""
    _lock: IO[str] | None = None

    def __init__(self, config: Any, context: Any) -> None:
        super().__init__(config, context)
        self._claiming = anyio.Lock()

    @hookimpl
    def pygent_addhooks(self, pluginmanager: Any) -> None:
        add_hookspecs_once(pluginmanager, VectorStoreHooks)

    async def start(self) -> None:
        from .persist import DataLocked, LockedStore

        try:
            self.store = await self._open()
        except DataLocked as error:
            self.store, self.locked = LockedStore(error, self._claim), error

    async def _open(self) -> FaissStore:
        """Take the data directory's lock and load every collection (DataLocked: it is owned)."""
        import faiss

        from .collection import Policy
        from .device import Device
        from .options import IndexOptions
        from .persist import lock
        from .store import FaissStore

        c = self.config
        defaults = IndexOptions(index=c.index, nlist=c.nlist, nprobe=c.nprobe, pq_m=c.pq_m,
                                rerank=c.rerank, hnsw_m=c.hnsw_m, ef_search=c.ef_search,
                                ef_construction=c.ef_construction)
        policy = Policy(ivf_train_min=c.ivf_train_min, ivf_retrain_factor=c.ivf_retrain_factor,
                        hnsw_rebuild_ratio=c.hnsw_rebuild_ratio,
                        snapshot_bytes=int(c.snapshot_mb * (1 << 20)))
        device = Device(faiss, c.device, c.float16)
        self._lock = lock(self.context.data_dir / "LOCK")
        try:
            store = FaissStore(faiss, self.context.data_dir / "collections", defaults, policy,
                               device, c.threads or faiss.omp_get_max_threads())
            await store.load(self.context.log)
        except BaseException:
            self._release()
            raise
        return store

    async def _claim(self) -> FaissStore:
        """For the stand-in store: the real one, once the process that owned the data directory
        has let go (a server started during a `pygent ingest`); else DataLocked again."""
        from .store import FaissStore

        async with self._claiming:
            if not isinstance(self.store, FaissStore):
                store = await self._open()  # DataLocked while the owner runs
                self.store, self.locked = store, None
                self.context.log.info("faiss: the data directory is free now; collections loaded")
            return self.store

    async def stop(self) -> None:
        try:
            if self.store is not None and self.locked is None:
                await self.store.close()
                self.store = None
        finally:
            self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    @hookimpl
    def pygent_vector_store(self, name: str | None) -> VectorStore | None:
        return own_store(self.store, name, self.context.name, self.context.plugins())

    @hookimpl
    async def pygent_health(self) -> Health:
        if self.store is None:
            return Health.down("not started")
        if self.locked is not None:
            from .persist import DataLocked

            try:  # cheap while the owner runs; shielded: a load cut short would start over
                with anyio.CancelScope(shield=True):
                    await self._claim()
            except DataLocked:
                return Health.degraded(f"unavailable in this process: {self.locked}")
        collections, vectors = self.store.summary()  # never waits behind a write
        detail = f"{collections} collection(s), {vectors} vectors, device {self.store.device}"
        if broken := self.store.broken():
            return Health.degraded(f"{detail}; could not load: " + "; ".join(
                f"{name!r} ({why})" for name, why in broken.items()))
        return Health.ok(detail)

    @staticmethod
    @hookimpl
    def pygent_cli_commands(cli: Any) -> None:
        from .cli import register

        register(cli)
