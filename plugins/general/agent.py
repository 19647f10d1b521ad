"""GeneralAgent: a conversational agent with memory and a ReAct-style tool loop.

Each step the model answers with JSON ``{"action": TOOL or "final_answer", "input": TEXT}``,
constrained by a JSON schema where the model supports it. Few-shot examples teach small models
the format; guards stop repeated and empty tool calls, and the number of steps is bounded.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import Field
from pygent_sdk import (
    AgentResult, ChatMessage, ChatOptions, PluginConfig, Tool, ToolResult, Usage,
)
from pygent_sdk.agents import (
    AgentContext, AnswerStep, GuardStep, TokenSink, ToolStep, estimate_tokens, fit_history,
)

from .answer_stream import AnswerStream

FINAL = "final_answer"
_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


class GeneralConfig(PluginConfig):
    """Settings of a ``general`` agent."""

    system_prompt: str = Field(
        "You are a helpful, concise assistant.", description="Who the agent is."
    )
    tools: list[str] | None = Field(
        None, description="Names of the tools it may use (unset: every contributed tool)."
    )
    max_steps: int = Field(5, ge=1, le=50, description="Model calls per run, tool calls included.")
    history: int = Field(20, ge=0, description="Earlier messages of its conversation to include.")
    max_tokens: int = Field(256, ge=1, description="Tokens per model reply.")
    temperature: float = Field(
        0.0, ge=0, le=2, description="Sampling temperature (0: the most reliable for small models)."
    )


def _schema(actions: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"action": {"type": "string", "enum": actions}, "input": {"type": "string"}},
        "required": ["action", "input"],
    }


def _reply(action: str, text: str) -> str:
    return json.dumps({"action": action, "input": text})


class GeneralAgent:
    """See the module docstring."""

    def __init__(self, context: AgentContext, config: GeneralConfig) -> None:
        self.context = context
        self.config = config
        wanted = config.tools
        self.tools = {
            name: tool for name, tool in context.tools.items() if wanted is None or name in wanted
        }

    @functools.cached_property
    def options(self) -> tuple[ChatOptions, ChatOptions]:
        """Options of a free step (any action) and of a step that may only answer."""
        free = ChatOptions(
            max_tokens=self.config.max_tokens, temperature=self.config.temperature,
            json_schema=_schema([*self.tools, FINAL]),
        )
        return free, dataclasses.replace(free, json_schema=_schema([FINAL]))

    @functools.cached_property
    def prompt(self) -> list[ChatMessage]:
        """System prompt, tool list and few-shot examples of the reply format."""
        lines = [self.config.system_prompt, "", "Reply with JSON: {\"action\": ..., \"input\": ...}."]
        if self.tools:
            lines.append("Actions:")
            lines += [f"- {name}: {tool.spec.description}" for name, tool in self.tools.items()]
        lines.append(f"- {FINAL}: your answer to the user; use it when you know the answer.")
        shots: list[ChatMessage] = []
        if "calculator" in self.tools:
            shots += [
                ChatMessage("user", "What is 12*11?"),
                ChatMessage("assistant", _reply("calculator", "12*11")),
                ChatMessage("user", "Observation: 132"),
                ChatMessage("assistant", _reply(FINAL, "12*11 = 132")),
            ]
        shots += [
            ChatMessage("user", "Hello! Who are you?"),
            ChatMessage("assistant", _reply(FINAL, "Hello! I am a helpful assistant. How can I help?")),
        ]
        return [ChatMessage("system", "\n".join(lines)), *shots]

    async def _history(self, task: str) -> list[ChatMessage]:
        memory, conversation = self.context.memory, self.context.conversation_id
        if memory is None or conversation is None or self.config.history == 0:
            return [ChatMessage("user", task)]
        stored = await memory.history(conversation, limit=self.config.history)
        turns = [s.message for s in stored if s.message.role in ("user", "assistant")]
        if not turns or turns[-1].content != task:
            turns.append(ChatMessage("user", task))
        return fit_history(turns, self._history_budget())

    def _history_budget(self) -> int:
        """Tokens of the context window left for the conversation: the window less the prompt
        and room for a tool call and an answer."""
        prompt = sum(estimate_tokens(m.content) + 4 for m in self.prompt)
        return self.context.context_tokens - prompt - 2 * self.config.max_tokens

    def _parse(self, text: str) -> tuple[str, str]:
        """(action, input) of a reply; free text that is not JSON counts as the final answer."""
        match = _OBJECT.search(text)
        try:
            data = json.loads(match.group(0)) if match else None
        except json.JSONDecodeError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("action"), str):
            return FINAL, text.strip()
        value = data.get("input", "")
        return data["action"], value if isinstance(value, str) else json.dumps(value)

    async def _call(self, tool: Tool, text: str) -> ToolResult:
        """Call ``tool`` with ``text`` as its first parameter (or JSON arguments)."""
        params = tool.spec.parameters.get("properties", {})
        required = tool.spec.parameters.get("required", [])
        if required and not text.strip():
            return ToolResult(f"{tool.spec.name} needs an input ({required[0]})", is_error=True)
        try:
            arguments = json.loads(text) if text.strip().startswith("{") else None
        except json.JSONDecodeError:
            arguments = None
        if not isinstance(arguments, Mapping):
            first = (required or list(params) or ["input"])[0]
            arguments = {first: text} if text.strip() else {}
        try:
            return await tool(arguments)
        except Exception as error:  # a tool bug becomes an observation, never a crash
            return ToolResult(f"{tool.spec.name} failed: {type(error).__name__}: {error}", True)

    async def run(self, task: str, *, on_token: TokenSink | None = None) -> AgentResult:
        messages = [*self.prompt, *await self._history(task)]
        free, final_only = self.options
        usage, seen, errors, force_final = Usage(), dict[tuple[str, str], str](), 0, False
        for step in range(1, self.config.max_steps + 1):
            options = final_only if force_final or step == self.config.max_steps else free
            answer, raw = AnswerStream(), []
            async for chunk in self.context.model.stream(messages, options):
                raw.append(chunk.text)
                piece = answer.feed(chunk.text)
                if piece and on_token is not None:
                    await on_token(piece)
                if chunk.usage is not None:
                    usage += chunk.usage
            text = "".join(raw)
            action, value = self._parse(text)
            messages.append(ChatMessage("assistant", text))
            if action == FINAL or action not in self.tools:
                if action != FINAL:
                    value = text.strip()
                if on_token is not None and value.startswith(answer.streamed):
                    rest = value[len(answer.streamed):]
                    if rest:
                        await on_token(rest)
                await self.context.step(AnswerStep(text=value))
                return AgentResult(value, bool(value.strip()), usage=usage)
            key = (action, value.strip())
            if key in seen:
                # A repeated call: the model is stuck; from now on it may only answer.
                force_final = True
                observation = f"{seen[key]} (you already called {action} with this input)"
                await self.context.step(GuardStep(reason=f"repeated call of {action}", detail=value))
            else:
                await self.context.set_status("waiting")
                result = await self._call(self.tools[action], value)
                await self.context.set_status("running")
                errors += result.is_error
                force_final = errors >= 2
                observation = ("Error: " if result.is_error else "") + result.output
                seen[key] = observation
                await self.context.step(ToolStep(
                    tool=action, input=value, output=result.output, is_error=result.is_error,
                ))
            messages.append(ChatMessage("user", f"Observation: {observation}"))
        summary = f"I ran out of steps ({self.config.max_steps}) before a final answer."
        if on_token is not None:
            await on_token(summary)
        return AgentResult(summary, False, usage=usage)
