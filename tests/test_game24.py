"""The game24 task: problems, exact proposals, the verifier and the prompts' format."""

from __future__ import annotations

import pytest
from pygent_plugins.tot.tasks.game24 import MAX_NOT_STEPS, NOT_A_STEP, Game24
from pygent_sdk.reasoning import InvalidProblem, Problem

TASK = Game24()


def problem(text: str) -> Problem:
    return TASK.problem(text)


def test_problems_are_four_numbers_from_1_to_13() -> None:
    assert problem(" 4, 9 10  13 ").text == "4 9 10 13"
    for bad, why in (("4 9 10", "four numbers from 1 to 13, got 3"), ("4 9 10 14", "'14' is not an integer from 1 to 13"),
                     ("4 9 10 x", "'x'"), ("", "got 0"), ("4 9 10 2.5", "'2.5'"), ("0 1 2 3", "'0'"),
                     ("² 3 4 5", "'²'"), ("٣ 3 4 5", "'٣'"), ("4 9 10 １３", "'１３'")):
        with pytest.raises(InvalidProblem, match=f"game24.*{why}"):
            problem(bad)


@pytest.mark.parametrize(("numbers", "answer", "right"), [
    ("4 9 10 13", "(13 - 9) * (10 - 4)", True),
    ("4 9 10 13", "(13 - 9) * (10 - 4) = 24", True),
    ("3 3 8 8", "8/(3-8/3)", True),
    ("3 3 8 8", "8 / (3 - 8 / 3) = 24", True),
    ("1 2 3 4", "4 × 3 × 2 ÷ 1", True),
    ("4 9 10 13", "4 * 6", False),  # wrong numbers
    ("1 2 3 4", "4 * 3 * 2 * 2", False),  # 2 used twice, 1 not at all
    ("1 2 3 4", "1 + 2 + 3 + 4", False),  # 10, not 24
    ("1 1 4 6", "6 / (1 - 1) * 4", False),  # division by zero
    ("1 2 3 4", "(1 + 2 + 3) * 4 + 0", False),  # a number not in the problem
    ("1 2 3 4", "__import__('os').system('true')", False),
    ("1 2 3 4", "1 * 2 * 3 * 4.0", False),
    ("1 2 3 4", "2 ** 3 * 3 * 1 * 4 / 4", False),
    ("1 2 3 4", "-(1 - 2 * 3 * 4) - 1", False),
    ("1 2 3 4", "(1 * 2 * 3 * 4", False),
    ("1 2 3 4", "", False),
    ("4 9 10 13", "(13-9)*(10-4)=25", False),  # the right-hand side must be 24
    ("4 9 10 13", "(13 - 9) * (10 - 4) = 4 * 6", False),
    ("4 9 10 13", "(13 - 9) * (10 - 4) =", False),
    ("4 9 10 13", "(13 - 9) * (10 - 4) == 24", True),
    ("4 9 10 13", "(13 − 9) × (10 – 4) = 24.", True),  # U+2212 minus, en dash
])
def test_verifier(numbers: str, answer: str, right: bool) -> None:
    assert TASK.verify(problem(numbers), answer) is right


def test_proposals_are_recomputed_exactly_and_misuse_is_rejected() -> None:
    p = problem("4 9 10 13")
    reply = "\n".join([
        "Possible next steps:",
        "13 - 9 = 4 (left: 1 2 3)",  # the left list is recomputed
        "4 + 7 = 11 (left: 9 10 11)",
        "9 - 4 = 6 (left: 6 10 13)",
        "4 + 4 = 8 (left: 8 9 10 13)",
        "10 / 4 = 5/2 (left: 5/2 9 13)",
        "1. 13 x 4 = 52",
    ])
    found = TASK.parse_proposals(p, "", reply)
    assert [(x.state, x.rejected) for x in found] == [
        ("13 - 9 = 4 (left: 4 4 10)", None),
        ("", "uses 7, which is not left (4 9 10 13)"),
        ("", "9 - 4 is 5, not 6"),
        ("", "uses 4 twice; only one is left (4 9 10 13)"),
        ("10 / 4 = 5/2 (left: 5/2 9 13)", None),
        ("13 * 4 = 52 (left: 9 10 52)", None),
    ]
    zero = TASK.parse_proposals(problem("13 13 1 2"), "13 - 13 = 0 (left: 0 1 2)", "1 / 0 = 0\n0 / 2 = 0")
    assert [x.rejected for x in zero] == ["1 / 0 divides by zero", None]
    assert zero[1].state == "13 - 13 = 0 (left: 0 1 2)\n0 / 2 = 0 (left: 0 1)"


def test_step_lines_start_the_line_and_keep_the_legal_reading() -> None:
    p = problem("4 9 10 13")
    reply = "\n".join([
        "x4 + 9 = 13", "2 * 4 + 9 = 13", "so 13 - 9 = 4",  # not a step at the line's start
        "1. 13 − 9 = 4", "- 13 – 4 = 9", "* 10 ÷ 4 = 5/2", "Step 1: 13 × 4 = 52", "(2) 9+4=13",
    ])
    found = TASK.parse_proposals(p, "", reply)
    assert [(x.thought, x.rejected) for x in found[:3]] == [(line, NOT_A_STEP) for line in reply.splitlines()[:3]]
    assert [(x.state, x.rejected) for x in found[3:]] == [
        ("13 - 9 = 4 (left: 4 4 10)", None),
        ("13 - 4 = 9 (left: 9 9 10)", None),
        ("10 / 4 = 5/2 (left: 5/2 9 13)", None),
        ("13 * 4 = 52 (left: 9 10 52)", None),
        ("9 + 4 = 13 (left: 10 13 13)", None),
    ]
    state = "4 / 9 = 4/9 (left: 4/9 10 13)"
    (split,) = TASK.parse_proposals(p, state, "10/4/9 = 45/2")  # 10 / (4/9): 10/4 is not left
    assert split.rejected is None and split.thought == "10 / 4/9 = 45/2 (left: 13 45/2)"
    (wrong,) = TASK.parse_proposals(p, state, "10/4/9 = 5/18")  # neither reading is legal
    assert (wrong.state, wrong.rejected) == (state, "uses 5/2, which is not left (4/9 10 13)")
    (first,) = TASK.parse_proposals(p, "10 / 4 = 5/2 (left: 5/2 9 13)", "5/2/9 = 5/18")
    assert first.rejected is None and first.thought == "5/2 / 9 = 5/18 (left: 5/18 13)"


def test_lines_that_are_no_step_become_rejected_proposals_a_few_a_reply() -> None:
    p = problem("4 9 10 13")
    prose = "No, no, no! You only get a remainder of 2 when you divide the number by " + "two " * 50
    reply = "\n".join(["Input: 4 9 10 13", "Possible next steps:", "", "  ", prose, "13 - 9 = 4",
                       "Steps:", *[f"idea {k}" for k in range(12)]])
    found = TASK.parse_proposals(p, "", reply)
    rejected = [x for x in found if x.rejected is not None]
    assert [x.state for x in found if x.rejected is None] == ["13 - 9 = 4 (left: 4 4 10)"]
    assert len(rejected) == MAX_NOT_STEPS and all(x.rejected == NOT_A_STEP and x.state == "" for x in rejected)
    assert rejected[0].thought.startswith("No, no, no! You only") and len(rejected[0].thought) <= 120
    assert [x.thought for x in rejected[1:]] == [f"idea {k}" for k in range(7)]


def test_final_answer_rebuilds_a_verifiable_expression() -> None:
    p = problem("4 9 10 13")
    state = ""
    for line in ("13 - 9 = 4", "10 - 4 = 6", "4 * 6 = 24"):
        assert not TASK.is_final(p, state) and TASK.final_answer(p, state) is None
        (proposal,) = TASK.parse_proposals(p, state, line)
        state = proposal.state
    assert TASK.is_final(p, state) and TASK.remaining(p, state) == [24]
    answer = TASK.final_answer(p, state)
    assert answer == "(13 - 9) * (10 - 4)" and TASK.verify(p, answer)
    p = problem("3 3 8 8")
    state = "8 / 3 = 8/3 (left: 3 8 8/3)\n3 - 8/3 = 1/3 (left: 1/3 8)"
    (last,) = TASK.parse_proposals(p, state, "8 / 1/3 = 24")
    assert last.state.endswith("8 / 1/3 = 24 (left: 24)")
    answer = TASK.final_answer(p, last.state)
    assert answer == "8 / (3 - (8 / 3))" and TASK.verify(p, answer)
    wrong = "4 + 9 = 13 (left: 10 13 13)\n13 + 13 = 26 (left: 10 26)\n26 - 10 = 16 (left: 16)"
    assert TASK.is_final(problem("4 9 10 13"), wrong)
    assert TASK.verify(problem("4 9 10 13"), TASK.final_answer(problem("4 9 10 13"), wrong) or "") is False


def test_prompts_follow_the_shared_format() -> None:
    p = problem("4 9 10 13")
    state = "13 - 9 = 4 (left: 4 4 10)"
    propose = TASK.propose_messages(p, state)[-1].content
    assert propose.splitlines()[-2:] == ["Input: 4 4 10", "Possible next steps:"]
    assert TASK.propose_messages(p, "")[-1].content.splitlines()[-2] == "Input: 4 9 10 13"
    value = TASK.value_messages(p, state)[-1].content
    assert "Evaluate if given numbers can reach 24 (sure/likely/impossible)" in value
    assert value.splitlines()[-1] == "Input: 4 4 10"
    for chain in (False, True):
        assert TASK.direct_messages(p, chain=chain)[-1].content.splitlines()[-1] == "Input: 4 9 10 13"
    assert TASK.parse_value(p, state, "4 + 4 + 10 = 18\n(10 - 4) * 4 = 24\nsure") == 20.0
    assert TASK.parse_value(p, state, "impossible") == 0.001
    reply = "Steps:\n13 - 9 = 4 (left: 4 4 10)\nAnswer:  (13 - 9) *  (10 - 4) = 24"
    assert TASK.extract_answer(p, reply) == "(13 - 9) * (10 - 4)"
    assert TASK.extract_answer(p, "no idea") is None
    with_sources = TASK.problem("4 9 10 13", context="[1] multiply")
    assert TASK.value_messages(with_sources, state)[-1].content.startswith("Sources:\n[1] multiply")
    assert TASK.render(state + "\n4 * 4 = 16 (left: 10 16)") == "13 - 9 = 4 (left: 4 4 10); 4 * 4 = 16 (left: 10 16)"
