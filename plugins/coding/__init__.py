"""coding: the agent type that writes Python and tests it in a sandbox."""

from __future__ import annotations

import re

from pygent_sdk import Plugin, hookimpl
from pygent_sdk.agents import AgentContext, AgentMatch, AgentType
from pygent_sdk.sandbox import SANDBOX, Sandbox

from .agent import CodingAgent, CodingConfig

_CODE = re.compile(r"\b(python|code|program|script|function|def |implement|algorithm|bug)\b", re.I)


class CodingPlugin(Plugin):
    """Registers the ``coding`` agent type: write, run in a sandbox, fix, retry."""

    requires = ("agents", "sandbox")

    def _sandbox(self) -> Sandbox:
        return self.context.service(SANDBOX)

    def _agent(self, context: AgentContext, config: CodingConfig) -> CodingAgent:
        return CodingAgent(context, config, self._sandbox)

    @hookimpl
    def pygent_agent_types(self) -> list[AgentType]:
        return [AgentType(
            "coding", "Writes Python, runs it in the sandbox (OS isolation, time, memory and "
            "output limits, no network), feeds errors back and retries; reports every attempt "
            "honestly.",
            self._agent, CodingConfig,
        )]

    @hookimpl
    def pygent_agent_for_message(self, message: str) -> AgentMatch | None:
        """A request to write or fix code fits the coding agent."""
        return AgentMatch("coding", 0.8) if _CODE.search(message) else None
