"""PgVectorStore: the VectorStore protocol on PostgreSQL + pgvector through SQLAlchemy (asyncpg).

Each collection is a table ``<prefix>v_<slug>_<hash>`` (id text primary key, embedding
vector(dimension), metadata jsonb) with a GIN index on metadata and, once it holds
``index_min_rows`` rows, an HNSW index in the metric's operator class, built in bulk (far faster
than growing it row by row while loading) by a background task that the upsert reaching that
many rows starts, with ``CREATE INDEX CONCURRENTLY`` so writes go on meanwhile; searches never
build. ``<prefix>collections`` lists the collections. Every call is one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from pygent_sdk.vectors import (
    CollectionInfo, DimensionMismatch, Filter, Metric, UnknownCollection, VectorError, VectorHit, Vectors,
    check_rows,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from .filters import condition, reject_nul

if TYPE_CHECKING:
    from . import PgVectorConfig

METRICS: dict[str, tuple[str, str]] = {
    "cosine": ("<=>", "vector_cosine_ops"),
    "ip": ("<#>", "vector_ip_ops"),
    "l2": ("<->", "vector_l2_ops"),
}
"""Metric -> (pgvector distance operator, HNSW operator class)."""
HNSW_MAX_DIMENSION = 2000
"""pgvector indexes ``vector`` columns of at most 2,000 dimensions; larger ones search exactly."""
VECTOR_MAX_DIMENSION = 16000
OPTIONS = ("m", "ef_construction", "ef_search")
UNDEFINED_TABLE = "42P01"
log = logging.getLogger("pygent.plugin.pgvector")


class BinaryVector(Vector):
    """pgvector's column type, sent in binary: values go as they are to the asyncpg codec that
    :meth:`PgVectorStore._on_connect` registers (float32 arrays, no text formatting)."""

    cache_ok = True

    def bind_processor(self, dialect: Any) -> None:
        return None

    def result_processor(self, dialect: Any, coltype: Any) -> None:
        return None


def asyncpg_url(url: str) -> str:
    """``url`` with the asyncpg driver (postgresql:// and postgres:// are rewritten)."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain):]
    return url


def table_name(prefix: str, collection: str) -> str:
    """A safe, unique table name for ``collection`` (any string), under 63 characters."""
    slug = re.sub(r"[^a-z0-9]+", "_", collection.lower()).strip("_")[:30]
    digest = hashlib.sha256(collection.encode()).hexdigest()[:8]
    return f"{prefix}v_{slug}_{digest}"


def score(metric: str, distance: float) -> float:
    """The SDK's score from pgvector's distance: cosine similarity, inner product, -squared L2."""
    if metric == "cosine":
        return 1.0 - distance
    if metric == "ip":
        return -distance  # <#> is the negated inner product
    return -(distance * distance)


def rows_of(vectors: Vectors, dimension: int, collection: str) -> list[Any]:
    """The vectors as float32 rows, each checked to have ``dimension`` finite values."""
    import numpy as np

    rows = []
    for vector in vectors:
        row = np.asarray(vector, dtype=np.float32).reshape(-1)
        if row.shape[0] != dimension:
            raise DimensionMismatch(
                f"a {row.shape[0]}-dimensional vector cannot go into pgvector collection "
                f"{collection!r} of {dimension} dimensions"
            )
        if not np.isfinite(row).all():
            raise ValueError(f"a vector for pgvector collection {collection!r} holds NaN or infinity")
        rows.append(row)
    return rows


class PgVectorStore:
    """Vector collections on one async engine; every write has committed when it returns."""

    name = "pgvector"

    def __init__(self, engine: AsyncEngine, config: PgVectorConfig, extension_version: str) -> None:
        self.engine = engine
        self.config = config
        self.extension_version = extension_version
        self.where = sa.make_url(engine.url).render_as_string(hide_password=True)
        self._iterative = tuple(int(p) for p in re.findall(r"\d+", extension_version)[:2]) >= (0, 8)
        self._meta = sa.MetaData(schema=config.db_schema)
        self.registry = sa.Table(
            f"{config.table_prefix}collections", self._meta,
            sa.Column("name", sa.Text, primary_key=True),
            sa.Column("table_name", sa.Text, nullable=False, unique=True),
            sa.Column("dimension", sa.Integer, nullable=False),
            sa.Column("metric", sa.Text, nullable=False),
            sa.Column("options", JSONB, nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        )
        self._tables: dict[str, tuple[sa.Table, CollectionInfo]] = {}
        self._indexed: set[str] = set()
        """Collections known to have their HNSW index."""
        self._builds: dict[str, asyncio.Task[None]] = {}
        """Index builds in flight, by collection."""
        self._searched: set[str] = set()
        """Collections whose first search in this process checked for a missing index."""
        self._closing = False

    def _on_connect(self, type_schema: str) -> Any:
        """A connect listener: pgvector's binary codec, the configured ``hnsw.ef_search`` and,
        from pgvector 0.8, iterative index scans in exact order (a filtered search keeps
        scanning the graph until ``k`` rows pass the filter)."""
        from pgvector.asyncpg import register_vector

        statements = [f"SET hnsw.ef_search = {self.config.ef_search}"]
        if self._iterative:
            statements.append("SET hnsw.iterative_scan = strict_order")

        async def prepare(conn: Any) -> None:
            await register_vector(conn, schema=type_schema)
            for statement in statements:
                await conn.execute(statement)

        def listener(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.run_async(prepare)

        return listener

    @classmethod
    async def open(cls, config: PgVectorConfig) -> PgVectorStore:
        """Connect, make sure the extension, schema and registry exist, and return the store."""
        url = sa.make_url(asyncpg_url(config.url))
        where = url.render_as_string(hide_password=True)
        if url.drivername != "postgresql+asyncpg":
            raise VectorError(
                f"pgvector runs on PostgreSQL through asyncpg: give url as postgresql://... "
                f"(or postgresql+asyncpg://...), not {where}"
            )
        engine = create_async_engine(url, pool_size=config.pool_size, pool_pre_ping=True)
        try:
            async with engine.begin() as conn:
                version, type_schema = await _extension(conn, where)
                if config.db_schema != "public":
                    await conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{config.db_schema}"'))
            await engine.dispose()  # connections from here on know the vector type
            store = cls(engine, config, version)
            sa.event.listen(engine.sync_engine, "connect", store._on_connect(type_schema))
            async with engine.begin() as conn:
                await conn.run_sync(store._meta.create_all, tables=[store.registry])
        except VectorError:
            await engine.dispose()
            raise
        except (OSError, sa.exc.SQLAlchemyError) as exc:
            await engine.dispose()
            raise VectorError(f"pgvector cannot use PostgreSQL at {where}: {_reason(exc)}") from exc
        return store

    async def close(self) -> None:
        """Stop index builds in flight (the next upsert or first search starts them again) and
        disconnect."""
        self._closing = True
        for name in list(self._builds):
            await self._cancel_build(name)
        await self.engine.dispose()

    async def ping(self, timeout: float = 5.0) -> str | None:
        """None when the server answers within ``timeout`` seconds, else why not."""
        try:
            with anyio.fail_after(timeout):
                async with self.engine.connect() as conn:
                    await conn.execute(sa.text("SELECT 1"))
        except TimeoutError:
            return f"no answer within {timeout:g} s"
        except (OSError, sa.exc.SQLAlchemyError) as exc:
            return _reason(exc)
        return None

    # -- collections -------------------------------------------------------------------------

    def _table(self, name: str, dimension: int) -> sa.Table:
        return sa.Table(
            name, sa.MetaData(schema=self.config.db_schema),
            sa.Column("id", sa.Text, primary_key=True),
            sa.Column("embedding", BinaryVector(dimension), nullable=False),
            sa.Column("metadata", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        )

    def _info(self, row: Any) -> CollectionInfo:
        return CollectionInfo(row.name, row.dimension, row.metric, 0, {
            "table": f"{self.config.db_schema}.{row.table_name}",
            **row.options,
        })

    async def _names(self, conn: AsyncConnection) -> list[str]:
        return list((await conn.execute(sa.select(self.registry.c.name).order_by("name"))).scalars())

    async def _lookup(self, conn: AsyncConnection, name: str) -> tuple[sa.Table, CollectionInfo]:
        """The collection's table and info (cached), or UnknownCollection listing the names."""
        found = self._tables.get(name)
        if found is not None:
            return found
        row = (await conn.execute(sa.select(self.registry).where(self.registry.c.name == name))).first()
        if row is None:
            raise UnknownCollection(
                f"pgvector has no collection {name!r}; there are: {await self._names(conn)}"
            )
        found = (self._table(row.table_name, row.dimension), self._info(row))
        self._tables[name] = found
        return found

    @contextlib.asynccontextmanager
    async def _collection(
        self, name: str, *, transaction: bool = False,
    ) -> AsyncIterator[tuple[AsyncConnection, sa.Table, CollectionInfo]]:
        """A connection (in a transaction when asked) with the collection's table and info; a
        table another process dropped meanwhile reads as UnknownCollection."""
        reject_nul(name, "a collection name")
        try:
            async with (self.engine.begin() if transaction else self.engine.connect()) as conn:
                table, info = await self._lookup(conn, name)
                yield conn, table, info
        except sa.exc.DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) != UNDEFINED_TABLE or self._tables.pop(name, None) is None:
                raise VectorError(f"pgvector collection {name!r} on {self.where}: {_reason(exc)}") from exc
            async with self.engine.connect() as conn:
                names = await self._names(conn)
            raise UnknownCollection(
                f"pgvector collection {name!r} was dropped meanwhile; there are: {names}"
            ) from exc

    async def create_collection(
        self, name: str, dimension: int, *, metric: Metric = "cosine",
        options: Mapping[str, Any] | None = None,
    ) -> CollectionInfo:
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {sorted(METRICS)}, not {metric!r}")
        if not 1 <= dimension <= VECTOR_MAX_DIMENSION:
            raise ValueError(f"pgvector holds 1 to {VECTOR_MAX_DIMENSION} dimensions, not {dimension}")
        unknown = sorted(set(options or {}) - set(OPTIONS))
        if unknown:
            raise ValueError(f"pgvector collection options are {list(OPTIONS)}; unknown: {unknown}")
        settings = {key: int((options or {}).get(key, getattr(self.config, key))) for key in OPTIONS}
        reject_nul(name, "a collection name")
        doing = f"creating pgvector collection {name!r} on {self.where}"
        async with _mapped(doing), self.engine.begin() as conn:
            await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(f"pygent:{name}"))))
            row = (await conn.execute(sa.select(self.registry).where(self.registry.c.name == name))).first()
            if row is None:
                table = self._table(table_name(self.config.table_prefix, name), dimension)
                await conn.run_sync(table.metadata.create_all)
                await conn.execute(sa.text(
                    f'CREATE INDEX IF NOT EXISTS "{table.name}_meta" ON {_qualified(table)} '
                    "USING gin (metadata jsonb_path_ops)"
                ))
                await conn.execute(self.registry.insert().values(
                    name=name, table_name=table.name, dimension=dimension, metric=metric, options=settings,
                ))
            elif (row.dimension, row.metric) != (dimension, metric):
                raise DimensionMismatch(
                    f"pgvector collection {name!r} holds {row.dimension}-dimensional {row.metric} "
                    f"vectors, not {dimension}-dimensional {metric} ones"
                )
        return await self.get_collection(name)

    async def collections(self) -> list[CollectionInfo]:
        async with self.engine.connect() as conn:
            names = await self._names(conn)
        return [await self.get_collection(n) for n in names]

    async def get_collection(self, name: str) -> CollectionInfo:
        async with self._collection(name) as (conn, table, info):
            count, size = (await conn.execute(sa.select(
                sa.select(sa.func.count()).select_from(table).scalar_subquery(),
                sa.func.pg_total_relation_size(sa.text(f"'{_qualified(table)}'::regclass")),
            ))).one()
            valid = await _index_valid(conn, table)
        if valid:
            index = "hnsw"
        elif info.dimension > HNSW_MAX_DIMENSION:
            index = "none (exact search: over 2000 dimensions)"
        elif name in self._builds:
            index = "building (exact search until it is built)"
        else:
            index = (f"none yet (exact search; built in the background once an upsert, or the "
                     f"first search after a start, finds {self.config.index_min_rows} rows)")
        return CollectionInfo(info.name, info.dimension, info.metric, count,
                              {**info.details, "index": index, "bytes": size})

    async def drop_collection(self, name: str) -> bool:
        await self._cancel_build(name)
        self._tables.pop(name, None)
        self._indexed.discard(name)
        self._searched.discard(name)
        reject_nul(name, "a collection name")
        doing = f"dropping pgvector collection {name!r} on {self.where}"
        async with _mapped(doing), self.engine.begin() as conn:
            row = (await conn.execute(
                self.registry.delete().where(self.registry.c.name == name).returning(self.registry.c.table_name)
            )).first()
            if row is None:
                return False
            await conn.execute(sa.text(f'DROP TABLE IF EXISTS "{self.config.db_schema}"."{row.table_name}"'))
        return True

    # -- rows --------------------------------------------------------------------------------

    async def upsert(
        self, collection: str, ids: Sequence[str], vectors: Vectors,
        metadata: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        check_rows(ids, vectors, metadata)
        reject_nul([str(key) for key in ids], "an id")
        reject_nul([dict(entry) for entry in metadata or ()], "metadata")
        build = False
        async with self._collection(collection, transaction=True) as (conn, table, info):
            rows = rows_of(vectors, info.dimension, collection)
            # One statement cannot update a row twice: the last of repeated ids wins.
            latest = {
                str(key): {"id": str(key), "embedding": row, "metadata": dict(metadata[i]) if metadata else {}}
                for i, (key, row) in enumerate(zip(ids, rows))
            }
            if not latest:
                return
            statement = insert(table)
            statement = statement.on_conflict_do_update(
                index_elements=[table.c.id],
                set_={"embedding": statement.excluded.embedding, "metadata": statement.excluded.metadata},
            )
            await conn.execute(statement, list(latest.values()))
            build = await self._wants_index(conn, collection, table, info)
        if build:
            self._start_build(collection)

    def _start_build(self, collection: str) -> None:
        """Start the collection's index build in the background, unless one runs or we close."""
        if collection not in self._builds and not self._closing:
            self._builds[collection] = asyncio.get_running_loop().create_task(
                self._build_index(collection), name=f"pgvector index of {collection!r}",
            )

    async def _wants_index(
        self, conn: AsyncConnection, collection: str, table: sa.Table, info: CollectionInfo,
    ) -> bool:
        """Whether the collection lacks its HNSW index and holds enough rows to build it."""
        if collection in self._indexed or collection in self._builds or info.dimension > HNSW_MAX_DIMENSION:
            return False
        if await _index_valid(conn, table):
            self._indexed.add(collection)
            return False
        enough = sa.select(table.c.id).limit(self.config.index_min_rows).subquery()
        return await conn.scalar(sa.select(sa.func.count()).select_from(enough)) >= self.config.index_min_rows

    async def search(
        self, collection: str, vector: Sequence[float], k: int = 5, filter: Filter | None = None,
    ) -> list[VectorHit]:
        if k <= 0:
            return []
        async with self._collection(collection, transaction=True) as (conn, table, info):
            (query,) = rows_of([vector], info.dimension, collection)
            ef_search = min(max(int(info.details.get("ef_search", self.config.ef_search)), k), 1000)
            if ef_search != self.config.ef_search:  # the connection's own is the configured one
                await conn.execute(sa.select(sa.func.set_config("hnsw.ef_search", str(ef_search), True)))
            distance = table.c.embedding.op(METRICS[info.metric][0], return_type=sa.Float)(query)
            result = await conn.execute(
                sa.select(table.c.id, distance.label("distance"), table.c.metadata)
                .where(condition(table.c.metadata, filter)).order_by(distance).limit(k)
            )
            hits = [VectorHit(row.id, score(info.metric, row.distance), row.metadata) for row in result]
            # The first search of a collection in this process starts a build an earlier process
            # left undone (a `pygent ingest` that stopped mid-build, then a server that only searches).
            build = collection not in self._searched and await self._wants_index(conn, collection, table, info)
            self._searched.add(collection)
        if build:
            self._start_build(collection)
        return hits

    async def _build_index(self, collection: str) -> None:
        """Build the collection's HNSW index concurrently with writes (a background task).

        One build per table across processes (a session advisory lock: another process holding
        it is building); an invalid index left by a build cut short is dropped and built again.
        Runs on its own connection, closed afterwards, so its settings and lock end with it.
        A failure is logged; the next upsert tries again.
        """
        try:
            async with self.engine.connect() as conn:
                try:
                    conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                    table, info = await self._lookup(conn, collection)
                    lock = sa.func.hashtext(f"pygent-index:{table.name}")
                    if not await conn.scalar(sa.select(sa.func.pg_try_advisory_lock(lock))):
                        return
                    valid = await _index_valid(conn, table)
                    index = _qualified(table, "_hnsw")
                    if valid is False:
                        await conn.execute(sa.text(f"DROP INDEX CONCURRENTLY IF EXISTS {index}"))
                    if not valid:
                        memory = f"{self.config.build_memory_mb}MB"
                        await conn.execute(sa.select(sa.func.set_config("maintenance_work_mem", memory, False)))
                        started = time.perf_counter()
                        await conn.execute(sa.text(
                            f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{table.name}_hnsw" '
                            f"ON {_qualified(table)} USING hnsw (embedding {METRICS[info.metric][1]}) "
                            f"WITH (m = {info.details['m']}, ef_construction = {info.details['ef_construction']})"
                        ))
                        log.info("pgvector: built the HNSW index of %r in %.1f s",
                                 collection, time.perf_counter() - started)
                    self._indexed.add(collection)
                finally:
                    await conn.invalidate()  # closes it: the lock and settings go with it
        except Exception as exc:  # noqa: BLE001 - a background task: log, the next upsert retries
            log.warning("pgvector: building the HNSW index of %r failed: %s", collection, _reason(exc))
        finally:
            if self._builds.get(collection) is asyncio.current_task():
                del self._builds[collection]

    async def _cancel_build(self, collection: str) -> None:
        """Stop the collection's index build if one is in flight (its invalid index is dropped
        by the next build)."""
        task = self._builds.get(collection)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if self._builds.get(collection) is task:
                del self._builds[collection]

    async def delete(
        self, collection: str, ids: Sequence[str] | None = None, filter: Filter | None = None,
    ) -> int:
        if ids is None and not filter:
            raise ValueError("delete() needs ids or a filter")
        reject_nul([str(key) for key in ids or ()], "an id")
        async with self._collection(collection, transaction=True) as (conn, table, _):
            where = condition(table.c.metadata, filter)
            if ids is not None:
                chosen = sa.bindparam("ids", [str(i) for i in ids], type_=ARRAY(sa.Text))
                where = sa.and_(table.c.id == sa.any_(chosen), where)  # one parameter, any length
            return (await conn.execute(table.delete().where(where))).rowcount

    async def count(self, collection: str, filter: Filter | None = None) -> int:
        async with self._collection(collection) as (conn, table, _):
            return (await conn.execute(
                sa.select(sa.func.count()).select_from(table).where(condition(table.c.metadata, filter))
            )).scalar_one()

    async def stats(self) -> dict[str, Any]:
        infos = await self.collections()
        async with self.engine.connect() as conn:
            server = (await conn.execute(sa.text("SHOW server_version"))).scalar_one()
        return {
            "store": self.name,
            "collections": len(infos),
            "vectors": sum(i.count for i in infos),
            "bytes": sum(i.details["bytes"] for i in infos),
            "server": f"PostgreSQL {server}",
            "pgvector": self.extension_version,
            "per_collection": {i.name: {"rows": i.count, "bytes": i.details["bytes"]} for i in infos},
        }


def _qualified(table: sa.Table, suffix: str = "") -> str:
    """The quoted name of ``table`` (with ``suffix``: of its index of that name)."""
    return f'"{table.schema}"."{table.name}{suffix}"'


@contextlib.asynccontextmanager
async def _mapped(doing: str) -> AsyncIterator[None]:
    """A database error while ``doing`` as a VectorError with the driver's reason."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        raise VectorError(f"{doing}: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    """The driver's own message, without SQLAlchemy's boilerplate."""
    original = getattr(exc, "orig", None) or exc
    return f"{type(original).__name__}: {str(original).splitlines()[0] if str(original) else ''}".rstrip(": ")


async def _index_valid(conn: AsyncConnection, table: sa.Table) -> bool | None:
    """Whether ``table``'s HNSW index is usable: None when there is none, False when it is
    invalid (a concurrent build in flight or cut short)."""
    found = await conn.scalar(
        sa.text("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"),
        {"name": _qualified(table, "_hnsw")},
    )
    return None if found is None else bool(found)


_VERSION = sa.text(
    "SELECT e.extversion, n.nspname FROM pg_extension e "
    "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector'"
)


async def _extension(conn: AsyncConnection, where: str) -> tuple[str, str]:
    """Create the ``vector`` extension when missing; its version and schema, or VectorError
    saying why not."""
    found = (await conn.execute(_VERSION)).first()
    if found is not None:
        return str(found[0]), str(found[1])
    try:
        async with conn.begin_nested():
            await conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
    except sa.exc.DBAPIError as exc:
        raise VectorError(
            f"PostgreSQL at {where} cannot create the pgvector extension ({_reason(exc)}): install "
            "pgvector on the server (https://github.com/pgvector/pgvector) or have a superuser run "
            "CREATE EXTENSION vector in this database"
        ) from exc
    version, schema = (await conn.execute(_VERSION)).one()
    return str(version), str(schema)
