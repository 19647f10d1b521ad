"""LlamaCppModel: a GGUF model run in-process by llama-cpp-python, off the event loop."""

from __future__ import annotations

import asyncio
import functools
import json
import re
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
from pygent_sdk import BaseChatModel, ChatChunk, ChatMessage, ChatOptions, ModelProfile, Usage

_DONE = object()


class LlamaCppModel(BaseChatModel):
    """One GGUF file. Loaded on first use; at most ``concurrency`` generations run at once,
    each on its own llama.cpp context in a worker thread. Cancelling the stream stops generation
    at the next token."""

    def __init__(
        self, name: str, path: Path, *, n_ctx: int, n_threads: int | None, concurrency: int,
        seed: int,
    ) -> None:
        self.name = name
        self.path = path
        self.description = f"llama.cpp, {path.name}"
        # Tool calls go through the agents' JSON replies; a JSON schema becomes a grammar.
        self.profile = ModelProfile(context_length=n_ctx, tools=False, json_schema=True)
        self._settings = {"n_ctx": n_ctx, "n_threads": n_threads, "seed": seed, "verbose": False}
        self._slots = anyio.Semaphore(concurrency)
        self._idle: list[Any] = []
        self._contexts = 0
        self._load_lock = anyio.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the model has been loaded (the first request loads it)."""
        return self._contexts > 0

    async def _take(self) -> Any:
        """A free llama.cpp context; the caller holds a slot."""
        async with self._load_lock:
            if self._idle:
                return self._idle.pop()
            from llama_cpp import Llama

            llama = await anyio.to_thread.run_sync(
                lambda: Llama(model_path=str(self.path), **self._settings)
            )
            self._contexts += 1
            return llama

    def _request(self, options: ChatOptions, **prompt: Any) -> dict[str, Any]:
        """A streamed request of ``prompt`` (``messages=`` for chat, ``prompt=`` to complete)."""
        request: dict[str, Any] = {**prompt, "stream": True}
        if options.max_tokens is not None:
            request["max_tokens"] = options.max_tokens
        if options.temperature is not None:
            request["temperature"] = options.temperature
        if options.stop:
            request["stop"] = list(options.stop)
        if options.seed is not None:
            request["seed"] = options.seed
        if options.json_schema is not None:
            request["grammar"] = grammar(json.dumps(options.json_schema, sort_keys=False))
        return request

    def stream(
        self, messages: Sequence[ChatMessage], options: ChatOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        messages_in = [{"role": m.role, "content": m.content} for m in messages]
        return self._run(self._request(options or ChatOptions(), messages=messages_in))

    def complete(self, prompt: str, options: ChatOptions | None = None) -> AsyncIterator[ChatChunk]:
        """A plain completion of ``prompt``, without the chat template."""
        return self._run(self._request(options or ChatOptions(), prompt=prompt))

    async def _run(self, request: dict[str, Any]) -> AsyncIterator[ChatChunk]:
        """Run ``request`` on a free context in a worker thread, yielding its chunks."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()
        await self._slots.acquire()
        try:
            llama = await self._take()
        except BaseException:
            self._slots.release()
            raise

        def finished() -> None:
            self._idle.append(llama)
            self._slots.release()

        def hand_over(callback: Any, *args: Any) -> None:
            try:
                loop.call_soon_threadsafe(callback, *args)
            except RuntimeError:  # the loop closed under an abandoned stream: nobody to tell
                cancelled.set()

        def generate() -> None:
            try:
                for item in _generate(llama, request, cancelled):
                    hand_over(queue.put_nowait, item)
            except BaseException as error:  # handed to the consumer, raised there
                hand_over(queue.put_nowait, error)
            finally:
                hand_over(queue.put_nowait, _DONE)
                hand_over(finished)

        threading.Thread(target=generate, name=f"llamacpp-{self.name}", daemon=True).start()
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            cancelled.set()


_GBNF_ESCAPE = re.compile(r"\\(.)")
_GBNF_ESCAPES = set('xuUtrn\\"[]')


@functools.lru_cache(maxsize=64)
def grammar(schema: str) -> Any:
    """A ``LlamaGrammar`` for the JSON ``schema``, by llama.cpp's converter.

    The converter copies regex escapes such as ``\\.`` from a ``pattern`` into the grammar,
    where llama.cpp does not know them and crashes the process: escaped punctuation is written
    as ``\\xHH`` here, and a class escape such as ``\\d`` raises a ``ValueError`` that names it.
    """
    from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

    try:
        gbnf = json_schema_to_gbnf(schema)
    except (AssertionError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"llama.cpp cannot turn this JSON schema into a grammar: {error}") from None

    def unescape(match: re.Match[str]) -> str:
        char = match.group(1)
        if char in _GBNF_ESCAPES:
            return match.group(0)
        if char.isalnum():
            raise ValueError(f"a JSON-schema pattern uses \\{char}, which llama.cpp's grammar "
                             "does not support; write a class such as [0-9] instead")
        return f"\\x{ord(char):02X}" if ord(char) < 256 else f"\\u{ord(char):04X}"

    return LlamaGrammar.from_string(_GBNF_ESCAPE.sub(unescape, gbnf), verbose=False)


def _generate(llama: Any, request: dict[str, Any], cancelled: threading.Event) -> Iterator[ChatChunk]:
    """Run one streamed completion in this thread; stop early when ``cancelled`` is set."""
    pieces: list[str] = []
    finish = "stop"
    chat = "messages" in request
    chunks = llama.create_chat_completion(**request) if chat else llama.create_completion(**request)
    try:
        for chunk in chunks:
            if cancelled.is_set():
                finish = "cancelled"
                break
            choice = chunk["choices"][0]
            text = (choice["delta"].get("content") if chat else choice.get("text")) or ""
            if text:
                pieces.append(text)
                yield ChatChunk(text=text)
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
    finally:
        chunks.close()
    text = "".join(pieces)
    completion = len(llama.tokenize(text.encode(), add_bos=False, special=True)) if text else 0
    prompt = max(llama.n_tokens - completion, 0)
    yield ChatChunk(finish_reason=finish, usage=Usage(prompt, completion))
