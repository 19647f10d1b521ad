"""The checkable Game of 24 oracle (plugins/tot/oracle.py) and bench/reasoning.py's machinery
part on a few puzzles of the test split."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest
from pygent_plugins.tot.oracle import Game24Oracle, last_input, solvable, steps
from pygent_plugins.tot.tasks.game24 import Game24
from pygent_sdk import ChatMessage
from pygent_sdk.models import ModelOperationUnsupported

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "reasoning.py"
LINE = re.compile(r"^(\S+) ([-+*/]) (\S+) = (\S+) \(left: ([^)]*)\)$")
VALUE = "Evaluate if given numbers can reach 24 (sure/likely/impossible)\n"
PROPOSE = "Input: 2 8 8 14\nPossible next steps:\n2 + 8 = 10 (left: 8 10 14)\n"


def propose_prompt(numbers: str) -> str:
    return f"{PROPOSE}Input: {numbers}\nPossible next steps:\n"


def value_prompt(numbers: str) -> str:
    return f"{VALUE}Input: 10 14\n10 + 14 = 24\nsure\nInput: {numbers}\n"


def numbers_of(text: str) -> Counter[Fraction]:
    return Counter(Fraction(w) for w in text.split())


def apply(a: Fraction, op: str, b: Fraction) -> Fraction:
    return {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else None}[op]


@pytest.mark.parametrize("numbers", ["4 9 10 13", "1 1 4 6", "3 3 8 8", "2 7/2 5", "5 5", "1/3 8"])
def test_proposals_are_legal_steps_drawn_from_all(numbers: str) -> None:
    everything = Game24Oracle(proposals=None, seed=1).reply(propose_prompt(numbers)).splitlines()
    assert len(everything) == len(set(everything)) == len(steps(tuple(numbers_of(numbers).elements())))
    for line in everything:
        a, op, b, c, left = LINE.match(line).groups()  # type: ignore[union-attr]
        a, b, c = Fraction(a), Fraction(b), Fraction(c)
        rest = numbers_of(numbers) - Counter([a, b])
        assert sum(rest.values()) == len(numbers.split()) - 2, line  # both operands were there
        assert apply(a, op, b) == c and c >= 0, line
        assert numbers_of(left) == rest + Counter([c]), line
        assert left.split() == [str(n) for n in sorted(numbers_of(left).elements())], line
    eight = Game24Oracle(proposals=8, seed=2).reply(propose_prompt(numbers)).splitlines()
    assert len(eight) == min(8, len(everything)) and set(eight) <= set(everything)
    assert Game24Oracle(proposals=1, seed=3).reply(propose_prompt(numbers)).count("\n") == 0


def test_proposals_follow_the_last_input_line_and_the_seed() -> None:
    a = Game24Oracle(proposals=8, seed=5).reply(propose_prompt("1 2 3 4"))
    assert a == Game24Oracle(proposals=8, seed=5).reply(propose_prompt("1 2 3 4"))
    assert "14" not in a  # the few-shot example's numbers are not the input
    assert a != Game24Oracle(proposals=8, seed=6).reply(propose_prompt("1 2 3 4"))


@pytest.mark.parametrize("numbers", ["4 9 10 13", "1 1 4 6", "3 3 8 8", "1 5 5 5", "1 3 4 6",
                                     "4 6", "24", "1/3 8", "3 8 1"])
def test_solvable_sets_are_sure(numbers: str) -> None:
    assert solvable(list(numbers_of(numbers).elements()))
    assert Game24Oracle(noise=0).reply(value_prompt(numbers)) == "sure"


@pytest.mark.parametrize("numbers", ["1 1 1 1", "1 1 2 3", "13 13 13 13", "1 1 1 2", "5 5", "23",
                                     "1 2", "7/2 5"])
def test_unsolvable_sets_are_impossible(numbers: str) -> None:
    assert not solvable(list(numbers_of(numbers).elements()))
    assert Game24Oracle(noise=0).reply(value_prompt(numbers)) == "impossible"


def test_every_puzzle_of_the_data_set_is_solvable() -> None:
    with (ROOT / "bench" / "data" / "game24.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1362 and [int(r["rank"]) for r in rows[900:1000]] == list(range(901, 1001))
    assert all(solvable([Fraction(n) for n in r["puzzle"].split()]) for r in rows[900:1000])


def test_noise_flips_about_p_of_the_verdicts() -> None:
    oracle = Game24Oracle(noise=0.2, seed=11)
    sure = Counter(oracle.reply(value_prompt("4 9 10 13")) for _ in range(4000))
    impossible = Counter(oracle.reply(value_prompt("1 1 1 1")) for _ in range(4000))
    assert 0.17 < sure["impossible"] / 4000 < 0.23 and sure["sure"] + sure["impossible"] == 4000
    assert 0.17 < impossible["sure"] / 4000 < 0.23
    exact = Game24Oracle(noise=0.0, seed=11)
    assert {exact.reply(value_prompt("4 9 10 13")) for _ in range(500)} == {"sure"}


def test_a_direct_prompt_gets_a_random_legal_chain() -> None:
    oracle = Game24Oracle(seed=4)  # exact: the direct prompt is random play all the same
    right = 0
    for _ in range(300):
        reply = oracle.reply("Use numbers and basic arithmetic operations to obtain 24.\nInput: 1 1 4 6\n")
        lines = reply.splitlines()
        assert lines[0] == "Steps:" and len(lines) == 5 and all(LINE.match(s) for s in lines[1:4])
        expression = re.fullmatch(r"Answer: (.+) = 24", lines[-1]).group(1)  # type: ignore[union-attr]
        assert sorted(re.findall(r"\d+", expression)) == sorted(["1", "1", "4", "6"])
        value = eval(re.sub(r"(\d+)", r"Fraction(\1)", expression), {"Fraction": Fraction})
        assert value == Fraction(LINE.match(lines[3]).group(4))  # type: ignore[union-attr]
        right += value == 24
    assert 5 < right < 60  # random play (1 1 4 6 has many solutions): sometimes right


def vote_prompt(states: list[str]) -> str:
    return Game24().vote_messages(Game24().problem("4 9 10 13"), states)[-1].content


def test_votes_pick_a_choice_that_can_still_reach_24() -> None:
    dead = "4 + 9 = 13 (left: 10 13 13)"  # 10 13 13 cannot reach 24
    alive = "10 - 4 = 6 (left: 6 9 13)"  # (13 - 9) * 6
    states = [dead, f"{alive}\n13 - 9 = 4 (left: 4 6)", dead + "\n13 - 10 = 3 (left: 3 13)", ""]
    exact = Game24Oracle(seed=1)
    picks = Counter(exact.reply(vote_prompt(states)) for _ in range(200))
    assert set(picks) == {"The best choice is 2", "The best choice is 4"}  # the start state can too
    assert Game24().parse_vote("The best choice is 2", 4) == 1
    noisy = Game24Oracle(noise=0.3, seed=2)
    wrong = sum(noisy.reply(vote_prompt([dead, alive])) == "The best choice is 1" for _ in range(1000))
    assert 240 < wrong < 360  # a wrong pick with probability noise


def test_other_prompts_raise_a_model_error_and_bad_settings_are_refused() -> None:
    for prompt in ("What is the capital of France?", "Question: Why?\nSteps so far:\nInput: 1 2 3 4\n"):
        with pytest.raises(ModelOperationUnsupported, match="oracle:game24 serves the game24 task only"):
            Game24Oracle().reply(prompt)
    assert last_input("Input: 1 x 3") is None and last_input("Input: 3 7/2") == (3, Fraction(7, 2))
    with pytest.raises(ValueError, match="proposals"):
        Game24Oracle(proposals=0)
    with pytest.raises(ValueError, match="noise"):
        Game24Oracle(noise=1.5)


@pytest.mark.anyio
async def test_the_oracle_streams_with_estimated_usage() -> None:
    response = await Game24Oracle(proposals=8, seed=1).chat([ChatMessage("user", propose_prompt("4 9 10 13"))])
    assert response.finish_reason == "stop" and len(response.text.splitlines()) == 8
    assert response.usage.prompt_tokens > 10 and response.usage.completion_tokens > 10
    assert response.model == "oracle:game24"


def test_the_game24_task_accepts_every_oracle_line() -> None:
    task = Game24()
    problem = task.problem("4 9 10 13")
    oracle = Game24Oracle(proposals=None, noise=0.0, seed=0)
    state = ""
    for _ in range(3):
        text = oracle.reply(task.propose_messages(problem, state)[-1].content)
        proposals = task.parse_proposals(problem, state, text)
        assert len(proposals) == len(text.splitlines()) and all(p.rejected is None for p in proposals)
        sure = [p for p in proposals
                if oracle.reply(task.value_messages(problem, p.state)[-1].content) == "sure"]
        state = sure[0].state
    assert task.verify(problem, task.final_answer(problem, state) or "")
    direct = oracle.reply(task.direct_messages(problem, chain=True)[-1].content)
    assert task.extract_answer(problem, direct) == re.search(r"Answer: (.+) = 24", direct).group(1)  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_the_tot_plugin_offers_the_exact_and_the_noisy_oracle_unless_configured_off() -> None:
    from pygent_sdk.models import CHAT_MODEL
    from pygent_sdk.reasoning import TREE_SEARCH
    from pygent_sdk.testing import PluginHarness

    async with PluginHarness(["models", "tot"], {"models": {"default": "oracle:game24"}}) as h:
        exact = h.kernel.service(CHAT_MODEL, name="oracle:game24")
        noisy = h.kernel.service(CHAT_MODEL, name="oracle:game24-noisy")
        assert "no language model: every legal step, an exact evaluator" in exact.description
        assert "8 random legal steps, an evaluator wrong with probability 0.2" in noisy.description
        tot = h.kernel.service(TREE_SEARCH)
        for _ in range(5):  # the checkable setup: a verified solution every time
            result = await tot.solve("4 9 10 13", task="game24", settings=tot.settings({"model": "oracle:game24"}))
            assert result.solved and result.verified and result.stopped == "solved", result.stopped
        for search in ("bfs", "dfs"):  # the oracle votes as exactly as it values
            settings = tot.settings({"model": "oracle:game24", "evaluator": "vote", "search": search})
            result = await tot.solve("4 9 10 13", task="game24", settings=settings)
            assert result.solved and result.verified and result.stopped == "solved", (search, result.stopped)
        runs = [await tot.solve("4 9 10 13", task="game24",
                                settings=tot.settings({"model": "oracle:game24-noisy", "n_evaluate": 1}))
                for _ in range(8)]
        for result in runs:
            assert result.model_calls > 0 and result.solved is bool(result.verified)
            reasons = {n.reason for n in result.nodes if n.status == "pruned"}
            assert reasons <= {"not among the best 5", "the verifier refutes it"}  # none was illegal
    async with PluginHarness(["models", "tot"], {"tot": {"oracle": False}}) as h:
        names = [m.name for answer in h.kernel.hook.pygent_chat_models() for m in answer]
        assert not [name for name in names if name.startswith("oracle:")]


def test_pygent_reason_solves_with_the_offered_exact_oracle() -> None:
    import click
    from click.testing import CliRunner
    from pygent_plugins.models import ModelsPlugin
    from pygent_plugins.reasoning import ReasoningPlugin
    from pygent_plugins.tot import TotPlugin
    from pygent_sdk.testing import cli_context

    cli = click.Group("pygent")
    ReasoningPlugin.pygent_cli_commands(cli=cli)
    context = cli_context({"models": ModelsPlugin, "tot": TotPlugin, "reasoning": ReasoningPlugin}, {})
    for _ in range(3):
        ran = CliRunner().invoke(cli, ["reason", "--task", "game24", "4 9 10 13", "--model", "oracle:game24"],
                                 obj=context)
        assert ran.exit_code == 0, ran.output
        assert "(left: " in ran.stderr and "✓" in ran.stderr  # the tree
        answer = next(line for line in ran.stdout.splitlines() if line.startswith("Answer: "))
        assert "verified ✓" in answer, ran.stdout


def test_bench_machinery_on_ten_puzzles() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--puzzles", "10", "--skip-model", "--overhead-puzzles", "1",
         "--delay", "0.005"],
        capture_output=True, text=True, timeout=240,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    assert "1. Machinery: Game of 24 ranks 901-910 (10 puzzles)" in out
    assert "\n2. A configured model: skipped (--skip-model)\n" in out  # the parts keep their numbers
    rows = dict(re.findall(r"^  (single chain|BFS b=1|BFS b=5|full expansion) .*? (\d+/10) ", out, re.M))
    assert rows.keys() == {"single chain", "BFS b=1", "BFS b=5", "full expansion"}
    assert rows["full expansion"] == "10/10"
    assert re.search(r"^  full expansion +all +exact +5 +10/10 +1\.00 ", out, re.M)
    assert "BFS b=1 and b=5 run the setting of oracle:game24-noisy, full expansion that of oracle:game24" in out
    assert "verifier and check disagree" not in out
    assert "3. Overhead: tot engine" in out and re.search(r"\d\.\d{3}x", out)
    skipped = subprocess.run([sys.executable, str(BENCH), "--puzzles", "1", "--skip-model", "--skip-overhead"],
                             capture_output=True, text=True, timeout=120)
    assert skipped.returncode == 0 and skipped.stdout.rstrip().endswith("3. Overhead: skipped (--skip-overhead)")
