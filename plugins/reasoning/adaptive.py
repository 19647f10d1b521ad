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
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")


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


def puzzle_numbers(query: str) -> list[int] | None:
    """The numbers of a puzzle-like query ("4 9 10 13", "use 3 3 8 8 to make 24"): at least
    three numbers and at most eight words; None otherwise."""
    numbers = _NUMBER.findall(query)
    if len(numbers) >= 3 and len(_words(query)) <= 8:
        return [int(float(n)) for n in numbers]
    return None


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
    """The mode for ``query``: a named task always searches (tot_only); a puzzle of four numbers
    goes to game24 where that task exists; otherwise by complexity, retrieving where a knowledge
    base with documents is present (``knowledge``), else reasoning alone."""
    complexity, reason = classify(query)
    base = "knowledge base present" if knowledge else "no knowledge base"
    if task is not None:
        return Choice(complexity, "tot_only", f"{complexity}: {reason}; task {task!r} named -> tot_only")
    numbers = puzzle_numbers(query)
    if numbers is not None:
        if len(numbers) in (4, 5) and "game24" in tasks and all(1 <= n <= 13 for n in numbers[:4]) \
                and (len(numbers) == 4 or numbers[4] == 24):
            return Choice(complexity, "tot_only", f"{complexity}: {reason}, four numbers -> tot_only with task game24",
                          task="game24", problem=" ".join(map(str, numbers[:4])))
        return Choice(complexity, "tot_only", f"{complexity}: {reason} -> tot_only (retrieval cannot help)")
    if complexity == "simple":
        mode = "rag_only" if knowledge else ("cot" if cot else "tot_only")
    elif complexity == "moderate":
        mode = "s3_rag" if knowledge else "tot_only"
    elif complexity == "complex":
        mode = "tot_enhanced_rag" if knowledge else "tot_only"
    else:
        mode = "tot_s3_rag" if knowledge else "tot_only"
    return Choice(complexity, mode, f"{complexity}: {reason}; {base} -> {mode}")
