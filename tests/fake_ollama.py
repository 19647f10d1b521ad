"""A local HTTP server speaking the documented Ollama API shapes (github.com/ollama/ollama,
docs/api.md): /api/chat, /api/generate, /api/embed, /api/tags, /api/pull, /api/delete,
/api/show, /api/version. Streams newline-delimited JSON like Ollama does."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

STAMP = "2026-11-21T10:00:00.000000Z"


class FakeOllama:
    """State of the fake: installed models and the requests it saw."""

    def __init__(self) -> None:
        self.models = {"llama3.2:latest": 2_019_393_189}
        self.trained = {"llama3.2:latest": 131_072, "qwen3": 2048}
        """Context length each model was trained on, as /api/show reports it."""
        self.requests: list[dict[str, Any]] = []
        self.embedding_models = {"nomic-embed-text": 48}
        """Embedding models and their vector size: /api/embed hashes each word into a bucket,
        so texts sharing words are close (unnormalized, as Ollama may send)."""

    def _ndjson(self, parts: list[dict[str, Any]]) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for part in parts:
                yield (json.dumps(part) + "\n").encode()

        return StreamingResponse(body(), media_type="application/x-ndjson")

    def _missing(self, name: str) -> JSONResponse:
        return JSONResponse({"error": f"model '{name}' not found"}, status_code=404)

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        name = body["model"]
        if name not in self.models and f"{name}:latest" not in self.models:
            return self._missing(name)
        last = body["messages"][-1]["content"]
        if body.get("tools"):
            tool = body["tools"][0]["function"]["name"]
            message = {"role": "assistant", "content": "",
                       "tool_calls": [{"function": {"name": tool, "arguments": {"expression": "17*23"}}}]}
            return self._ndjson([{"model": name, "created_at": STAMP, "message": message,
                                  "done": True, "done_reason": "stop", "prompt_eval_count": 20,
                                  "eval_count": 5}])
        words = f"You said: {last}".split(" ")
        parts = [{"model": name, "created_at": STAMP, "done": False,
                  "message": {"role": "assistant", "content": w + (" " if i < len(words) - 1 else "")}}
                 for i, w in enumerate(words)]
        parts.append({"model": name, "created_at": STAMP, "message": {"role": "assistant", "content": ""},
                      "done": True, "done_reason": "stop", "total_duration": 1000,
                      "prompt_eval_count": 11, "eval_count": len(words)})
        return self._ndjson(parts)

    async def generate(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        parts = [{"model": body["model"], "created_at": STAMP, "response": c, "done": False}
                 for c in ("Once ", "upon ", "a time")]
        parts.append({"model": body["model"], "created_at": STAMP, "response": "", "done": True,
                      "done_reason": "length", "prompt_eval_count": 4, "eval_count": 3})
        return self._ndjson(parts)

    async def embed(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        name = body["model"]
        size = self.embedding_models.get(name.removesuffix(":latest"))
        if size is None:
            return self._missing(name)
        texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
        rows = []
        for text in texts:
            row = [0.0] * size
            for word in re.findall(r"\w+", text.lower()):
                row[int(hashlib.sha256(word.encode()).hexdigest(), 16) % size] += 3.0
            rows.append(row)
        return JSONResponse({"model": name, "embeddings": rows, "total_duration": 1000,
                             "load_duration": 10, "prompt_eval_count": len(texts)})

    async def tags(self, request: Request) -> Response:
        return JSONResponse({"models": [
            {"name": n, "model": n, "modified_at": STAMP, "size": size, "digest": "sha256:abc",
             "details": {"format": "gguf", "family": "llama", "parameter_size": "3.2B",
                         "quantization_level": "Q4_K_M"}}
            for n, size in self.models.items()
        ]})

    async def pull(self, request: Request) -> Response:
        body = await request.json()
        name = body["model"]
        self.models[name if ":" in name else f"{name}:latest"] = 1000
        return self._ndjson([
            {"status": "pulling manifest"},
            *({"status": "pulling abc", "digest": "sha256:abc", "total": 1000, "completed": c}
              for c in (0, 500, 1000)),
            {"status": "verifying sha256 digest"}, {"status": "success"},
        ])

    async def delete(self, request: Request) -> Response:
        name = (await request.json())["model"]
        if self.models.pop(name, None) is None:
            return self._missing(name)
        return Response(status_code=200)

    async def show(self, request: Request) -> Response:
        name = (await request.json())["model"]
        if name not in self.models and f"{name}:latest" not in self.models:
            return self._missing(name)
        return JSONResponse({
            "modelfile": "FROM llama3.2", "parameters": "stop <|eot_id|>", "template": "{{ .Prompt }}",
            "details": {"format": "gguf", "family": "llama", "parameter_size": "3.2B",
                        "quantization_level": "Q4_K_M"},
            "model_info": {"general.architecture": "llama",
                           "llama.context_length": self.trained.get(name, 8192)},
            "capabilities": ["completion", "tools"] if name.startswith("llama") else ["completion"],
            "modified_at": STAMP,
        })

    async def version(self, request: Request) -> Response:
        return JSONResponse({"version": "0.12.0"})

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/api/chat", self.chat, methods=["POST"]),
            Route("/api/generate", self.generate, methods=["POST"]),
            Route("/api/embed", self.embed, methods=["POST"]),
            Route("/api/tags", self.tags),
            Route("/api/pull", self.pull, methods=["POST"]),
            Route("/api/delete", self.delete, methods=["DELETE"]),
            Route("/api/show", self.show, methods=["POST"]),
            Route("/api/version", self.version),
        ])


@contextmanager
def serve(app: Any, port: int) -> Iterator[str]:
    """Run ``app`` with uvicorn in a thread on 127.0.0.1:``port``; yield its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the fake server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)
