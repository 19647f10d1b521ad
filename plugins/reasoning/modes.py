"""The pipeline's modes, each a function of a run: retrieval, s3 search and Tree-of-Thought
combined as the mode says. Each returns an :class:`Outcome`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from pygent_sdk.knowledge import (
    MARKER, Passage, drop_unknown_markers, fit_passages, numbered_context, relevant,
)
from pygent_sdk.reasoning import ChainOfThought, TreeResult, TreeSearch

from . import retrieval, s3
from .run import Run

ADAPTIVE_SAMPLES = 3
"""Chains sampled when adaptive answers a simple question by chain-of-thought."""


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """What a mode produced: the answer, whether one was found, the confidence and its source,
    the tree, the passages used, the s3 rounds and a note for ``why``. Not found (no answer,
    or one a verifier refuted): confidence 0."""

    answer: str
    found: bool
    confidence: float
    source: str
    tree: dict[str, Any] | None = None
    passages: tuple[dict[str, Any], ...] = ()
    searches: tuple[dict[str, Any], ...] = ()
    note: str = ""

    @property
    def cancelled(self) -> bool:
        return self.tree is not None and self.tree["stopped"] == "cancelled"


def _best(passages: Sequence[Passage]) -> float | None:
    known = [p.similarity for p in passages if p.similarity is not None]
    return max(known) if known else None


async def _answer(run: Run, passages: Sequence[Passage], best: float | None,
                  searches: Sequence[dict[str, Any]] = ()) -> Outcome:
    """An answer from ``passages`` (already judged relevant); when there are none, an answer
    that says so (naming the best similarity seen); none once stopped."""
    if run.stopped:
        return Outcome("Stopped before an answer was written.", False, 0.0,
                       "retrieval similarity", searches=tuple(searches), note="stopped")
    if not passages:
        return Outcome(retrieval.nothing_relevant(run, best), False, 0.0,
                       "retrieval similarity", searches=tuple(searches), note="nothing relevant retrieved")
    passages = fit_passages(passages, 2 * run.config.context_chars)
    with run.timed("answer"):
        written = await retrieval.answer(run, passages)
    text, dropped = _known_markers(written, len(passages))
    return Outcome(
        text or "(the model gave no answer; the passages listed matched the question)", bool(text),
        retrieval.similarity(passages) if text else 0.0, "retrieval similarity",
        passages=retrieval.passage_dicts(passages, text), searches=tuple(searches),
        note=f"answered from {len(passages)} passage(s){dropped}")


def _known_markers(answer: str, count: int) -> tuple[str, str]:
    """``answer`` without its citations of passages not given (``count`` were), and a note
    naming those it cited anyway ("" when none)."""
    unknown = sorted({int(n) for n in MARKER.findall(answer)} - set(range(1, count + 1)))
    if not unknown:
        return answer, ""
    named = ", ".join(f"[{n}]" for n in unknown)
    return drop_unknown_markers(answer, count).strip(), f"; removed {named} from the answer (no such passage)"


def _tree(run: Run, tree: TreeResult, passages: Sequence[Passage] | None = None,
          searches: Sequence[dict[str, Any]] = ()) -> Outcome:
    """The outcome of a search; ``passages``: those that conditioned it (None: no retrieval).
    Found: an answer no verifier refuted; the source is ``verifier`` whenever one gave a verdict."""
    run.usage += tree.usage
    dropped = ""
    if tree.answer is not None:
        answer, verdict = tree.answer, tree.verified
        if passages is not None:
            answer, dropped = _known_markers(answer, len(passages))
    else:
        answer, verdict = f"No answer: the search stopped ({tree.stopped}) after {len(tree.nodes)} node(s).", None
    found = tree.answer is not None and verdict is not False
    note = "" if passages is None else (
        f"{len(passages)} passage(s) conditioned the search{dropped}" if passages
        else f"nothing relevant retrieved: the search ran without sources{dropped}")
    if verdict is False:
        note = "; ".join(filter(None, ["the verifier refuted the answer", note]))
    return Outcome(answer, found, tree.confidence if found else 0.0,
                   "evaluator values" if verdict is None else "verifier",
                   tree=tree.to_dict(), passages=retrieval.passage_dicts(passages or (), answer),
                   searches=tuple(searches), note=note)


async def _search(run: Run, tot: TreeSearch, task: str | None, passages: Sequence[Passage]) -> TreeResult:
    with run.timed("tot"):
        return await tot.solve(run.query, task=task or "open", settings=run.settings,
                               context=numbered_context(passages, max_chars=run.config.context_chars),
                               session_id=run.session_id, stop=run.stop)


async def tot_only(run: Run, tot: TreeSearch, task: str | None) -> Outcome:
    return _tree(run, await _search(run, tot, task, ()))


async def rag_only(run: Run, tot: TreeSearch, task: str | None) -> Outcome:
    with run.timed("retrieve"):
        found = await run.retrieve(run.query)
    return await _answer(run, relevant(found, run.config.min_similarity), _best(found))


async def s3_rag(run: Run, tot: TreeSearch, task: str | None) -> Outcome:
    kept, searches, best = await s3.gather(run)
    return await _answer(run, kept, best, searches)


async def tot_enhanced_rag(run: Run, tot: TreeSearch, task: str | None) -> Outcome:
    with run.timed("retrieve"):
        found = await run.retrieve(run.query)
    passages = fit_passages(relevant(found, run.config.min_similarity), run.config.context_chars)
    return _tree(run, await _search(run, tot, task, passages), passages)


async def tot_s3_rag(run: Run, tot: TreeSearch, task: str | None) -> Outcome:
    kept, searches, _ = await s3.gather(run)
    passages = fit_passages(kept, run.config.context_chars)
    return _tree(run, await _search(run, tot, task, passages), passages, searches)


async def chain(run: Run, cot: ChainOfThought, model: str | None) -> Outcome:
    """Chain-of-thought with self-consistency (adaptive, a simple question, no knowledge base):
    the agreement is the confidence, or the verifier's verdict where it gave one."""
    with run.timed("cot"):
        result = await cot.solve(run.query, samples=ADAPTIVE_SAMPLES, model=model)
    run.usage += result.usage
    if result.answer is None:
        return Outcome("No answer: none of the chains gave one.", False, 0.0, "agreement")
    found = result.verified is not False
    note = f"{result.votes} of {result.samples} chains agree" + (
        "" if found else "; the verifier refuted the majority answer")
    return Outcome(result.answer, found, result.confidence if found else 0.0,
                   "agreement" if result.verified is None else "verifier", note=note)


MODES = {"tot_only": tot_only, "rag_only": rag_only, "s3_rag": s3_rag,
         "tot_enhanced_rag": tot_enhanced_rag, "tot_s3_rag": tot_s3_rag}
