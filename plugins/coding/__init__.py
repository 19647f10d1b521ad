"""coding: the agent type that writes Python and tests it in a sandbox."""

from __future__ import annotations

from pygent_sdk import Plugin, hookimpl
from pygent_sdk.agents import AgentContext, AgentType
from pygent_sdk.sandbox import SANDBOX, Sandbox

from .agent import CodingAgent, CodingConfig


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
            "coding", "Writes Python, runs it in the sandbox (OS isolation, time, memory and output "
            "limits, no network), feeds errors back and retries; reports every attempt honestly.",
            self._agent, CodingConfig,
        )]
