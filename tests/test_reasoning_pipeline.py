"""The reasoning pipeline: every mode on scripted models with a fake Tree-of-Thought engine and a
fake knowledge service (logic), then every mode end to end on the real stack (SmolLM2, MiniLM,
faiss, rag and the tot plugin) with tiny budgets, asserting structure, not wording."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from pygent_plugins.cot import CotPlugin
from pygent_plugins.models import ModelsPlugin
from pygent_plugins.rag import answer as rag_answer
from pygent_plugins.reasoning import ReasoningPlugin
from pygent_plugins.reasoning import ReasoningConfig
from pygent_plugins.reasoning.adaptive import choose, classify, puzzle_numbers
from pygent_plugins.reasoning.cache import ResultCache
from pygent_plugins.reasoning.modes import chain
from pygent_plugins.reasoning.run import Run
from pygent_plugins.reasoning.s3 import content_words, parse_query, parse_selection, parse_verdict
from pygent_sdk import ChatMessage, ChatOptions
from pygent_sdk.knowledge import KNOWLEDGE, Passage, drop_unknown_markers
from pygent_sdk.reasoning import (
    MODES, REASONING, REPLY_STOPS, ChainResult, InvalidProblem, ReasoningError, ReasoningPipeline,
    ReasoningResult, TreeSettings, UnknownMode,
)
from pygent_sdk.testing import PluginHarness, ScriptedChatModel

from .agent_kit import ScriptedProvider
from .rag_kit import FakeKnowledge, FakeRag
from .reasoning_kit import FakeEngine, FakeTot

pytestmark = pytest.mark.anyio
QUESTION = "In which order do plugins start?"


def scripted(*, enough: str = "yes", select: str = "1", queries: Sequence[str] = ("plugins start in which order",),
             answer: str = "Plugins start in dependency order [1].") -> ScriptedChatModel:
    """Answers each of the pipeline's prompts by what it asks; s3's queries in turn (the last
    one repeated)."""
    written = iter(queries)
    last = [""]

    def reply(messages: Sequence[ChatMessage], options: ChatOptions) -> str:
        text = messages[-1].content
        if "Which passages help" in text:
            return select
        if "enough information" in text:
            return enough
        if "search query" in text:
            last[0] = next(written, last[0])
            return last[0]
        if "Think step by step" in text:
            return "Thinking.\nAnswer: 7"
        return answer
    return ScriptedChatModel(reply)


def harness(model: ScriptedChatModel, *, rag: bool = True, cot: bool = False,
            engine: FakeEngine | None = None, **reasoning: Any) -> PluginHarness:
    ScriptedProvider.models = [model]
    FakeTot.engine = engine or FakeEngine()
    FakeRag.knowledge = FakeKnowledge()
    plugins: dict[str, Any] = {"models": ModelsPlugin, "scripted": ScriptedProvider, "tot": FakeTot,
                               "reasoning": ReasoningPlugin}
    if rag:
        plugins["rag"] = FakeRag
    if cot:
        plugins["cot"] = CotPlugin
    return PluginHarness(plugins, {"models": {"default": model.name}, "reasoning": reasoning})


def structure(result: ReasoningResult) -> None:
    assert 0.0 <= result.confidence <= 1.0 and result.confidence_source
    assert all(isinstance(v, float) and v >= 0 for v in result.timings.values())
    assert result.to_dict()["mode"] == result.mode


# --- parsing and classifying ---------------------------------------------------------------------


def test_s3_replies_are_parsed_robustly() -> None:
    assert parse_query('Query: "plugin start order".', []) == "plugin start order"
    assert parse_query("\n  search: config keys\nmore", []) == "config keys"
    assert parse_query("Question: How do plugins start?", ["How do plugins start?"]) is None
    assert parse_query("Plugin start order", ["plugin START order"]) is None  # a repeat
    assert parse_query("???", []) is None and parse_query("", []) is None
    assert parse_selection("Passages 1 and 3 help.", 3) == [0, 2]
    assert parse_selection("[2], [2], 9", 3) == [1]  # out of range dropped, deduplicated
    assert parse_selection("None of them.", 3) == []
    assert parse_selection("They are all interesting.", 3) is None
    assert parse_verdict("Yes.") is True and parse_verdict("no, more is needed") is False
    assert parse_verdict("There is not enough here") is False and parse_verdict("Enough.") is True
    assert parse_verdict("Maybe?") is None
    assert content_words("Which plugins start first?") & content_words("plugin start order") == {"plugi", "start"}
    assert not content_words("What is the weather?") & content_words("In which order do plugins start?")


def test_adaptive_classifies_deterministically() -> None:
    assert classify("What is a plugin?")[0] == "simple"
    assert classify("How does the bus deliver events?") == ("moderate", "asks how")
    assert classify("Compare faiss and pgvector and explain why one is faster") == (
        "complex", "asks why and to compare")
    assert classify("Why do plugins start in order?") == ("complex", "asks why")
    assert classify("Plan and design a cache") == ("complex", "asks to design and plan")
    assert classify("Write a research report on vector stores")[0] == "research"
    assert classify("4 9 10 13") == ("complex", "a puzzle over a list of numbers")
    assert classify(" ".join(["word"] * 45))[0] == "complex"
    assert puzzle_numbers("use 3 3 8 8 to make 24.") == ["3", "3", "8", "8", "24"]
    assert puzzle_numbers("In 2020 and 2021 we had 3 releases of a big long project") is None


def test_adaptive_sends_only_four_whole_numbers_from_1_to_13_to_game24() -> None:
    tasks = frozenset({"open", "game24"})
    def pick(query: str) -> Any:
        return choose(query, task=None, knowledge=True, cot=True, tasks=tasks)
    for query in ("4 9 10 13", "4, 9, 10, 13", "Use 4 9 10 13 to make 24.", "(4 9 10 13)"):
        chosen = pick(query)
        assert (chosen.mode, chosen.task, chosen.problem) == ("tot_only", "game24", "4 9 10 13"), query
        assert chosen.why == "complex: a puzzle over a list of numbers, four numbers from 1 to 13 -> tot_only with task game24"
    refused = {  # a long number, decimals, signs, other scripts, other numbers: never changed, never a crash
        "9" * 400 + " 1 2 3": "'999999999...' is not a whole number from 1 to 13",
        "4.5 9 10 13": "'4.5' is not a whole number from 1 to 13",
        "-4 9 10 13": "'-4' is not a whole number from 1 to 13",
        "4 9 10 14": "'14' is not a whole number from 1 to 13",
        "\u00b2 3 4 5": "'\u00b2' is not a whole number from 1 to 13",
        "\u0664 9 10 13": "'\u0664' is not a whole number from 1 to 13",
        "\uff14 9 10 13": "'\uff14' is not a whole number from 1 to 13",
        "1e5 9 10 13": "'1e5' is not a whole number from 1 to 13",
        "4 9 10 13 and 4.5.": "5 numbers, not four",
        "4 9 10 13 7": "5 numbers, not four",
        "9" * 400 + " 1 2": "3 numbers, not four",
    }
    for query, reason in refused.items():
        chosen = pick(query)
        assert (chosen.mode, chosen.task, chosen.problem) == ("tot_only", None, None), query
        assert chosen.why == f"complex: a puzzle over a list of numbers ({reason}) -> tot_only (retrieval cannot help)"
    assert choose("4 9 10 13", task=None, knowledge=True, cot=True, tasks=frozenset({"open"})).why.endswith(
        "(four numbers from 1 to 13, but there is no game24 task) -> tot_only (retrieval cannot help)")


def test_adaptive_maps_complexity_to_a_mode_by_what_is_available() -> None:
    tasks = frozenset({"open", "game24"})
    def mode(query: str, **kw: Any) -> str:
        return choose(query, **{"task": None, "knowledge": True, "cot": True, "tasks": tasks, **kw}).mode
    assert mode("What is a plugin?") == "rag_only"
    assert mode("What is a plugin?", knowledge=False) == "cot"
    assert mode("What is a plugin?", knowledge=False, cot=False) == "tot_only"
    assert mode("How does the bus deliver events?") == "s3_rag"
    assert mode("How does the bus deliver events?", knowledge=False) == "tot_only"
    assert mode("Why do plugins start in order?") == "tot_enhanced_rag"
    assert mode("Research how jobs survive restarts") == "tot_s3_rag"
    assert mode("What is a plugin?", task="open") == "tot_only"  # a named task always searches
    puzzle = choose("4 9 10 13", task=None, knowledge=True, cot=True, tasks=tasks)
    assert (puzzle.mode, puzzle.task, puzzle.problem) == ("tot_only", "game24", "4 9 10 13")
    assert "game24" in puzzle.why
    assert choose("4 9 10 13", task=None, knowledge=True, cot=True, tasks=frozenset({"open"})).task is None
    why = choose("Compare faiss and pgvector and explain why", task=None, knowledge=True, cot=True, tasks=tasks).why
    assert why == "complex: asks why and to compare; knowledge base present -> tot_enhanced_rag"


def test_the_cache_drops_the_least_recently_used() -> None:
    cache = ResultCache(2)
    a, b, c = (ReasoningResult(x, x, "tot_only", "tot_only", "", x, 0.5, "evaluator values") for x in "abc")
    cache.put("a", a), cache.put("b", b)
    assert cache.get("a") is a
    cache.put("c", c)
    assert cache.get("b") is None and cache.get("a") is a and len(cache) == 2
    off = ResultCache(0)
    off.put("a", a)
    assert off.get("a") is None


# --- modes on scripted models --------------------------------------------------------------------


async def test_tot_only_searches_with_the_settings_and_session_id() -> None:
    async with harness(scripted()) as h:
        pipeline = h.kernel.service(REASONING)
        settings = TreeSettings(breadth=2, depth=1)
        result = await pipeline.run("What is 6 * 7?", mode="tot_only", settings=settings, session_id="s1")
        named = await pipeline.run("17 * 23", mode="tot_only", task="arith")
    call = FakeTot.engine.calls[0]
    assert call == {"problem": "What is 6 * 7?", "task": "open", "settings": settings, "context": "",
                    "session_id": "s1"}
    assert (result.session_id, result.mode, result.requested, result.answer) == ("s1", "tot_only", "tot_only", "42")
    assert result.found and result.confidence == 0.8 and result.confidence_source == "evaluator values"
    assert result.tree is not None and len(result.tree["nodes"]) == 3 and result.passages == ()
    assert set(result.timings) == {"tot"} and result.usage.total_tokens == 15
    assert FakeTot.engine.calls[1]["task"] == "arith" and len(named.session_id) == 32
    structure(result)


async def test_a_verified_tree_and_an_unfinished_one() -> None:
    async with harness(scripted(), engine=FakeEngine("391", verified=True, confidence=1.0)) as h:
        proven = await h.kernel.service(REASONING).run("17 * 23", mode="tot_only", task="arith")
    assert proven.confidence_source == "verifier" and proven.confidence == 1.0
    async with harness(scripted(), engine=FakeEngine(None, confidence=0.1)) as h:
        none = await h.kernel.service(REASONING).run("17 * 23", mode="tot_only")
    assert not none.found and none.answer.startswith("No answer: the search stopped (depth)")
    assert none.confidence == 0.0 and none.confidence_source == "evaluator values"  # no answer: 0, not 0.1
    async with harness(scripted(), engine=FakeEngine("390", verified=False, confidence=0.8)) as h:
        refuted = await h.kernel.service(REASONING).run("17 * 23", mode="tot_only", task="arith")
    assert not refuted.found and refuted.answer == "390" and refuted.confidence == 0.0
    assert refuted.confidence_source == "verifier" and "the verifier refuted the answer" in refuted.why


class StubCot:
    """A CHAIN_OF_THOUGHT whose vote came out as ``answer`` (2 of 3) with ``verified``."""

    def __init__(self, answer: str | None, verified: bool | None, confidence: float) -> None:
        self.result = ChainResult("q", "direct", answer, 2 if answer else 0, 3, confidence,
                                  (answer, answer, None), ("", "", ""), verified)

    async def solve(self, problem: str, **options: Any) -> ChainResult:
        return self.result


async def test_chain_of_thought_confidence_follows_the_one_rule() -> None:
    run = Run("s", "q", ReasoningConfig(), lambda: None, None, None, None, None)  # type: ignore[arg-type,return-value]
    agreed = await chain(run, StubCot("7", None, 2 / 3), None)
    proven = await chain(run, StubCot("391", True, 1.0), None)
    refuted = await chain(run, StubCot("390", False, 2 / 3), None)  # a service that kept the agreement
    nothing = await chain(run, StubCot(None, None, 0.5), None)
    assert (agreed.found, agreed.confidence, agreed.source) == (True, pytest.approx(2 / 3), "agreement")
    assert (proven.found, proven.confidence, proven.source) == (True, 1.0, "verifier")
    assert (refuted.found, refuted.confidence, refuted.source) == (False, 0.0, "verifier")
    assert refuted.note == "2 of 3 chains agree; the verifier refuted the majority answer"
    assert (nothing.found, nothing.confidence, nothing.source) == (False, 0.0, "agreement")


async def test_rag_only_answers_from_passages_with_similarity_confidence() -> None:
    model = scripted()
    async with harness(model, k=3) as h:
        result = await h.kernel.service(REASONING).run(QUESTION, mode="rag_only")
        nothing = await h.kernel.service(REASONING).run("zebra quantum banana?", mode="rag_only")
    assert result.found and result.answer == "Plugins start in dependency order [1]."
    assert result.passages[0]["source"] == "docs/writing-plugins.md" and result.passages[0]["cited"]
    sims = [p["similarity"] for p in result.passages]
    assert result.confidence == pytest.approx(sum(sims) / len(sims)) and 0.3 <= result.confidence < 1
    assert result.confidence_source == "retrieval similarity" and set(result.timings) == {"retrieve", "answer"}
    assert "[1] docs/writing-plugins.md › Lifecycle" in model.calls[0][0][-1].content
    assert model.calls[0][1].stop == REPLY_STOPS and model.calls[0][1].temperature == 0.0
    assert FakeRag.knowledge.queries[0] == QUESTION
    assert not nothing.found and "found nothing relevant" in nothing.answer
    assert nothing.confidence == 0.0 and "best similarity" in nothing.answer  # no answer: confidence 0
    assert nothing.passages == () and len(model.calls) == 1  # no model call
    structure(result)


async def test_an_answer_citing_a_passage_not_given_loses_that_marker() -> None:
    invented = scripted(answer="[4] jobs.md › Sessions\nSessions are saved [4].")
    mixed = scripted(answer="Plugins start in dependency order [1][4].")
    async with harness(invented, k=3) as h:
        only = await h.kernel.service(REASONING).run(QUESTION, mode="rag_only")
    async with harness(mixed, k=3) as h:
        both = await h.kernel.service(REASONING).run(QUESTION, mode="rag_only")
    async with harness(scripted(), engine=FakeEngine("Saved [7] in the jobs directory [1]."), k=3) as h:
        tree = await h.kernel.service(REASONING).run(QUESTION, mode="tot_enhanced_rag")
    assert only.answer == "jobs.md › Sessions\nSessions are saved."
    assert "removed [4] from the answer (no such passage)" in only.why
    assert all(p["cited"] for p in only.passages)  # no valid marker: built from them all (cite's rule)
    assert both.answer == "Plugins start in dependency order [1]."
    assert [p["cited"] for p in both.passages] == [True] + [False] * (len(both.passages) - 1)
    assert tree.answer == "Saved in the jobs directory [1]." and "removed [7]" in tree.why


async def test_rag_answers_drop_markers_of_passages_not_given_too() -> None:
    passages = [Passage(f"p{n}", f"d{n}", f"doc{n}.md", 0, 0, 9, f"Text {n}.", 0.5) for n in (1, 2)]
    streamed: list[str] = []

    async def sink(piece: str) -> None:
        streamed.append(piece)
    model = ScriptedChatModel(["[3] doc3.md\nPlugins start in order [2][3]. They stop [9] in reverse [1]."])
    answer = await rag_answer.generate(model, "q", passages, max_chars=2000, max_tokens=64, on_token=sink)
    assert answer.text == "doc3.md\nPlugins start in order [2]. They stop in reverse [1]."
    assert "".join(streamed) == answer.text and [c.cited for c in answer.citations] == [True, True]
    assert drop_unknown_markers("Saved [0], kept [3] and [12].", 2) == "Saved, kept and."


async def test_an_answer_cut_at_the_token_limit_ends_with_an_ellipsis() -> None:
    model = scripted(answer="Plugins start in dependency order: " + ", ".join(f"step {n}" for n in range(40)))
    async with harness(model, k=3, max_tokens=16, s3_rounds=1) as h:
        result = await h.kernel.service(REASONING).run(QUESTION, mode="rag_only")
        query = await h.kernel.service(REASONING).run(QUESTION, mode="s3_rag")
    assert result.answer.endswith("…") and len(result.answer) < 100
    assert query.searches[0]["query"] == "plugins start in which order"  # short replies are not marked


async def test_s3_stops_when_the_model_says_enough() -> None:
    model = scripted(enough="Yes, that is enough.")
    async with harness(model, s3_rounds=3) as h:
        result = await h.kernel.service(REASONING).run(QUESTION, mode="s3_rag")
    assert [s["round"] for s in result.searches] == [1]
    first = result.searches[0]
    assert (first["query"], first["query_from"]) == ("plugins start in which order", "model")  # round 1: the model's
    assert "for the information needed" in model.calls[0][0][-1].content
    assert first["decision"] == "enough (the model said yes)"
    assert first["kept"] == 1 and first["selection"] == "model" and first["retrieved"] == 4
    assert result.found and len(result.passages) == 1 and set(result.timings) == {"search_1", "answer"}
    structure(result)


async def test_s3_searches_again_with_the_models_query_until_the_last_round() -> None:
    model = scripted(enough="No.", select="no idea", queries=["Query: plugin order", "Query: plugin config keys"])
    async with harness(model, s3_rounds=2, k=2) as h:
        result = await h.kernel.service(REASONING).run(QUESTION, mode="s3_rag")
    first, second = result.searches
    assert first["decision"] == "search again (the model said no)"
    assert first["selection"].startswith("similarity")  # unreadable selection: by similarity
    assert (first["query"], first["query_from"]) == ("plugin order", "model")
    assert (second["query"], second["query_from"]) == ("plugin config keys", "model")
    assert second["decision"] == "stop: last round"
    assert FakeRag.knowledge.queries == ["plugin order", "plugin config keys"]
    assert {"search_1", "search_2", "answer"} == set(result.timings)
    assert len(result.passages) == first["kept"] + second["kept"]


async def test_s3_falls_back_to_the_question_when_the_models_query_is_off_topic_or_unusable() -> None:
    model = scripted(enough="No.", queries=["Query: weather forecast today", "???"])
    async with harness(model, s3_rounds=2) as h:
        result = await h.kernel.service(REASONING).run(QUESTION, mode="s3_rag")
    first, second = result.searches
    assert (first["query"], first["query_from"]) == (
        QUESTION, "the question (the model's query 'weather forecast today' shares no word with it)")
    assert (second["query"], second["query_from"]) == (QUESTION, "the question (the model's query was unusable)")
    assert FakeRag.knowledge.queries == [QUESTION, QUESTION] and second["decision"] == "stop: last round"


async def test_tot_enhanced_rag_conditions_the_search_on_passages() -> None:
    async with harness(scripted()) as h:
        result = await h.kernel.service(REASONING).run(QUESTION, mode="tot_enhanced_rag", task="arith")
    call = FakeTot.engine.calls[0]
    assert call["task"] == "arith" and call["context"].startswith("[1] docs/writing-plugins.md › Lifecycle\n")
    assert result.tree is not None and result.passages and result.confidence == 0.8
    assert "passage(s) conditioned the search" in result.why and set(result.timings) == {"retrieve", "tot"}


async def test_tot_s3_rag_searches_then_reasons_over_the_kept_passages() -> None:
    async with harness(scripted()) as h:
        result = await h.kernel.service(REASONING).run(QUESTION, mode="tot_s3_rag")
    assert result.searches and result.tree is not None and result.passages
    assert FakeTot.engine.calls[0]["context"].startswith("[1] ")
    assert set(result.timings) == {"search_1", "tot"}


async def test_adaptive_says_what_it_chose_and_why() -> None:
    async with harness(scripted()) as h:
        pipeline = h.kernel.service(REASONING)
        simple = await pipeline.run("What is a plugin Config?", mode="adaptive")
        complex_ = await pipeline.run("Why do plugins start in dependency order?")  # [reasoning] mode
        puzzle = await pipeline.run("Use 4 9 10 13 to make 24")
    assert (simple.requested, simple.complexity, simple.mode) == ("adaptive", "simple", "rag_only")
    assert simple.why.startswith("simple: a short question (5 words); knowledge base present -> rag_only")
    assert "classify" in simple.timings
    assert (complex_.complexity, complex_.mode) == ("complex", "tot_enhanced_rag")
    assert (puzzle.mode, FakeTot.engine.calls[-1]["task"]) == ("tot_only", "game24")
    assert FakeTot.engine.calls[-1]["problem"] == "4 9 10 13" and puzzle.query == "Use 4 9 10 13 to make 24"
    async with harness(scripted(), rag=False, cot=True) as h:
        chained = await h.kernel.service(REASONING).run("What is 3 + 4?")
    assert (chained.mode, chained.answer, chained.confidence_source) == ("cot", "7", "agreement")
    assert chained.confidence == 1.0 and "3 of 3 chains agree" in chained.why


async def test_results_are_cached_until_the_corpus_changes() -> None:
    async with harness(scripted()) as h:
        pipeline = h.kernel.service(REASONING)
        first = await pipeline.run(QUESTION, mode="tot_enhanced_rag", session_id="a")
        again = await pipeline.run(QUESTION, mode="tot_enhanced_rag", session_id="b")
        other = await pipeline.run(QUESTION, mode="tot_enhanced_rag", settings=TreeSettings(breadth=2))
        assert len(FakeTot.engine.calls) == 2
        assert again.cached and not first.cached and again.session_id == "b" and again.answer == first.answer
        assert again.tree["session_id"] == "b" and first.tree["session_id"] == "a"  # no stale id
        FakeRag.knowledge.ingest("docs/new.md", "New", "Plugins may start lazily.")
        fresh = await pipeline.run(QUESTION, mode="tot_enhanced_rag")
        uncached = await pipeline.run(QUESTION, mode="tot_enhanced_rag", use_cache=False)
        stopped = await pipeline.run("Stop me", mode="tot_only", stop=lambda: True)
        halted = await pipeline.run(QUESTION, mode="s3_rag", stop=lambda: True)
        after = await pipeline.run("Stop me", mode="tot_only")
        finished = h.events_on("reasoning.finished")
    assert not other.cached and not fresh.cached and not uncached.cached
    assert stopped.tree["stopped"] == "cancelled" and not after.cached  # a cancelled run is not kept
    assert not halted.found and halted.searches == () and halted.answer.startswith("Stopped")
    assert len(FakeTot.engine.calls) == 6
    assert [e.cached for e in finished] == [False, True, False, False, False, False, False, False]
    assert finished[1].session_id == "b"


async def test_bad_requests_get_clear_errors() -> None:
    async with harness(scripted(), rag=False) as h:
        pipeline = h.kernel.service(REASONING)
        with pytest.raises(UnknownMode, match="'deep'; modes: tot_only, rag_only, s3_rag"):
            await pipeline.run(QUESTION, mode="deep")
        with pytest.raises(UnknownMode, match=r"cot runs only when adaptive picks it \(a simple question "
                                              r"with no knowledge base\); request adaptive\. Modes: tot_only"):
            await pipeline.run(QUESTION, mode="cot")
        with pytest.raises(InvalidProblem, match="empty"):
            await pipeline.run("  ", mode="tot_only")
        with pytest.raises(ReasoningError, match=r"'s3_rag' retrieves passages, but no plugin provides 'rag'"):
            await pipeline.run(QUESTION, mode="s3_rag")
        assert h.events_on("reasoning.*") == []


async def test_hook_pygent_reasoning() -> None:
    async with harness(scripted()) as h:
        pipeline = h.kernel.hook.pygent_reasoning()
        assert isinstance(pipeline, ReasoningPipeline) and pipeline is h.plugin("reasoning").pipeline
        assert set(pipeline.modes()) == {*MODES, "cot"} and all(pipeline.modes().values())
        assert pipeline.modes()["cot"].startswith("Adaptive only (cannot be requested)")
        result = await pipeline.run(QUESTION, mode="rag_only", session_id="e1")
        started, finished = h.events_on("reasoning.started")[0], h.events_on("reasoning.finished")[0]
    assert (started.session_id, started.query, started.mode) == ("e1", QUESTION, "rag_only")
    assert (finished.session_id, finished.mode, finished.confidence) == ("e1", "rag_only", result.confidence)
    assert finished.source == "reasoning"


# --- end to end: SmolLM2, MiniLM, faiss, rag, tot and cot, tiny budgets ------------------------------

REAL = {name: None for name in ("models", "llamacpp", "embeddings", "faiss", "rag", "tot", "cot", "reasoning")}
DOCS = {
    "plugins.md": "# Plugins\nPlugins start in dependency order: a plugin starts after the plugins "
                  "that provide what it requires. They stop in reverse order.\n\n## Config\nEach "
                  "plugin has a Config class; plugins.toml holds one table per plugin.",
    "jobs.md": "# Jobs\nJobs run long background work. A job reports progress and can be cancelled; "
               "its result is kept across restarts.",
}
TINY = {"breadth": 2, "depth": 1, "n_evaluate": 1, "max_reply_tokens": 48, "concurrency": 2}


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def real(anyio_backend: str) -> Any:
    config = {"reasoning": {"k": 2, "s3_rounds": 2, "max_tokens": 48, "context_chars": 600},
              "cot": {"max_tokens": 48}, "tot": TINY}
    async with PluginHarness(REAL, config) as h:
        knowledge = h.kernel.service(KNOWLEDGE)
        for source, text in DOCS.items():
            await knowledge.ingest_text(text, source=source, format="markdown")
        yield h


def tree_ok(result: ReasoningResult) -> None:
    assert result.tree is not None and result.tree["nodes"] and "tot" in result.timings
    assert result.tree["session_id"] == result.session_id and result.tree["settings"]["breadth"] == 2
    assert result.confidence_source in ("evaluator values", "verifier")


@pytest.mark.parametrize("mode", ["tot_only", "rag_only", "s3_rag", "tot_enhanced_rag", "tot_s3_rag"])
async def test_every_mode_on_the_embedded_model(real: PluginHarness, mode: str) -> None:
    pipeline = real.kernel.service(REASONING)
    result = await pipeline.run("In which order do plugins start?", mode=mode, use_cache=False)
    structure(result)
    assert result.mode == result.requested == mode and result.usage.completion_tokens > 0
    if mode.startswith("tot"):
        tree_ok(result)
    if mode in ("rag_only", "tot_enhanced_rag"):
        assert "retrieve" in result.timings and result.passages
        assert result.passages[0]["source"] == "plugins.md", result.passages
    if "s3" in mode:
        assert 1 <= len(result.searches) <= 2 and "search_1" in result.timings
        first = result.searches[0]
        assert {"round", "query", "query_from", "retrieved", "kept", "decision"} <= set(first)
        assert first["query_from"] == "model" or first["query_from"].startswith("the question")
        assert content_words(first["query"]) & content_words("In which order do plugins start?")
    if mode in ("rag_only", "s3_rag"):
        assert result.answer and (result.passages or not result.found)


async def test_adaptive_on_the_embedded_model_then_from_the_cache(real: PluginHarness) -> None:
    pipeline = real.kernel.service(REASONING)
    simple = await pipeline.run("What is a plugin Config?")
    assert (simple.requested, simple.complexity, simple.mode) == ("adaptive", "simple", "rag_only")
    assert "classify" in simple.timings and simple.why.startswith("simple: ")
    structure(simple)
    again = await pipeline.run("What is a plugin  Config?")
    assert again.cached and again.answer == simple.answer and again.session_id != simple.session_id


async def test_adaptive_answers_a_simple_question_by_chain_of_thought_on_the_embedded_model() -> None:
    """A fresh install's path: no knowledge base, so a simple question goes to the cot service."""
    plugins = {name: None for name in ("models", "llamacpp", "tot", "cot", "reasoning")}
    async with PluginHarness(plugins, {"cot": {"max_tokens": 48}, "tot": TINY}) as h:
        result = await h.kernel.service(REASONING).run("What is 2 + 2?")
    structure(result)
    assert (result.requested, result.complexity, result.mode) == ("adaptive", "simple", "cot")
    assert result.why.startswith("simple: a short question (2 words); no knowledge base -> cot")
    assert result.confidence_source == "agreement"  # the direct task has no verifier
    assert result.confidence in (0.0, 1 / 3, 2 / 3, 1.0) and result.tree is None and result.passages == ()
    assert isinstance(result.answer, str) and result.answer
    if result.found:
        assert f"{round(result.confidence * 3)} of 3 chains agree" in result.why
    else:
        assert result.confidence == 0.0 and result.answer.startswith("No answer")
    assert "cot" in result.timings and result.usage.completion_tokens > 0
