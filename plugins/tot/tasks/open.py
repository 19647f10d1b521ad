"""A general question: the state is the reasoning steps so far, one per line ``Step k: ...``.

Prompts stay short and steps are capped, because small models ramble: a proposal is one line
of at most ``MAX_STEP`` characters; empty lines, repeats and echoes of the prompt are dropped.
A state is final when its last step starts with "Final answer" (the engine also ends every state
at the search's depth limit); the answer is written by the model from the steps
(``answer_messages``).
"""

from __future__ import annotations

import re

from pygent_sdk import ChatMessage
from pygent_sdk.reasoning import BaseTask, Problem, Proposal, context_block

MAX_STEP = 200
MAX_PROPOSALS = 3
_PREFIX = re.compile(r"^\s*(?:[-*•]\s+|\(?\d+[.):]\s+)?(?:step\s*\d*\s*[:.)-]\s*)?", re.I)
_ECHO = re.compile(r"^(?:question|steps so far|sources)\b", re.I)


def steps_of(state: str) -> list[str]:
    """The step texts of a state, without their ``Step k:`` labels."""
    return [_PREFIX.sub("", line, count=1) for line in state.splitlines() if line.strip()]


class OpenTask(BaseTask):
    """Any question: propose next reasoning steps, value them, write the answer from the best."""

    name = "open"
    description = "A general question: steps proposed and valued, the answer written from the best."
    depth = 3

    def prompt(self, problem: Problem, state: str, ask: str) -> list[ChatMessage]:
        steps = state.strip() or "(none yet)"
        return [ChatMessage("user", f"{context_block(problem)}Question: {problem.text}\n"
                                    f"Steps so far:\n{steps}\n\n{ask}")]

    def propose_messages(self, problem: Problem, state: str) -> list[ChatMessage]:
        k = len(steps_of(state)) + 1
        return self.prompt(problem, state, (
            f"Write {MAX_PROPOSALS} different short next steps, one per line, each as "
            f"\"Step {k}: ...\". If you know the answer, write \"Step {k}: Final answer: ...\"."
        ))

    def sample_messages(self, problem: Problem, state: str) -> list[ChatMessage]:
        k = len(steps_of(state)) + 1
        ask = f"Write the next step in one short line, as \"Step {k}: ...\"."
        return self.prompt(problem, state, ask)

    def parse_proposals(self, problem: Problem, state: str, text: str) -> list[Proposal]:
        seen = {s.lower() for s in steps_of(state)}
        k = len(seen) + 1
        found: list[Proposal] = []
        for line in text.splitlines():
            step = " ".join(_PREFIX.sub("", line, count=1).split())[:MAX_STEP].strip()
            if not step or step.lower() in seen or _ECHO.match(step) or step == problem.text:
                continue
            seen.add(step.lower())
            labelled = f"Step {k}: {step}"
            found.append(Proposal(f"{state}\n{labelled}" if state else labelled, step))
            if len(found) == MAX_PROPOSALS:
                break
        return found

    def value_messages(self, problem: Problem, state: str) -> list[ChatMessage]:
        return self.prompt(problem, state, (
            "Do these steps lead to a correct answer? "
            "Reply with one word: sure, likely or impossible."
        ))

    def is_final(self, problem: Problem, state: str) -> bool:
        steps = steps_of(state)
        return bool(steps) and steps[-1].lower().startswith("final answer")
