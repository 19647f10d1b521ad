"""``pygent reason`` on a scripted model: the tree on standard error, the solution path and the
answer on standard output, ``--json``, and bad input refused with exit status 2."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner
from pygent_plugins.models import ModelsPlugin
from pygent_plugins.reasoning import ReasoningPlugin
from pygent_plugins.tot import TotPlugin
from pygent_plugins.tot.oracle import Game24Oracle
from pygent_sdk.cli import CliContext
from pygent_sdk.testing import cli_context

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


def test_reason_json_prints_the_result(context: CliContext) -> None:
    ran = CliRunner().invoke(group(), ["reason", "Why is the sky blue?", "--task", "open", "--breadth", "2",
                                       "--depth", "2", "--search", "dfs", "--json"], obj=context)
    assert ran.exit_code == 0, ran.output
    result = json.loads(ran.stdout)
    assert result["mode"] == "tot_only" and result["answer"] and result["tree"]["settings"]["search"] == "dfs"
    assert_tree(result["tree"]["nodes"])
    assert "idea" not in ran.stderr  # no tree drawn


def test_reason_game24_shows_a_verified_solution_with_the_exact_checkable_model(context: CliContext) -> None:
    ScriptedProvider.models = [Game24Oracle(proposals=None, noise=0.0, seed=1, name="exact")]
    ran = CliRunner().invoke(group(), ["reason", "--task", "game24", "4 9 10 13", "-m", "exact"], obj=context)
    assert ran.exit_code == 0, ran.output
    assert "4 9 10 13" in ran.stderr and "(left: " in ran.stderr and "✓" in ran.stderr
    lines = ran.stdout.splitlines()
    path = lines.index("Solution path:")
    assert [line.split(".")[0] for line in lines[path + 1:path + 4]] == ["  1", "  2", "  3"]
    assert "(left: 24)" in lines[path + 3]
    answer = next(line for line in lines if line.startswith("Answer: "))
    assert "verified ✓" in answer, answer


@pytest.mark.parametrize(("args", "says"), [
    (["  "], "PROBLEM is empty"),
    (["x", "--mode", "psychic"], "'psychic' is not one of"),
    (["x", "--task", "chess"], "unknown task 'chess'"),
    (["x", "--breadth", "0"], "breadth"),
    (["x", "--depth", "1000"], "depth"),
    (["1 2 3", "--task", "game24"], "game24"),
])
def test_reason_refuses_bad_input_with_status_2(context: CliContext, args: list[str], says: str) -> None:
    ran = CliRunner().invoke(group(), ["reason", *args], obj=context)
    assert ran.exit_code == 2, ran.output
    assert says in ran.output
