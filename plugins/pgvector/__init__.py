"""pgvector: the vector-store capability on PostgreSQL with the pgvector extension.

One table per collection (its own dimension and, from ``index_min_rows`` rows, an HNSW index
with the metric's operator class), a registry table of collections, metadata as JSONB. Other plugins reach the store through
``context.service(VECTOR_STORE, name="pgvector")``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field
from pygent_sdk import ConfigError, Health, Plugin, PluginConfig, hookimpl
from pygent_sdk.plugin import add_hookspecs_once
from pygent_sdk.vectors import VectorStore, VectorStoreHooks, own_store

if TYPE_CHECKING:
    from .store import PgVectorStore

_IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"


class PgVectorConfig(PluginConfig):
    """Configuration of the ``[pgvector]`` table."""

    url: str = Field(
        "", description=(
            "PostgreSQL URL, e.g. \"${PYGENT_PG_URL}\" = postgresql://user:pw@host/db "
            "(postgresql:// and postgres:// are run with asyncpg). Required: start fails without it."
        ),
    )
    db_schema: str = Field(
        "public", pattern=_IDENTIFIER, max_length=63,
        description="PostgreSQL schema of the tables (created when missing).",
    )
    table_prefix: str = Field(
        "pygent_", pattern=_IDENTIFIER, max_length=20,
        description="Prefix of the registry table (<prefix>collections) and the collection tables.",
    )
    m: int = Field(16, ge=2, le=100, description="HNSW: links per node (a collection's default).")
    ef_construction: int = Field(
        128, ge=4, le=1000,
        description="HNSW: candidate list size while building (a collection's default).",
    )
    ef_search: int = Field(
        100, ge=1, le=1000,
        description="HNSW: candidate list size per query (raised to k when k is larger).",
    )
    index_min_rows: int = Field(
        10_000, ge=0, description=(
            "A collection gets its HNSW index (built in bulk in the background, started by the "
            "upsert that finds this many rows) once it holds this many rows; smaller ones are "
            "searched exactly."
        ),
    )
    build_memory_mb: int = Field(
        512, ge=64, le=65536, description="maintenance_work_mem of an HNSW index build, in MiB.",
    )
    pool_size: int = Field(5, ge=1, le=100, description="Connections kept open to PostgreSQL.")


class PgVectorPlugin(Plugin):
    """Vector collections on PostgreSQL + pgvector: HNSW search, JSONB metadata filters."""

    Config = PgVectorConfig
    provides = ("vector-store",)
    config: PgVectorConfig
    store: PgVectorStore | None = None

    @hookimpl
    def pygent_addhooks(self, pluginmanager: Any) -> None:
        add_hookspecs_once(pluginmanager, VectorStoreHooks)

    async def start(self) -> None:
        from .store import PgVectorStore

        if not self.config.url:
            raise ConfigError(
                'is empty: set it to a PostgreSQL URL, e.g. url = "${PYGENT_PG_URL}"',
                table=self.context.name, key="url",
            )
        self.store = await PgVectorStore.open(self.config)
        self.context.log.info("pgvector %s on %s", self.store.extension_version, self.store.where)

    async def stop(self) -> None:
        if self.store is not None:
            await self.store.close()
            self.store = None

    @hookimpl
    def pygent_vector_store(self, name: str | None) -> VectorStore | None:
        return own_store(self.store, name, self.context.name, self.context.plugins())

    @hookimpl
    async def pygent_health(self) -> Health:
        if self.store is None:
            return Health.down("not started")
        reason = await self.store.ping()
        if reason is not None:
            return Health.down(f"PostgreSQL at {self.store.where} unreachable: {reason}")
        return Health.ok(f"pgvector {self.store.extension_version} on {self.store.where}")
