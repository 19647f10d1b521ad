"""s3-style iterative search (Jiang et al., 2025, "s3"): the model writes a search query, the
passages are retrieved, the useful ones kept, and the model decides whether to search again.

Every round's query is the model's; it falls back to the question when the model's reply is
unusable (empty, a repeat) or shares no content word with the question (a small model's query
can drift off the topic). Kept cheap for a small model: passages below
``[reasoning] min_similarity`` are never shown to the model; one selection call per round picks
among the rest (a reply with no usable numbers falls back to similarity); one yes/no call decides
whether to go on (an unreadable reply falls back to the best kept similarity).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pygent_sdk import ChatMessage
from pygent_sdk.knowledge import Passage, numbered_context, relevant

from .run import Run

ENOUGH_SIMILARITY = 0.5
"""When the model's yes/no is unreadable: enough once a kept passage is this similar."""
_QUERY_LABEL = re.compile(r"^(?:(?:search\s+)?query|search|question)\s*[:：-]\s*", re.I)
_VERDICT = re.compile(r"\b(not enough|insufficient|yes|no|enough|sufficient)\b", re.I)
_NONE = re.compile(r"\b(none|no passages?|nothing)\b", re.I)
_STOPWORDS = frozenset(
    "about an and are as at be by can do does for from has have how if in into is it its not of on "
    "or so that the their there these this to was we what when where which who why will with you "
    "your".split())


def parse_query(text: str, previous: Sequence[str]) -> str | None:
    """The search query a reply writes: its first line without a ``Query:`` label or quotes;
    None when it is empty, too long, has no word, or repeats an earlier query."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    query = _QUERY_LABEL.sub("", line).strip(" \"'`*.")
    if not 2 <= len(query) <= 200 or not re.search(r"[A-Za-z]{2}", query):
        return None
    if query.casefold() in {q.casefold() for q in previous}:
        return None
    return query


def content_words(text: str) -> set[str]:
    """The words of ``text`` that carry meaning, cut to their first five letters (a crude stem:
    "plugins" and "plugin" meet): lower-cased, two letters or more, no stopword."""
    return {w[:5] for w in re.findall(r"[a-z0-9]{2,}", text.casefold()) if w not in _STOPWORDS}


def parse_selection(text: str, count: int) -> list[int] | None:
    """The 0-based indexes of the passages a selection reply names (numbers 1..count), [] for
    "none", None when the reply names neither."""
    numbers = sorted({int(n) - 1 for n in re.findall(r"\d+", text) if 1 <= int(n) <= count})
    if numbers:
        return numbers
    return [] if _NONE.search(text) else None


def parse_verdict(text: str) -> bool | None:
    """True for "yes"/"enough", False for "no"/"not enough" (the first such word), else None."""
    found = _VERDICT.search(text)
    if found is None:
        return None
    return found.group(1).lower() in ("yes", "enough", "sufficient")


def _listing(passages: Sequence[Passage], chars: int = 300) -> str:
    return "\n".join(
        f"[{i}] {p.source}{f' › {p.heading}' if p.heading else ''}: {' '.join(p.text.split())[:chars]}"
        for i, p in enumerate(passages, 1))


async def write_query(run: Run, kept: Sequence[Passage], previous: Sequence[str]) -> tuple[str, str]:
    """The round's query and where it came from: ``model``, or the question when the model's
    query was unusable or off the topic (no content word of the question)."""
    known = "\n".join(f"- {p.source}{f' › {p.heading}' if p.heading else ''}" for p in kept) or "nothing yet"
    missing = "the information still missing" if previous else "the information needed"
    messages = [ChatMessage("user", (
        f"Question: {run.query}\nFound so far:\n{known}\n\n"
        f"Write one short search query (a few words) for {missing}. Reply with the query only."))]
    query = parse_query(await run.ask(messages, 24), previous)
    if query is None:
        return run.query, "the question (the model's query was unusable)"
    if not content_words(query) & content_words(run.query):
        return run.query, f"the question (the model's query {query!r} shares no word with it)"
    return query, "model"


async def select(run: Run, candidates: Sequence[Passage]) -> tuple[list[Passage], str]:
    """The candidates worth keeping and how they were chosen."""
    if len(candidates) <= 1:
        return list(candidates), "similarity"
    messages = [ChatMessage("user", (
        f"Question: {run.query}\n\nPassages:\n{_listing(candidates)}\n\n"
        "Which passages help answer the question? Reply with their numbers separated by commas, "
        "or none."))]
    picked = parse_selection(await run.ask(messages, 16), len(candidates))
    if picked is None:
        return list(candidates), "similarity (the model's selection was unreadable)"
    return [candidates[i] for i in picked], "model"


async def decide(run: Run, round: int, kept: Sequence[Passage], new: int) -> str:
    """Whether to search again after ``round``: "enough ...", "search again ..." or "stop ..."."""
    if round >= run.config.s3_rounds:
        return "stop: last round"
    if not new:
        return "stop: nothing new found"
    if not kept:
        return "search again: nothing kept yet"
    messages = [ChatMessage("user", (
        f"Question: {run.query}\n\nInformation found:\n"
        f"{numbered_context(kept, max_chars=run.config.context_chars)}\n\n"
        "Is this enough information to answer the question? Reply yes or no."))]
    verdict = parse_verdict(await run.ask(messages, 8))
    if verdict is not None:
        return "enough (the model said yes)" if verdict else "search again (the model said no)"
    best = max((p.similarity or 0.0 for p in kept), default=0.0)
    return (f"enough (unreadable reply; best similarity {best:.2f})" if best >= ENOUGH_SIMILARITY
            else f"search again (unreadable reply; best similarity {best:.2f})")


async def gather(run: Run) -> tuple[list[Passage], list[dict[str, Any]], float | None]:
    """Search in rounds until enough is found; the kept passages (most similar first), each
    round's record (round, query, how the query was made, retrieved, kept, sources, how they
    were selected, decision) and the best similarity seen (None: none known)."""
    kept: list[Passage] = []
    seen: set[str] = set()
    queries: list[str] = []
    searches: list[dict[str, Any]] = []
    best: float | None = None
    for round in range(1, run.config.s3_rounds + 1):
        if run.stopped:
            break
        with run.timed(f"search_{round}"):
            query, made = await write_query(run, kept, queries)
            queries.append(query)
            found = await run.retrieve(query)
            new = [p for p in found if p.id not in seen]
            seen.update(p.id for p in found)
            known = [p.similarity for p in found if p.similarity is not None]
            if known:
                best = max(known) if best is None else max(best, *known)
            chosen, how = await select(run, relevant(new, run.config.min_similarity))
            kept.extend(chosen)
            decision = await decide(run, round, kept, len(new))
        searches.append({
            "round": round, "query": query, "query_from": made, "retrieved": len(found),
            "kept": len(chosen), "sources": [p.source + (f" › {p.heading}" if p.heading else "") for p in chosen],
            "selection": how, "decision": decision,
        })
        if not decision.startswith("search again"):
            break
    kept.sort(key=lambda p: -(p.similarity if p.similarity is not None else -1.0))
    return kept, searches, best
