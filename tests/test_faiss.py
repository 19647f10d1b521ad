"""The faiss vector store on real FAISS: every index type, training, HNSW deletes, filters,
persistence across a restart, kill -9 during a save, concurrency, errors and the GPU path."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import anyio
import click
import faiss
import numpy as np
import pytest
from click.testing import CliRunner
from pygent_plugins.faiss import FaissPlugin
from pygent_plugins.faiss.collection import Collection, Policy
from pygent_plugins.faiss.device import Device
from pygent_plugins.faiss.options import IndexOptions
from pygent_plugins.faiss.store import RWLock
from pygent_sdk.health import PluginStatus
from pygent_sdk.testing import PluginHarness, cli_context
from pygent_sdk.vectors import (
    VECTOR_STORE, DimensionMismatch, UnknownCollection, VectorError, VectorStore, first_store,
)

pytestmark = pytest.mark.anyio

DIM = 32
TYPES = ["flat", "ivf_flat", "hnsw", "ivf_pq"]
BASE = {"threads": 1, "ivf_train_min": 500}  # one OpenMP thread: no spinning on a busy machine


def clustered(n: int, seed: int = 0, clusters: int = 20) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((clusters, DIM)) * 3
    return (centers[rng.integers(0, clusters, n)] + rng.standard_normal((n, DIM))).astype(np.float32)


def exact_top(x: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    return np.argsort(-(unit @ (query / np.linalg.norm(query))), kind="stable")[:k].tolist()


def harness(data_dir: Path, **config: Any) -> PluginHarness:
    return PluginHarness({"faiss": FaissPlugin},
                         {"kernel": {"data_dir": str(data_dir)}, "faiss": {**BASE, **config}})


def store_of(h: PluginHarness) -> VectorStore:
    return h.kernel.service(VECTOR_STORE, name="faiss")


@pytest.mark.parametrize("index", TYPES)
async def test_index_type_recall_upsert_delete_and_filters(tmp_path: Path, index: str) -> None:
    n = 3000
    x = clustered(n)
    ids = [f"v{i}" for i in range(n)]
    meta = [{"group": i % 100, "even": i % 2 == 0} for i in range(n)]
    async with harness(tmp_path) as h:
        store = store_of(h)
        await store.create_collection("c", DIM, options={"index": index})
        for start in range(0, n, 1000):
            await store.upsert("c", ids[start:start + 1000], x[start:start + 1000], meta[start:start + 1000])
        info = await store.get_collection("c")
        assert info.count == n and info.details["type"] == index and info.details["trained"]
        queries = x[:40] + np.random.default_rng(1).standard_normal((40, DIM)).astype(np.float32) * 0.5
        recall = 0.0
        for q in queries:
            got = [int(hit.id[1:]) for hit in await store.search("c", q, k=10)]
            recall += len(set(got) & set(exact_top(x, q, 10))) / 10
        assert recall / len(queries) >= 0.9, f"{index}: recall@10 {recall / len(queries):.3f}"

        # upsert: v0 moves far away, keeps one row, takes its new metadata
        far = np.full(DIM, 50.0, np.float32)
        await store.upsert("c", ["v0"], [far], [{"group": 999}])
        assert await store.count("c") == n
        top = (await store.search("c", far, k=1))[0]
        assert (top.id, top.metadata) == ("v0", {"group": 999})
        assert top.score == pytest.approx(1.0, abs=1e-4)
        assert "v0" not in [hit.id for hit in await store.search("c", x[0], k=10)]

        # delete by ids (unknown ids are not counted), then by filter
        assert await store.delete("c", ids=[f"v{i}" for i in range(1, 101)] + ["nope"]) == 100
        hits = await store.search("c", x[1], k=20)
        assert len(hits) == 20 and not {h.id for h in hits} & {f"v{i}" for i in range(1, 101)}
        assert await store.delete("c", filter={"group": 999}) == 1
        assert await store.count("c") == n - 101

        # a selective filter (29 of 2899 rows): exactly k, all matching, the exact best ones
        hits = await store.search("c", x[7], k=10, filter={"group": 7})
        live = [i for i in range(101, n) if i % 100 == 7]
        assert [h.id for h in hits] == [f"v{live[i]}" for i in exact_top(x[live], x[7], 10)]
        assert all(h.metadata["group"] == 7 for h in hits)
        # a broad filter through the approximate index, a list filter, fewer matches than k
        hits = await store.search("c", x[500], k=10, filter={"even": True})
        assert len(hits) == 10 and all(h.metadata["even"] for h in hits) and hits[0].id == "v500"
        assert len(await store.search("c", x[3], k=50, filter={"group": [3, 4]})) == 50
        assert len(await store.search("c", x[3], k=100, filter={"group": [3, 4]})) == 58
        assert await store.count("c", {"group": [3, 4]}) == 58
        assert await store.search("c", x[3], k=5, filter={"group": -1}) == []


async def test_ivf_trains_at_the_threshold_and_retrains_as_it_grows(tmp_path: Path) -> None:
    x = clustered(1200)
    async with harness(tmp_path, ivf_train_min=400, ivf_retrain_factor=2.0) as h:
        store = store_of(h)
        await store.create_collection("ivf", DIM, options={"index": "ivf_flat", "nprobe": 4})
        await store.upsert("ivf", [f"a{i}" for i in range(399)], x[:399])
        details = (await store.get_collection("ivf")).details
        assert (details["trained"], details["index"], details["train_threshold"]) == (False, "Flat", 400)
        assert [h.id for h in await store.search("ivf", x[5], k=1)] == ["a5"]  # served exactly
        await store.upsert("ivf", ["a399"], x[399:400])
        details = (await store.get_collection("ivf")).details
        assert (details["trained"], details["index"], details["nlist"]) == (True, "IVF10,Flat", 10)
        await store.upsert("ivf", [f"a{i}" for i in range(400, 799)], x[400:799])
        assert (await store.get_collection("ivf")).details["nlist"] == 10  # 799 < 2 * 400
        await store.upsert("ivf", ["a799"], x[799:800])
        assert (await store.get_collection("ivf")).details["index"] == "IVF20,Flat"  # retrained
        assert [h.id for h in await store.search("ivf", x[700], k=1)] == ["a700"]
    async with harness(tmp_path, ivf_train_min=400, ivf_retrain_factor=2.0) as h:
        assert (await store_of(h).get_collection("ivf")).details["index"] == "IVF20,Flat"


async def test_hnsw_deletes_are_tombstones_until_a_rebuild(tmp_path: Path) -> None:
    x = clustered(500)
    async with harness(tmp_path, hnsw_rebuild_ratio=0.3) as h:
        store = store_of(h)
        await store.create_collection("h", DIM, metric="l2", options={"index": "hnsw", "ef_search": 32})
        await store.upsert("h", [f"h{i}" for i in range(500)], x)
        assert await store.delete("h", ids=[f"h{i}" for i in range(100)]) == 100
        details = (await store.get_collection("h")).details
        assert details["tombstones"] == 100
        for i in range(0, 100, 10):  # a deleted row is never returned, even for its own vector
            hits = await store.search("h", x[i], k=5)
            assert len(hits) == 5 and all(int(h.id[1:]) >= 100 for h in hits)
        await store.upsert("h", ["h100"], x[100:101] + 1)  # a replaced row is a tombstone too
        assert (await store.get_collection("h")).details["tombstones"] == 101
        top = (await store.search("h", x[100] + 1, k=1))[0]
        assert top.id == "h100" and top.score == pytest.approx(0.0, abs=1e-4)  # l2: -distance
        assert await store.delete("h", ids=[f"h{i}" for i in range(101, 150)]) == 49
        assert (await store.get_collection("h")).details["tombstones"] == 150  # not > 0.3 * 501
        assert await store.delete("h", ids=["h150"]) == 1
        assert (await store.get_collection("h")).details["tombstones"] == 0  # 151: rebuilt
        assert await store.count("h") == 350
        assert [h.id for h in await store.search("h", x[300], k=1)] == ["h300"]


async def test_collections_survive_a_restart(tmp_path: Path) -> None:
    x = clustered(1000, seed=3)
    queries = x[:5] + 0.3
    before: dict[str, list[list[tuple[str, float]]]] = {}
    async with harness(tmp_path) as h:
        store = store_of(h)
        for index in TYPES:
            await store.create_collection(index, DIM, metric="l2", options={"index": index})
            await store.upsert(index, [f"r{i}" for i in range(1000)], x, [{"i": i} for i in range(1000)])
            await store.delete(index, ids=["r1", "r2"])
            before[index] = [[(h.id, h.score) for h in await store.search(index, q, k=5)] for q in queries]
        infos = await store.collections()
    async with harness(tmp_path) as h:
        store = store_of(h)
        assert await store.collections() == infos
        for index in TYPES:
            after = [[(h.id, h.score) for h in await store.search(index, q, k=5)] for q in queries]
            assert after == before[index], index
            assert (await store.search(index, x[10], k=1))[0].metadata == {"i": 10}
            await store.upsert(index, ["new"], [x[1]])  # labels go on after a reload
            assert (await store.search(index, x[1], k=1))[0].id == "new"
            assert await store.count(index) == 999
        stats = await store.stats()
        assert stats["collections"] == 4 and stats["vectors"] == 4 * 999 and stats["bytes_on_disk"] > 0
        assert {c["type"]: c["index"] for c in stats["by_collection"].values()} == {
            "flat": "Flat", "ivf_flat": "IVF25,Flat", "hnsw": "HNSW32,Flat", "ivf_pq": "IVF25,PQ8"}


SAVER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import faiss, numpy as np
    from pygent_plugins.faiss.collection import Collection, Policy
    from pygent_plugins.faiss.device import Device
    from pygent_plugins.faiss.options import IndexOptions

    write_index = faiss.write_index
    def slow_write_index(index, path):  # a wide save window: the parent kills inside it
        write_index(index, path)
        print("saving", flush=True)
        time.sleep(0.05)
    faiss.write_index = slow_write_index
    faiss.omp_set_num_threads(1)
    root = Path(sys.argv[1])
    c = Collection(faiss, root, "k", 32, "cosine", IndexOptions(index="hnsw"),
                   Policy(snapshot_bytes=int(sys.argv[2])), Device(faiss, "cpu", False))
    c.save()
    rng = np.random.default_rng(0)
    for batch in range(1000):
        ids = [f"b{batch}-{i}" for i in range(200)]
        c.upsert(ids, rng.standard_normal((200, 32)).astype(np.float32), [{"batch": batch}] * 200)
        print("acked", batch, flush=True)
""")


@pytest.mark.parametrize("snapshot_bytes", [1, 10**9], ids=["snapshot-each-write", "log-only"])
def test_kill_9_during_saves_loses_no_acknowledged_write(tmp_path: Path, snapshot_bytes: int) -> None:
    root = tmp_path / "k"
    proc = subprocess.Popen([sys.executable, "-c", SAVER, str(root), str(snapshot_bytes)],
                            stdout=subprocess.PIPE, text=True)
    acked = -1
    saves = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("acked"):
            acked = int(line.split()[1])
        else:
            saves += 1
        if acked >= 8 and (snapshot_bytes > 1 or line.startswith("saving")):
            os.kill(proc.pid, signal.SIGKILL)  # inside a save (or a write) of batch acked + 1
            break
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    c = Collection.load(faiss, root, Policy(), Device(faiss, "cpu", False))
    assert c is not None
    count = len(c.ids)
    assert count in (200 * (acked + 1), 200 * (acked + 2))  # the old state or the new one, whole
    assert all(f"b{b}-{i}" in c.ids for b in range(acked + 1) for i in (0, 199))
    assert c.count({"batch": acked}) == 200
    assert c.exact.ntotal == count == c.ann.ntotal - len(c.tombstones)  # all parts agree
    hit = c.search(c.exact.reconstruct(c.ids["b3-17"]), 1, None)[0]
    assert (hit.id, hit.metadata) == ("b3-17", {"batch": 3})
    c.upsert(["after"], np.ones((1, 32), np.float32), [{}])  # and it goes on from there
    c.save()
    assert [p.name for p in root.iterdir() if p.name.startswith("gen-")] == [c.wal.path.parent.name]
    c.close()
    if snapshot_bytes == 1:
        assert saves > 8


def test_a_torn_log_record_is_dropped(tmp_path: Path) -> None:
    device = Device(faiss, "cpu", False)
    c = Collection(faiss, tmp_path, "t", 4, "l2", IndexOptions(), Policy(), device)
    c.save()
    c.upsert(["a", "b"], np.eye(2, 4, dtype=np.float32), [{}, {}])
    c.close()
    with open(c.wal.path, "ab") as f:
        f.write(b"\x50\x00\x00\x00garbage")  # a crash in the middle of the next append
    again = Collection.load(faiss, tmp_path, Policy(), device)
    assert again is not None and sorted(again.ids) == ["a", "b"]
    again.upsert(["c"], np.ones((1, 4), np.float32), [{}])
    again.close()
    assert sorted(getattr(Collection.load(faiss, tmp_path, Policy(), device), "ids", [])) == ["a", "b", "c"]


def test_a_snapshot_renamed_but_never_made_current_is_stepped_over(tmp_path: Path) -> None:
    device = Device(faiss, "cpu", False)
    c = Collection(faiss, tmp_path, "w", 4, "l2", IndexOptions(), Policy(), device)
    c.save()
    c.upsert(["a"], np.ones((1, 4), np.float32), [{}])
    live = c.wal.path.parent
    # a kill after the rename of the next snapshot and before CURRENT named it
    shutil.copytree(live, tmp_path / f"gen-{int(live.name[4:]) + 1:06d}")
    c.save()  # the old numbering renamed onto that directory: "Directory not empty", forever
    c.upsert(["b"], np.ones((1, 4), np.float32), [{}])
    c.close()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("gen-")] == ["gen-000003"]
    again = Collection.load(faiss, tmp_path, Policy(), device)
    assert again is not None and sorted(again.ids) == ["a", "b"]
    again.close()


async def test_one_process_at_a_time_owns_the_data_directory(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await store_of(h).create_collection("c", 4)
        await store_of(h).upsert("c", ["a"], [[1.0, 0, 0, 0]])
        async with harness(tmp_path) as second:  # starts (other commands work), but refuses
            for call in (store_of(second).count("c"), store_of(second).collections(),
                         store_of(second).upsert("c", ["b"], [[0, 1.0, 0, 0]])):
                with pytest.raises(VectorError, match=r"another process holds the lock .*faiss/LOCK \(a running `pygent serve`"):
                    await call
            health = (await second.kernel.health()).plugins["faiss"]
            assert health.status == "degraded" and "another process holds the lock" in health.detail
    async with harness(tmp_path) as h:  # let go at stop
        assert await store_of(h).count("c") == 1


@pytest.mark.parametrize("first_call", ["count", "health"])
async def test_a_process_that_started_beside_the_owner_takes_over_once_it_stops(
    tmp_path: Path, first_call: str
) -> None:
    ready, release, done = anyio.Event(), anyio.Event(), anyio.Event()

    async def owner() -> None:  # e.g. a long `pygent ingest`
        async with harness(tmp_path) as first:
            await store_of(first).create_collection("c", 4)
            await store_of(first).upsert("c", ["a"], [[1.0, 0, 0, 0]])
            ready.set()
            await release.wait()
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(owner)
        await ready.wait()
        async with harness(tmp_path) as second:  # e.g. `pygent serve`, started meanwhile
            stand_in = store_of(second)
            with pytest.raises(VectorError, match="another process holds the lock"):
                await stand_in.count("c")
            release.set()
            await done.wait()
            if first_call == "health":  # /health recovers with no other call
                assert (await second.kernel.health()).plugins["faiss"].status == "ok"
            assert await stand_in.count("c") == 1  # the real store, loaded on the first call
            await stand_in.upsert("c", ["b"], [[0, 1.0, 0, 0]])
            assert (await second.kernel.health()).plugins["faiss"].status == "ok"
    async with harness(tmp_path) as h:
        assert await store_of(h).count("c") == 2


async def test_a_collection_that_fails_to_load_is_kept_and_refuses_calls(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await store_of(h).create_collection("bad", 4)
        await store_of(h).upsert("bad", ["a"], [[1.0, 0, 0, 0]])
        await store_of(h).create_collection("good", 4)
    root = tmp_path / "faiss" / "collections" / "c-bad"
    (root / (root / "CURRENT").read_text() / "state.json").write_text("{not json")
    async with harness(tmp_path) as h:
        store = store_of(h)
        why = r"faiss collection 'bad' at .*c-bad could not be loaded \(JSONDecodeError"
        for call in (store.get_collection("bad"), store.count("bad"),
                     store.create_collection("bad", 4)):  # was: a new empty one over the files
            with pytest.raises(VectorError, match=why):
                await call
        assert root.exists() and [c.name for c in await store.collections()] == ["good"]
        health = (await h.kernel.health()).plugins["faiss"]
        assert health.status == "degraded" and "could not load: 'bad'" in health.detail
        assert list((await store.stats())["broken"]) == ["bad"]
        assert await store.drop_collection("bad") and not root.exists()
        assert (await store.create_collection("bad", 4)).count == 0


async def test_health_does_not_wait_behind_a_writer(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await store_of(h).create_collection("c", 4)
        await store_of(h).upsert("c", ["a", "b"], [[1.0, 0, 0, 0], [0, 1.0, 0, 0]])
        entry = store_of(h)._entries["c"]  # type: ignore[attr-defined]
        async with entry.lock.write():  # a long write, e.g. IVF training
            with anyio.fail_after(2):
                health = (await h.kernel.health()).plugins["faiss"]
        assert health.status == "ok" and health.detail.startswith("1 collection(s), 2 vectors")


async def test_concurrent_searches_see_whole_writes(tmp_path: Path) -> None:
    x = clustered(3000, seed=5)
    async with harness(tmp_path) as h:
        store = store_of(h)
        await store.create_collection("cc", DIM, options={"index": "hnsw"})
        await store.upsert("cc", [f"c{i}" for i in range(1000)], x[:1000])
        counts: list[int] = []
        searches = 0

        async def writer() -> None:
            for start in range(1000, 3000, 200):
                await store.upsert("cc", [f"c{i}" for i in range(start, start + 200)], x[start:start + 200])

        async def reader(seed: int) -> None:
            nonlocal searches
            rng = np.random.default_rng(seed)
            for _ in range(25):
                hits = await store.search("cc", x[rng.integers(0, 1000)], k=5)
                assert len(hits) == 5
                counts.append(await store.count("cc"))
                searches += 1

        async with anyio.create_task_group() as tg:
            tg.start_soon(writer)
            for seed in range(4):
                tg.start_soon(reader, seed)
        assert searches == 100 and all(c % 200 == 0 for c in counts)  # never half a batch
        assert await store.count("cc") == 3000


async def test_a_cancelled_waiting_writer_lets_waiting_readers_in() -> None:
    lock, entered, scope = RWLock(), anyio.Event(), anyio.CancelScope()

    async def writer() -> None:
        with scope:
            async with lock.write():
                pass

    async def reader() -> None:
        async with lock.read():
            entered.set()

    async with lock.read(), anyio.create_task_group() as tg:
        tg.start_soon(writer)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(reader)
        await anyio.wait_all_tasks_blocked()
        assert not entered.is_set()  # held back by the waiting writer
        scope.cancel()
        with anyio.fail_after(2):
            await entered.wait()


async def test_contract_errors_name_what_was_wrong(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        store = store_of(h)
        first = await store.create_collection("e", DIM)
        assert await store.create_collection("e", DIM) == first  # idempotent
        with pytest.raises(DimensionMismatch, match="32-dimensional cosine.*not 31-dimensional cosine"):
            await store.create_collection("e", 31)
        with pytest.raises(DimensionMismatch, match="metric|l2"):
            await store.create_collection("e", DIM, metric="l2")
        assert await store.search("e", np.zeros(DIM), k=3) == []  # empty
        with pytest.raises(DimensionMismatch, match=r"a 31-dimensional vector .* of 32 dimensions"):
            await store.upsert("e", ["a"], [[0.0] * 31])
        with pytest.raises(DimensionMismatch, match="31-dimensional.*32"):
            await store.upsert("e", ["a"], np.zeros((1, 31), np.float32))
        with pytest.raises(ValueError, match="2 ids, 1 vectors"):
            await store.upsert("e", ["a", "b"], [[0.0] * DIM])
        with pytest.raises(ValueError, match="1 metadata"):
            await store.upsert("e", ["a", "b"], np.zeros((2, DIM)), [{}])
        await store.upsert("e", ["a", "a", "b"], np.eye(3, DIM), [{"n": 1}, {"n": 2}, {"n": 3}])
        assert await store.count("e") == 2  # a repeated id: the last one wins
        assert (await store.search("e", np.eye(3, DIM)[1], k=1))[0].metadata == {"n": 2}
        with pytest.raises(DimensionMismatch, match="33-dimensional"):
            await store.search("e", np.zeros(33), k=1)
        with pytest.raises(ValueError, match="needs ids or a filter"):
            await store.delete("e")
        assert await store.delete("e", ids=["a", "zzz"]) == 1
        with pytest.raises(ValueError, match=r"unknown option\(s\) \['nlists'\]"):
            await store.create_collection("o", DIM, options={"nlists": 4})
        with pytest.raises(ValueError, match="index 'ivf' is not one of"):
            await store.create_collection("o", DIM, options={"index": "ivf"})
        with pytest.raises(ValueError, match="pq_m = 5 does not divide the dimension 32"):
            await store.create_collection("o", DIM, options={"index": "ivf_pq", "pq_m": 5})
        with pytest.raises(UnknownCollection, match="no faiss collection 'nope'; there are: \\['e'\\]"):
            await store.search("nope", np.zeros(DIM))
        assert await store.drop_collection("e") and not await store.drop_collection("e")
        with pytest.raises(UnknownCollection):
            await store.count("e")


async def test_hook_pygent_vector_store(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        store = h.kernel.hook.pygent_vector_store(name="faiss")
        assert isinstance(store, VectorStore) and store.name == "faiss"
        assert h.kernel.hook.pygent_vector_store(name=None) is store
        assert h.kernel.hook.pygent_vector_store(name="chroma") is None
        assert h.kernel.service(VECTOR_STORE, name=None) is store
        health = (await h.kernel.health()).plugins["faiss"]
        assert health.status == "ok" and health.detail.startswith("0 collection(s), 0 vectors, device ")
        if faiss.get_num_gpus() == 0:
            assert "cpu (" in health.detail  # says why it is not on a GPU


@pytest.mark.parametrize("order", [["faiss", "chroma"], ["chroma", "faiss"]])
async def test_with_no_name_the_first_store_in_plugins_toml_answers(
    tmp_path: Path, order: list[str],
) -> None:
    from pygent_plugins.chroma import ChromaPlugin

    classes = {"faiss": FaissPlugin, "chroma": ChromaPlugin}
    config = {"kernel": {"data_dir": str(tmp_path)}, "faiss": BASE, "chroma": {}}
    async with PluginHarness({name: classes[name] for name in order}, config) as h:
        first = h.kernel.service(VECTOR_STORE, name=None)
        assert first.name == order[0]  # pluggy alone asks the last registered first
        assert h.kernel.service(VECTOR_STORE, name=order[1]).name == order[1]


def test_first_store_skips_stores_that_are_not_running() -> None:
    def status(name: str, state: str, provides: tuple[str, ...] = ("vector-store",)) -> PluginStatus:
        return PluginStatus(name, state, "", provides, ())

    plugins = [status("jobs", "running", ("jobs",)), status("pgvector", "failed"),
               status("chroma", "disabled"), status("faiss", "running"), status("x", "running")]
    assert first_store(plugins) == "faiss" and first_store(plugins[:3]) is None


async def test_device_cuda_without_a_gpu_is_a_start_error(tmp_path: Path) -> None:
    if faiss.get_num_gpus() > 0:
        pytest.skip("a GPU is visible: device = cuda starts")
    with pytest.raises(Exception, match='device = "cuda", but (faiss-cpu build|no GPU visible)'):
        async with harness(tmp_path, device="cuda"):
            pass


@pytest.mark.skipif(faiss.get_num_gpus() == 0,
                    reason="faiss sees no GPU (a faiss-cpu build or no CUDA device): GPU search untested")
async def test_gpu_search_matches_the_cpu(tmp_path: Path) -> None:
    x = clustered(2000, seed=9)
    results = {}
    for device in ("cpu", "cuda"):
        async with harness(tmp_path / device, device=device, float16=device == "cuda") as h:
            store = store_of(h)
            await store.create_collection("g", DIM, options={"index": "ivf_flat"})
            await store.upsert("g", [f"g{i}" for i in range(2000)], x)
            assert (await store.get_collection("g")).details["device"] == device
            results[device] = [[h.id for h in await store.search("g", q, k=5)] for q in x[:20]]
    same = sum(len(set(a) & set(b)) for a, b in zip(results["cpu"], results["cuda"])) / 100
    assert same >= 0.95


class CopyingDevice(Device):
    """The GPU plumbing without a GPU: "copies" are CPU clones, counted."""

    def __init__(self) -> None:
        super().__init__(faiss, "cpu", False)
        self.name, self.copies = "cuda", 0

    def to_gpu(self, index: Any) -> Any:
        self.copies += 1
        return faiss.clone_index(index)


def test_device_copies_are_made_per_write_and_skipped_for_filters(tmp_path: Path) -> None:
    device = CopyingDevice()
    x = clustered(1000, seed=11)
    c = Collection(faiss, tmp_path, "g", DIM, "cosine", IndexOptions(index="ivf_flat"),
                   Policy(ivf_train_min=500), device)
    c.save()
    c.upsert([f"g{i}" for i in range(1000)], x, [{"odd": i % 2} for i in range(1000)])
    first = [h.id for h in c.search(x[3], 5, None)]
    assert first[0] == "g3" and device.copies == 1  # the IVF index, copied once
    assert [h.id for h in c.search(x[3], 5, None)] == first and device.copies == 1
    assert all(h.metadata["odd"] == 1 for h in c.search(x[4], 5, {"odd": 1}))
    assert device.copies == 1  # a filtered search stays on the CPU index
    c.upsert(["g3"], [x[500]], [{}])  # a write: the next search copies again
    assert [h.id for h in c.search(x[500], 2, None)] in (["g3", "g500"], ["g500", "g3"])
    assert device.copies == 2
    c.close()


@pytest.mark.parametrize("index", ["flat", "ivf_pq"])
def test_a_k_beyond_the_gpu_limit_searches_on_the_cpu(tmp_path: Path, index: str) -> None:
    device = CopyingDevice()
    x = clustered(2100, seed=13)
    c = Collection(faiss, tmp_path, "k", DIM, "cosine", IndexOptions(index=index, rerank=8),
                   Policy(ivf_train_min=500), device)
    c.save()
    c.upsert([f"k{i}" for i in range(2100)], x, [{}] * 2100)
    big = 2049 if index == "flat" else 257  # ivf_pq fetches k * rerank = 2056 candidates
    assert len(c.search(x[0], big, None)) == big and device.copies == 0  # faiss GPU selects <= 2048
    assert c.search(x[0], 5, None)[0].id == "k0" and device.copies == 1
    c.close()


def test_pygent_faiss_stats(tmp_path: Path) -> None:
    async def fill() -> None:
        async with harness(tmp_path) as h:
            await store_of(h).create_collection("docs", 4, options={"index": "hnsw"})
            await store_of(h).upsert("docs", ["a"], [[1.0, 0, 0, 0]])

    anyio.run(fill)
    group = click.Group("pygent")
    FaissPlugin.pygent_cli_commands(cli=group)
    context = cli_context({"faiss": FaissPlugin}, {"kernel": {"data_dir": str(tmp_path)}, "faiss": BASE})
    result = CliRunner().invoke(group, ["faiss", "stats"], obj=context)
    assert result.exit_code == 0, result.output
    assert "docs" in result.output and "HNSW32,Flat" in result.output
    assert "1 collection(s), 1 vectors" in result.output
