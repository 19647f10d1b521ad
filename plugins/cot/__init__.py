"""cot: chain-of-thought with self-consistency (Wang et al., 2023). ``samples`` chains are sampled
concurrently, each reply's answer is extracted by the task (a generic ``Answer:`` line when none
is named), and the majority answer wins; the agreement, votes / samples, is the confidence (1 or
0 where the task's verifier proves or refutes the answer).

Tasks come from the ``pygent_reasoning_tasks`` hook (the ``tot`` plugin adds ``game24`` and
``open``); the chat model from ``CHAT_MODEL``. See docs/reasoning.md.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pygent_sdk import Health, Plugin, PluginConfig, hookimpl
from pygent_sdk.plugin import add_hookspecs_once
from pygent_sdk.reasoning import ChainOfThought, ReasoningHooks

__all__ = ["CotConfig", "CotPlugin"]


class CotConfig(PluginConfig):
    """Configuration of the ``[cot]`` table."""

    samples: int = Field(5, ge=1, le=64, description="Chains sampled per problem when a request names no number.")
    temperature: float = Field(0.7, ge=0, le=2, description="Sampling temperature of the chains (when a request names none).")
    max_tokens: int = Field(256, ge=16, le=4096, description="Longest reply of one chain, in tokens.")
    concurrency: int = Field(4, ge=1, le=64, description="Chains sampled at once.")
    model: str | None = Field(None, description="Chat model of the chains (None: the default model).")


class CotPlugin(Plugin):
    """Chain-of-thought with self-consistency: sample several chains, vote on their answers."""

    Config = CotConfig
    provides = ("cot",)
    uses = ("models", "tot")
    config: CotConfig

    def __init__(self, config: CotConfig, context: Any) -> None:
        super().__init__(config, context)
        from .chain import SelfConsistency

        self.service = SelfConsistency(context, config)

    @hookimpl
    def pygent_addhooks(self, pluginmanager: Any) -> None:
        add_hookspecs_once(pluginmanager, ReasoningHooks)

    @hookimpl
    def pygent_chain_of_thought(self) -> ChainOfThought | None:
        return self.service

    @hookimpl
    def pygent_health(self) -> Health:
        return Health.ok(f"{self.config.samples} samples at temperature {self.config.temperature}")
