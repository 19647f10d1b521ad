"""general: the conversational agent type, with memory and a tool-calling loop."""

from __future__ import annotations

from pygent_sdk import Plugin, hookimpl
from pygent_sdk.agents import AgentMatch, AgentType

from .agent import GeneralAgent, GeneralConfig


class GeneralPlugin(Plugin):
    """Registers the ``general`` agent type: conversation, memory, tools in a ReAct loop."""

    requires = ("agents",)

    @hookimpl
    def pygent_agent_types(self) -> list[AgentType]:
        return [AgentType(
            "general", "Conversational agent with memory and tools (ReAct loop, JSON actions).",
            GeneralAgent, GeneralConfig,
        )]

    @hookimpl
    def pygent_agent_for_message(self, message: str) -> AgentMatch:
        """Any message suits a conversation, a little: the catch-all other types outbid."""
        return AgentMatch("general", 0.1)
