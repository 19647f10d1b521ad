"""The rag plugin's routes under ``/api/v1/search``: search, collections (indexes), documents, stats."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio
import msgspec
from litestar import Request, delete, get, post
from litestar.exceptions import HTTPException, NotFoundException
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.params import FromQuery, JSONBody, PathParameter
from pygent_sdk.knowledge import DocumentInfo, Passage, UnsupportedDocument

if TYPE_CHECKING:
    from . import RagPlugin
    from .knowledge import KnowledgeService

READ, WRITE, ADMIN = {"permission": "read"}, {"permission": "write"}, {"permission": "admin"}
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?$")]
DocumentId = Annotated[str, PathParameter(min_length=1, max_length=64, description="A document's id.")]
Scalar = str | int | float | bool | None


class SearchIn(msgspec.Struct, forbid_unknown_fields=True):
    query: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    k: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5
    collection: Name | None = None
    filter: dict[str, Scalar | list[Scalar]] | None = None
    """Chunk metadata that must match: a value means equal, a list means any of."""


class PassageOut(msgspec.Struct):
    rank: int
    score: float
    similarity: float | None
    source: str
    document_id: str
    chunk: int
    start: int
    end: int
    heading: str
    text: str


class IndexIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    embedder: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    store: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class IndexOut(msgspec.Struct):
    name: str
    embedder: str
    store: str
    dimension: int
    documents: int
    chunks: int
    created_at: float


class DocumentIn(msgspec.Struct, forbid_unknown_fields=True):
    text: Annotated[str, msgspec.Meta(min_length=1)]
    source: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    format: Literal["text", "markdown", "html"] = "text"
    metadata: dict[str, Scalar | list[Scalar]] = {}
    collection: Name | None = None


class DocumentOut(msgspec.Struct):
    id: str
    collection: str
    source: str
    chunks: int
    chars: int
    sha256: str
    ingested_at: float
    metadata: dict[str, Any]


class Deleted(msgspec.Struct):
    id: str
    collection: str
    deleted: bool


class StatsOut(msgspec.Struct):
    collections: list[IndexOut]
    documents: int
    chunks: int
    stores: dict[str, Any]


UPLOAD_FORMATS = {"text/plain": "text", "text/markdown": "markdown", "text/html": "html"}


def _passages(found: list[Passage]) -> list[PassageOut]:
    return [PassageOut(rank, p.score, p.similarity, p.source, p.document_id, p.chunk, p.start, p.end,
                       p.heading, p.text) for rank, p in enumerate(found, 1)]


def _document(d: DocumentInfo) -> DocumentOut:
    return DocumentOut(d.id, d.collection, d.source, d.chunks, d.chars, d.sha256, d.ingested_at, dict(d.metadata))


class UploadOperation(Operation):
    """Documents the two bodies ``POST /search/documents`` takes: JSON text or a file upload."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        upload = Schema(type="object", required=["file"], properties={
            "file": Schema(type="string", format="binary", description="A .txt, .md, .html or .pdf file."),  # type: ignore[arg-type]
            "collection": Schema(type="string", description="Collection (default: [rag] collection)."),  # type: ignore[arg-type]
            "source": Schema(type="string", description="Name to cite (default: the file name)."),  # type: ignore[arg-type]
        })
        text = Schema(type="object", required=["text", "source"], properties={
            "text": Schema(type="string", min_length=1, description="The document's text."),  # type: ignore[arg-type]
            "source": Schema(type="string", min_length=1, max_length=1000,  # type: ignore[arg-type]
                             description="Name to cite; a re-sent source replaces the old version."),
            "format": Schema(type="string", enum=["text", "markdown", "html"], default="text"),  # type: ignore[arg-type]
            "metadata": Schema(type="object", description="JSON scalars or lists, for filters."),  # type: ignore[arg-type]
            "collection": Schema(type="string", description="Collection (default: [rag] collection)."),  # type: ignore[arg-type]
        })
        self.request_body = RequestBody(required=True, content={
            "application/json": OpenAPIMediaType(schema=text),
            "multipart/form-data": OpenAPIMediaType(schema=upload),
        })


def routes(plugin: RagPlugin) -> list[Any]:
    """Litestar handlers over the plugin's knowledge service (looked up per request: the HTTP
    server may start before the rag plugin)."""
    max_bytes = int(plugin.config.max_file_mb * 1_048_576)
    service: KnowledgeService = _Lazy(plugin)  # type: ignore[assignment]

    async def search(data: SearchIn, mode: Literal["vector", "hybrid"]) -> list[PassageOut]:
        return _passages(await service.retrieve(data.query, k=data.k, mode=mode, collection=data.collection,
                                                filter=data.filter))

    @post("/search/semantic", summary="Passages nearest in meaning to a query (vector search)",
          status_code=200, opt=READ)
    async def semantic(data: JSONBody[SearchIn]) -> list[PassageOut]:
        return await search(data, "vector")

    @post("/search/hybrid", summary="Passages by vector and BM25 keyword search, fused by reciprocal rank",
          status_code=200, opt=READ)
    async def hybrid(data: JSONBody[SearchIn]) -> list[PassageOut]:
        return await search(data, "hybrid")

    @get("/search/indexes", summary="Knowledge collections: embedder, store, dimension, counts", opt=READ)
    async def list_indexes() -> list[IndexOut]:
        return [IndexOut(**c) for c in await service.collections()]

    @post("/search/indexes", summary="Create a knowledge collection bound to an embedder and a store",
          status_code=201, opt=WRITE)
    async def create_index(data: JSONBody[IndexIn]) -> IndexOut:
        from .knowledge import CollectionConflict

        try:
            await service.create_collection(data.name, embedder=data.embedder, store=data.store)
        except CollectionConflict as error:
            raise HTTPException(str(error), status_code=409) from None
        return next(IndexOut(**c) for c in await service.collections() if c["name"] == data.name)

    @post("/search/documents", status_code=201, opt={**WRITE, "multipart": True},
          request_max_body_size=max_bytes + 65536, operation_class=UploadOperation,
          summary="Add a document: JSON {text, source, format, metadata, collection} or a multipart "
                  "file upload (txt, md, html, pdf); a changed source replaces its old version")
    async def add_document(request: Request[Any, Any, Any]) -> DocumentOut:
        kind = (request.headers.get("content-type") or "").partition(";")[0].strip().lower()
        if kind == "multipart/form-data":
            return _document(await _upload(service, request, max_bytes))
        raw = await request.body()
        try:
            body, size = await anyio.to_thread.run_sync(_decode, raw)  # up to [rag] max_file_mb: not on the loop
        except msgspec.ValidationError as error:
            raise HTTPException(f"bad document: {error}", status_code=400) from None
        except msgspec.DecodeError as error:
            raise HTTPException(f"the body is not JSON: {error}", status_code=400) from None
        if size > max_bytes:
            raise HTTPException(f"document text over {plugin.config.max_file_mb:g} MB ([rag] max_file_mb)",
                                status_code=413)
        return _document(await service.ingest_text(body.text, source=body.source, collection=body.collection,
                                                   metadata=body.metadata, format=body.format))

    @get("/search/documents", summary="The documents of a knowledge collection (404 when unknown)", opt=READ)
    async def list_documents(collection: FromQuery[str | None] = None) -> list[DocumentOut]:
        await service.bound(collection)  # UnknownCollection (404) names the ones there are
        return [_document(d) for d in await service.documents(collection)]

    @delete("/search/documents/{document_id:str}", status_code=200, opt=WRITE,
            summary="Delete a document and its chunks (404 when no collection holds it)")
    async def delete_document(document_id: DocumentId, collection: FromQuery[str | None] = None) -> Deleted:
        name = collection or await service.document_collection(document_id)
        if not await service.delete_document(document_id, name):
            raise NotFoundException(f"no document {document_id!r} in knowledge collection {name!r}")
        return Deleted(document_id, name, True)

    @get("/search/stats", summary="Collections, documents, chunks and each vector store's figures", opt=READ)
    async def stats() -> StatsOut:
        figures = await service.stats()
        return StatsOut([IndexOut(**c) for c in figures["collections"]], figures["documents"],
                        figures["chunks"], figures["stores"])

    return [semantic, hybrid, list_indexes, create_index, add_document, list_documents, delete_document,
            stats]


def _decode(raw: bytes) -> tuple[DocumentIn, int]:
    """The JSON document and its text's size in UTF-8 bytes (blocking)."""
    body = msgspec.json.decode(raw, type=DocumentIn)
    return body, len(body.text.encode())


class _Lazy:
    """The started plugin's service, attribute by attribute."""

    def __init__(self, plugin: RagPlugin) -> None:
        self.plugin = plugin

    def __getattr__(self, name: str) -> Any:
        return getattr(self.plugin.started(), name)


async def _upload(service: KnowledgeService, request: Request[Any, Any, Any], max_bytes: int) -> DocumentInfo:
    """Ingest the file of a multipart upload (kept in memory: the body is already bounded)."""
    from pathlib import PurePath

    from .loaders import FORMATS, decode, pdf_text

    form = await request.form()
    upload = form.get("file")
    if upload is None or not hasattr(upload, "read"):
        raise HTTPException('a multipart upload needs its file in the field "file"', status_code=400)
    name = PurePath(upload.filename or "upload").name
    raw = await upload.read()
    if len(raw) > max_bytes:
        raise HTTPException(f"{name}: over {max_bytes / 1_048_576:g} MB ([rag] max_file_mb)", status_code=413)
    kind = FORMATS.get(PurePath(name).suffix.lower()) or UPLOAD_FORMATS.get(
        (upload.content_type or "").partition(";")[0].strip())
    if kind is None:
        raise UnsupportedDocument(f"{name}: unsupported file type; send .txt, .md, .html or .pdf")
    fields = {key: form.get(key) for key in ("source", "collection")}
    for key, value in fields.items():
        if value is not None and not isinstance(value, str):
            raise HTTPException(f'the multipart field "{key}" must be text, not a file', status_code=400)
    source = fields["source"] or name
    collection = fields["collection"] or None
    if kind == "pdf":
        text, kind = await anyio.to_thread.run_sync(pdf_text, raw, source), "text"
    else:
        text = await anyio.to_thread.run_sync(decode, raw, source)
    return await service.ingest_text(text, source=source, collection=collection, format=kind)
