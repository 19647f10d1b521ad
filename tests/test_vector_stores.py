"""One contract for every VectorStore: the SDK's InMemoryVectorStore (the reference), faiss with
each index type, pgvector on a real PostgreSQL and chroma, each reached through its plugin by
entry-point name, as another plugin would.

Scores are compared with exact numpy on the same float32 vectors (tolerance 1e-4, relative above
1). Every store must return numpy's exact top k in order, except faiss ``ivf_pq``, whose
compressed codes only promise recall: at least 0.9 of numpy's top 10 over the queries, each
returned score still exact (it re-ranks) and best first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
import sqlalchemy as sa
from pygent_sdk.testing import InMemoryVectorStore, PluginHarness
from pygent_sdk.vectors import (
    VECTOR_STORE, DimensionMismatch, UnknownCollection, VectorError, VectorStore, matches,
)

pytestmark = pytest.mark.anyio

RECALL = 0.9
"""Least recall@10 of faiss ivf_pq against exact numpy, over all queries of a test."""


@dataclasses.dataclass
class Backend:
    """How to open one store: the plugin (None: the in-memory reference) and its settings."""

    id: str
    plugin: str | None = None
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    """``create_collection`` options."""
    approximate: bool = False
    data_dir: Path | None = None

    @contextlib.asynccontextmanager
    async def open(self) -> AsyncIterator[VectorStore]:
        """The store, from a freshly started plugin over the same data each time."""
        if self.plugin is None:
            yield InMemoryVectorStore()
            return
        config = {self.plugin: self.config, "kernel": {"data_dir": str(self.data_dir)}}
        async with PluginHarness([self.plugin], config) as h:
            store = h.kernel.service(VECTOR_STORE, name=self.plugin)
            assert store.name == self.plugin
            yield store

    async def create(self, store: VectorStore, name: str, dimension: int, metric: str = "cosine") -> Any:
        return await store.create_collection(name, dimension, metric=metric, options=self.options or None)


FAISS_INDEXES = ("flat", "hnsw", "ivf_flat", "ivf_pq")
BACKENDS = ["memory", *(f"faiss-{kind}" for kind in FAISS_INDEXES), "pgvector", "chroma"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    kind: str = request.param
    if kind == "memory":
        return Backend(kind)
    if kind.startswith("faiss-"):
        index = kind.removeprefix("faiss-")
        # Small collections: IVF trains from 256 rows, so the 300-row tests search a trained index.
        return Backend(kind, "faiss", {"ivf_train_min": 256}, {"index": index},
                       approximate=index == "ivf_pq", data_dir=tmp_path)
    if kind == "pgvector":
        url = request.getfixturevalue("postgres_url")
        # The HNSW index is built in the background from 100 rows: the 300-row tests' searches
        # go through it once it is built, exactly before.
        config = {"url": url, "db_schema": f"t_{uuid.uuid4().hex[:12]}", "index_min_rows": 100}
        return Backend(kind, "pgvector", config, data_dir=tmp_path)
    return Backend(kind, "chroma", data_dir=tmp_path)


def _data(n: int, dimension: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    return [f"v{i:04d}" for i in range(n)], rng.standard_normal((n, dimension)).astype(np.float32)


def _exact(metric: str, x: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Scores of every row of ``x`` for query ``q``, in float64, by the SDK's definition."""
    x, q = x.astype(np.float64), q.astype(np.float64)
    if metric == "ip":
        return x @ q
    if metric == "l2":
        return -((x - q) ** 2).sum(axis=1)
    return (x @ q) / (np.linalg.norm(x, axis=1) * np.linalg.norm(q))


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-4 * max(1.0, abs(b))


async def test_create_is_idempotent_and_a_mismatch_names_both(backend: Backend) -> None:
    async with backend.open() as store:
        first = await backend.create(store, "docs", 8)
        again = await backend.create(store, "docs", 8)
        assert (first.name, first.dimension, first.metric) == (again.name, again.dimension, again.metric)
        assert (first.name, first.dimension, first.metric, first.count) == ("docs", 8, "cosine", 0)
        with pytest.raises(DimensionMismatch, match=r"(?s)(8.*5|5.*8)"):
            await backend.create(store, "docs", 5)
        with pytest.raises(DimensionMismatch, match="cosine"):
            await backend.create(store, "docs", 8, "l2")
        with pytest.raises(ValueError):
            await store.create_collection("other", 8, options={"no_such_option": 1})


async def test_unknown_collection_lists_the_names(backend: Backend) -> None:
    async with backend.open() as store:
        await backend.create(store, "alpha", 4)
        await backend.create(store, "beta", 4)
        for call in (
            lambda: store.get_collection("missing"), lambda: store.search("missing", [1, 0, 0, 0]),
            lambda: store.upsert("missing", ["a"], [[1, 0, 0, 0]]), lambda: store.count("missing"),
            lambda: store.delete("missing", ["a"]),
        ):
            with pytest.raises(UnknownCollection, match=r"(?s)missing.*alpha.*beta"):
                await call()
        assert [(c.name, c.dimension) for c in await store.collections()] == [("alpha", 4), ("beta", 4)]


async def test_upsert_replaces_and_checks_lengths(backend: Backend) -> None:
    async with backend.open() as store:
        await backend.create(store, "docs", 3)
        await store.upsert("docs", ["a", "b"], [[1, 0, 0], [0, 1, 0]], [{"v": 1, "old": True}, {"v": 2}])
        await store.upsert("docs", ["a"], np.array([[0, 0, 1]], dtype=np.float32), [{"v": 3, "tags": ["x", "y"]}])
        await store.upsert("docs", ["b"], [[0, 1, 0]])
        assert await store.count("docs") == 2
        (hit,) = await store.search("docs", [0, 0, 1], k=1)
        assert (hit.id, dict(hit.metadata)) == ("a", {"v": 3, "tags": ["x", "y"]})
        assert _close(hit.score, 1.0)
        (hit,) = await store.search("docs", [0, 1, 0], k=1)
        assert (hit.id, dict(hit.metadata)) == ("b", {})
        assert await store.count("docs", {"old": True}) == 0
        assert [h.id for h in await store.search("docs", [1, 0, 0], k=5, filter={"v": 1})] == []
        # The same id twice in one call: the last one wins.
        await store.upsert("docs", ["c", "c"], [[1, 1, 0], [1, 0, 1]], [{"v": 4}, {"v": 5}])
        assert await store.count("docs") == 3 and await store.count("docs", {"v": 5}) == 1
        (hit,) = await store.search("docs", [1, 0, 1], k=1)
        assert hit.id == "c" and _close(hit.score, 1.0)
        with pytest.raises(ValueError, match="2 ids, 1 vectors"):
            await store.upsert("docs", ["d", "e"], [[1, 0, 0]])
        with pytest.raises(ValueError, match="1 metadata"):
            await store.upsert("docs", ["d", "e"], [[1, 0, 0], [0, 1, 0]], [{}])
        with pytest.raises(DimensionMismatch, match=r"(?s)(4.*3|3.*4)"):
            await store.upsert("docs", ["d"], [[1, 0, 0, 0]])
        assert await store.count("docs") == 3


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
async def test_search_is_best_first_with_exact_scores(backend: Backend, metric: str) -> None:
    ids, x = _data(300, 16, seed=1)
    queries = np.random.default_rng(2).standard_normal((8, 16)).astype(np.float32)
    async with backend.open() as store:
        await backend.create(store, "docs", 16, metric)
        await store.upsert("docs", ids, x, [{"i": i} for i in range(len(ids))])
        found = overlap = 0
        for q in queries:
            exact = _exact(metric, x, q)
            truth = [ids[i] for i in np.argsort(-exact, kind="stable")[:10]]
            hits = await store.search("docs", q.tolist(), k=10)
            assert len(hits) == 10
            scores = [h.score for h in hits]
            assert scores == sorted(scores, reverse=True), "not best first"
            for hit in hits:
                assert _close(hit.score, exact[int(hit.id[1:])]), (hit, exact[int(hit.id[1:])])
                assert hit.metadata == {"i": int(hit.id[1:])}
            if not backend.approximate:
                assert [h.id for h in hits] == truth
            found += len(truth)
            overlap += len(set(truth) & {h.id for h in hits})
        assert overlap / found >= RECALL
        assert len(await store.search("docs", queries[0], k=3)) == 3


def _metadata(n: int) -> list[dict[str, Any]]:
    colors = ["red", "green", "blue"]
    rows = []
    for i in range(n):
        row: dict[str, Any] = {"color": colors[i % 3], "doc": f"d{i % 5}"}
        if i % 4:
            row["n"] = i % 4
        if i % 6 == 0:
            row["tags"] = ["a", "b"] if i % 12 == 0 else ["a"]
        elif i % 9 == 4:
            row["tags"] = ["a", "b", "c"]  # contains ["a", "b"], yet is not equal to it
        rows.append(row)
    return rows


FILTERS: list[dict[str, Any]] = [
    {"color": "red"},
    {"color": ["red", "blue"]},
    {"color": "red", "n": 2},
    {"color": ["red", "green"], "n": [1, 3], "doc": ["d1", "d2", "d3"]},
    {"n": [2]},
    {"tags": [["a", "b"]]},
    {"tags": "a"},
    {"color": "purple"},
    {"missing": 1},
    {"color": []},
]


async def test_filters_follow_the_sdk_rule(backend: Backend) -> None:
    ids, x = _data(48, 8, seed=3)
    metadata = _metadata(len(ids))
    async with backend.open() as store:
        await backend.create(store, "docs", 8)
        await store.upsert("docs", ids, x, metadata)
        q = x[0] + 0.1
        ranked = [ids[i] for i in np.argsort(-_exact("cosine", x, q), kind="stable")]
        for where in FILTERS:
            expected = [key for key in ranked if matches(metadata[int(key[1:])], where)]
            hits = await store.search("docs", q, k=len(ids), filter=where)
            assert [h.id for h in hits] == expected, where
            assert all(h.metadata == metadata[int(h.id[1:])] for h in hits)
            assert await store.count("docs", where) == len(expected), where
            top = await store.search("docs", q, k=2, filter=where)
            assert [h.id for h in top] == expected[:2], where
        assert await store.count("docs") == len(ids)


async def test_delete_by_ids_and_by_filter_counts(backend: Backend) -> None:
    ids, x = _data(30, 4, seed=4)
    metadata = [{"doc": f"d{i % 3}"} for i in range(len(ids))]
    async with backend.open() as store:
        await backend.create(store, "docs", 4)
        await store.upsert("docs", ids, x, metadata)
        assert await store.delete("docs", ids=["v0000", "v0001", "nope"]) == 2
        assert await store.delete("docs", ids=["v0000"]) == 0
        assert await store.delete("docs", ids=[]) == 0
        assert await store.delete("docs", filter={"doc": "d2"}) == 10
        assert await store.delete("docs", filter={"doc": ["d2", "none"]}) == 0
        assert await store.count("docs") == 18
        assert await store.count("docs", {"doc": "d0"}) == 9
        hits = await store.search("docs", x[0], k=30)
        assert {h.id for h in hits} == {ids[i] for i in range(2, 30) if i % 3 != 2}
        with pytest.raises(ValueError, match="ids or a filter"):
            await store.delete("docs")


async def test_empty_collection_searches_to_nothing_and_drop(backend: Backend) -> None:
    async with backend.open() as store:
        await backend.create(store, "empty", 5, "l2")
        assert await store.search("empty", [1, 2, 3, 4, 5], k=3) == []
        assert await store.search("empty", [1, 2, 3, 4, 5], k=3, filter={"a": 1}) == []
        assert await store.count("empty") == 0
        await backend.create(store, "kept", 2)
        assert await store.drop_collection("empty") is True
        assert await store.drop_collection("empty") is False
        with pytest.raises(UnknownCollection, match="kept"):
            await store.get_collection("empty")
        assert [c.name for c in await store.collections()] == ["kept"]
        recreated = await backend.create(store, "empty", 3, "ip")
        assert (recreated.dimension, recreated.metric, recreated.count) == (3, "ip", 0)


async def test_stats_give_the_common_figures(backend: Backend) -> None:
    async with backend.open() as store:
        await backend.create(store, "one", 2)
        await backend.create(store, "two", 2)
        await store.upsert("one", ["a", "b"], [[1, 0], [0, 1]])
        await store.upsert("two", ["c"], [[1, 1]])
        stats = await store.stats()
        assert (stats["store"], stats["collections"], stats["vectors"]) == (store.name, 2, 3)
        infos = {c.name: c.count for c in await store.collections()}
        assert infos == {"one": 2, "two": 1}


async def test_concurrent_calls(backend: Backend) -> None:
    ids, x = _data(200, 8, seed=7)
    async with backend.open() as store:
        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(backend.create, store, "docs", 8)
        async with anyio.create_task_group() as tg:
            for start in range(0, 200, 25):
                tg.start_soon(store.upsert, "docs", ids[start:start + 25], x[start:start + 25])
                tg.start_soon(store.search, "docs", x[start], 3)
        assert await store.count("docs") == 200
        (hit,) = await store.search("docs", x[42], k=1)
        assert hit.id == ids[42]


async def test_data_survives_a_restart(backend: Backend) -> None:
    if backend.plugin is None:
        pytest.skip("the in-memory reference keeps nothing")
    ids, x = _data(300, 8, seed=5)
    metadata = [{"doc": f"d{i % 3}", "tags": ["t", str(i)]} for i in range(len(ids))]
    async with backend.open() as store:
        await backend.create(store, "kept", 8, "ip")
        await store.upsert("kept", ids, x, metadata)
        assert await store.delete("kept", ids=["v0007"]) == 1
        await store.upsert("kept", ["v0008"], [x[9]], [{"doc": "moved"}])
    async with backend.open() as store:
        info = await store.get_collection("kept")
        assert (info.dimension, info.metric, info.count) == (8, "ip", 299)
        assert await store.count("kept", {"doc": "d0"}) == 100
        assert await store.count("kept", {"doc": "moved"}) == 1
        exact = _exact("ip", x, x[3])
        exact[7] = -np.inf
        exact[8] = float(x[9].astype(np.float64) @ x[3].astype(np.float64))
        best = [ids[i] for i in np.argsort(-exact, kind="stable")[:5]]
        hits = await store.search("kept", x[3], k=5)
        assert all(_close(h.score, exact[int(h.id[1:])]) for h in hits)
        if not backend.approximate:
            assert [h.id for h in hits] == best
        assert {h.id: h.metadata for h in hits}.get("v0003", metadata[3]) == metadata[3]
        assert not await store.search("kept", x[7], k=300, filter={"doc": "d1", "tags": [["t", "7"]]})


# -- beyond the contract: each plugin's own promises ------------------------------------------


async def test_pgvector_start_names_an_unreachable_server(tmp_path: Path) -> None:
    url = f"postgresql://nobody:secret@/nodb?host={tmp_path}"
    with pytest.raises(Exception, match=r"(?s)pgvector cannot use PostgreSQL at .*nodb") as caught:
        async with PluginHarness(["pgvector"], {"pgvector": {"url": url}}):
            pass
    assert "secret" not in str(caught.value)
    # A store whose server went away: health's reason is the driver's.
    from pygent_plugins.pgvector import PgVectorConfig
    from pygent_plugins.pgvector.store import PgVectorStore, asyncpg_url
    from sqlalchemy.ext.asyncio import create_async_engine

    gone = PgVectorStore(create_async_engine(asyncpg_url(url)), PgVectorConfig(url=url), "0.8.0")
    try:
        assert "No such file or directory" in (await gone.ping() or "")
    finally:
        await gone.close()


async def _index_of(store: VectorStore, name: str, wanted: str, within: float = 60.0) -> str:
    """The collection's index detail once it starts with ``wanted`` (or at ``within`` seconds)."""
    with anyio.move_on_after(within):
        while not (index := (await store.get_collection(name)).details["index"]).startswith(wanted):
            await anyio.sleep(0.05)
    return index


async def test_pgvector_health_tables_and_the_background_hnsw_index(postgres_url: str) -> None:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    config = {"pgvector": {"url": postgres_url, "db_schema": schema, "m": 8, "ef_construction": 32,
                           "index_min_rows": 1000}}
    ids, x = _data(2000, 8, seed=6)
    metadata = [{"rare": i % 100 == 0} for i in range(len(ids))]
    name = "a name with spaces/and:colons"
    async with PluginHarness(["pgvector"], config) as h:
        health = await h.kernel.health()
        assert health.plugins["pgvector"].status == "ok" and "pgvector 0." in health.plugins["pgvector"].detail
        store = h.kernel.service(VECTOR_STORE, name=None)  # the only store answers
        info = await store.create_collection(name, 8, options={"m": 12})
        assert info.details["table"].startswith(f"{schema}.pygent_v_a_name_with_spaces_and_colons_")
        assert (info.details["m"], info.details["ef_construction"]) == (12, 32)
        await store.upsert(name, ids[:900], x[:900], metadata[:900])
        await store.search(name, x[0], k=1)
        assert (await store.get_collection(name)).details["index"].startswith("none yet")
        # The upsert reaching index_min_rows starts the build in the background; no search needed.
        await store.upsert(name, ids[900:], x[900:], metadata[900:])
        assert await _index_of(store, name, "hnsw") == "hnsw"
        q = x[1]
        exact = _exact("cosine", x, q)
        hits = await store.search(name, q, k=5)
        assert all(_close(h.score, exact[int(h.id[1:])]) for h in hits)
        # 20 rows of 2000 pass the filter: still the k best of them, in order (HNSW alone would
        # stop after ef_search candidates; an iterative scan or the GIN index finds them all).
        rare = [ids[i] for i in np.argsort(-exact, kind="stable") if metadata[i]["rare"]]
        assert [h.id for h in await store.search(name, q, k=5, filter={"rare": True})] == rare[:5]
        stats = await store.stats()
        assert stats["bytes"] > 0 and stats["per_collection"][name]["rows"] == 2000
        table = info.details["table"].split(".")[1]
        async with store.engine.begin() as conn:  # the index goes missing behind the store's back
            await conn.execute(sa.text(f'DROP INDEX "{schema}"."{table}_hnsw"'))
    async with PluginHarness(["pgvector"], config) as h:
        store = h.kernel.service(VECTOR_STORE, name="pgvector")
        assert (await store.get_collection(name)).details["index"].startswith("none yet")
        # the first search after a start builds what an earlier process left undone (a
        # `pygent ingest` that stopped mid-build, then a server that only searches)
        await store.search(name, q, k=5)
        assert await _index_of(store, name, "hnsw") == "hnsw"
        async with store.engine.begin() as conn:  # as a concurrent build cut short leaves it
            await conn.execute(sa.text("UPDATE pg_index SET indisvalid = false "
                                       f"WHERE indexrelid = '\"{schema}\".\"{table}_hnsw\"'::regclass"))
    async with PluginHarness(["pgvector"], config) as h:
        store = h.kernel.service(VECTOR_STORE, name="pgvector")
        assert (await store.get_collection(name)).details["index"].startswith("none yet")
        await store.upsert(name, ids[:1], x[:1], metadata[:1])  # dropped and built again
        assert await _index_of(store, name, "hnsw") == "hnsw"


async def test_pgvector_refuses_nul_characters_as_vector_errors(postgres_url: str) -> None:
    config = {"pgvector": {"url": postgres_url, "db_schema": f"t_{uuid.uuid4().hex[:12]}"}}
    async with PluginHarness(["pgvector"], config) as h:
        store = h.kernel.service(VECTOR_STORE, name="pgvector")
        await store.create_collection("c", 2)
        nul = "a\x00b"
        calls = {
            "a collection name": lambda: store.create_collection(nul, 2),
            "an id": lambda: store.upsert("c", [nul], [[1.0, 0.0]]),
            "metadata": lambda: store.upsert("c", ["x"], [[1.0, 0.0]], [{"source": nul}]),
            "a key of metadata": lambda: store.upsert("c", ["x"], [[1.0, 0.0]], [{"n": [{nul: 1}]}]),
            "a filter": lambda: store.search("c", [1.0, 0.0], k=1, filter={"source": [nul]}),
            "a key of a filter": lambda: store.count("c", filter={nul: 1}),
        }
        for what, call in calls.items():
            with pytest.raises(VectorError, match=f"NUL character .* in {what}: "):
                await call()
        assert await store.count("c") == 0
        # Other database errors name the collection and the server's reason.
        schema, table = (await store.get_collection("c")).details["table"].split(".")
        async with store.engine.begin() as conn:
            await conn.execute(sa.text(f'ALTER TABLE "{schema}"."{table}" ADD CHECK (id <> \'refused\')'))
        with pytest.raises(VectorError, match=r"pgvector collection 'c' on .*CheckViolation"):
            await store.upsert("c", ["refused"], [[1.0, 0.0]])


async def test_chroma_reads_a_database_written_by_chroma_itself(tmp_path: Path) -> None:
    import chromadb
    from chromadb.config import Settings

    path = tmp_path / "existing"
    client = chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))
    legacy = client.create_collection("legacy_docs", embedding_function=None)  # chroma's default: l2
    legacy.add(ids=["x", "y"], embeddings=[[1.0, 0.0], [0.0, 2.0]], metadatas=[{"doc": "a"}, {"doc": "b"}],
               documents=["text of x", None])
    async with PluginHarness(["chroma"], {"chroma": {"path": str(path)}}) as h:
        store = h.kernel.service(VECTOR_STORE, name="chroma")
        info = await store.get_collection("legacy_docs")
        assert (info.dimension, info.metric, info.count) == (2, "l2", 2)
        hits = await store.search("legacy_docs", [0.0, 1.0], k=2)
        assert [(h.id, h.score, h.metadata) for h in hits] == [
            ("y", -1.0, {"doc": "b"}), ("x", -2.0, {"doc": "a", "chroma:document": "text of x"})]
        # Names, metadata keys and filter keys chroma refuses are VectorErrors (HTTP 4xx), not 500s.
        for bad in ("a b", "ab-"):
            with pytest.raises(VectorError, match="3-512 characters"):
                await store.create_collection(bad, 2)
        with pytest.raises(VectorError, match=r"key '\$or' in a filter"):
            await store.search("legacy_docs", [0.0, 1.0], k=2, filter={"$or": 1})
        for key in ("$x", "", "chroma:document"):
            with pytest.raises(VectorError, match="in metadata"):
                await store.upsert("legacy_docs", ["w"], [[1.0, 1.0]], [{key: 1}])
        # Lists and null are kept as marked JSON strings in chroma and come back as they were.
        await store.upsert("legacy_docs", ["z"], [[1.0, 1.0]], [{"tags": ["p", "q"], "none": None}])
        raw = legacy.get(ids=["z"], include=["metadatas"])["metadatas"][0]
        assert raw == {"tags": '\x1ejson:["p", "q"]', "none": "\x1ejson:null"}
        (hit,) = await store.search("legacy_docs", [1.0, 1.0], k=1, filter={"none": None})
        assert hit.metadata == {"tags": ["p", "q"], "none": None}
