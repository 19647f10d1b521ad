"""GeneralAgent: a conversational agent with memory and a ReAct-style tool loop.

Each step the model answers with JSON ``{"action": TOOL or "final_answer", "input": ...}``,
constrained by a JSON schema where the model supports it: one alternative per tool, whose
``input`` follows that tool's own parameters schema (so the calculator's input can only be
arithmetic). Few-shot examples teach small models the format; guards stop repeated and empty
tool calls, refuse answers whose numbers no tool or message backs, and bound the steps.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import Field
from pygent_sdk import (
    AgentResult, ChatMessage, ChatOptions, PluginConfig, Tool, ToolResult, Usage,
)
from pygent_sdk.agents import (
    AgentContext, AnswerStep, GuardStep, TokenSink, ToolStep, estimate_tokens, fit_history,
)

from .answer_stream import AnswerStream
from .verify import numbers, unverified

FINAL = "final_answer"
_NO_DIGIT = '[^"\\\\0-9]'
_ANSWER_CHARS = 160
_BACKED_NUMBERS = 50  # the most numbers a final answer's grammar lists
_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
_BAD_REPLY = object()


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


def input_schema(tool: Tool) -> dict[str, Any]:
    """The JSON schema of a call's ``input``: the parameter's own schema when the tool takes
    exactly one (``"17*23"`` rather than ``{"expression": "17*23"}``), else the whole object."""
    properties = tool.spec.parameters.get("properties", {})
    if len(properties) == 1:
        return next(iter(properties.values()))
    return tool.spec.parameters


def answer_schema(backed: Iterable[str] | None = None) -> dict[str, Any]:
    """The schema of a final answer: any text, or text whose every number is one of those
    written in ``backed`` (the conversation and the tool results, oldest first), so it cannot
    state a guess. Only the latest ``_BACKED_NUMBERS`` distinct numbers count: the grammar stays
    small however long the conversation is."""
    if backed is None:
        return {"type": "string"}
    recent: dict[str, None] = {}  # latest first
    for text in reversed(list(backed)):
        for n in reversed(numbers(text)):
            if len(n) <= 40:
                recent.setdefault(n)
        if len(recent) >= _BACKED_NUMBERS:
            break
    known = sorted(list(recent)[:_BACKED_NUMBERS], key=len, reverse=True)
    if not known:
        return {"type": "string", "pattern": f'^{_NO_DIGIT}{{0,{_ANSWER_CHARS}}}$'}
    number = "(" + "|".join(n.replace(".", "[.]") for n in known) + ")"
    # a number ends at a character that cannot continue it, so two cannot run together
    after = f'([^"\\\\0-9.]|[.]{_NO_DIGIT})'
    return {"type": "string",
            "pattern": f"^({_NO_DIGIT}|{number}{after}){{0,{_ANSWER_CHARS}}}({number}[.]?)?$"}


def action_schema(tools: Mapping[str, Tool], answer: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The schema of one reply: ``anyOf`` one object per tool and one for the final answer."""
    variants = [{
        "type": "object",
        "properties": {"action": {"const": name}, "input": schema},
        "required": ["action", "input"],
    } for name, schema in [*((n, input_schema(t)) for n, t in tools.items()),
                           (FINAL, answer or answer_schema())]]
    return variants[0] if len(variants) == 1 else {"anyOf": variants}


def _reply(action: str, value: Any) -> str:
    return json.dumps({"action": action, "input": value})


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class GeneralAgent:
    """See the module docstring."""

    def __init__(self, context: AgentContext, config: GeneralConfig) -> None:
        self.context = context
        self.config = config
        wanted = config.tools
        self.tools = {
            name: tool for name, tool in context.tools.items() if wanted is None or name in wanted
        }

    def options(self, *, tools: bool, backed: list[str] | None) -> ChatOptions:
        """Options of a step that may call ``tools`` or only answer; after a tool call the
        answer may only state numbers written in ``backed``."""
        schema = (self._open_schemas[tools] if backed is None
                  else action_schema(self.tools if tools else {}, answer_schema(backed)))
        return ChatOptions(
            max_tokens=self.config.max_tokens, temperature=self.config.temperature, json_schema=schema,
        )

    @functools.cached_property
    def _open_schemas(self) -> dict[bool, dict[str, Any]]:
        """The reply schemas before any tool result (with and without tools): built once."""
        return {True: action_schema(self.tools, answer_schema()), False: action_schema({}, answer_schema())}

    @functools.cached_property
    def prompt(self) -> list[ChatMessage]:
        """System prompt, tool list and few-shot examples of the reply format."""
        lines = [self.config.system_prompt, "", "Reply with JSON: {\"action\": ..., \"input\": ...}."]
        if self.tools:
            lines.append("Actions:")
            lines += [f"- {name}: {tool.spec.description}" for name, tool in self.tools.items()]
        lines.append(f"- {FINAL}: your answer to the user; use it as soon as you know the answer, "
                     "e.g. right after an Observation that answers the question.")
        shots: list[ChatMessage] = []
        if "calculator" in self.tools:
            for question, expression, result, answer in _ARITHMETIC_SHOTS:
                shots += [
                    ChatMessage("user", question),
                    ChatMessage("assistant", _reply("calculator", expression)),
                    ChatMessage("user", f"Observation: {result}"),
                    ChatMessage("assistant", _reply(FINAL, answer)),
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

    def _parse(self, text: str) -> tuple[str, Any]:
        """(action, input) of a reply. Free text counts as the final answer; a JSON object
        that does not parse (cut off at ``max_tokens``) gives ``("", _BAD_REPLY)``."""
        match = _OBJECT.search(text)
        try:
            data = json.loads(match.group(0)) if match else None
        except json.JSONDecodeError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("action"), str):
            if text.lstrip().startswith("{"):
                return "", _BAD_REPLY
            return FINAL, text.strip()
        return data["action"], data.get("input", "")

    async def _call(self, tool: Tool, value: Any) -> ToolResult:
        """Call ``tool`` with ``value``: its arguments object, or the value of its first
        parameter (a JSON object written as a string is taken as the arguments)."""
        params = tool.spec.parameters.get("properties", {})
        required = tool.spec.parameters.get("required", [])
        if isinstance(value, str) and value.strip().startswith("{"):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        if isinstance(value, Mapping) and len(params) != 1:
            arguments = dict(value)
        elif value in ("", None):
            arguments = {}
        else:
            arguments = {(required or list(params) or ["input"])[0]: value}
        missing = [name for name in required if arguments.get(name) in ("", None)]
        if missing:
            return ToolResult(f"{tool.spec.name} needs an input ({', '.join(missing)})", is_error=True)
        try:
            return await tool(arguments)
        except Exception as error:  # a tool bug becomes an observation, never a crash
            return ToolResult(f"{tool.spec.name} failed: {type(error).__name__}: {error}", True)

    async def run(self, task: str, *, on_token: TokenSink | None = None) -> AgentResult:
        history = await self._history(task)
        messages = [*self.prompt, *history]
        usage, seen, errors, force_final = Usage(), dict[tuple[str, str], str](), 0, False
        backing = [m.content for m in history]  # what the numbers of an answer may come from
        refused: str | None = None  # the tool that last refused, until a tool call succeeds
        used_tools = False
        results: dict[str, str] = {}  # each tool's last successful output
        settled: list[str] | None = None  # the one result an answer may state, once the model has it
        for step in range(1, self.config.max_steps + 1):
            options = self.options(tools=not force_final and step < self.config.max_steps,
                                   backed=settled or (backing if used_tools else None))
            answer, raw = AnswerStream(), []
            live = on_token is not None and not used_tools  # later answers are checked first
            async for chunk in self.context.model.stream(messages, options):
                raw.append(chunk.text)
                piece = answer.feed(chunk.text)
                if piece and live:
                    await on_token(piece)  # type: ignore[misc]
                if chunk.usage is not None:
                    usage += chunk.usage
            text = "".join(raw)
            action, value = self._parse(text)
            messages.append(ChatMessage("assistant", text))
            if value is _BAD_REPLY:
                used_tools = True
                errors += 1
                force_final = errors >= 2
                await self.context.step(
                    GuardStep(reason="the reply was not valid JSON", detail=text[-200:])
                )
                messages.append(ChatMessage("user", "Observation: Error: the reply was not valid JSON."))
                continue
            if action != FINAL and action not in self.tools:
                errors += 1
                force_final = errors >= 2
                await self.context.step(GuardStep(reason=f"unknown action {action!r}", detail=text[-200:]))
                known = ", ".join([*self.tools, FINAL])
                messages.append(ChatMessage(
                    "user", f"Observation: Error: unknown action {action!r}; available: {known}."))
                continue
            if action == FINAL:
                value = _text(value)
                success = bool(value.strip())
                if used_tools and (missing := unverified(value, backing)):
                    # after a tool call, a number that no tool and no message gave is a guess
                    await self.context.step(GuardStep(
                        reason="numbers no tool result backs", detail=", ".join(missing)
                    ))
                    value, success = self._honest(refused), False
                if on_token is not None:
                    streamed = answer.streamed if live else ""
                    rest = value[len(streamed):] if value.startswith(streamed) else ""
                    if rest:
                        await on_token(rest)
                await self.context.step(AnswerStep(text=value))
                return AgentResult(value, success, usage=usage)
            key = (action, _text(value).strip())
            if key in seen:
                # A repeated call: the model is stuck; from now on it may only answer.
                force_final = True
                observation = f"{seen[key]} (you already called {action} with this input)"
                await self.context.step(GuardStep(reason=f"repeated call of {action}", detail=key[1]))
            elif (last := results.get(action)) is not None and last in numbers(key[1]):
                # The tool's own result fed back to it ("-55", "3.6 / 2" after 3.6): small models
                # loop this way once they have the answer; from now on it may only answer.
                force_final, settled = True, [last]
                observation = last  # its result again: a note here gets copied into answers
                await self.context.step(GuardStep(reason=f"{action} called on its own result",
                                                  detail=key[1]))
            else:
                used_tools = True
                await self.context.set_status("waiting")
                result = await self._call(self.tools[action], value)
                await self.context.set_status("running")
                errors += result.is_error
                force_final = errors >= 2
                if result.is_error:
                    refused = action
                else:
                    refused = None
                    backing.append(result.output)
                    results[action] = result.output
                observation = ("Error: " if result.is_error else "") + result.output
                seen[key] = observation
                await self.context.step(ToolStep(
                    tool=action, input=key[1], output=result.output, is_error=result.is_error,
                ))
            messages.append(ChatMessage("user", f"Observation: {observation}"))
        summary = f"I ran out of steps ({self.config.max_steps}) before a final answer."
        if on_token is not None:
            await on_token(summary)
        return AgentResult(summary, False, usage=usage)

    @staticmethod
    def _honest(refused: str | None) -> str:
        """The answer given instead of one with numbers nothing verified; it repeats none of
        them (the guard step lists them; the tool step keeps the refused input and the error)."""
        if refused:
            return f"I could not compute a verified answer: the {refused} refused my input."
        return "I could not compute a verified answer: no tool result backs the numbers I had."


_ARITHMETIC_SHOTS = [
    # (question, calculator input, its output, final answer): the reply format, by example
    ("What is 12*11?", "12*11", "132", "The answer is 132."),
    ("What is 25% of 60?", "25% * 60", "15", "The answer is 15."),
    ("What is 3/4 + 1/8?", "3/4 + 1/8", "0.875", "The answer is 0.875."),
    ("What is -4 + 10?", "-4 + 10", "6", "The answer is 6."),
    ("What is 5 - 9?", "5 - 9", "-4", "The answer is -4."),
    ("Multiply 9 by 6.", "9 * 6", "54", "The answer is 54."),
    ("How much is 4 * (2 + 5)?", "4 * (2 + 5)", "28", "The answer is 28."),
    ("Calculate (30 - 6) / 3.", "(30 - 6) / 3", "8", "The answer is 8."),
    ("Subtract 7 from 20.", "20 - 7", "13", "The answer is 13."),
]
