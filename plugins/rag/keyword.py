"""Keyword search: a BM25 index (``bm25s``) per collection, persisted under the data directory.

bm25s indexes are static, so an index is rebuilt from the catalog's chunks whenever the
collection's revision has moved on, lazily, before the next keyword search; the rebuilt index is
saved (to a new directory swapped in place) with the revision it reflects, and reloaded from disk
after a restart when still current. One rebuild per collection runs at a time, in a worker
thread; searches meanwhile use the collection's previous index (stale but available), and only
a collection with no index yet waits for it, on an anyio lock (no thread is held waiting).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Collection
from pathlib import Path
from typing import Any

import anyio
from pygent_sdk.files import private_dir, write_private

from .catalog import Catalog

def _bm25s() -> Any:
    """The bm25s module, its logger quieted (bm25s sets it to DEBUG, which reached the CLI)."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


_WORD = re.compile(r"[^\W_]+")
_IDENTIFIER = re.compile(r"[^\W_]+(?:[-_.:/][^\W_]+)+")
STOPWORDS = frozenset(
    "a an and are as at be but by can could do does for from had has have how i if in into is it "
    "its me my of on or our should so such than that the their them then there these they this to "
    "us was we were what when where which who why will with would you your".split()
)


def _consonant(word: str, i: int) -> bool:
    if word[i] in "aeiou":
        return False
    if word[i] == "y":
        return i == 0 or not _consonant(word, i - 1)
    return True


def _measure(stem: str) -> int:
    """Porter's m: the number of vowel-consonant sequences in ``stem``."""
    pattern = "".join("c" if _consonant(stem, i) else "v" for i in range(len(stem)))
    return pattern.count("vc")


def _has_vowel(stem: str) -> bool:
    return any(not _consonant(stem, i) for i in range(len(stem)))


def _cvc(word: str) -> bool:
    """Ends consonant-vowel-consonant, the last not w, x or y (``hop``, not ``snow``)."""
    return (len(word) >= 3 and _consonant(word, len(word) - 3) and not _consonant(word, len(word) - 2)
            and _consonant(word, len(word) - 1) and word[-1] not in "wxy")


def _stem(word: str) -> str:
    """Step 1 of the Porter stemmer (plurals, -ed, -ing, -y): ``plugins`` -> ``plugin``,
    ``writing`` -> ``write``; enough to match word forms without a stemming library."""
    if len(word) <= 2 or not word.isalpha():
        return word
    if word.endswith("sses") or word.endswith("ies"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    if word.endswith("eed"):
        if _measure(word[:-3]) > 0:
            word = word[:-1]
    else:
        for suffix in ("ed", "ing"):
            if word.endswith(suffix) and _has_vowel(word[: -len(suffix)]):
                word = word[: -len(suffix)]
                if word.endswith(("at", "bl", "iz")):
                    word += "e"
                elif len(word) > 1 and word[-1] == word[-2] and _consonant(word, len(word) - 1) and word[-1] not in "lsz":
                    word = word[:-1]
                elif _measure(word) == 1 and _cvc(word):
                    word += "e"
                break
    if word.endswith("y") and _has_vowel(word[:-1]):
        word = word[:-1] + "i"
    return word


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens, stop words dropped, lightly stemmed; then each compound
    identifier whole (``zx-4471-q``, ``os.path.join``, ``pygent_http_routes``), so that an exact
    identifier outscores texts that merely share its parts."""
    text = text.lower()
    words = [_stem(w) for w in _WORD.findall(text) if w not in STOPWORDS]
    return words + _IDENTIFIER.findall(text)


class _Index:
    def __init__(self, revision: int, ids: list[str], bm25: Any) -> None:
        self.revision, self.ids, self.bm25 = revision, ids, bm25


class KeywordIndex:
    """BM25 search over each collection's chunks, rebuilt when the catalog changes."""

    def __init__(self, catalog: Catalog, directory: Path) -> None:
        self.catalog = catalog
        self.directory = directory
        self._indexes: dict[str, _Index] = {}
        self._locks: dict[str, anyio.Lock] = {}

    async def search(self, collection: str, query: str, k: int,
                     documents: Collection[str] | None = None) -> list[tuple[str, float]]:
        """The ``k`` best ``(chunk id, BM25 score)`` pairs, scores > 0 only, restricted to the
        chunks of ``documents`` (ids) when given."""
        index = await self._current(collection)
        if index is None or not index.ids:
            return []
        return await anyio.to_thread.run_sync(_top, index, query, k, documents)

    async def forget(self, collection: str) -> None:
        """Drop a collection's index (memory and disk)."""
        async with self._lock(collection):
            self._indexes.pop(collection, None)
            await anyio.to_thread.run_sync(shutil.rmtree, self._path(collection), True)

    def _lock(self, collection: str) -> anyio.Lock:
        return self._locks.setdefault(collection, anyio.Lock())

    def _path(self, collection: str) -> Path:
        return self.directory / collection

    async def _current(self, collection: str) -> _Index | None:
        """The collection's index: the current one, the previous one while a rebuild runs, or
        (when there is none) the one built now."""
        revision = await anyio.to_thread.run_sync(self.catalog.revision, collection)
        if revision < 0:
            return None
        index = self._indexes.get(collection)
        if index is not None and index.revision == revision:
            return index
        lock = self._lock(collection)
        if index is not None and lock.locked():
            return index  # being rebuilt: answer from the previous revision meanwhile
        async with lock:
            index = self._indexes.get(collection)
            if index is None or index.revision < revision:
                index = await anyio.to_thread.run_sync(self._load_or_build, collection, revision)
                self._indexes[collection] = index
            return index

    def _load_or_build(self, collection: str, revision: int) -> _Index:
        return self._load(collection, revision) or self._build(collection)
    def _load(self, collection: str, revision: int) -> _Index | None:
        bm25s = _bm25s()

        path = self._path(collection)
        try:
            meta = json.loads((path / "rag.json").read_text())
            if meta["revision"] != revision:
                return None
            bm25 = bm25s.BM25.load(str(path), show_progress=False) if meta["ids"] else None
            return _Index(revision, meta["ids"], bm25)
        except (OSError, ValueError, KeyError):
            return None

    def _build(self, collection: str) -> _Index:
        bm25s = _bm25s()

        revision, ids, texts = self.catalog.corpus(collection)
        bm25 = None
        if ids:
            bm25 = bm25s.BM25()
            bm25.index([tokenize(t) for t in texts], show_progress=False)
        index = _Index(revision, ids, bm25)
        if revision >= 0:  # not dropped meanwhile
            self._save(collection, index)
        return index

    def _save(self, collection: str, index: _Index) -> None:
        """Write the index to a fresh directory, then swap it in (a crash leaves one of the two)."""
        path = self._path(collection)
        fresh = path.with_name(f".{collection}.new")
        shutil.rmtree(fresh, ignore_errors=True)
        private_dir(fresh)
        if index.bm25 is not None:
            index.bm25.save(str(fresh), show_progress=False)
        write_private(fresh / "rag.json", json.dumps({"revision": index.revision, "ids": index.ids}))
        old = path.with_name(f".{collection}.old")
        shutil.rmtree(old, ignore_errors=True)
        if path.exists():
            os.replace(path, old)
        os.replace(fresh, path)
        shutil.rmtree(old, ignore_errors=True)


def _top(index: _Index, query: str, k: int, documents: Collection[str] | None) -> list[tuple[str, float]]:
    """Score ``query`` against ``index`` (blocking)."""
    import numpy as np

    terms = tokenize(query)
    if not terms:
        return []
    scores = index.bm25.get_scores(terms)
    if documents is not None:
        mask = np.fromiter((i.rpartition(":")[0] in documents for i in index.ids), bool, len(index.ids))
        scores = np.where(mask, scores, 0.0)
    top = np.argsort(-scores, kind="stable")[:k]
    return [(index.ids[i], float(scores[i])) for i in top if scores[i] > 0]
