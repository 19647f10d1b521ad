"""reasoning: the unified reasoning pipeline (modes tot_only, rag_only, s3_rag, tot_enhanced_rag,
tot_s3_rag and adaptive), the ``reasoning`` agent type, reasoning sessions (``reasoning`` jobs,
stored, so results survive a restart), the ``/api/v1/reasoning/...`` routes, the WebSocket frames
``start_reasoning``/``stop_reasoning`` and the ``pygent reason`` command. See docs/reasoning.md.

Tree-of-Thought comes from the ``TREE_SEARCH`` service (the ``tot`` plugin), chain-of-thought from
``CHAIN_OF_THOUGHT`` (``cot``) and retrieval from ``RETRIEVER`` (``rag``), each looked up when
used: this plugin imports none of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field
from pygent_sdk import Health, Plugin, PluginConfig, hookimpl
from pygent_sdk.plugin import add_hookspecs_once
from pygent_sdk.reasoning import Mode, ReasoningHooks, ReasoningPipeline

if TYPE_CHECKING:
    from pygent_sdk.agents import AgentMatch, AgentType
    from pygent_sdk.http import WsHandler
    from pygent_sdk.jobs import JobKind

__all__ = ["ReasoningConfig", "ReasoningPlugin"]


class ReasoningConfig(PluginConfig):
    """Configuration of the ``[reasoning]`` table."""

    mode: Mode = Field("adaptive", description="Mode used when a request names none.")
    collection: str | None = Field(None, description="Collection the retrieving modes search (unset: [rag] collection).")
    k: int = Field(4, ge=1, le=50, description="Passages retrieved per search.")
    s3_rounds: int = Field(3, ge=1, le=10, description="Most search rounds of the s3 modes.")
    cache_size: int = Field(128, ge=0, le=100_000, description="Results kept in the result cache (0: no cache).")
    model: str | None = Field(None, description="Chat model of the pipeline's own calls (None: the default).")
    min_similarity: float = Field(0.3, ge=-1, le=1, description="Retrieved passages whose cosine similarity to the query is lower do not count.")
    max_tokens: int = Field(256, ge=16, le=4096, description="Longest answer the pipeline writes from passages (s3 queries and judgements are shorter).")
    context_chars: int = Field(1500, ge=200, le=100_000, description="Characters of passages a prompt holds (ToT prompts carry them at every node).")


class ReasoningPlugin(Plugin):
    """The unified reasoning pipeline, the reasoning agent, sessions, routes and ``pygent reason``."""

    Config = ReasoningConfig
    provides = ("reasoning",)
    requires = ("tot",)
    uses = ("cot", "rag", "jobs", "agents", "http")
    config: ReasoningConfig

    def __init__(self, config: ReasoningConfig, context: Any) -> None:
        super().__init__(config, context)
        from .pipeline import Pipeline
        from .sessions import Sessions

        self.pipeline = Pipeline(context, config)
        self.sessions = Sessions(context, self.pipeline)

    @hookimpl
    def pygent_addhooks(self, pluginmanager: Any) -> None:
        add_hookspecs_once(pluginmanager, ReasoningHooks)

    @hookimpl
    def pygent_reasoning(self) -> ReasoningPipeline | None:
        return self.pipeline

    @hookimpl(optionalhook=True)
    def pygent_agent_types(self) -> list[AgentType]:
        from .agent import agent_type

        return [agent_type(self.pipeline)]

    @hookimpl(optionalhook=True)
    def pygent_agent_for_message(self, message: str) -> AgentMatch | None:
        from .agent import match

        return match(message)

    @hookimpl(optionalhook=True)
    def pygent_job_kinds(self) -> list[JobKind]:
        return [self.sessions.kind()]

    @hookimpl(optionalhook=True)
    def pygent_http_routes(self) -> list[Any]:
        from .http import routes

        return routes(self.sessions)

    @hookimpl(optionalhook=True)
    def pygent_ws_handlers(self) -> dict[str, WsHandler]:
        from .ws import handlers

        return handlers(self.sessions)

    @hookimpl
    def pygent_health(self) -> Health:
        return Health.ok(f"default mode {self.config.mode}")

    @staticmethod
    @hookimpl
    def pygent_cli_commands(cli: Any) -> None:
        from .cli import register

        register(cli)
