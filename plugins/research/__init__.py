"""research: the ``search`` and ``research`` agent types over the knowledge base, and the research
workflow (``research-analysis`` jobs, ``/api/v1/workflows/...``).

The agents retrieve through the ``RETRIEVER`` service (the ``rag`` plugin answers), looked up at
each run; they never import the plugin that answers it.
"""

from __future__ import annotations

import re
from typing import Any

from pygent_sdk import Plugin, PluginConfig, PluginContext, hookimpl
from pygent_sdk.agents import AgentContext, AgentMatch, AgentType
from pygent_sdk.jobs import JOBS, JobKind
from pygent_sdk.knowledge import RETRIEVER, Retriever

from .research import ResearchAgent, ResearchConfig
from .search import SearchAgent, SearchConfig
from .workflow import Workflows

_RESEARCH = re.compile(r"\b(research|report on|write a report|investigate|literature|survey)\b", re.I)
_SEARCH = re.compile(
    r"\b(according to (the )?(docs|documentation|documents|manual)|in (the|our|my) "
    r"(docs|documentation|documents|files|notes|knowledge base)|search|find in|look up|"
    r"documentation|the docs)\b", re.I,
)


class ResearchPlugin(Plugin):
    """Registers the ``search`` and ``research`` agent types and the research workflow."""

    requires = ("agents", "rag")
    uses = ("jobs",)

    def __init__(self, config: PluginConfig, context: PluginContext) -> None:
        super().__init__(config, context)
        self.workflows = Workflows(context)

    def _retriever(self) -> Retriever:
        return self.context.service(RETRIEVER, collection=None)

    def _search(self, context: AgentContext, config: SearchConfig) -> SearchAgent:
        return SearchAgent(context, config, self._retriever)

    def _research(self, context: AgentContext, config: ResearchConfig) -> ResearchAgent:
        return ResearchAgent(context, config, self._retriever)

    @hookimpl
    def pygent_agent_types(self) -> list[AgentType]:
        return [
            AgentType("search", "Answers from the knowledge base with numbered citations, or says "
                                "the documents hold no answer.", self._search, SearchConfig),
            AgentType("research", "Plans sub-questions, searches the knowledge base for each and "
                                  "writes a report with a reference list.", self._research,
                      ResearchConfig),
        ]

    @hookimpl
    def pygent_agent_for_message(self, message: str) -> AgentMatch | None:
        """Research requests fit ``research``, questions about the documents ``search``; both
        modestly, below ``coding``'s 0.8, above ``general``'s catch-all 0.1."""
        if _RESEARCH.search(message):
            return AgentMatch("research", 0.6)
        if _SEARCH.search(message):
            return AgentMatch("search", 0.5)
        return None

    @hookimpl(optionalhook=True)
    def pygent_job_kinds(self) -> list[JobKind]:
        return [self.workflows.kind()]

    @hookimpl(optionalhook=True)
    def pygent_http_routes(self) -> list[Any]:
        jobs = self.context.optional_service(JOBS)
        if jobs is None:  # the workflows run as jobs: without the jobs plugin, no routes
            self.context.log.info("no jobs plugin: the /workflows routes are not served")
            return []
        from .http import routes

        return routes(jobs, self.workflows)
