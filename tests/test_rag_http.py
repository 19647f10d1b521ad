"""The rag plugin's REST routes: search, indexes, documents (JSON and multipart), stats, OpenAPI."""

from __future__ import annotations

import threading

import pytest
from pygent_plugins.rag import RagPlugin

from .http_kit import served
from .rag_kit import doubles

pytestmark = pytest.mark.anyio


def rag_served():
    return served(extra={"doubles": doubles(), "rag": RagPlugin})


async def test_documents_search_indexes_stats_openapi() -> None:
    async with rag_served() as s, s.client("operator") as api:
        created = await api.post("/api/v1/search/indexes", json={"name": "notes"})
        assert created.status_code == 201, created.text
        assert created.json() == {**created.json(), "name": "notes", "embedder": "hash", "store": "memory",
                                  "dimension": 64, "documents": 0}
        same = await api.post("/api/v1/search/indexes", json={"name": "notes", "embedder": "hash", "store": "memory"})
        assert same.status_code == 201, same.text
        clash = await api.post("/api/v1/search/indexes", json={"name": "notes", "store": "spare"})
        assert clash.status_code == 409 and clash.headers["content-type"] == "application/problem+json"
        assert "bound to store 'memory', not 'spare'" in clash.json()["detail"]
        for body in ({"name": "other", "store": "nostore"}, {"name": "notes", "store": "nostore"}):
            missing = await api.post("/api/v1/search/indexes", json=body)
            assert missing.status_code == 400, missing.text
            assert "no vector store 'nostore' is running" in missing.json()["detail"]
        doc = await api.post("/api/v1/search/documents", json={
            "text": "# Boats\n\nSailboats use the wind.", "source": "boats.md", "format": "markdown",
            "metadata": {"topic": "sea"}, "collection": "notes"})
        assert doc.status_code == 201, doc.text
        doc_id = doc.json()["id"]
        assert doc.json()["chunks"] == 1 and doc.json()["metadata"] == {"topic": "sea"}
        upload = await api.post("/api/v1/search/documents", data={"collection": "notes"},
                                files={"file": ("trains.txt", b"Trains run on rails.", "text/plain")})
        assert upload.status_code == 201, upload.text
        assert upload.json()["source"] == "trains.txt"
        listed = await api.get("/api/v1/search/documents", params={"collection": "notes"})
        assert listed.status_code == 200 and sorted(d["source"] for d in listed.json()) == ["boats.md", "trains.txt"]
        assert (await api.get("/api/v1/search/documents", params={"collection": "nope"})).status_code == 404
        for route in ("semantic", "hybrid"):
            found = await api.post(f"/api/v1/search/{route}", json={"query": "sailboats wind", "k": 1,
                                                                     "collection": "notes"})
            assert found.status_code == 200, found.text
            [hit] = found.json()
            assert (hit["rank"], hit["source"], hit["heading"], hit["document_id"]) == (1, "boats.md", "Boats", doc_id)
            assert hit["text"] == "# Boats\n\nSailboats use the wind." and (hit["start"], hit["end"]) == (0, 32)
        filtered = await api.post("/api/v1/search/hybrid", json={"query": "rails wind", "collection": "notes",
                                                                  "filter": {"topic": "sea"}})
        assert [h["source"] for h in filtered.json()] == ["boats.md"]
        indexes = (await api.get("/api/v1/search/indexes")).json()
        assert [(i["name"], i["documents"], i["chunks"]) for i in indexes] == [("notes", 2, 2)]
        stats = (await api.get("/api/v1/search/stats")).json()
        assert stats["documents"] == 2 and stats["stores"]["memory"]["vectors"] == 2
        gone = await api.delete(f"/api/v1/search/documents/{doc_id}")
        assert gone.status_code == 200 and gone.json() == {"id": doc_id, "collection": "notes", "deleted": True}
        again = await api.delete(f"/api/v1/search/documents/{doc_id}")
        assert again.status_code == 404 and again.headers["content-type"] == "application/problem+json"
        assert (await api.get("/api/v1/search/stats")).json()["documents"] == 1
        spec = (await api.get("/schema/openapi.json")).json()
        paths = spec["paths"]
        for path, method in [("/api/v1/search/semantic", "post"), ("/api/v1/search/hybrid", "post"),
                             ("/api/v1/search/indexes", "get"), ("/api/v1/search/indexes", "post"),
                             ("/api/v1/search/documents", "post"), ("/api/v1/search/documents/{document_id}", "delete"),
                             ("/api/v1/search/stats", "get")]:
            assert method in paths[path], (path, method)
        body = paths["/api/v1/search/documents"]["post"]["requestBody"]["content"]
        assert set(body) == {"application/json", "multipart/form-data"}
        assert "413" in paths["/api/v1/search/documents"]["post"]["responses"]


async def test_bad_input_is_a_problem_detail() -> None:
    async with rag_served() as s, s.client("operator") as api:
        cases = [
            ("/api/v1/search/semantic", {"query": ""}, 400),
            ("/api/v1/search/hybrid", {"query": "x", "k": 0}, 400),
            ("/api/v1/search/hybrid", {"query": "x", "extra": 1}, 400),
            ("/api/v1/search/semantic", {"query": "x", "collection": "none-yet"}, 404),
            ("/api/v1/search/indexes", {"name": "../etc"}, 400),
            ("/api/v1/search/indexes", {"name": "ab-"}, 400),  # every store takes the names rag takes
            ("/api/v1/search/documents", {"text": "   ", "source": "blank.txt"}, 400),
            ("/api/v1/search/documents", {"text": "x", "source": "a", "format": "docx"}, 400),
            ("/api/v1/search/documents", {"text": "x", "source": "a", "metadata": {"source": "b"}}, 400),
        ]
        for path, body, status in cases:
            answer = await api.post(path, json=body)
            assert answer.status_code == status, (path, body, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
        binary = await api.post("/api/v1/search/documents", files={"file": ("x.txt", b"a\x00b", "text/plain")})
        assert binary.status_code == 400 and "binary content" in binary.json()["detail"]
        refused = await api.post("/api/v1/search/documents", files={"file": ("x.docx", b"PK", "application/zip")})
        assert refused.status_code == 400 and "x.docx: unsupported file type" in refused.json()["detail"]
        nofile = await api.post("/api/v1/search/documents", files={"other": ("x.txt", b"a", "text/plain")})
        assert nofile.status_code == 400
        for field in ("collection", "source"):
            twice = await api.post("/api/v1/search/documents", files={"file": ("x.txt", b"a", "text/plain"),
                                                                       field: ("y.txt", b"b", "text/plain")})
            assert twice.status_code == 400 and f'field "{field}" must be text' in twice.json()["detail"]
        form = await api.post("/api/v1/search/semantic", files={"file": ("x.txt", b"a", "text/plain")})
        assert form.status_code == 415  # only the documents route takes multipart
        assert (await api.delete("/api/v1/search/documents/nope")).status_code == 404
        rag = s.harness.plugin("rag")
        limit = int(rag.config.max_file_mb * 1_048_576)
        big = await api.post("/api/v1/search/documents", files={"file": ("big.txt", b"a " * (limit // 2 + 40_000))})
        assert big.status_code == 413
        viewer = s.client("viewer")
        async with viewer:
            assert (await viewer.post("/api/v1/search/indexes", json={"name": "v"})).status_code == 403


async def test_bodies_are_decoded_and_hashed_off_the_event_loop(monkeypatch) -> None:
    from pygent_plugins.rag import http, knowledge, loaders

    loop, threads = threading.current_thread(), []
    for module, name in ((http, "_decode"), (knowledge, "_extract"), (loaders, "decode")):
        def spy(*args: object, real=getattr(module, name)) -> object:
            threads.append(threading.current_thread())
            return real(*args)

        monkeypatch.setattr(module, name, spy)
    async with rag_served() as s, s.client("operator") as api:
        sent = await api.post("/api/v1/search/documents", json={"text": "Boats sail. " * 1000, "source": "b.txt"})
        upload = await api.post("/api/v1/search/documents", files={"file": ("t.txt", b"Trains run.", "text/plain")})
        assert sent.status_code == upload.status_code == 201, (sent.text, upload.text)
    assert len(threads) == 4 and loop not in threads
