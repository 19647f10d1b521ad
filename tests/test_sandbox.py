"""The coding sandbox against hostile code, and the coding agent's attempt loop."""

from __future__ import annotations

from pathlib import Path

import pytest
from pygent_plugins.coding.agent import extract_code
from pygent_plugins.coding.sandbox import Limits, run_python
from pygent_sdk.testing import PluginHarness, ScriptedChatModel

from .agent_kit import stack

pytestmark = pytest.mark.anyio
FAST = Limits(timeout_s=3)


async def test_clean_program_runs() -> None:
    result = await run_python("import math\nprint(math.factorial(10))", FAST)
    assert result.ok and result.stdout == "3628800\n" and result.describe() == "exit status 0"
    assert {"rlimits", "audit-hook"} <= set(result.isolation)


async def test_infinite_loop_is_killed_at_the_time_limit() -> None:
    result = await run_python("while True:\n    pass", Limits(timeout_s=1.5))
    assert result.timed_out and not result.ok and result.describe() == "killed: time limit exceeded"
    assert result.duration_s < 5


async def test_fork_bomb_is_contained() -> None:
    result = await run_python("import os\nwhile True:\n    os.fork()", FAST)
    assert not result.ok and "os.fork is not allowed" in result.stderr


async def test_subprocess_is_refused() -> None:
    result = await run_python("import subprocess\nsubprocess.run(['true'])", FAST)
    assert not result.ok and "subprocess.Popen is not allowed" in result.stderr


async def test_huge_output_is_cut() -> None:
    result = await run_python("while True:\n    print('x' * 1000)", Limits(timeout_s=5, output_bytes=10_000))
    assert result.output_truncated and result.describe() == "killed: output limit exceeded"
    assert len(result.stdout) <= 10_000


async def test_network_is_refused() -> None:
    code = "import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=2)"
    result = await run_python(code, FAST)
    assert not result.ok and "network access is not allowed" in result.stderr


async def test_writing_outside_the_working_directory_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "escaped.txt"
    code = f"open({str(target)!r}, 'w').write('x')\n"
    result = await run_python(code, FAST)
    assert not result.ok and "writing outside the working directory" in result.stderr
    assert not target.exists()
    inside = await run_python("open('mine.txt', 'w').write('ok')\nprint(open('mine.txt').read())", FAST)
    assert inside.ok and inside.stdout == "ok\n"


async def test_memory_limit() -> None:
    result = await run_python("x = bytearray(2_000_000_000)", Limits(timeout_s=3, memory_mb=128))
    assert not result.ok and "MemoryError" in result.stderr


def test_extract_code() -> None:
    assert extract_code("Here:\n```python\nprint(1)\n```\nDone") == "print(1)"
    assert extract_code("```\nprint(2)\n```") == "print(2)"
    assert extract_code("print(3)") == "print(3)"
    assert extract_code("```python\nprint(4)") == "print(4)"  # cut off by max_tokens


async def test_coding_agent_retries_with_feedback_and_reports_every_attempt() -> None:
    model = ScriptedChatModel([
        "```python\ndef fib(n):\n    return fib(n-1) + fib(n-2)\n```",
        "```python\ndef fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n```",
    ])
    async with PluginHarness(*stack(model)) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        info = await registry.create("coding", config={"check": "assert fib(10) == 55\nprint('checked')"})
        result = await registry.run(info.id, "Write fib(n).")
        assert result.success
        assert result.output.startswith("Solved on attempt 2: the program ran cleanly and passed the check.")
        first, second = result.steps
        assert not first["ok"] and "RecursionError" in first["stderr"] and first["exit_code"] == 1
        assert second["ok"] and second["stdout"] == "checked\n"
        feedback = model.calls[1][0][-1].content
        assert feedback.startswith("The program failed (exit status 1)") and "RecursionError" in feedback
        assert "assert fib(10) == 55" in model.calls[0][0][-1].content
        statuses = [e.status for e in h.events_on("agent.status")]
        assert statuses == ["running", "waiting", "running", "waiting", "running", "completed"]


async def test_coding_agent_says_honestly_when_it_fails() -> None:
    model = ScriptedChatModel(["```python\nwhile True: pass\n```", "I cannot do that.", "```python\n1/0\n```"])
    async with PluginHarness(*stack(model)) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        info = await registry.create("coding", config={"timeout_s": 1})
        result = await registry.run(info.id, "Divide.")
        assert not result.success
        assert result.output == "Not solved after 3 attempt(s); the last one ended: exit status 1."
        assert [s["status"] for s in result.steps] == [
            "killed: time limit exceeded", "exit status 1", "exit status 1"]
        assert registry.get(info.id).status == "error"


async def test_coding_agent_without_check_is_unverified() -> None:
    model = ScriptedChatModel(["```python\nprint(sum(range(101)))\n```"])
    async with PluginHarness(*stack(model)) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        result = await registry.run((await registry.create("coding")).id, "Sum 1..100")
        assert result.success and "no check was given, so the answer is unverified" in result.output
        assert result.output.endswith("Output:\n5050\n")
