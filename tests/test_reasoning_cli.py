"""``pygent reason`` on a scripted model: the tree on standard error, the solution path and the
answer on standard output, ``--json``, and bad input refused with exit status 2."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from typing import Any

import click
import pytest
from click.testing import CliRunner
from pygent_plugins.models import ModelsPlugin
from pygent_plugins.reasoning import ReasoningPlugin, cli
from pygent_plugins.reasoning.cli import ORACLE_TIP, draw
from pygent_plugins.tot import TotPlugin
from pygent_sdk import ChatMessage, ChatOptions
from pygent_sdk.cli import CliContext
from pygent_sdk.jobs import JobsBusy
from pygent_sdk.testing import ScriptedChatModel, cli_context

from .agent_kit import ScriptedProvider
from .test_reasoning_api import OpenModel, assert_tree


def group() -> click.Group:
    cli = click.Group("pygent")
    ReasoningPlugin.pygent_cli_commands(cli=cli)
    return cli


@pytest.fixture
def context() -> CliContext:
    ScriptedProvider.models = [OpenModel()]
    return cli_context({"models": ModelsPlugin, "scripted": ScriptedProvider, "tot": TotPlugin,
                        "reasoning": ReasoningPlugin},
                       {"models": {"default": "open"}, "reasoning": {"mode": "tot_only"}})


def test_reason_draws_the_tree_and_prints_the_solution_path(context: CliContext) -> None:
    ran = CliRunner().invoke(group(), ["reason", "What is six times seven?", "--task", "open",
                                       "--breadth", "2", "--depth", "2"], obj=context)
    assert ran.exit_code == 0, ran.output
    assert "What is six times seven?" in ran.stderr and "idea 1a" in ran.stderr  # the tree
    assert "├──" in ran.stderr or "└──" in ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0].startswith("Mode: tot_only")
    path = lines.index("Solution path:")
    assert lines[path + 1].startswith("  1. idea 1") and "(value" in lines[path + 1]
    assert lines[path + 2].startswith("  2. idea 2")
    for label in ("Answer: ", "Confidence: ", "Search: ", "Timings: ", "Tokens: "):
        assert any(line.startswith(label) for line in lines), (label, ran.stdout)
    search = next(line for line in lines if line.startswith("Search: "))
    assert re.match(r"Search: answered \(no verifier\) after \d+ node\(s\) \(root included\)", search), search
    assert "Sources:" not in ran.stdout  # tot_only retrieves nothing


def test_reason_json_prints_the_result(context: CliContext) -> None:
    ran = CliRunner().invoke(group(), ["reason", "Why is the sky blue?", "--task", "open", "--breadth", "2",
                                       "--depth", "2", "--search", "dfs", "--json"], obj=context)
    assert ran.exit_code == 0, ran.output
    result = json.loads(ran.stdout)
    assert result["mode"] == "tot_only" and result["answer"] and result["tree"]["settings"]["search"] == "dfs"
    assert_tree(result["tree"]["nodes"])
    assert "idea" not in ran.stderr  # no tree drawn


def test_reason_game24_shows_a_verified_solution_with_the_checkable_oracle(context: CliContext) -> None:
    ran = CliRunner().invoke(group(), ["reason", "--task", "game24", "4 9 10 13", "--model", "oracle:game24"],
                             obj=context)
    assert ran.exit_code == 0, ran.output
    assert "4 9 10 13" in ran.stderr and "(left: " in ran.stderr and "✓" in ran.stderr
    assert "Tip:" not in ran.stderr
    lines = ran.stdout.splitlines()
    path = lines.index("Solution path:")
    assert [line.split(".")[0] for line in lines[path + 1:path + 4]] == ["  1", "  2", "  3"]
    assert "(left: 24)" in lines[path + 3]
    answer = next(line for line in lines if line.startswith("Answer: "))
    assert "verified ✓" in answer, answer
    assert any(line.startswith("Search: solved (verified) after ") for line in lines), ran.stdout


@pytest.mark.parametrize(("args", "says"), [
    (["  "], "PROBLEM is empty"),
    (["x", "--mode", "psychic"], "mode: unknown mode 'psychic'"),
    (["x", "--mode", "cot"], "mode: 'cot' is not requestable: "),
    (["x", "--task", "chess"], "unknown task 'chess'"),
    (["x", "--breadth", "0"], "breadth"),
    (["x", "--depth", "1000"], "depth"),
    (["1 2 3", "--task", "game24"], "game24"),
    (["² 3 4 5", "--task", "game24"], "game24"),
    (["x", "--model", "nope"], "model: No chat model 'nope'"),
])
def test_reason_refuses_bad_input_with_status_2(context: CliContext, args: list[str], says: str) -> None:
    ran = CliRunner().invoke(group(), ["reason", *args], obj=context)
    assert ran.exit_code == 2, ran.output
    assert says in ran.output


def adder(messages: Sequence[ChatMessage], options: ChatOptions) -> str:
    """A game24 model that always adds the first two numbers left and values every state
    "likely": its one final state (36 for 4 9 10 13) is refuted, so the search has no answer."""
    text = messages[-1].content
    if "Possible next steps" not in text:
        return "likely"
    a, b, *rest = re.findall(r"Input: (.*)", text)[-1].split()
    left = " ".join(sorted([*rest, str(int(a) + int(b))], key=int))
    return f"{a} + {b} = {int(a) + int(b)} (left: {left})"


def test_reason_without_a_solution_says_so_plainly_and_tips_the_checkable_oracle(context: CliContext) -> None:
    ScriptedProvider.models = [ScriptedChatModel(adder, name="open")]
    ran = CliRunner().invoke(group(), ["reason", "--task", "game24", "4 9 10 13"], obj=context)
    assert ran.exit_code == 1, ran.output
    assert "Answer: no solution found" in ran.stdout.splitlines()
    assert "Best path (no solution):" in ran.stdout.splitlines()
    assert "verifiable" not in ran.output
    assert ran.stderr.endswith(f"Tip: {ORACLE_TIP}\n"), ran.stderr
    assert "4 9 10 13\n" in ran.stderr  # the drawn tree (its root) ends its line


def test_reason_redraws_a_growing_tree_a_few_times_a_second_and_draws_every_node_at_the_end(
        context: CliContext, monkeypatch: pytest.MonkeyPatch) -> None:
    ScriptedProvider.models = [OpenModel(delay=0.002)]
    drawn: list[int] = []

    def counting(problem: str, nodes: Any) -> Any:
        nodes = list(nodes)
        drawn.append(len(nodes))
        return draw(problem, nodes)

    monkeypatch.setattr(cli, "draw", counting)
    began = time.monotonic()
    ran = CliRunner().invoke(group(), ["reason", "Plan a trip", "--task", "open", "--breadth", "3",
                                       "--depth", "4"], obj=context)
    seconds = time.monotonic() - began
    assert ran.exit_code == 0, ran.output
    nodes = int(re.search(r"after (\d+) node\(s\)", ran.stdout).group(1))
    assert nodes > 20
    assert len(drawn) <= 3 + seconds * cli.REDRAWS_PER_S, (len(drawn), seconds, nodes)  # not one per event
    assert drawn[-1] == nodes  # the final drawing: the result's whole tree
    assert sum(line.lstrip("│ ").startswith(("├──", "└──")) for line in ran.stderr.splitlines()) == nodes - 1


def test_reason_exits_3_when_another_process_holds_a_lock(context: CliContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """The FAISS store refuses a second process with an error raised from a refused flock
    (BlockingIOError): not bad input (2) but busy (3), with what to do."""
    from pygent_plugins.reasoning.pipeline import Pipeline
    from pygent_sdk.vectors import VectorError

    async def locked(*args: Any, **kwargs: Any) -> None:
        try:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        except BlockingIOError:
            raise VectorError("faiss: another process holds the lock .pygent/faiss/LOCK") from None

    monkeypatch.setattr(Pipeline, "run", locked)
    ran = CliRunner().invoke(group(), ["reason", "x"], obj=context)
    assert ran.exit_code == 3, ran.output
    assert "holds the lock .pygent/faiss/LOCK" in ran.output and "try again when it ends" in ran.output
    assert not cli.busy(VectorError("faiss: unknown collection")) and cli.busy(JobsBusy("owned"))


def node(id: str, parent: str | None, depth: int, value: float | None, status: str = "evaluated") -> dict[str, Any]:
    return {"id": id, "parent_id": parent, "depth": depth, "thought": f"step {id}", "value": value,
            "status": status}


def test_the_best_path_reached_is_the_result_path_else_the_deepest_best_state() -> None:
    nodes = {n["id"]: n for n in (node("n0", None, 0, None), node("n1", "n0", 1, 1.0), node("n2", "n0", 1, 3.0),
                                  node("n3", "n2", 2, 0.5), node("n4", "n1", 2, 9.0, "pruned"))}
    assert [n["id"] for n in cli.best_reached(nodes, ["n0", "n1", "n4"])] == ["n1", "n4"]
    assert [n["id"] for n in cli.best_reached(nodes, ["n0"])] == ["n2", "n3"]  # a refuted answer at the root
    assert cli.best_reached({"n0": nodes["n0"]}, ["n0"]) == []


def test_the_search_line_says_solved_only_when_verified_and_counts_the_root() -> None:
    tree = {"stopped": "solved", "nodes": [{}] * 4, "model_calls": 2, "cache_hits": 0}
    assert cli.search_line({**tree, "verified": True}).startswith("solved (verified) after 4 node(s) (root included)")
    assert cli.search_line({**tree, "verified": None}).startswith("answered (no verifier) after 4 node(s)")
    assert cli.search_line({**tree, "stopped": "exhausted", "verified": None}).startswith("exhausted after")


def test_sources_and_search_rounds_are_listed_one_a_line() -> None:
    passages = [{"number": 1, "source": "jobs.md", "heading": "Jobs › Restart", "similarity": 0.6123, "cited": True},
                {"number": 2, "source": "reasoning.md", "heading": "", "similarity": None, "cited": False}]
    assert cli.sources(passages) == ["  [1] jobs.md › Jobs › Restart  (cited, similarity 0.61)",
                                     "  [2] reasoning.md  (not cited)"]
    searches = [{"round": 1, "query": "job restart", "query_from": "model", "retrieved": 8, "kept": 2,
                 "decision": "enough: 2 passage(s) kept"}]
    assert cli.rounds(searches) == ["  1. 'job restart' (query from model): retrieved 8, kept 2; "
                                    "enough: 2 passage(s) kept"]


def test_best_reached_never_shows_a_rejected_line_as_a_step() -> None:
    from pygent_plugins.reasoning.cli import best_reached

    def node(id: str, parent: str | None, depth: int, status: str, value: float | None = None) -> dict[str, Any]:
        return {"id": id, "parent_id": parent, "depth": depth, "status": status, "value": value}

    rejected = {n["id"]: n for n in (node("n0", None, 0, "evaluated"), node("n1", "n0", 1, "pruned"))}
    assert best_reached(rejected, ["n0"]) == []  # printed as "Best path: none"
    kept = {**rejected, "n2": node("n2", "n0", 1, "kept", 20.0), "n3": node("n3", "n2", 2, "pruned", 1.0)}
    assert [n["id"] for n in best_reached(kept, ["n0"])] == ["n2"]
