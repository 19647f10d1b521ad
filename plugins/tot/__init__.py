"""tot: Tree-of-Thought search (Yao et al., 2023) as the ``TREE_SEARCH`` service.

Generators ``propose`` and ``sample``, evaluators ``value`` and ``vote``, searches ``bfs`` and
``dfs``, a verifier that ends a search at once, a value cache, token/time/node budgets and
cancellation; every node is published as a ``tot.*`` event. Tasks come from the
``pygent_reasoning_tasks`` hook this plugin declares; it contributes ``game24`` and ``open``.
See docs/reasoning.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field
from pygent_sdk import ChatModel, Health, Plugin, hookimpl
from pygent_sdk.plugin import PluginContext, add_hookspecs_once
from pygent_sdk.reasoning import ReasoningHooks, ReasoningTask, TreeSearch, TreeSettings

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["TotConfig", "TotPlugin"]


class TotConfig(TreeSettings):
    """Configuration of the ``[tot]`` table: the defaults of every Tree-of-Thought search (a
    request or an agent's config overrides them)."""

    oracle: bool = Field(True, description="Offer the chat models oracle:game24 (every legal step, an "
                         "exact evaluator: a search always solves) and oracle:game24-noisy (8 random "
                         "steps, an evaluator wrong 20% of the time: the benchmark's setting), checkable "
                         "Game of 24 stand-ins with no language model (for benchmarks and demos).")


class TotPlugin(Plugin):
    """Tree-of-Thought search over the thoughts of a chat model, with the game24 and open tasks."""

    Config = TotConfig
    provides = ("tot",)
    uses = ("models",)
    config: TotConfig

    def __init__(self, config: TotConfig, context: PluginContext) -> None:
        super().__init__(config, context)
        from .engine import Engine

        self.engine: Engine = Engine(context, TreeSettings(**config.model_dump(exclude={"oracle"})))
        self._oracles: list[ChatModel] | None = None

    @hookimpl
    def pygent_addhooks(self, pluginmanager: Any) -> None:
        add_hookspecs_once(pluginmanager, ReasoningHooks)

    @hookimpl
    def pygent_reasoning_tasks(self) -> list[ReasoningTask]:
        from .tasks.game24 import Game24
        from .tasks.open import OpenTask

        return [Game24(), OpenTask()]

    @hookimpl
    def pygent_tree_search(self) -> TreeSearch | None:
        return self.engine

    @hookimpl(optionalhook=True)
    def pygent_chat_models(self) -> list[ChatModel]:
        if not self.config.oracle:
            return []
        if self._oracles is None:
            from .oracle import offered

            self._oracles = list(offered())
        return list(self._oracles)

    @hookimpl
    def pygent_health(self) -> Health:
        names = ", ".join(sorted(self.engine.tasks()))
        c = self.config
        return Health.ok(f"tasks {names}; {c.search} b={c.breadth} {c.generator}/{c.evaluator}")
