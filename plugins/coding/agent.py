"""CodingAgent: writes Python for a task, runs it in the sandbox, feeds errors back, retries.

The result lists every attempt (code, output, exit status) and says honestly whether the task was
solved: "passed the check" when a check was given and passed, "ran cleanly, unverified" when no
check was given, "not solved" otherwise.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

from pydantic import Field
from pygent_sdk import AgentResult, ChatMessage, ChatOptions, PluginConfig, Usage
from pygent_sdk.agents import AgentContext, AttemptStep, TokenSink
from pygent_sdk.sandbox import Sandbox, SandboxLimits, SandboxResult

_BLOCK = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)(?:```|$)", re.DOTALL)
_TAIL = 1500


class CodingConfig(PluginConfig):
    """Settings of a ``coding`` agent."""

    max_attempts: int = Field(3, ge=1, le=10, description="Programs written before giving up.")
    check: str = Field(
        "", description="Python run after the program, in its namespace (e.g. asserts); "
        "the task counts as solved only if it passes.",
    )
    timeout_s: float = Field(10.0, gt=0, le=300, description="Wall-clock limit per run.")
    memory_mb: int = Field(256, ge=32, description="Address-space limit per run.")
    output_bytes: int = Field(64_000, ge=1024, description="Output limit per run (stdout+stderr).")
    max_tokens: int = Field(512, ge=16, description="Tokens per model reply.")
    temperature: float = Field(0.2, ge=0, le=2, description="Sampling temperature of attempt 1.")
    retry_heat: float = Field(
        0.3, ge=0, le=1, description="Added to the temperature at each retry, so a retry explores."
    )


NO_SANDBOX = (
    "Not run: the sandbox refuses untrusted code, because strong isolation is unavailable here. "
    "`pygent health` says why and how to fix it (install bubblewrap, or accept weaker "
    'isolation with isolation = "weak" in [sandbox]).'
)
SYSTEM = (
    "You are an expert Python programmer. Reply with one complete Python 3 program in a single "
    "```python code block, using only the standard library. The program must print its result."
)


# The program of a checked run: the solution runs in a namespace (a ``sys.exit(0)`` in it ends only
# the solution), then the check in that namespace, then the run's nonce is printed: a run counts as
# passed only when its last stdout line is that nonce, so no exit (``os._exit``) can skip the check.
_CHECKED = """\
import sys
_out, _ns = sys.stdout, {{"__name__": "__main__"}}
try:
    exec(compile(open("solution.py", "rb").read(), "solution.py", "exec"), _ns)
except SystemExit as _exit:
    if _exit.code not in (None, 0):
        raise
exec(compile(open("check.py", "rb").read(), "check.py", "exec"), _ns)
print("\\n{nonce}", file=_out, flush=True)
"""
SKIPPED = "exited before the check ran"


def extract_code(text: str) -> str:
    """The first fenced code block of a reply, or the whole reply when it has none."""
    match = _BLOCK.search(text)
    return (match.group(1) if match else text).strip()


def _tail(text: str) -> str:
    return text if len(text) <= _TAIL else "..." + text[-_TAIL:]


class CodingAgent:
    """See the module docstring."""

    def __init__(
        self, context: AgentContext, config: CodingConfig, sandbox: Callable[[], Sandbox]
    ) -> None:
        self.context = context
        self.config = config
        self.sandbox = sandbox
        """The sandbox service, looked up at each run (the sandbox plugin may start later)."""
        self.limits = SandboxLimits(
            timeout_s=config.timeout_s, memory_mb=config.memory_mb, output_bytes=config.output_bytes
        )

    def _task(self, task: str) -> str:
        if not self.config.check:
            return task
        return f"{task}\n\nYour program will be checked by running after it:\n```python\n{self.config.check}\n```"

    @staticmethod
    def _feedback(status: str, stdout: str, stderr: str) -> str:
        return (
            f"The program failed ({status}).\nstdout:\n{_tail(stdout)}\n"
            f"stderr:\n{_tail(stderr)}\nFix it and reply with the whole corrected program."
        )

    async def _execute(self, sandbox: Sandbox, code: str) -> tuple[SandboxResult, bool, str, str]:
        """Run ``code`` (then the check, if any): the result, whether it passed, its status and
        its stdout (without the nonce line)."""
        if not self.config.check:
            run = await sandbox.run_python(code, limits=self.limits)
            return run, run.ok, run.describe(), run.stdout
        nonce = secrets.token_hex(16)
        run = await sandbox.run_python(
            _CHECKED.format(nonce=nonce), files={"solution.py": code, "check.py": self.config.check},
            limits=self.limits,
        )
        stdout, marker, rest = run.stdout.rpartition(f"\n{nonce}\n")
        if not run.ok:
            return run, False, run.describe(), run.stdout
        if not marker or rest:
            return run, False, SKIPPED, run.stdout
        return run, True, run.describe(), stdout

    async def run(self, task: str, *, on_token: TokenSink | None = None) -> AgentResult:
        sandbox = self.sandbox()
        if not sandbox.isolation:  # refused: say so before spending the model's time
            return AgentResult(NO_SANDBOX, False)
        messages = [ChatMessage("system", SYSTEM), ChatMessage("user", self._task(task))]
        usage, attempts = Usage(), list[AttemptStep]()
        for attempt in range(1, self.config.max_attempts + 1):
            heat = self.config.temperature + self.config.retry_heat * (attempt - 1)
            options = ChatOptions(max_tokens=self.config.max_tokens, temperature=min(heat, 2.0))
            reply: list[str] = []
            async for chunk in self.context.model.stream(messages, options):
                reply.append(chunk.text)
                if chunk.text and on_token is not None:
                    await on_token(chunk.text)
                if chunk.usage is not None:
                    usage += chunk.usage
            if on_token is not None:
                await on_token("\n")
            text = "".join(reply)
            code = extract_code(text)
            messages.append(ChatMessage("assistant", text))
            if not code:
                attempts.append(AttemptStep(attempt=attempt, code="", status="no code in the reply"))
                await self.context.step(attempts[-1])
                messages.append(ChatMessage("user", "Reply with a ```python code block."))
                continue
            await self.context.set_status("waiting")
            run, passed, status, stdout = await self._execute(sandbox, code)
            await self.context.set_status("running")
            attempts.append(AttemptStep(
                attempt=attempt, code=code, stdout=stdout, stderr=run.stderr,
                exit_code=run.exit_code, status=status, passed=passed,
                duration_s=round(run.duration_s, 3), isolation=tuple(run.isolation),
            ))
            await self.context.step(attempts[-1])
            if passed:
                verdict = (
                    f"Solved on attempt {attempt}: the program ran cleanly and passed the check."
                    if self.config.check else
                    f"Ran cleanly on attempt {attempt}; no check was given, so the answer is unverified."
                )
                output = f"{verdict}\n\nOutput:\n{_tail(stdout)}"
                return AgentResult(output, True, tuple(attempts), usage)
            messages.append(ChatMessage("user", self._feedback(status, stdout, run.stderr)))
        last = attempts[-1].status if attempts else "no attempt"
        output = f"Not solved after {self.config.max_attempts} attempt(s); the last one ended: {last}."
        return AgentResult(output, False, tuple(attempts), usage)
