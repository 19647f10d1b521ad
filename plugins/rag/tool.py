"""The ``search_knowledge`` tool: agents search the ingested documents."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pygent_sdk import PygentError, ToolResult, ToolSpec

if TYPE_CHECKING:
    from . import RagPlugin

MAX_OUTPUT = 6000
"""Most characters the tool returns (passages are cut to fit)."""
PASSAGE_CHARS = 1200
"""Most characters of one passage's text in the output."""


class SearchKnowledge:
    """Finds passages in the knowledge collections; the output lists them numbered, with source
    and heading, so the agent can cite them."""

    spec = ToolSpec(
        "search_knowledge",
        "Search the ingested documents (the knowledge base) and return the most relevant passages, "
        "numbered, with their source file and section. Use it for questions about those documents.",
        {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to look for, in words."},
                "k": {"type": "integer", "minimum": 1, "maximum": 10, "description": "Passages (default 5)."},
                "collection": {"type": "string", "description": "A collection name (default: the default one)."},
            },
            "required": ["query"],
        },
    )

    def __init__(self, plugin: RagPlugin) -> None:
        self.plugin = plugin

    async def __call__(self, arguments: Mapping[str, Any]) -> ToolResult:
        service = self.plugin.service
        if service is None:
            return ToolResult("the knowledge base is not running (the rag plugin has not started)", is_error=True)
        query = arguments.get("query")
        k = arguments.get("k", 5)
        collection = arguments.get("collection") or None
        if not isinstance(query, str) or not query.strip():
            return ToolResult('give "query": the words to search for', is_error=True)
        if not isinstance(k, int) or not 1 <= k <= 10:
            return ToolResult('"k" must be an integer from 1 to 10', is_error=True)
        if collection is not None and not isinstance(collection, str):
            return ToolResult('"collection" must be a collection name', is_error=True)
        try:
            passages = await service.retrieve(query[:1000], k=k, collection=collection)
        except PygentError as error:
            return ToolResult(str(error), is_error=True)
        if not passages:
            return ToolResult(f"No passage matches {query!r}.")
        blocks: list[str] = []
        used = 0
        for number, p in enumerate(passages, 1):
            text = " ".join(p.text.split())
            if len(text) > PASSAGE_CHARS:
                text = text[:PASSAGE_CHARS] + " …"
            where = p.source + (f" › {p.heading}" if p.heading else "")
            block = f"[{number}] {where} (chunk {p.chunk}, chars {p.start}-{p.end})\n{text}"
            if used + len(block) > MAX_OUTPUT:
                break
            blocks.append(block)
            used += len(block) + 2
        return ToolResult("\n\n".join(blocks))
