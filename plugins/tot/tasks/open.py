"""A general question: the state is the reasoning steps so far, one per line ``Step k: ...``.

Prompts stay short and steps are capped, because small models ramble: a proposal is one line
of at most ``MAX_STEP`` characters, its ``Step k:`` / ``k.`` / ``-`` prefixes stripped (repeatedly);
lines with fewer than two words, repeats, echoes of the prompt (mostly the instruction's words)
and lines that are mostly one repeated phrase are dropped.
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
ECHO_SHARE = 0.6
"""A line whose content words are at least this share of the instruction's words echoes it."""
REPEAT_SHARE = 0.6
"""A line whose most frequent phrase (1-4 words, 3 times or more) covers this share repeats."""
_PREFIX = re.compile(r"^\s*(?:[-*•]\s+|\(?\d+[.):](?:\s+|$))?(?:step\s*\d*\s*[:.)-]\s*)?", re.I)
_ECHO = re.compile(r"^(?:question|steps so far|sources)\b", re.I)
_FINAL = re.compile(r"^final answer\s*[:.-]?\s*", re.I)
_WORD = re.compile(r"[a-z0-9']+")
_STOPWORDS = frozenset(
    "a an the is are was be to of and or in on at with for it its as this that these them then "
    "no not each i you we he she they by from so if".split())


def ask_to_propose(k: int) -> str:
    """The propose prompt's instruction for step ``k``."""
    return (f"Write {MAX_PROPOSALS} different short next steps, one per line, each as "
            f"\"Step {k}: ...\". If you know the answer, write \"Step {k}: Final answer: ...\".")


def ask_to_sample(k: int) -> str:
    """The sample prompt's instruction for step ``k``."""
    return f"Write the next step in one short line, as \"Step {k}: ...\"."


_INSTRUCTION = frozenset(w for w in _WORD.findall(f"{ask_to_propose(0)} {ask_to_sample(0)}".lower())
                         if not w.isdigit())


def unprefixed(line: str) -> str:
    """``line`` without its leading ``Step k:``, ``k.`` and ``-`` markers, stripped repeatedly
    ("Step 1: Step 1: x" is "x"), whitespace collapsed."""
    text = " ".join(line.split())
    while (shorter := _PREFIX.sub("", text, count=1)) != text:
        text = shorter
    return text


def echoes(step: str) -> bool:
    """Whether ``step`` mostly repeats the instruction (its content words, numbers aside)."""
    words = [w for w in _WORD.findall(_FINAL.sub("", step).lower())
             if w not in _STOPWORDS and not w.isdigit()]
    return bool(words) and sum(w in _INSTRUCTION for w in words) >= ECHO_SHARE * len(words)


def repetitive(step: str) -> bool:
    """Whether one phrase of 1-4 words, said 3 times or more, covers most of ``step``."""
    words = _WORD.findall(step.lower())
    for n in range(1, 5):
        grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
        most = max((grams.count(g) for g in set(grams)), default=0)
        if most >= 3 and most * n >= REPEAT_SHARE * len(words):
            return True
    return False


def dropped(step: str, problem: Problem) -> bool:
    """Whether a proposed line is no step: fewer than two words with letters, an echo of the
    prompt, or mostly one repeated phrase."""
    if sum(any(c.isalpha() for c in w) for w in step.split()) < 2:
        return True
    return bool(_ECHO.match(step)) or step == problem.text or echoes(step) or repetitive(step)


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
        return self.prompt(problem, state, ask_to_propose(len(steps_of(state)) + 1))

    def sample_messages(self, problem: Problem, state: str) -> list[ChatMessage]:
        return self.prompt(problem, state, ask_to_sample(len(steps_of(state)) + 1))

    def parse_proposals(self, problem: Problem, state: str, text: str) -> list[Proposal]:
        seen = {s.lower() for s in steps_of(state)}
        k = len(seen) + 1
        found: list[Proposal] = []
        for line in text.splitlines():
            step = unprefixed(line)[:MAX_STEP].strip()
            if step.lower() in seen or dropped(step, problem):
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
