"""memory: conversations, messages and per-agent memory on SQLAlchemy (SQLite or PostgreSQL).

Other plugins get the store through the ``pygent_memory_store`` hook this plugin declares.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field
from pygent_sdk import Health, MemoryStore, Plugin, PluginConfig, PygentError, hookimpl
from pygent_sdk.files import private_dir, touch_private
from pygent_sdk.memory import MemoryHooks
from pygent_sdk.vectors import EMBEDDER, Embedder

if TYPE_CHECKING:
    from .store import SqlMemoryStore


class MemoryConfig(PluginConfig):
    """Configuration of the ``[memory]`` table."""

    url: str = Field(
        "", description=(
            "SQLAlchemy database URL, e.g. postgresql://user:pw@host/db (asyncpg is used). "
            "Empty: SQLite (WAL) file memory.db in the plugin's data directory."
        ),
    )
    echo: bool = Field(False, description="Log every SQL statement.")
    embedder: str = Field(
        "", description='Embedder for episode search, e.g. "st:minilm" (from the [embeddings] '
        "plugin): episodes are embedded when added and found by cosine similarity. Empty: "
        "word overlap.",
    )
    min_similarity: float = Field(
        0.25, ge=-1.0, le=1.0,
        description="Lowest cosine similarity an episode needs to be found by vector search.",
    )
    search_candidates: int = Field(
        2000, ge=1, le=1_000_000,
        description="Episode search looks at this many of an agent's most recent episodes.",
    )


class MemoryPlugin(Plugin):
    """Stores conversations, messages, agent facts and episodes; a write that returns is durable."""

    Config = MemoryConfig
    provides = ("memory",)
    uses = ("embedder",)
    config: MemoryConfig
    store: SqlMemoryStore | None = None
    _embedder: Embedder | None = None

    def embedder(self) -> Embedder | None:
        """The configured embedder, looked up on first use; None for word overlap."""
        if self.config.embedder and self._embedder is None:
            self._embedder = self.context.service(EMBEDDER, name=self.config.embedder)
        return self._embedder

    @hookimpl
    def pygent_addhooks(self, pluginmanager: Any) -> None:
        pluginmanager.add_hookspecs(MemoryHooks)

    def database_url(self) -> str:
        """The configured URL with its async driver, or the default SQLite file."""
        url = self.config.url
        if not url:
            path = private_dir(self.context.data_dir) / "memory.db"
            # Created 0600 before SQLite opens it: SQLite gives its -wal and -shm files the same mode.
            for existing in (path.with_name("memory.db-wal"), path.with_name("memory.db-shm")):
                if existing.exists():
                    touch_private(existing)
            return f"sqlite+aiosqlite:///{touch_private(path)}"
        for plain, driver in [("postgresql://", "postgresql+asyncpg://"),
                              ("postgres://", "postgresql+asyncpg://"),
                              ("sqlite://", "sqlite+aiosqlite://")]:
            if url.startswith(plain):
                return driver + url[len(plain):]
        return url

    async def start(self) -> None:
        import sqlalchemy as sa
        from sqlalchemy.ext.asyncio import create_async_engine

        from .schema import migrate
        from .store import SqlMemoryStore

        url = self.database_url()
        # SQLite has one writer at a time: one connection queues writes instead of failing on
        # "database is locked" under concurrency.
        pool = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 120} if url.startswith("sqlite") else {}
        engine = create_async_engine(url, echo=self.config.echo, **pool)
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        async with engine.begin() as conn:
            applied = await conn.run_sync(migrate)
        if applied:
            self.context.log.info("memory schema migrated to version %s", applied[-1])
        self.store = SqlMemoryStore(engine, self.embedder, self.config.min_similarity, self.context.log,
                                    self.config.search_candidates)

    async def stop(self) -> None:
        if self.store is not None:
            await self.store.engine.dispose()
            self.store = None

    @hookimpl
    def pygent_memory_store(self) -> MemoryStore | None:
        return self.store

    @hookimpl(optionalhook=True)
    def pygent_http_routes(self) -> list[Any]:
        from .http import routes

        if self.store is None:
            raise PygentError("the memory plugin has not started")
        return routes(self.store)

    @hookimpl
    async def pygent_health(self) -> Health:
        if self.store is None:
            return Health.down("not started")
        import sqlalchemy as sa

        from .schema import current_version

        async with self.store.engine.connect() as conn:
            version = await conn.run_sync(current_version)
            await conn.execute(sa.text("SELECT 1"))
        search = f"episodes by {self.config.embedder}" if self.config.embedder else "episodes by word overlap"
        return Health.ok(f"{self.store.engine.dialect.name}, schema version {version}, {search}")


    @staticmethod
    @hookimpl
    def pygent_cli_commands(cli: Any) -> None:
        from .cli import register

        register(cli)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL for concurrent readers; synchronous=FULL so a commit survives power loss."""
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=5000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()
