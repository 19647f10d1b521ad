"""The adaptive mode's classifier: a query is simple, moderate, complex or research, read from
its words alone (deterministic, no model call), and each class maps to a mode by what is
available (a knowledge base with documents, chain-of-thought)."""

from __future__ import annotations

import dataclasses
import re

_RESEARCH = re.compile(r"\b(research|report|survey|literature|investigate|in-depth|comprehensive overview)\b", re.I)
_COMPLEX = re.compile(
    r"\b(compare|contrast|why|prove|proof|plan|step by step|steps|design|trade-?offs?|"
    r"analy[sz]e|evaluate|derive|justify|pros and cons)\b", re.I)
_MODERATE = re.compile(r"\b(how|explain|describe|difference|relationship|summari[sz]e)\b", re.I)
_SEPARATORS = re.compile(r"[\s,;]+")
_PUNCTUATION = ".,;:!?()[]{}\"'"


@dataclasses.dataclass(frozen=True, slots=True)
class Choice:
    """A classification and the mode it leads to: ``mode`` is one of the pipeline's modes or
    ``cot`` (chain-of-thought with self-consistency, for a simple question with no knowledge
    base); ``task`` is the task the search should use (None: the request's) and ``problem``
    what it should search (None: the query; game24 takes the four numbers alone)."""

    complexity: str
    mode: str
    why: str
    task: str | None = None
    problem: str | None = None


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z']+", text)


def _numbers(query: str) -> list[str]:
    """The query's tokens (split at spaces, commas and semicolons, outer punctuation stripped)
    that hold a digit of any script ("4", "4.5", "-3", "²", "1e5"), as written: nothing is
    converted here, so a 400-digit number or an odd digit cannot raise."""
    tokens = (t.strip(_PUNCTUATION) for t in _SEPARATORS.split(query))
    return [t for t in tokens if any(c.isnumeric() for c in t)]


def puzzle_numbers(query: str) -> list[str] | None:
    """The numbers of a puzzle-like query as written ("4 9 10 13", "use 3 3 8 8 to make 24"):
    at least three numbers and at most eight words; None otherwise."""
    numbers = _numbers(query)
    return numbers if len(numbers) >= 3 and len(_words(query)) <= 8 else None


def game24_numbers(numbers: list[str]) -> tuple[list[int] | None, str]:
    """The four numbers of a Game of 24, or None and why not: exactly four whole numbers from 1
    to 13 in ASCII digits (a trailing 24, the target, is allowed), nothing else."""
    if len(numbers) == 5 and numbers[4] == "24":
        numbers = numbers[:4]
    if len(numbers) != 4:
        return None, f"{len(numbers)} numbers, not four"
    for n in numbers:
        if not (n.isascii() and n.isdigit() and len(n) <= 2 and 1 <= int(n) <= 13):
            shown = n if len(n) <= 12 else n[:9] + "..."
            return None, f"{shown!r} is not a whole number from 1 to 13"
    return [int(n) for n in numbers], "four numbers from 1 to 13"


def classify(query: str) -> tuple[str, str]:
    """The query's complexity and the reason, from its words."""
    words = _words(query)
    if found := _RESEARCH.search(query):
        return "research", f"asks for {found.group(1).lower()}"
    if puzzle_numbers(query) is not None:
        return "complex", "a puzzle over a list of numbers"
    cues = sorted({m.lower() for m in _COMPLEX.findall(query)})
    if cues:
        verbs = [c for c in cues if c != "why"][:3]
        asks = (["why"] if "why" in cues else []) + (["to " + " and ".join(verbs)] if verbs else [])
        return "complex", "asks " + " and ".join(asks)
    if len(words) > 40:
        return "complex", f"long ({len(words)} words)"
    if query.count("?") > 1:
        return "moderate", f"{query.count('?')} questions in one"
    cues = sorted({m.lower() for m in _MODERATE.findall(query)})
    if cues:
        return "moderate", "asks " + " and ".join(cues[:3])
    if len(words) > 15:
        return "moderate", f"{len(words)} words"
    return "simple", f"a short question ({len(words)} words)"


def choose(query: str, *, task: str | None, knowledge: bool, cot: bool, tasks: frozenset[str]) -> Choice:
    """The mode for ``query``: a named task always searches (tot_only); a puzzle of exactly four
    whole numbers from 1 to 13 goes to game24 where that task exists, any other puzzle over
    numbers to tot_only; otherwise by complexity, retrieving where a knowledge
    base with documents is present (``knowledge``), else reasoning alone."""
    complexity, reason = classify(query)
    base = "knowledge base present" if knowledge else "no knowledge base"
    if task is not None:
        return Choice(complexity, "tot_only", f"{complexity}: {reason}; task {task!r} named -> tot_only")
    numbers = puzzle_numbers(query)
    if numbers is not None:
        game, which = game24_numbers(numbers)
        if game is not None and "game24" in tasks:
            return Choice(complexity, "tot_only", f"{complexity}: {reason}, {which} -> tot_only with task game24",
                          task="game24", problem=" ".join(map(str, game)))
        if game is not None:
            which += ", but there is no game24 task"
        return Choice(complexity, "tot_only",
                      f"{complexity}: {reason} ({which}) -> tot_only (retrieval cannot help)")
    if complexity == "simple":
        mode = "rag_only" if knowledge else ("cot" if cot else "tot_only")
    elif complexity == "moderate":
        mode = "s3_rag" if knowledge else "tot_only"
    elif complexity == "complex":
        mode = "tot_enhanced_rag" if knowledge else "tot_only"
    else:
        mode = "tot_s3_rag" if knowledge else "tot_only"
    return Choice(complexity, mode, f"{complexity}: {reason}; {base} -> {mode}")
