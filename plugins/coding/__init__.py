"""coding: the agent type that writes Python and tests it in a sandbox."""

from __future__ import annotations

from pygent_sdk import Plugin, hookimpl
from pygent_sdk.agents import AgentType

from .agent import CodingAgent, CodingConfig


class CodingPlugin(Plugin):
    """Registers the ``coding`` agent type: write, run in a sandbox, fix, retry."""

    requires = ("agents",)

    @hookimpl
    def pygent_agent_types(self) -> list[AgentType]:
        return [AgentType(
            "coding", "Writes Python, runs it in a sandbox (time, memory, output limits, no "
            "network), feeds errors back and retries; reports every attempt honestly.",
            CodingAgent, CodingConfig,
        )]
