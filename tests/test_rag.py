"""The rag plugin on doubles (hash embedder, in-memory store): chunking, loaders, catalog, fusion,
thresholds, bad input, hooks, tool and job."""

from __future__ import annotations

import textwrap
import threading
import tracemalloc
from functools import partial
from pathlib import Path

import anyio
import pytest
from pygent_plugins.rag import RagPlugin
from pygent_plugins.rag.chunking import CHARS_PER_TOKEN, chunk_text
from pygent_plugins.rag.fusion import mmr, rrf
from pygent_plugins.rag.keyword import tokenize
from pygent_plugins.rag.loaders import html_text, load
from pygent_sdk.knowledge import (
    KNOWLEDGE, RETRIEVER, Knowledge, Retriever, UnknownDocument, UnsupportedDocument,
)
from pygent_sdk.testing import PluginHarness
from pygent_sdk.vectors import VECTOR_STORE, DimensionMismatch, UnknownCollection, VectorError

from .rag_kit import doubles

pytestmark = pytest.mark.anyio

GUIDE = textwrap.dedent("""\
    # Guide

    Intro paragraph about the guide.

    ## Install

    Run pip install pygent-factory to install it. The installer needs Python.

    ```python
    # not a heading
    print("hi")
    ```

    ## Usage

    ### Plugins

    Write a plugin class deriving from Plugin and register an entry point.
    """)


def harness(tmp_path: Path, dimension: int = 64, store=None, **rag: object) -> PluginHarness:
    cls = doubles(dimension)
    if store is not None:
        cls.store = store
    return PluginHarness({"doubles": cls, "rag": RagPlugin, "models": None, "scripted": None},
                         {"kernel": {"data_dir": str(tmp_path / "data")}, "rag": rag,
                          "models": {"default": "scripted:echo"}})


def corpus(root: Path) -> Path:
    docs = root / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / ".hidden").mkdir()
    (docs / "guide.md").write_text(GUIDE)
    (docs / "cats.txt").write_text("Cats purr and sleep most of the day.\n\nThey hunt mice at night.")
    (docs / "sub" / "page.html").write_text(
        "<html><head><title>t</title><style>p{}</style></head><body><h1>Birds</h1>"
        "<p>Parrots &amp; crows talk.</p><script>alert(1)</script></body></html>")
    (docs / "sub" / "image.png").write_bytes(b"\x89PNG\r\n")
    (docs / ".hidden" / "secret.md").write_text("# Secret\n\nhidden words")
    (docs / "sub" / "empty.txt").write_text("")
    (docs / "sub" / "blank.md").write_text("\n  \n")
    return docs


# Chunking -------------------------------------------------------------------------------------


def test_chunks_map_back_exactly_and_keep_sections() -> None:
    chunks = chunk_text(GUIDE, size=200, overlap=10, markdown=True)
    assert [c.heading for c in chunks] == ["Guide", "Guide › Install", "Guide › Usage › Plugins"]
    assert all(GUIDE[c.start:c.end] == c.text for c in chunks)
    assert "# not a heading" in chunks[1].text  # fenced code is not a heading
    assert chunks[2].text.startswith("### Plugins")
    assert [c.index for c in chunks] == [0, 1, 2]


def test_chunk_size_overlap_and_paragraphs() -> None:
    paragraphs = [" ".join(f"p{p}w{i}" for i in range(30)) for p in range(6)]
    text = "\n\n".join(paragraphs)
    chunks = chunk_text(text, size=70, overlap=5, markdown=False)
    assert all(text[c.start:c.end] == c.text for c in chunks)
    assert all(len(c.text.split()) <= 70 for c in chunks)
    first = chunks[0].text.split()
    assert first[-1] == "p1w29"  # two whole paragraphs (60 words), not cut mid-paragraph at 70
    assert chunks[1].text.split()[:5] == first[-5:]  # 5 tokens of overlap
    assert chunks[-1].text.endswith("p5w29")
    long = " ".join(f"w{i}" for i in range(1000))
    pieces = chunk_text(long, size=100, overlap=20, markdown=False)
    assert all(len(p.text.split()) <= 100 for p in pieces) and pieces[-1].text.endswith("w999")
    with pytest.raises(ValueError, match="overlap"):
        chunk_text(text, size=10, overlap=10, markdown=False)


def test_text_without_whitespace_is_cut_into_capped_chunks() -> None:
    text = "A short intro.\n\n" + "x9" * 20_000 + " and an end"
    chunks = chunk_text(text, size=160, overlap=24, markdown=False)
    assert max(len(c.text) for c in chunks) <= 160 * CHARS_PER_TOKEN
    assert all(text[c.start:c.end] == c.text for c in chunks)
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    covered = bytearray(len(text))
    for c in chunks:
        covered[c.start:c.end] = b"\1" * len(c.text)
    assert all(covered[i] or text[i].isspace() for i in range(len(text)))  # nothing left out


def test_html_text_and_tokenizer() -> None:
    text = html_text("<h2>Title</h2><p>a &lt;b&gt; &amp;amp; c</p><script>x()</script><style>.a{}</style>")
    assert text == "## Title\n\na <b> &amp; c"
    assert tokenize("The Plugins are running, ZX-4471-Q!") == ["plugin", "run", "zx", "4471", "q", "zx-4471-q"]
    assert tokenize("writing written write hopping ponies") == ["write", "written", "write", "hop", "poni"]


# Loaders and bad input ------------------------------------------------------------------------


def test_loaders_refuse_bad_files_naming_them(tmp_path: Path) -> None:
    cases = {
        "data.xlsx": (b"PK\x03\x04", "unsupported file type '.xlsx'"),
        "empty.md": (b"  \n\n ", "empty document"),
        "nul.txt": (b"text\x00\x01\x02garbage", "binary content"),
        "latin.txt": (b"caf\xe9 \xff\xfe", "not UTF-8"),
        "bad.pdf": (b"%PDF-1.4 not really", "not a readable PDF"),
    }
    for name, (raw, reason) in cases.items():
        path = tmp_path / name
        path.write_bytes(raw)
        with pytest.raises(UnsupportedDocument, match=reason) as caught:
            load(path, max_bytes=1_000_000)
        assert str(path) in str(caught.value)


def test_a_50_mb_file_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    with big.open("wb") as file:
        file.truncate(50 * 1_048_576)  # 50 MB of NULs, sparse: cheap to make
    tracemalloc.start()
    try:
        with pytest.raises(UnsupportedDocument, match=r"big.txt: 50.0 MB is over the limit of 20 MB"):
            load(big, max_bytes=20 * 1_048_576)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_048_576, peak


def test_pdf_text_is_extracted(tmp_path: Path) -> None:
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    page = writer.add_blank_page(200, 200)
    font = DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
                             NameObject("/BaseFont"): NameObject("/Helvetica")})
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): DictionaryObject(
        {NameObject("/F1"): writer._add_object(font)})})
    stream = DecodedStreamObject()
    stream.set_data(b"BT /F1 12 Tf 20 100 Td (Penguins live in Antarctica) Tj ET")
    page[NameObject("/Contents")] = writer._add_object(stream)
    path = tmp_path / "penguins.pdf"
    with path.open("wb") as file:
        writer.write(file)
    loaded = load(path, max_bytes=1_000_000)
    assert loaded.format == "pdf" and "Penguins live in Antarctica" in loaded.text


# Fusion ---------------------------------------------------------------------------------------


def test_reciprocal_rank_fusion_math() -> None:
    fused = dict(rrf([(["a", "b", "c"], 1.0), (["c", "a"], 2.0)], k=60))
    assert fused["a"] == pytest.approx(1 / 61 + 2 / 62)
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 2 / 61)
    assert [key for key, _ in rrf([(["a", "b", "c"], 1.0), (["c", "a"], 2.0)])] == ["c", "a", "b"]
    assert [key for key, _ in rrf([(["x", "y"], 1.0), (["y"], 0.0)])] == ["x", "y"]


def test_mmr_trades_relevance_for_diversity() -> None:
    query = [1.0, 0.0]
    near, twin, other = [0.99, 0.141], [0.99, 0.141], [0.8, -0.6]
    assert mmr(query, [near, twin, other], k=2, lam=1.0) == [0, 1]
    assert mmr(query, [near, twin, other], k=2, lam=0.5) == [0, 2]


# The service ----------------------------------------------------------------------------------


async def test_ingest_walks_directories_and_reports_refusals(tmp_path: Path) -> None:
    docs = corpus(tmp_path)
    (tmp_path / "sheet.xlsx").write_bytes(b"PK")
    (tmp_path / "blank.txt").write_text(" \n")
    async with harness(tmp_path) as h:
        knowledge = h.kernel.service(KNOWLEDGE)
        seen = []
        named = [str(docs), str(tmp_path / "sheet.xlsx"), str(tmp_path / "nope.md"), str(tmp_path / "blank.txt")]
        report = await knowledge.ingest_paths(named, progress=seen.append)
        assert sorted(Path(s).name for s in report.added) == ["cats.txt", "guide.md", "page.html"]
        assert sorted(Path(s).name for s in report.ignored) == ["blank.md", "empty.txt", "image.png"]  # notes
        assert "empty document" in dict(report.failed)[str(tmp_path / "blank.txt")]  # named: a failure
        failed = dict(report.failed)
        assert "unsupported file type '.xlsx'" in failed[str(tmp_path / "sheet.xlsx")]
        assert "no such file" in failed[str(tmp_path / "nope.md")]
        assert seen[-1].files_done == seen[-1].files_total == 5 and seen[-1].chunks == report.chunks
        events = h.events_on("rag.>")
        assert {e.topic for e in events} == {"rag.ingest.progress", "rag.ingested"}
        assert {e.source for e in events} == {"rag"}
        assert sorted(Path(e.document_source).name for e in h.events_on("rag.ingested")) == [
            "cats.txt", "guide.md", "page.html"]
        assert Path(h.events_on("rag.ingest.progress")[-1].file).name == "page.html"
        passages = await knowledge.retrieve("parrots crows", k=1, mode="keyword")
        assert passages[0].source.endswith("page.html") and passages[0].heading == "Birds"
        assert "script" not in passages[0].text and "alert" not in passages[0].text
        assert not await knowledge.retrieve("hidden secret words", mode="keyword")


async def test_ingest_never_reads_the_kernel_data_directory(tmp_path: Path) -> None:
    corpus(tmp_path)
    async with harness(tmp_path) as h:  # the kernel's data directory is tmp_path/data: not hidden
        notes = tmp_path / "data" / "notes.md"
        notes.write_text("# Notes\n\nkernel data, not a document")
        knowledge = h.kernel.service(KNOWLEDGE)
        report = await knowledge.ingest_paths([str(tmp_path)])
        assert sorted(Path(s).name for s in report.added) == ["cats.txt", "guide.md", "page.html"]
        named = await knowledge.ingest_paths([str(notes), str(tmp_path / "docs" / ".." / "data")])
        assert not named.added and len(named.failed) == 2
        assert all("inside the kernel's data directory" in reason for _, reason in named.failed)


async def test_a_file_is_one_document_however_its_path_is_spelled(tmp_path: Path, monkeypatch) -> None:
    docs = corpus(tmp_path)
    monkeypatch.chdir(tmp_path)
    async with harness(tmp_path) as h:
        knowledge = h.kernel.service(KNOWLEDGE)
        first = await knowledge.ingest_paths(["docs/sub/../cats.txt", str(docs / "cats.txt")])
        assert first.added == ("docs/cats.txt",)  # once, relative to the working directory as given
        again = await knowledge.ingest_paths([str(docs / "cats.txt"), "./docs/cats.txt"])
        assert again.added == again.replaced == () and again.unchanged == (str(docs.resolve() / "cats.txt"),)
        [doc] = await knowledge.documents()
        assert doc.source == "docs/cats.txt"


async def test_a_failed_store_write_keeps_the_old_version(tmp_path: Path, monkeypatch) -> None:
    store = doubles().store
    async with harness(tmp_path, store=store, chunk_tokens=16, chunk_overlap=0) as h:
        knowledge = h.kernel.service(KNOWLEDGE)
        old = await knowledge.ingest_text(" ".join(f"old{i}" for i in range(48)), source="doc.txt")
        assert old.chunks == 3
        new = " ".join(f"new{i}" for i in range(20))

        async def broken(*args: object, **kwargs: object) -> None:
            raise VectorError("disk full")

        with monkeypatch.context() as patch:
            patch.setattr(store, "upsert", broken)
            with pytest.raises(VectorError, match="disk full"):
                await knowledge.ingest_text(new, source="doc.txt")
        assert await store.count("rag_default", {"document_id": old.id}) == 3  # the old version stays
        assert [d.sha256 for d in await knowledge.documents()] == [old.sha256]
        assert (await knowledge.retrieve("old5", mode="vector", k=1))[0].source == "doc.txt"
        replaced = await knowledge.ingest_text(new, source="doc.txt")
        assert replaced.chunks == 2 and await store.count("rag_default") == 2  # the third old chunk went
        assert (await knowledge.retrieve("new5", mode="keyword"))[0].chunk == 0


async def test_a_slow_ingest_holds_up_no_other(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        knowledge = h.kernel.service(KNOWLEDGE)
        embedder = h.plugin("doubles").embedder
        entered, release = anyio.Event(), anyio.Event()
        embed = embedder.embed

        async def slow(texts: list[str]) -> list[list[float]]:
            if any("slow" in t for t in texts):
                entered.set()
                await release.wait()
            return await embed(texts)

        embedder.embed = slow
        async with anyio.create_task_group() as tg:
            tg.start_soon(partial(knowledge.ingest_text, "a slow document", source="slow.txt", collection="a"))
            try:
                await entered.wait()
                with anyio.fail_after(5):  # embedding holds no lock: other ingests go ahead
                    await knowledge.ingest_text("quick words", source="quick.txt", collection="b")
                    await knowledge.ingest_text("more quick words", source="more.txt", collection="a")
            finally:
                release.set()
        assert sorted(d.source for d in await knowledge.documents("a")) == ["more.txt", "slow.txt"]


async def test_keyword_rebuild_runs_once_while_searches_use_the_previous_index(tmp_path: Path, monkeypatch) -> None:
    from pygent_plugins.rag.keyword import KeywordIndex

    async with harness(tmp_path) as h:
        knowledge = h.kernel.service(KNOWLEDGE)
        await knowledge.ingest_text("Lighthouses guide ships.", source="sea.txt")
        assert [p.source for p in await knowledge.retrieve("ships", mode="keyword")] == ["sea.txt"]
        await knowledge.ingest_text("Ships need harbours.", source="port.txt")
        release, builds = threading.Event(), []
        build = KeywordIndex._build

        def slow_build(self: KeywordIndex, collection: str) -> object:
            builds.append(collection)
            release.wait(30)
            return build(self, collection)

        monkeypatch.setattr(KeywordIndex, "_build", slow_build)
        results: list[list[str]] = []

        async def search() -> None:
            results.append(sorted(p.source for p in await knowledge.retrieve("ships", mode="keyword")))

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(search)
            try:
                with anyio.fail_after(5):  # no search waits on the rebuild, none holds a thread
                    while len(results) < 4:
                        await anyio.sleep(0.01)
                assert results == [["sea.txt"]] * 4  # the previous index, stale but available
            finally:
                release.set()
        assert results[4] == ["port.txt", "sea.txt"] and builds == ["default"]


async def test_unchanged_is_skipped_changed_replaced_deleted_removed(tmp_path: Path) -> None:
    docs = corpus(tmp_path)
    store = doubles().store
    async with harness(tmp_path, store=store, chunk_tokens=20, chunk_overlap=2) as h:
        knowledge = h.kernel.service(KNOWLEDGE)
        first = await knowledge.ingest_paths([str(docs)])
        count = await store.count("rag_default")
        assert count == first.chunks > 3
        again = await knowledge.ingest_paths([str(docs)])
        assert again.added == again.replaced == () and len(again.unchanged) == 3 and again.chunks == 0
        cats = docs / "cats.txt"
        cats.write_text("Dogs bark loudly.")
        changed = await knowledge.ingest_paths([str(docs)])
        assert changed.replaced == (str(cats),) and changed.chunks == 1
        doc = next(d for d in await knowledge.documents() if d.source == str(cats))
        assert doc.chunks == 1 and await store.count("rag_default", {"document_id": doc.id}) == 1
        assert not await knowledge.retrieve("purr mice", mode="keyword")
        assert (await knowledge.retrieve("dogs bark", mode="keyword"))[0].document_id == doc.id
        assert await knowledge.delete_document(doc.id)
        assert not await knowledge.delete_document(doc.id)
        assert await store.count("rag_default", {"document_id": doc.id}) == 0
        assert not await knowledge.retrieve("dogs bark", mode="keyword")
        assert await store.count("rag_default") == count - 1  # one cats chunk went
    async with harness(tmp_path, store=store, chunk_tokens=20, chunk_overlap=2) as h:  # a restart
        knowledge = h.kernel.service(KNOWLEDGE)
        assert (await knowledge.retrieve("parrots", mode="keyword"))[0].heading == "Birds"
        assert len((await knowledge.ingest_paths([str(docs)])).added) == 1  # cats.txt, deleted before


async def test_text_documents_filters_and_modes(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        knowledge = h.kernel.service(KNOWLEDGE)
        a = await knowledge.ingest_text("Apples grow on trees in orchards.", source="fruit/a", metadata={"lang": "en"})
        b = await knowledge.ingest_text("# Äpfel\n\nApples grow in German orchards too.", source="fruit/b",
                                        format="markdown", metadata={"lang": "de"})
        assert a.chunks == b.chunks == 1 and a.id != b.id
        assert await knowledge.ingest_text("Apples grow on trees in orchards.", source="fruit/a",
                                           metadata={"lang": "en"}) == a  # unchanged
        for mode in ("vector", "keyword", "hybrid"):
            found = await knowledge.retrieve("apples orchards", mode=mode, filter={"lang": "de"})
            assert [p.document_id for p in found] == [b.id], mode
            assert found[0].heading == "Äpfel"
        hybrid = await knowledge.retrieve("apples orchards", mode="hybrid")
        assert hybrid[0].score == pytest.approx(2 / 61)  # first in both rankings, weights 1 and 1
        assert hybrid[0].similarity is not None
        searched = h.events_on("rag.searched")[-1]
        assert (searched.mode, searched.k, searched.hits) == ("hybrid", 5, 2)
        with pytest.raises(UnsupportedDocument, match="fruit/c: empty"):
            await knowledge.ingest_text("   ", source="fruit/c")
        with pytest.raises(UnknownCollection, match="no knowledge collection 'other'"):
            await knowledge.retrieve("apples", collection="other")
        for bad in ("../x", "ab-", "ab_"):  # chroma's rule: a name ends with a letter or digit
            with pytest.raises(Exception, match="bad collection name"):
                await knowledge.retrieve("apples", collection=bad)
        stats = await knowledge.stats()
        assert stats["documents"] == 2 and stats["stores"]["memory"]["vectors"] == 2


async def test_mmr_keeps_near_duplicates_from_crowding_results(tmp_path: Path) -> None:
    texts = {"a": "red apples grow on trees", "b": "red apples grow on trees too",
             "c": "green pears grow on trees"}
    for mmr_on, expected in ((False, ["a", "b"]), (True, ["a", "c"])):
        async with harness(tmp_path / str(mmr_on), mmr=mmr_on, mmr_lambda=0.3) as h:
            knowledge = h.kernel.service(KNOWLEDGE)
            for source, text in texts.items():
                await knowledge.ingest_text(text, source=source)
            found = await knowledge.retrieve("red apples grow on trees", k=2, mode="vector")
            assert [p.source for p in found] == expected, mmr_on
            assert all(p.similarity is not None for p in found)


async def test_answers_cite_or_say_nothing_found(tmp_path: Path) -> None:
    async with harness(tmp_path, min_similarity=0.3, answer_model="scripted:echo") as h:
        knowledge = h.kernel.service(KNOWLEDGE)
        await knowledge.ingest_text("Penguins live in Antarctica and eat krill.", source="penguins.txt")
        tokens: list[str] = []

        async def on_token(text: str) -> None:
            tokens.append(text)

        answer = await knowledge.answer("Where do penguins live and what do penguins eat?", on_token=on_token)
        assert answer.found and answer.model == "scripted:echo"
        assert "".join(tokens).strip() == answer.text and "[1] penguins.txt" in answer.text  # echo: the prompt
        assert answer.citations[0].source == "penguins.txt" and answer.citations[0].start == 0
        assert len(h.calls_to("pygent_model")) == 1
        nothing = await knowledge.answer("quantum chromodynamics lattice gauge")
        assert not nothing.found and nothing.citations == ()
        assert nothing.text.startswith("Nothing relevant found") and "min_similarity" in nothing.text
        assert len(h.calls_to("pygent_model")) == 1  # no model call below the threshold


async def test_answers_cite_only_the_passages_in_the_prompt(tmp_path: Path) -> None:
    async with harness(tmp_path, min_similarity=-1, context_chars=500, answer_model="scripted:echo") as h:
        knowledge = h.kernel.service(KNOWLEDGE)
        for n in range(3):
            await knowledge.ingest_text(f"Penguin fact {n}: " + "penguins swim far. " * 20, source=f"p{n}.txt")
        answer = await knowledge.answer("penguins swim", k=3)
        assert "[1]" in answer.text and "[2]" not in answer.text  # echo: only one passage fits 500 chars
        assert [c.number for c in answer.citations] == [1]


async def test_dimension_mismatch_names_embedder_and_collection(tmp_path: Path) -> None:
    async with harness(tmp_path, dimension=64) as h:
        await h.kernel.service(KNOWLEDGE).ingest_text("some words", source="a.txt")
    async with harness(tmp_path, dimension=32) as h:
        with pytest.raises(DimensionMismatch) as caught:
            await h.kernel.service(KNOWLEDGE).retrieve("some words")
    message = str(caught.value)
    assert "embedder 'hash' gives 32-dimensional" in message
    assert "collection 'default' holds 64-dimensional" in message


async def test_collections_are_listed_and_dropped(tmp_path: Path) -> None:
    store = doubles().store
    async with harness(tmp_path, store=store) as h:
        knowledge = h.kernel.service(KNOWLEDGE)
        await knowledge.ingest_text("one two three", source="x", collection="c1")
        listed = await knowledge.collections()
        assert [(c["name"], c["embedder"], c["store"], c["dimension"], c["documents"]) for c in listed] == [
            ("c1", "hash", "memory", 64, 1)]
        assert await knowledge.drop_collection("c1") and not await knowledge.drop_collection("c1")
        assert await knowledge.collections() == [] and await store.collections() == []
        with pytest.raises(UnknownDocument):
            await knowledge.document_collection("nope")


async def test_hook_pygent_knowledge(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        knowledge = h.kernel.hook.pygent_knowledge()
        assert isinstance(knowledge, Knowledge) and knowledge is h.kernel.service(KNOWLEDGE)
        await knowledge.ingest_text("Lighthouses guide ships.", source="sea.txt")
        assert (await knowledge.retrieve("lighthouses"))[0].source == "sea.txt"


async def test_hook_pygent_retriever(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        knowledge = h.kernel.service(KNOWLEDGE)
        await knowledge.ingest_text("Lighthouses guide ships.", source="sea.txt", collection="sea")
        await knowledge.ingest_text("Camels cross deserts.", source="sand.txt")
        sea = h.kernel.hook.pygent_retriever(collection="sea")
        assert isinstance(sea, Retriever)
        assert [p.source for p in await sea.retrieve("ships camels", mode="keyword")] == ["sea.txt"]
        default = h.kernel.service(RETRIEVER, collection=None)
        assert [p.source for p in await default.retrieve("ships camels", mode="keyword")] == ["sand.txt"]


async def test_the_retriever_takes_rag_k_and_mode(tmp_path: Path) -> None:
    async with harness(tmp_path, k=1, mode="keyword") as h:
        knowledge = h.kernel.service(KNOWLEDGE)
        await knowledge.ingest_text("Ships sail.", source="a.txt")
        await knowledge.ingest_text("Ships sink.", source="b.txt")
        found = await h.kernel.service(RETRIEVER, collection=None).retrieve("ships")
        searched = h.events_on("rag.searched")[-1]
        assert len(found) == 1 and (searched.k, searched.mode) == (1, "keyword")


async def test_search_knowledge_tool(tmp_path: Path) -> None:
    from pygent_plugins.rag.tool import MAX_OUTPUT

    async with harness(tmp_path) as h:
        tools = {t.spec.name: t for answer in h.kernel.hook.pygent_tools() for t in answer}
        tool = tools["search_knowledge"]
        assert (await tool({"query": "ships"})).is_error  # no collection yet: said, not raised
        knowledge = h.kernel.service(KNOWLEDGE)
        await knowledge.ingest_text("# Sea\n\nLighthouses guide ships. " + "waves " * 3000, source="sea.md",
                                    format="markdown")
        result = await tool({"query": "lighthouses ships", "k": 10})
        assert not result.is_error and result.output.startswith("[1] sea.md › Sea (chunk 0, chars 0-")
        assert len(result.output) <= MAX_OUTPUT
        assert (await tool({"query": ""})).is_error and (await tool({"query": "x", "k": 99})).is_error


async def test_ingest_job_runs_in_the_background(tmp_path: Path) -> None:
    docs = corpus(tmp_path)
    cls = doubles()
    async with PluginHarness({"doubles": cls, "rag": RagPlugin, "jobs": None},
                             {"kernel": {"data_dir": str(tmp_path / "data")},
                              "rag": {"ingest_roots": [str(docs)]}}) as h:
        from pygent_sdk.jobs import JOBS

        jobs = h.kernel.service(JOBS)
        job = await jobs.start("ingest", {"paths": [str(docs)], "collection": "bg"})
        done = await jobs.wait(job.id)
        assert done.state == "completed", done.error
        assert len(done.result["added"]) == 3 and done.result["collection"] == "bg"
        assert done.progress.done == done.progress.total == 4  # blank.md is read, then noted
        # a job reads only under [rag] ingest_roots: not a file outside, not through a symlink
        (docs / "link").symlink_to(tmp_path / "data")
        (docs / "escape.md").symlink_to(tmp_path / "secret.md")
        (tmp_path / "secret.md").write_text("# Secret\n\nnot for the index")
        job = await jobs.wait((await jobs.start("ingest", {"paths": [str(docs)], "collection": "bg"})).id)
        assert job.state == "completed" and not job.result["added"], job  # the symlink is not followed
        for outside in ("/etc/hostname", str(docs / "link"), str(docs / ".." / "data")):
            job = await jobs.wait((await jobs.start("ingest", {"paths": [outside]})).id)
            assert job.state == "failed" and "outside [rag] ingest_roots" in (job.error or ""), job


async def test_ingest_jobs_refuse_hidden_paths_and_the_kernel_data(tmp_path: Path) -> None:
    docs = corpus(tmp_path)
    async with PluginHarness({"doubles": doubles(), "rag": RagPlugin, "jobs": None},
                             {"kernel": {"data_dir": str(tmp_path / "data")},
                              "rag": {"ingest_roots": [str(tmp_path)]}}) as h:
        from pygent_sdk.jobs import JOBS

        jobs = h.kernel.service(JOBS)
        (tmp_path / "data" / "notes.md").write_text("# Notes\n\nkernel data")
        for refused in (tmp_path / "data", tmp_path / "data" / "notes.md", docs / ".hidden",
                        docs / ".hidden" / "secret.md"):
            job = await jobs.wait((await jobs.start("ingest", {"paths": [str(refused)]})).id)
            assert job.state == "failed" and "hidden, or in the kernel's data" in (job.error or ""), job
        job = await jobs.wait((await jobs.start("ingest", {"paths": [str(docs / "cats.txt")]})).id)
        assert job.state == "completed" and len(job.result["added"]) == 1, job


# Real parts: MiniLM (embeddings) + FAISS ------------------------------------------------------

HYBRID_CORPUS = {
    "codes-a.txt": "Valve codes in stock: ZX-4417-Q, XZ-4471-Q, ZX-4711-P, ZX-7441-Q, QX-4471-Z.",
    "codes-b.txt": "Replacement part numbers: ZX-4470-Q, ZX-4472-Q, ZY-4471-Q and ZX-4481-Q.",
    "codes-c.txt": "Catalogue identifiers ZQ-4471-X, XZ-1744-Q, ZX-4471-R were retired in 2019.",
    "pump.txt": "The irrigation pump was serviced on Monday under work order ZX-4471-Q.",
    "notebook.txt": "To keep a notebook computer running on its own power for more hours, dim the display, "
                    "close unused programs, switch off Bluetooth and Wi-Fi when idle, and avoid heat.",
    "paint.txt": "Durable paint for the kitchen: wall colours that survive years of cooking.",
    "hens.txt": "Cages for laying hens are banned in many countries; free-range farms are spreading.",
    "bags.txt": "My laptop bag: how I make room for a charger, a mouse and a notebook.",
    "bread.txt": "Sourdough bread needs a starter, flour, water and salt, and a long slow rise overnight.",
}


async def test_hybrid_finds_what_each_mode_alone_misses(tmp_path: Path) -> None:
    async with PluginHarness(["embeddings", "faiss", "rag", "models", "scripted"],
                             {"kernel": {"data_dir": str(tmp_path)}, "models": {"default": "scripted:echo"}}) as h:
        knowledge = h.kernel.service(KNOWLEDGE)
        for source, text in HYBRID_CORPUS.items():
            await knowledge.ingest_text(text, source=source)
        [row] = await knowledge.collections()
        assert (row["embedder"], row["store"], row["dimension"]) == ("st:minilm", "faiss", 384)

        async def sources(query: str, mode: str, k: int = 3) -> list[str]:
            return [p.source for p in await knowledge.retrieve(query, mode=mode, k=k)]

        identifier = "ZX-4471-Q"  # made up: only its exact form singles out pump.txt
        assert "pump.txt" not in await sources(identifier, "vector")
        assert (await sources(identifier, "keyword"))[0] == "pump.txt"
        assert "pump.txt" in await sources(identifier, "hybrid")
        paraphrase = "How can I make my laptop battery last longer?"  # no word in common
        assert (await sources(paraphrase, "vector"))[0] == "notebook.txt"
        assert "notebook.txt" not in await sources(paraphrase, "keyword", k=9)
        assert "notebook.txt" in await sources(paraphrase, "hybrid")

        answer = await knowledge.answer("What is the boiling point of mercury?")
        assert not answer.found and "Nothing relevant found" in answer.text
        assert h.calls_to("pygent_model") == []
        answer = await knowledge.answer(paraphrase, k=2)
        assert answer.found and [c.source for c in answer.citations] == ["bags.txt", "notebook.txt"]

        store = h.kernel.service(VECTOR_STORE, name="faiss")
        pump = await knowledge.ingest_text("The pump now has order ZX-9. " * 60, source="pump.txt")
        assert pump.chunks > 1 and await store.count("rag_default", {"document_id": pump.id}) == pump.chunks
        assert await store.count("rag_default") == len(HYBRID_CORPUS) - 1 + pump.chunks
        assert await knowledge.delete_document(pump.id)
        assert await store.count("rag_default") == len(HYBRID_CORPUS) - 1
        assert "pump.txt" not in await sources(identifier, "hybrid", k=9)


async def test_an_answer_stops_at_its_first_repeated_sentence() -> None:
    from pygent_plugins.rag.answer import generate
    from pygent_sdk.knowledge import Passage
    from pygent_sdk.testing import ScriptedChatModel

    looping = "Plugins are classes [1]. They declare hooks. Plugins are classes [1]. They declare hooks."
    model = ScriptedChatModel([looping])
    passage = Passage("d#0", "d", "guide.md", 0, 0, 20, "Plugins are classes.", 0.9, similarity=0.9)
    sent: list[str] = []

    async def on_token(text: str) -> None:
        sent.append(text)

    answer = await generate(model, "What are plugins?", [passage], max_chars=2000, max_tokens=100,
                            on_token=on_token)
    assert answer.text == "Plugins are classes [1]. They declare hooks."
    assert "".join(sent) == answer.text and answer.citations[0].cited
