"""The tot plugin's search machinery on scripted models (BFS, DFS, evaluators, generators,
budgets, stop and cancel, events), the open task, and one search on the real embedded model."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Sequence
from typing import Any

import anyio
import pytest
from pygent_plugins.cot import CotPlugin
from pygent_plugins.llamacpp import LlamaCppPlugin
from pygent_plugins.models import ModelsPlugin
from pygent_plugins.tot import TotPlugin
from pygent_plugins.tot.tasks.game24 import NOT_A_STEP
from pygent_plugins.tot.tasks.open import MAX_STEP, OpenTask
from pygent_sdk import ChatMessage, ChatOptions, Event, Plugin, hookimpl
from pygent_sdk.reasoning import (
    TREE_SEARCH, InvalidProblem, InvalidSettings, Problem, ReasoningTask, TreeResult, TreeSearch,
    UnknownTask, collect_tasks,
)
from pygent_sdk.testing import PluginHarness, ScriptedChatModel

from .tot_kit import Letters, Slow, Unverified, game24_model, letters_script, stack

pytestmark = pytest.mark.anyio
STOPPED = {"solved", "exhausted", "depth", "budget_tokens", "budget_time", "budget_nodes", "cancelled"}


def scripted(script: Any, name: str = "scripted:tot") -> ScriptedChatModel:
    return ScriptedChatModel(script, name=name)


async def solve(model: Any, problem: str = "bca", *, task: str = "letters", h: list[Any] | None = None,
                **settings: Any) -> TreeResult:
    """Solve ``problem`` in a fresh kernel; the harness lands in ``h`` when given."""
    async with PluginHarness(*stack(model)) as harness:
        tot = harness.kernel.hook.pygent_tree_search()
        result = await tot.solve(problem, task=task, settings=tot.settings(settings))
        if h is not None:
            h.append(harness)
            check_tree(harness.events_on("tot.>"), result)
        return result


def check_tree(events: Sequence[Event], result: TreeResult) -> None:
    """The events of ``result``'s session form a tree that matches the result."""
    mine = [e for e in events if e.session_id == result.session_id]
    proposed: dict[str, Any] = {}
    for e in mine:
        if e.topic == "tot.node.proposed":
            assert e.node_id not in proposed, f"{e.node_id} proposed twice"
            if e.parent_id is None:
                assert (e.node_id, e.depth, proposed) == ("n0", 0, {})
            else:
                assert e.parent_id in proposed, f"{e.node_id}'s parent {e.parent_id} was not proposed before"
                assert e.depth == proposed[e.parent_id].depth + 1
            proposed[e.node_id] = e
        elif e.topic != "tot.finished":
            assert e.node_id in proposed and e.parent_id == proposed[e.node_id].parent_id
            assert e.depth == proposed[e.node_id].depth
    assert mine[-1].topic == "tot.finished" and mine[-1].stopped == result.stopped
    assert mine[-1].nodes == len(result.nodes) == len(proposed)
    assert [n.id for n in result.nodes] == list(proposed)
    assert result.path[0] == "n0"
    by_id = {n.id: n for n in result.nodes}
    for parent, child in zip(result.path, result.path[1:]):
        assert by_id[child].parent_id == parent
    for node in result.nodes:
        pruned = [e for e in mine if e.topic == "tot.node.pruned" and e.node_id == node.id]
        assert (node.status == "pruned") == bool(pruned) and (not pruned or pruned[-1].reason == node.reason)


def at_depth(result: TreeResult, depth: int, status: str | None = None) -> list[Any]:
    return [n for n in result.nodes if n.depth == depth and (status is None or n.status == status)]


# --- BFS, DFS, evaluators, generators ----------------------------------------------------------


async def test_bfs_keeps_exactly_breadth_per_layer_and_stops_on_a_verified_solution() -> None:
    h: list[Any] = []
    result = await solve(scripted(letters_script({"b": "sure", "bc": "sure"}, extra="x")),
                         h=h, breadth=2, n_evaluate=1)
    assert result.stopped == "solved" and result.answer == "bca" and result.verified is True
    assert result.confidence == 1.0 and result.solved
    states = {n.id: n.state for n in result.nodes}
    assert [states[i] for i in result.path] == ["", "b", "bc", "bca"]
    for depth in (1, 2):
        assert len(at_depth(result, depth, "kept")) == 2  # exactly b, the rest pruned
        evaluated = [n for n in at_depth(result, depth) if n.value is not None]
        assert len(evaluated) == 3 * depth
        assert sum(n.reason == "not among the best 2" for n in at_depth(result, depth)) == 3 * depth - 2
        assert sum(n.reason == "x is not a, b or c" for n in at_depth(result, depth)) == depth
    assert {n.state for n in at_depth(result, 1, "kept")} == {"a", "b"}
    # the solution ends the search at once: nothing after bca was proposed
    assert result.nodes[-1].state == "bca" and result.nodes[-1].status == "solution"
    assert [e.answer for e in h[0].events_on("tot.solution")] == ["bca"]


async def test_bfs_on_game24_keeps_b_and_finds_a_verified_expression() -> None:
    h: list[Any] = []
    result = await solve(game24_model(), "4 9 10 13", task="game24", h=h, breadth=5, n_evaluate=1)
    assert result.stopped == "solved" and result.verified and result.answer
    assert len(at_depth(result, 1, "kept")) == 5 and len(at_depth(result, 2, "kept")) == 5
    assert len(at_depth(result, 1)) == 8  # every proposal of the root became a node
    assert result.settings["breadth"] == 5 and result.model_calls > 0 and result.usage.total_tokens > 0
    assert 0 < result.model_seconds <= result.seconds


async def test_dfs_backtracks_out_of_a_misleading_branch_and_prunes_below_the_threshold() -> None:
    h: list[Any] = []
    values = {"a": "sure", "b": "likely", "c": "impossible"}
    result = await solve(scripted(letters_script(values)), h=h, search="dfs", breadth=3,
                         n_evaluate=1, value_threshold=1.0)
    assert result.stopped == "solved" and result.answer == "bca"
    by_state = {n.state: n for n in result.nodes}
    assert by_state["c"].status == "pruned" and "below the threshold 1" in by_state["c"].reason
    # 'a' was valued best and searched first: every one of its leaves refuted, then backtracked
    refuted = [n for n in result.nodes if n.state.startswith("a") and n.depth == 3]
    assert len(refuted) == 9 and all(n.reason == "the verifier refutes it" for n in refuted)
    assert by_state["a"].id < by_state["ba"].id
    assert [by_state[s].id for s in ("", "b", "bc", "bca")] == list(result.path)


async def test_dfs_step_limit_stops_with_the_best_partial_result() -> None:
    result = await solve(scripted(letters_script({"a": "sure"})), search="dfs", breadth=3,
                         n_evaluate=1, max_nodes=5)
    assert result.stopped == "budget_nodes" and len(result.nodes) == 6  # the root and 5
    assert result.path[0] == "n0" and len(result.path) >= 2
    assert result.answer is not None and result.verified is False  # written from the best state, refuted
    best = next(n for n in result.nodes if n.id == result.solution_id)
    assert best.status == "kept" and best.answer == result.answer and best.id == result.path[-1]


async def test_vote_evaluator_values_states_by_their_votes() -> None:
    h: list[Any] = []
    model = scripted(letters_script())
    result = await solve(model, h=h, evaluator="vote", n_evaluate=3, breadth=1)
    assert result.stopped == "solved" and result.answer == "bca"
    layer1 = at_depth(result, 1)
    assert sorted(n.value for n in layer1) == [0.0, 0.0, 3.0]
    assert {n.state: n.value for n in layer1}["b"] == 3.0
    votes = [c for c in model.calls if "Choice 1:" in c[0][-1].content]
    assert len(votes) == 6  # 3 per evaluated layer
    assert result.confidence == 1.0


async def test_sample_generator_asks_n_generate_times_per_state_and_merges_duplicates() -> None:
    model = scripted(letters_script())
    result = await solve(model, generator="sample", n_generate=4, breadth=1, n_evaluate=1, depth=1,
                         task="unverified")
    samples = [c for c in model.calls if c[0][-1].content.startswith("sample: ")]
    assert len(samples) == 4
    assert sorted(n.state for n in at_depth(result, 1)) == ["a", "b", "c"]  # a, b, c, a: merged


async def test_identical_value_prompts_are_asked_once() -> None:
    h: list[Any] = []
    calls: list[str] = []

    def script(messages: Sequence[ChatMessage], options: ChatOptions) -> str:
        text = messages[-1].content
        calls.append(text)
        if "Possible next steps" in text:
            return ("4 + 9 = 13 (left: 10 13 13)\n9 + 4 = 13 (left: 10 13 13)\n13 - 10 = 3 (left: 3 4 9)\n"
                    "4 + 7 = 11\n7 * 4 = 28\n4 + 7 = 11")
        return "likely"

    result = await solve(scripted(script), "4 9 10 13", task="game24", h=h, breadth=3, depth=1,
                         n_evaluate=2)
    values = [c for c in calls if "can reach 24" in c]
    assert len(values) == 4  # two distinct prompts, two samples each
    assert result.cache_hits == 1
    cached = [e for e in h[0].events_on("tot.node.evaluated") if e.cached]
    assert len(cached) == 1 and cached[0].value == 2.0
    rejected = [n.thought for n in result.nodes if n.reason == "uses 7, which is not left (4 9 10 13)"]
    assert rejected == ["4 + 7 = 11", "7 * 4 = 28"]  # the same reason twice, the same line once


async def test_layer_calls_run_concurrently_under_the_bound() -> None:
    model = Slow(letters_script(), 0.02, name="scripted:slow")
    result = await solve(model, task="unverified", breadth=3, depth=2, n_evaluate=2, concurrency=3)
    assert model.most == 3
    assert result.model_seconds > result.seconds  # calls overlapped


async def test_a_failing_model_call_raises_its_own_error() -> None:
    def script(messages: Sequence[ChatMessage], options: ChatOptions) -> str:
        if messages[-1].content.startswith("value: b"):
            raise RuntimeError("the model broke")
        return letters_script()(messages, options)

    with pytest.raises(RuntimeError, match="the model broke"):
        await solve(scripted(script), n_evaluate=2)


# --- budgets, stop and cancel ------------------------------------------------------------------


async def test_node_budget_stops_with_a_partial_result() -> None:
    h: list[Any] = []
    result = await solve(scripted(letters_script()), h=h, max_nodes=4, breadth=2, task="unverified")
    assert result.stopped == "budget_nodes" and len(result.nodes) == 5
    assert result.answer is not None  # written from the best state reached
    assert h[0].events_on("tot.finished")[-1].stopped == "budget_nodes"


async def test_token_budget_stops_with_a_partial_result() -> None:
    result = await solve(scripted(letters_script()), max_tokens=10, breadth=2, n_evaluate=1,
                         task="unverified")
    assert result.stopped == "budget_tokens"
    assert 10 <= result.usage.total_tokens < 40 and result.model_calls < 8
    assert result.answer is not None and result.path[0] == "n0"


async def test_time_budget_cancels_calls_in_flight() -> None:
    model = Slow(letters_script(), 0.05, name="scripted:slow")
    began = time.monotonic()
    result = await solve(model, max_seconds=0.3, concurrency=1, breadth=3, n_evaluate=3)
    assert result.stopped == "budget_time" and time.monotonic() - began < 2
    assert result.answer in ("a", "b", "c") and result.verified is False  # written from the best state
    stuck = Slow(letters_script(), 30, name="scripted:stuck")
    began = time.monotonic()
    result = await solve(stuck, max_seconds=0.2)
    assert result.stopped == "budget_time" and time.monotonic() - began < 2 and result.model_calls == 0
    assert result.answer is None and result.path == ("n0",)


async def test_stop_signal_ends_the_search_even_during_a_call() -> None:
    model = Slow(letters_script(), 30, name="scripted:stuck")
    async with PluginHarness(*stack(model)) as h:
        tot = h.kernel.hook.pygent_tree_search()
        began = time.monotonic()
        result = await tot.solve("bca", task="letters", stop=lambda: time.monotonic() - began > 0.2)
        assert result.stopped == "cancelled" and result.answer is None
        assert time.monotonic() - began < 2
        stops = iter([False, False, True])
        result = await tot.solve("bca", task="unverified", stop=lambda: next(stops, True),
                                 settings=tot.settings({"n_evaluate": 1}))
        assert result.stopped == "cancelled" and result.answer is None
        check_tree(h.events_on("tot.>"), result)


async def test_cancelling_the_caller_cancels_the_search() -> None:
    model = Slow(letters_script(), 30, name="scripted:stuck")
    async with PluginHarness(*stack(model)) as h:
        tot = h.kernel.hook.pygent_tree_search()
        before = len(asyncio.all_tasks())
        began = time.monotonic()
        with anyio.move_on_after(0.2):
            await tot.solve("bca", task="letters", settings=tot.settings({"concurrency": 8}))
        assert time.monotonic() - began < 2
        assert len(asyncio.all_tasks()) == before and model.in_flight == 0
        finished = await h.wait_for("tot.finished")
        assert finished.stopped == "cancelled" and not finished.solved


# --- settings, tasks, errors and hooks ---------------------------------------------------------


async def test_bad_requests_get_clear_errors() -> None:
    async with PluginHarness(*stack(scripted(letters_script()), breadth=3)) as h:
        tot = h.kernel.hook.pygent_tree_search()
        assert tot.settings().breadth == 3 and tot.settings({"depth": 2}).depth == 2
        with pytest.raises(UnknownTask, match=r"'chess'.*game24, letters, open, unverified"):
            await tot.solve("e4", task="chess")
        with pytest.raises(InvalidProblem, match="'open'.*empty"):
            await tot.solve("   ", task="open")
        with pytest.raises(InvalidProblem, match="game24.*four numbers"):
            await tot.solve("4 9 10", task="game24")
        with pytest.raises(InvalidSettings, match=r"breadth: .*greater than or equal to 1 \(got 0\)"):
            tot.settings({"breadth": 0})
        with pytest.raises(InvalidSettings, match=r"depth: .*less than or equal to 12 \(got 1000\)"):
            tot.settings({"depth": 1000})
        with pytest.raises(InvalidSettings, match=r"colour: unknown setting \(known: generator, "):
            tot.settings({"colour": "red"})
        with pytest.raises(InvalidSettings, match="search: .*'bfs' or 'dfs'.*; breadth"):
            tot.settings({"search": "astar", "breadth": -1})


async def test_hook_pygent_reasoning_tasks() -> None:
    async with PluginHarness(*stack(scripted(letters_script()))) as h:
        names = sorted(t.name for tasks in h.kernel.hook.pygent_reasoning_tasks() for t in tasks)
        assert names == ["game24", "letters", "open", "unverified"]
        assert all(isinstance(t, ReasoningTask) for tasks in h.kernel.hook.pygent_reasoning_tasks() for t in tasks)


async def test_hook_pygent_tree_search() -> None:
    async with PluginHarness(*stack(scripted(letters_script()))) as h:
        tot = h.kernel.hook.pygent_tree_search()
        assert isinstance(tot, TreeSearch) and tot is h.plugin("tot").context.service(TREE_SEARCH)
        assert sorted(tot.tasks()) == ["game24", "letters", "open", "unverified"]
        assert (await h.kernel.health()).plugins["tot"].detail.startswith("tasks game24, letters, open")


class Shadow(Plugin):
    """Contributes a second task named letters."""

    @hookimpl
    def pygent_reasoning_tasks(self) -> list[ReasoningTask]:
        class Other(Letters):
            description = "the other letters"

        return [Other()]


async def test_a_task_name_contributed_twice_keeps_one_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    plugins, config = stack(scripted(letters_script()))
    with caplog.at_level(logging.WARNING):
        async with PluginHarness({**plugins, "shadow": Shadow, "cot": CotPlugin}, config) as h:
            tasks = h.kernel.hook.pygent_tree_search().tasks()
            assert tasks["letters"].description in ("Spell a word of a, b and c.", "the other letters")
            cot = h.kernel.hook.pygent_chain_of_thought()
            chosen = cot.task("letters")
            assert chosen.description == tasks["letters"].description  # the same rule
            assert cot.task("letters") is chosen  # collected once
            assert h.kernel.hook.pygent_tree_search().tasks()["letters"] is tasks["letters"]
    twice = [r for r in caplog.records if "reasoning task 'letters' is contributed twice" in r.getMessage()]
    assert len(twice) == 2  # once by the tot engine, once by cot


def test_collect_tasks_keeps_the_first_of_a_name_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    class Other(Letters):
        pass

    first, second, unverified = Letters(), Other(), Unverified()

    class Hook:
        @staticmethod
        def pygent_reasoning_tasks() -> list[Any]:
            return [[first], None, [second, unverified]]

    with caplog.at_level(logging.WARNING):
        tasks = collect_tasks(Hook(), logging.getLogger("test"))
    assert tasks == {"letters": first, "unverified": unverified}
    assert "reasoning task 'letters' is contributed twice; the first (Letters) wins" in caplog.text


async def test_a_third_party_task_without_a_verifier_is_answered_from_its_best_final_state() -> None:
    h: list[Any] = []
    values = {"c": "sure", "cba": "sure"}
    result = await solve(scripted(letters_script(values)), task="unverified", h=h, breadth=2, n_evaluate=1)
    assert result.stopped == "solved" and result.verified is None
    assert result.answer == "cba" and result.solved
    assert 0 < result.confidence < 1  # the path's mean normalised value, not a constant
    assert result.confidence == pytest.approx((20 + 1 + 20) / 20 / 3)
    solution = h[0].events_on("tot.solution")
    assert [e.answer for e in solution] == ["cba"] and solution[0].verified is None


# --- the open task -----------------------------------------------------------------------------


def test_open_task_parses_short_steps_and_knows_final_states() -> None:
    task = OpenTask()
    problem = task.problem("  Why is the sky blue? ", context="[1] Rayleigh scattering")
    assert problem.text == "Why is the sky blue?"
    reply = ("Step 1: Light scatters off air molecules.\n\n1. Light scatters off air molecules.\n"
             "- Question: Why is the sky blue?\nStep 1: " + " ".join(f"long{k}" for k in range(100)) +
             "\nStep 1: Final answer: blue light")
    proposals = task.parse_proposals(problem, "", reply)
    assert [p.thought[:20] for p in proposals] == ["Light scatters off a", "long0 long1 long2 lo",
                                                   "Final answer: blue l"]
    assert all(len(p.thought) <= MAX_STEP for p in proposals)
    assert proposals[0].state == "Step 1: Light scatters off air molecules."
    assert not task.is_final(problem, proposals[0].state) and task.is_final(problem, proposals[2].state)
    deeper = task.parse_proposals(problem, proposals[0].state, "Step 2: Light scatters off air molecules.\nStep 2: Blue scatters most.")
    assert [p.state for p in deeper] == ["Step 1: Light scatters off air molecules.\nStep 2: Blue scatters most."]
    assert not task.is_final(problem, "\n".join(f"Step {k}: s{k}" for k in range(1, 7)))  # the depth limit ends it
    for messages in (task.propose_messages(problem, ""), task.value_messages(problem, "Step 1: a"),
                     task.answer_messages(problem, "Step 1: a")):
        assert messages[-1].content.startswith("Sources:\n[1] Rayleigh scattering")
    assert task.parse_value(problem, "Step 1: a", "Likely.") == 1.0


def test_open_task_drops_prompt_echoes_doubled_prefixes_and_repetitive_lines() -> None:
    """The lines a small model wrote (the audit's examples): only real steps are kept."""
    task = OpenTask()
    problem = task.problem("Plan a vegetable garden for a balcony")
    reply = "\n".join([
        "The first step is to write 3 different short steps, one per line, with no spaces between them.",
        "Step 2: The second step is to write 3 different short steps, one per line, with no spaces between them.",
        'Write 2 different short next steps, each as "Step 3: Planning a Vegetable Garden.',
        "1. 1.", "1. The next step is to write the answer to the previous step.",
        "Final answer: Step 2: " * 10,
        "Step 1: Step 1: Planning a vegetable garden on a small balcony",
        "1. - Step 1: Measure how much sun the balcony gets.",
        "Final answer: tomatoes in pots",
    ])
    thoughts = [p.thought for p in task.parse_proposals(problem, "", reply)]
    assert thoughts == ["Planning a vegetable garden on a small balcony",
                        "Measure how much sun the balcony gets.", "Final answer: tomatoes in pots"]


def open_script(messages: Sequence[ChatMessage], options: ChatOptions) -> str:
    """Two next steps per state, every state likely, the answer "done"."""
    text = messages[-1].content
    asked = re.search(r'short next steps, one per line, each as "Step (\d+)', text)
    if asked:
        k = asked.group(1)
        return f"Step {k}: idea {k}a\nStep {k}: idea {k}b"
    return "likely" if "Do these steps lead" in text else "Answer: done"


@pytest.mark.parametrize("depth", [2, 5])
async def test_depth_bounds_the_open_task_and_ends_states_there(depth: int) -> None:
    h: list[Any] = []
    model = scripted(open_script)
    result = await solve(model, "Why is the sky blue?", task="open", h=h, breadth=2, n_evaluate=1, depth=depth)
    assert max(n.depth for n in result.nodes) == depth  # reached, and not passed
    limit = at_depth(result, depth)
    assert len(limit) == 4 and all(n.state.count("\n") == depth - 1 for n in limit)
    answered = [n for n in limit if n.answer is not None]
    # nothing verifies open answers: only the most valuable kept state is answered (one call)
    assert len(answered) == 1 and answered[0].answer == "done" and answered[0].status == "solution"
    kept_values = [n.value for n in limit if n.status in ("kept", "solution")]
    assert answered[0].value == max(kept_values)
    writes = [c for c in model.calls if "Reasoning so far:" in c[0][-1].content]
    assert len(writes) == 1
    assert result.stopped == "solved" and result.answer == "done" and len(result.path) == depth + 1


async def test_no_state_beyond_the_root_means_no_answer_and_the_tree_shows_why() -> None:
    h: list[Any] = []
    prose = "No, no, no! You only get a remainder of 2 when you divide the number by 2."
    model = scripted(lambda messages, options: f"{prose}\nAnswer: 4 * 6 = 24")
    result = await solve(model, "4 9 10 13", task="game24", h=h)
    assert result.answer is None and result.stopped == "exhausted" and not result.solved
    assert result.solution_id is None and result.confidence == 0.0 and result.path == ("n0",)
    assert [(n.thought, n.status, n.reason) for n in result.nodes[1:]] == [
        (prose, "pruned", NOT_A_STEP), ("Answer: 4 * 6 = 24", "pruned", NOT_A_STEP)]
    assert len(model.calls) == 1  # the propose call; no answer written from the root
    silent = await solve(scripted(lambda messages, options: ""), "Why?", task="open")
    assert silent.answer is None and silent.stopped == "exhausted" and len(silent.nodes) == 1


async def test_no_answer_means_no_confidence() -> None:
    result = await solve(scripted(letters_script()), "ccc", breadth=1, n_evaluate=1)
    assert result.answer is None and result.stopped == "exhausted" and not result.solved
    assert all(n.reason == "the verifier refutes it" for n in at_depth(result, 3))  # every final state
    assert result.confidence == 0.0  # not the path's values (likely: 0.05)


async def test_open_on_the_embedded_model() -> None:
    """The real model (SmolLM2-135M): structure only, never wording."""
    plugins = {"llamacpp": LlamaCppPlugin, "models": ModelsPlugin, "tot": TotPlugin}
    async with PluginHarness(plugins, {"tot": {"oracle": False}}) as h:
        tot = h.kernel.hook.pygent_tree_search()
        settings = tot.settings({"breadth": 2, "depth": 2, "n_evaluate": 1, "max_reply_tokens": 64,
                                 "model": "llamacpp:smollm2", "max_seconds": 30, "concurrency": 1})
        began = time.monotonic()
        result = await tot.solve("Why do leaves change colour in autumn?", task="open", settings=settings)
        assert time.monotonic() - began < 50  # the budget, a quarter of it to write the answer, slack
        check_tree(h.events_on("tot.>"), result)
        assert result.stopped in STOPPED and result.model_calls >= 2
        reached = any(n.depth and n.status != "pruned" for n in result.nodes)  # else nothing to answer from
        if reached and result.stopped != "budget_time":  # past the budget the answer gets max_seconds / 4
            assert isinstance(result.answer, str) and result.answer.strip()
        assert result.verified is None
        assert 0.0 <= result.confidence <= 1.0 and result.usage.total_tokens > 0


async def test_problem_context_reaches_the_prompts() -> None:
    model = scripted(letters_script())
    async with PluginHarness(*stack(model)) as h:
        tot = h.kernel.hook.pygent_tree_search()
        await tot.solve("bca", task="letters", context="[1] spell it",
                        settings=tot.settings({"depth": 1, "n_evaluate": 1}))
    assert any(c[0][-1].content.startswith("Sources:\n[1] spell it") for c in model.calls)
    assert Problem("x", "y") == Letters().problem("x", "y")
