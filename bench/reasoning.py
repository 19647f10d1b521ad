"""Reasoning benchmark: Game of 24 on the Tree-of-Thoughts paper's test split (ranks 901-1000).

1. Machinery, no language model: the real ``tot`` engine and ``game24`` task in a kernel, with
   the checkable ``Game24Oracle`` (``pygent_plugins.tot.oracle``) as the model: its proposals
   are legal next steps drawn at random, its value verdicts the truth flipped with probability
   ``--noise``. Success rate (verified solutions / puzzles) of a single chain (breadth 1, one
   proposal per step), BFS b=1 and b=5 (8 proposals, the noisy evaluator, one value sample each,
   the paper's sure/likely/impossible map), and full expansion (every legal step, an exact
   evaluator, b=5). Goal: full = 1.00; b=5 > b=1 > chain; all four over 100 puzzles < 10 s.
   The BFS rows are the setting of the chat model ``oracle:game24-noisy`` that ``[tot] oracle``
   offers, full expansion that of ``oracle:game24``.
2. A configured model (``--model``, default ``[models] default`` of plugins.toml): IO prompting,
   chain-of-thought (one sample each, through the ``cot`` service when it is enabled) and ToT b=5,
   success, tokens and seconds per puzzle, beside the paper's GPT-4 figures.
3. Overhead: the engine's wall time over the sum of its model calls' own durations, on the oracle
   behind a fixed delay (``--delay``, concurrency 1). Goal: <= 1.05x.

Every answer counted as solved is checked again here, independently of the task's verifier.
Run: ``python bench/reasoning.py [--puzzles N] [--model NAME] [--skip-model] [--seed S]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/http.py would shadow the standard library's http package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import ast
import contextlib
import csv
import dataclasses
import operator
import tempfile
import time
import tomllib
from collections.abc import AsyncIterator, Sequence
from fractions import Fraction
from typing import Any

import anyio
from pygent_kernel import Kernel
from pygent_plugins.tot.oracle import EXACT, NOISY, Game24Oracle
from pygent_sdk import BaseChatModel, ChatChunk, ChatMessage, ChatModel, ChatOptions, Plugin, hookimpl
from pygent_sdk.models import CHAT_MODEL
from pygent_sdk.reasoning import CHAIN_OF_THOUGHT, TREE_SEARCH, TreeResult, TreeSearch
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "game24.csv"
TEST_SPLIT = range(901, 1001)
PAPER_GPT4 = {"IO": "7.3%", "CoT": "4.0%", "ToT b=5": "74%"}
console = Console(width=None if sys.stdout.isatty() else 130, highlight=False)


def test_split(count: int) -> list[tuple[int, str]]:
    """The first ``count`` puzzles of ranks 901-1000 as (rank, "a b c d")."""
    with DATA.open(newline="") as f:
        rows = [(int(r["rank"]), r["puzzle"]) for r in csv.DictReader(f)]
    return [(rank, puzzle) for rank, puzzle in rows if rank in TEST_SPLIT][:count]


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def check(puzzle: str, answer: str | None) -> bool:
    """Whether ``answer`` ("expression" or "expression = 24") uses exactly the puzzle's numbers
    and makes 24 with exact fractions: this file's own check, not the task's verifier."""
    if not answer:
        return False
    used: list[int] = []

    def value(node: ast.AST) -> Fraction:
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.Constant) and type(node.value) is int:
            used.append(node.value)
            return Fraction(node.value)
        raise ValueError(f"not a number or + - * /: {ast.dump(node)}")

    try:
        total = value(ast.parse(answer.split("=")[0], mode="eval").body)
    except (SyntaxError, ValueError, ZeroDivisionError):
        return False
    return total == 24 and sorted(used) == sorted(int(n) for n in puzzle.split())


@dataclasses.dataclass(frozen=True)
class Variant:
    """One oracle setting of part 1."""

    key: str
    label: str
    proposals: int | None
    noise: float
    breadth: int

    @property
    def model(self) -> str:
        return f"oracle:{self.key}"


VARIANTS = (
    Variant("chain", "single chain", 1, 0.2, 1),
    Variant("bfs1", "BFS b=1", 8, 0.2, 1),
    Variant("bfs5", "BFS b=5", 8, 0.2, 5),
    Variant("full", "full expansion", None, 0.0, 5),
)


class Delayed(BaseChatModel):
    """``inner``'s answers after ``delay`` seconds; ``spent`` sums each call's own duration
    (the delay and the answer, not the time its caller takes to read it)."""

    def __init__(self, inner: Game24Oracle, delay: float, name: str) -> None:
        self.inner, self.delay, self.name = inner, delay, name
        self.spent, self.calls = 0.0, 0

    async def stream(self, messages: Sequence[ChatMessage], options: ChatOptions | None = None,
                     ) -> AsyncIterator[ChatChunk]:
        start = time.perf_counter()
        await anyio.sleep(self.delay)
        chunks = [c async for c in self.inner.stream(messages, options)]
        self.spent += time.perf_counter() - start
        self.calls += 1
        for chunk in chunks:
            yield chunk


class BenchModels(Plugin):
    """Contributes this benchmark's oracle variants (and the delayed one of part 3)."""

    provides = ("chat-model",)
    oracles: dict[str, Game24Oracle] = {v.key: Game24Oracle(proposals=v.proposals, noise=v.noise,
                                                            name=v.model) for v in VARIANTS}
    delayed: Delayed | None = None

    @hookimpl
    def pygent_chat_models(self) -> list[ChatModel]:
        return [*self.oracles.values(), *([self.delayed] if self.delayed else [])]


@contextlib.asynccontextmanager
async def kernel(tables: dict[str, dict[str, Any]], classes: dict[str, type[Plugin]] | None = None,
                 ) -> AsyncIterator[Kernel]:
    """A started kernel with the named plugins and tables, data in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="pygent-bench-") as tmp:
        config = {"kernel": {"data_dir": tmp}, **tables}
        async with Kernel.from_mapping(config, classes=classes, source="<bench/reasoning.py>") as k:
            yield k


def heading(text: str) -> None:
    console.print(f"[bold]{text}[/]")


def progress() -> Progress:
    return Progress(TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True)


def solved(puzzle: str, result: TreeResult, disagreements: list[str]) -> bool:
    """A verified answer that this file's own check confirms (a disagreement is recorded)."""
    ours = check(puzzle, result.answer)
    if bool(result.verified) != ours:
        disagreements.append(f"{puzzle}: verifier {result.verified}, check {ours}, answer {result.answer!r}")
    return bool(result.verified) and ours


# 1. Machinery ---------------------------------------------------------------------------------

@dataclasses.dataclass
class Tally:
    """What one setting did over the puzzles."""

    solved: int = 0
    puzzles: int = 0
    nodes: int = 0
    calls: int = 0
    tokens: int = 0
    seconds: float = 0.0
    model_seconds: float = 0.0
    stopped: dict[str, int] = dataclasses.field(default_factory=dict)

    def add(self, result: TreeResult, ok: bool) -> None:
        self.solved += ok
        self.puzzles += 1
        self.nodes += len(result.nodes)
        self.calls += result.model_calls
        self.tokens += result.usage.total_tokens
        self.model_seconds += result.model_seconds
        self.stopped[result.stopped] = self.stopped.get(result.stopped, 0) + 1

    @property
    def rate(self) -> float:
        return self.solved / self.puzzles if self.puzzles else 0.0


async def machinery(args: argparse.Namespace, puzzles: list[tuple[int, str]]) -> dict[str, Tally]:
    tallies = {v.key: Tally() for v in VARIANTS}
    disagreements: list[str] = []
    async with kernel({"models": {"default": VARIANTS[-1].model}, "tot": {}, "bench": {}},
                      {"bench": BenchModels}) as k:
        tot = k.service(TREE_SEARCH)
        with progress() as bar:
            for v in VARIANTS:
                task = bar.add_task(v.label, total=len(puzzles))
                settings = tot.settings({"breadth": v.breadth, "n_evaluate": 1, "model": v.model})
                oracle = BenchModels.oracles[v.key]
                start = time.perf_counter()
                for rank, puzzle in puzzles:
                    oracle.reseed(f"{args.seed}:{v.key}:{rank}")
                    result = await tot.solve(puzzle, task="game24", settings=settings)
                    tallies[v.key].add(result, solved(puzzle, result, disagreements))
                    bar.advance(task)
                tallies[v.key].seconds = time.perf_counter() - start
    total = sum(t.seconds for t in tallies.values())
    heading(f"1. Machinery: Game of 24 ranks {puzzles[0][0]}-{puzzles[-1][0]} ({len(puzzles)} puzzles), "
            f"tot engine + game24 task, Game24Oracle as the model (seed {args.seed}), value "
            "n_evaluate 1 (sure 20, likely 1, impossible 0.001)")
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("setting", "proposals", "evaluator", "breadth", "solved", "rate",
                   "nodes/puzzle", "calls/puzzle", "seconds", "s in calls"):
        table.add_column(column, justify="left" if column in ("setting", "evaluator") else "right")
    for v in VARIANTS:
        t = tallies[v.key]
        table.add_row(v.label, "all" if v.proposals is None else str(v.proposals),
                      "exact" if v.noise == 0 else f"{v.noise:.0%} wrong", str(v.breadth),
                      f"{t.solved}/{t.puzzles}", f"{t.rate:.2f}", f"{t.nodes / t.puzzles:.1f}",
                      f"{t.calls / t.puzzles:.1f}", f"{t.seconds:.2f}", f"{t.model_seconds:.2f}")
    console.print(table)
    console.print(f"   BFS b=1 and b=5 run the setting of {NOISY}, full expansion that of {EXACT} "
                  "(the chat models \\[tot] oracle offers)")
    rates = [tallies[v.key].rate for v in VARIANTS]
    console.print(f"   all four settings: {total:.2f} s for {len(puzzles) * len(VARIANTS)} searches "
                  f"(goal for 100 puzzles: < 10 s: {'met' if total < 10 * len(puzzles) / 100 else 'NOT met'})")
    console.print(f"   goals: full expansion = 1.00: {'met' if rates[3] == 1.0 else 'NOT met'}; "
                  f"b=5 > b=1 > chain: {'met' if rates[2] > rates[1] > rates[0] else 'NOT met'}")
    for line in disagreements:
        console.print(f"   [red]verifier and check disagree[/]: {line}")
    console.print()
    return tallies


# 2. A configured model ------------------------------------------------------------------------

def model_tables(name: str | None) -> tuple[dict[str, dict[str, Any]], str]:
    """The project's plugins.toml tables for the model providers, models, tot and cot, and the
    model to use (``name``, else ``[models] default``)."""
    config = tomllib.loads((ROOT / "plugins.toml").read_text())
    keep = ("models", "llamacpp", "ollama", "openai", "replay", "scripted", "tot", "cot")
    tables = {k: v for k, v in config.items() if k in keep and v.get("enabled", True) is not False}
    tables.setdefault("tot", {})
    return tables, name or config.get("models", {}).get("default", "llamacpp:smollm2")


async def with_model(args: argparse.Namespace, puzzles: list[tuple[int, str]]) -> None:
    tables, name = model_tables(args.model)
    rows: dict[str, Tally] = {"IO": Tally(), "CoT": Tally(), "ToT b=5": Tally()}
    disagreements: list[str] = []
    async with kernel(tables) as k:
        tot: TreeSearch = k.service(TREE_SEARCH)
        cot = k.optional_service(CHAIN_OF_THOUGHT)
        model = k.service(CHAT_MODEL, name=name)
        game24 = tot.tasks()["game24"]
        settings = tot.settings({"breadth": 5, "model": name, "max_seconds": args.tot_seconds})
        with progress() as bar:
            task = bar.add_task(f"{name}: IO, CoT, ToT", total=len(puzzles) * 3)
            for _rank, puzzle in puzzles:
                for label, chain in (("IO", False), ("CoT", True)):
                    start = time.perf_counter()
                    if cot is not None:
                        r = await cot.solve(puzzle, task="game24", samples=1, chain=chain, model=name,
                                            temperature=args.temperature)
                        answer, tokens = r.answer, r.usage.total_tokens
                    else:
                        problem = game24.problem(puzzle)
                        reply = await model.chat(game24.direct_messages(problem, chain=chain),
                                                 ChatOptions(max_tokens=settings.max_reply_tokens,
                                                             temperature=args.temperature))
                        answer, tokens = game24.extract_answer(problem, reply.text), reply.usage.total_tokens
                    t = rows[label]
                    t.puzzles += 1
                    t.solved += check(puzzle, answer)
                    t.tokens += tokens
                    t.seconds += time.perf_counter() - start
                    bar.advance(task)
                start = time.perf_counter()
                result = await tot.solve(puzzle, task="game24", settings=settings)
                rows["ToT b=5"].add(result, solved(puzzle, result, disagreements))
                rows["ToT b=5"].seconds += time.perf_counter() - start
                bar.advance(task)
    how = "through the cot service" if cot is not None else "task.direct_messages, one call"
    heading(f"2. {name} on ranks {puzzles[0][0]}-{puzzles[-1][0]} ({len(puzzles)} puzzles): IO and "
            f"CoT one sample each ({how}); ToT b=5, n_evaluate {settings.n_evaluate}, at most "
            f"{args.tot_seconds:g} s a puzzle")
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("method", "solved", "success", "tokens/puzzle", "s/puzzle", "GPT-4 (paper)"):
        table.add_column(column, justify="left" if column == "method" else "right")
    for label, t in rows.items():
        table.add_row(label, f"{t.solved}/{t.puzzles}", f"{t.rate:.0%}", f"{t.tokens / t.puzzles:,.0f}",
                      f"{t.seconds / t.puzzles:.1f}", PAPER_GPT4[label])
    console.print(table)
    stopped = ", ".join(f"{k} {n}" for k, n in sorted(rows["ToT b=5"].stopped.items()))
    console.print(f"   ToT searches ended: {stopped}; nodes/puzzle "
                  f"{rows['ToT b=5'].nodes / len(puzzles):.1f}, calls/puzzle {rows['ToT b=5'].calls / len(puzzles):.1f}")
    for line in disagreements:
        console.print(f"   [red]verifier and check disagree[/]: {line}")
    console.print()


# 3. Overhead ----------------------------------------------------------------------------------

async def overhead(args: argparse.Namespace, puzzles: list[tuple[int, str]]) -> float:
    name = "oracle:delayed"
    BenchModels.delayed = Delayed(Game24Oracle(proposals=8, noise=0.2), args.delay, name)
    wall = engine_seconds = engine_model_seconds = 0.0
    async with kernel({"models": {"default": name}, "tot": {}, "bench": {}}, {"bench": BenchModels}) as k:
        tot = k.service(TREE_SEARCH)
        settings = tot.settings({"breadth": 5, "n_evaluate": 1, "concurrency": 1, "model": name})
        with progress() as bar:
            task = bar.add_task(f"BFS b=5, {args.delay * 1000:g} ms a call", total=len(puzzles))
            for rank, puzzle in puzzles:
                BenchModels.delayed.inner.reseed(f"{args.seed}:delayed:{rank}")
                start = time.perf_counter()
                result = await tot.solve(puzzle, task="game24", settings=settings)
                wall += time.perf_counter() - start
                engine_seconds += result.seconds
                engine_model_seconds += result.model_seconds
                bar.advance(task)
    delayed = BenchModels.delayed
    ratio = wall / delayed.spent
    heading(f"3. Overhead: tot engine, BFS b=5, concurrency 1, the oracle behind a "
            f"{args.delay * 1000:g} ms delay, {len(puzzles)} puzzles")
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("model calls", "sum of calls s", "solve() wall s", "result.seconds",
                   "result.model_seconds", "wall / calls", "goal"):
        table.add_column(column, justify="right")
    table.add_row(f"{delayed.calls:,}", f"{delayed.spent:.3f}", f"{wall:.3f}", f"{engine_seconds:.3f}",
                  f"{engine_model_seconds:.3f}", f"{ratio:.3f}x", f"<= 1.05x: {'met' if ratio <= 1.05 else 'NOT met'}")
    console.print(table)
    console.print(f"   engine time per call beyond the model: {(wall - delayed.spent) / delayed.calls * 1000:.2f} ms")
    console.print()
    return ratio


async def main(args: argparse.Namespace) -> None:
    puzzles = test_split(args.puzzles)
    console.print(f"Game of 24, the Tree-of-Thoughts paper's test split ({DATA.relative_to(ROOT)}), "
                  f"seed {args.seed}\n")
    await machinery(args, puzzles)
    if args.skip_model:
        heading("2. A configured model: skipped (--skip-model)")
        console.print()
    else:
        await with_model(args, test_split(args.model_puzzles))
    if args.skip_overhead:
        heading("3. Overhead: skipped (--skip-overhead)")
        console.print()
    else:
        await overhead(args, test_split(args.overhead_puzzles))


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--puzzles", type=int, default=100, help="part 1: puzzles from rank 901 (at most 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the oracles' draws")
    p.add_argument("--model", default=None, help="part 2: chat model (default: [models] default of plugins.toml)")
    p.add_argument("--model-puzzles", type=int, default=5, help="part 2: puzzles (slow with a real model)")
    p.add_argument("--skip-model", action="store_true", help="skip part 2")
    p.add_argument("--tot-seconds", type=float, default=120.0, help="part 2: time budget of one ToT search")
    p.add_argument("--temperature", type=float, default=0.7, help="part 2: IO and CoT sampling temperature")
    p.add_argument("--overhead-puzzles", type=int, default=5, help="part 3: puzzles")
    p.add_argument("--delay", type=float, default=0.02, help="part 3: seconds each model call takes")
    p.add_argument("--skip-overhead", action="store_true", help="skip part 3")
    args = p.parse_args(argv)
    for option in ("puzzles", "model_puzzles", "overhead_puzzles"):
        if not 1 <= getattr(args, option) <= 100:
            p.error(f"--{option.replace('_', '-')} must be 1 to 100 (the test split has 100 puzzles)")
    return args


if __name__ == "__main__":
    anyio.run(main, parse())
