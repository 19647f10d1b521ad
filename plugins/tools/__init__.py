"""tools: safe built-in tools for agents: ``calculator`` and ``current_time``."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field
from pygent_sdk import Plugin, PluginConfig, Tool, ToolResult, ToolSpec, hookimpl

from .calculator import Calculator, evaluate, format_number

__all__ = ["Calculator", "CurrentTime", "ToolsConfig", "ToolsPlugin", "evaluate", "format_number"]


class CurrentTime:
    """Tells the current date and time."""

    spec = ToolSpec(
        "current_time", "The current date and time, in a time zone such as Europe/Paris (default UTC).",
        {"type": "object", "properties": {"timezone": {"type": "string"}}},
    )

    async def __call__(self, arguments: Mapping[str, Any]) -> ToolResult:
        zone = str(arguments.get("timezone") or "UTC").strip()
        try:
            now = datetime.datetime.now(ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError):
            return ToolResult(f"unknown time zone {zone!r}; use a name like Europe/Paris", is_error=True)
        return ToolResult(now.strftime(f"%Y-%m-%d %H:%M:%S {zone}"))


class ToolsConfig(PluginConfig):
    """Configuration of the ``[tools]`` table."""

    calculator_time_limit: float = Field(
        2.0, gt=0, le=60,
        description="Seconds a calculation may take (in a worker thread) before it is refused.",
    )


class ToolsPlugin(Plugin):
    """Contributes the built-in tools: calculator and current_time."""

    Config = ToolsConfig
    config: ToolsConfig
    requires = ("agents",)

    @hookimpl
    def pygent_tools(self) -> list[Tool]:
        return [Calculator(self.config.calculator_time_limit), CurrentTime()]
