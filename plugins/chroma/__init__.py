"""chroma: the vector-store capability on an embedded chroma database (``PersistentClient``).

The store the original system used: point ``path`` at an existing chroma directory to keep its
collections. Other plugins reach it through ``context.service(VECTOR_STORE, name="chroma")``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field
from pygent_sdk import Health, Plugin, PluginConfig, hookimpl
from pygent_sdk.files import private_dir
from pygent_sdk.plugin import add_hookspecs_once
from pygent_sdk.vectors import VectorStore, VectorStoreHooks, own_store

if TYPE_CHECKING:
    from .store import ChromaStore


class ChromaConfig(PluginConfig):
    """Configuration of the ``[chroma]`` table."""

    path: str = Field(
        "", description=(
            "Directory of the chroma database (an existing one keeps its collections). "
            "Empty: chroma/ in the plugin's data directory."
        ),
    )


class ChromaPlugin(Plugin):
    """Vector collections in an embedded chroma database, offline, vectors always given."""

    Config = ChromaConfig
    provides = ("vector-store",)
    config: ChromaConfig
    store: ChromaStore | None = None

    @hookimpl
    def pygent_addhooks(self, pluginmanager: Any) -> None:
        add_hookspecs_once(pluginmanager, VectorStoreHooks)

    def database_path(self) -> Path:
        """The configured directory, or chroma/ under the data directory (created 0700)."""
        if self.config.path:
            return private_dir(Path(self.config.path).expanduser(), tighten=False)
        return private_dir(self.context.data_dir / "chroma")

    async def start(self) -> None:
        from .store import ChromaStore

        self.store = await ChromaStore.open(self.database_path())

    async def stop(self) -> None:
        self.store = None

    @hookimpl
    def pygent_vector_store(self, name: str | None) -> VectorStore | None:
        return own_store(self.store, name, self.context.name, self.context.plugins())

    @hookimpl
    async def pygent_health(self) -> Health:
        if self.store is None:
            return Health.down("not started")
        reason = await self.store.ping()
        if reason is not None:
            return Health.down(f"chroma at {self.store.path} does not answer: {reason}")
        return Health.ok(f"chroma at {self.store.path}")
