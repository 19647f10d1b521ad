"""``pygent reason "PROBLEM"``: the reasoning pipeline in this process, its tree drawn as it grows."""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

import anyio
import anyio.abc
import click
from pygent_sdk.cli import CliContext, err, out, pass_cli, run
from pygent_sdk.errors import PygentError
from pygent_sdk.jobs import JobsBusy
from pygent_sdk.reasoning import MODES, REASONING, TREE_SEARCH, ReasoningError, ReasoningResult
from rich.markup import escape

from .sessions import LiveTree, check_model, check_request

ORACLE_TIP = ("--model oracle:game24 runs the checkable setup (an exact proposer and evaluator, "
              "no language model)")
BUSY_HINT = ("another pygent process holds this data directory (a running `pygent serve`, "
             "`pygent ingest`, ...); try again when it ends, or go through the server's HTTP API")
REDRAWS_PER_S = 8
"""How often at most the tree is redrawn while it grows."""


def busy(error: BaseException) -> bool:
    """Whether ``error`` says another process holds a lock this one needs (the jobs directory,
    or a store's lock file: the error then comes from a refused non-blocking ``flock``)."""
    seen: BaseException | None = error
    for _ in range(8):  # the error, what caused it, what caused that ...
        if seen is None:
            return False
        if isinstance(seen, (JobsBusy, BlockingIOError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def node_label(node: dict[str, Any]) -> str:
    """A node as one line of the tree: its thought, its value and ✓ (a solution not refuted) or
    ✗ (pruned, or refuted)."""
    thought = " ".join((node["thought"] or node["state"] or node["id"]).split())
    value = "" if node["value"] is None else f"  [cyan]{node['value']:g}[/]"
    if node["status"] == "solution" and node["verified"] is not False:
        mark = "  [green]✓[/]"
    elif node["status"] == "pruned" or node["verified"] is False:
        mark = "  [red]✗[/]"
    else:
        mark = ""
    style = "dim" if node["status"] == "pruned" else "none"
    return f"[{style}]{escape(thought)}[/]{value}{mark}"


def draw(problem: str, nodes: Iterable[dict[str, Any]]) -> Any:
    """The tree of ``nodes`` as a rich Tree (children under their parents, in the order given)."""
    from rich.tree import Tree

    root = Tree(f"[bold]{escape(problem)}[/]")
    branches: dict[str, Any] = {}
    for node in nodes:
        if node["parent_id"] is None and not node["thought"]:
            branches[node["id"]] = root  # the root state
            continue
        branches[node["id"]] = branches.get(node["parent_id"] or "", root).add(node_label(node))
    return root


async def paint(live: Any, problem: str, tree: LiveTree) -> None:
    """Redraw ``live`` from ``tree`` while it grows: at most REDRAWS_PER_S times a second, and
    less often when a drawing is slow (drawing takes at most a fifth of the time), so that a large
    tree does not hold up the search."""
    drawn = -1
    while True:
        if tree.changes != drawn:
            began = time.perf_counter()
            drawn = tree.changes
            live.update(draw(problem, tree.nodes.values()), refresh=True)
            await anyio.sleep(max(1 / REDRAWS_PER_S, 4 * (time.perf_counter() - began)))
        else:
            await anyio.sleep(1 / REDRAWS_PER_S)


def best_reached(nodes: dict[str, dict[str, Any]], path: Iterable[str]) -> list[dict[str, Any]]:
    """The steps (root left out) of the result's path; where it has none, of the best state
    reached: the deepest node not pruned, the most valuable at that depth (none when every
    proposal was pruned: a rejected line is not a step reached)."""
    steps = [nodes[i] for i in path if i in nodes and nodes[i]["depth"] > 0]
    if steps:
        return steps
    kept = [n for n in nodes.values() if n["depth"] > 0 and n["status"] != "pruned"]
    if not kept:
        return []
    node: dict[str, Any] | None = max(kept, key=lambda n: (n["depth"], n["value"] or 0.0))
    while node is not None and node["depth"] > 0:
        steps.append(node)
        node = nodes.get(node["parent_id"] or "")
    return steps[::-1]


def search_line(tree: dict[str, Any]) -> str:
    """How the search ended, its nodes (the root included) and what it cost."""
    stopped = str(tree.get("stopped"))
    if stopped == "solved":
        stopped = {True: "solved (verified)", None: "answered (no verifier)"}.get(tree.get("verified"), stopped)
    return (f"{stopped} after {len(tree.get('nodes', ()))} node(s) (root included), "
            f"{tree.get('model_calls', 0)} model call(s), {tree.get('cache_hits', 0)} cache hit(s)")


def sources(passages: Iterable[dict[str, Any]]) -> list[str]:
    """One line per passage the answer was given: its number as the answer cites it, where it
    comes from, its similarity and whether the answer cites it."""
    lines = []
    for p in passages:
        where = p.get("source") or p.get("document_id") or p.get("id") or "?"
        where += f" › {p['heading']}" if p.get("heading") else ""
        similarity = f", similarity {p['similarity']:.2f}" if p.get("similarity") is not None else ""
        cited = "cited" if p.get("cited") else "not cited"
        lines.append(f"  [{p.get('number', '?')}] {escape(where)}  ({cited}{similarity})")
    return lines


def rounds(searches: Iterable[dict[str, Any]]) -> list[str]:
    """One line per s3 search round: its query, where the query came from, what it found and
    kept, and the decision taken after it."""
    return [f"  {s.get('round', '?')}. {escape(repr(s.get('query', '')))} (query from {escape(str(s.get('query_from', '?')))}): "
            f"retrieved {s.get('retrieved', 0)}, kept {s.get('kept', 0)}; {escape(str(s.get('decision', '')))}"
            for s in searches]


def report(result: ReasoningResult) -> None:
    """Print the mode, the sources and search rounds of the retrieving modes, the best path
    reached with each step's value, the answer and what it cost."""
    out.print(f"[bold]Mode:[/] {escape(result.mode)}"
              + (f" (asked: {escape(result.requested)})" if result.requested != result.mode else "")
              + (f": {escape(result.why)}" if result.why else ""))
    if result.searches:
        out.print("[bold]Search rounds:[/]")
        for line in rounds(result.searches):
            out.print(line)
    if result.passages:
        out.print("[bold]Sources:[/]")
        for line in sources(result.passages):
            out.print(line)
    tree = result.tree or {}
    nodes = {n["id"]: n for n in tree.get("nodes", ())}
    verified = tree.get("verified")
    steps = best_reached(nodes, tree.get("path", ()))
    if steps:
        heading = ("Best path (no solution):" if tree.get("answer") is None
                   else "Path to the refuted answer:" if verified is False else "Solution path:")
        out.print(f"[bold]{heading}[/]")
        for number, node in enumerate(steps, 1):
            value = "" if node["value"] is None else f"  [cyan](value {node['value']:g})[/]"
            out.print(f"  {number}. {escape(' '.join(node['thought'].split()))}{value}")
    elif tree:
        out.print("[bold]Best path:[/] none (the search kept no step past the problem)")
    verdict = {True: "[green]verified ✓[/]", False: "[red]refuted ✗[/]", None: "not verifiable"}[verified]
    if tree and tree.get("answer") is None:
        out.print("[bold]Answer:[/] no solution found")
    else:
        out.print(f"[bold]Answer:[/] {escape(result.answer)}" + (f"  ({verdict})" if tree else ""))
    out.print(f"[bold]Confidence:[/] {result.confidence:.2f} ({escape(result.confidence_source)})")
    if tree:
        out.print(f"[bold]Search:[/] {search_line(tree)}")
    if result.timings:
        out.print("[bold]Timings:[/] " + ", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items()))
    out.print(f"[bold]Tokens:[/] {result.usage.prompt_tokens} prompt, {result.usage.completion_tokens} completion"
              + ("  (from the result cache)" if result.cached else ""))


class Interrupts:
    """Ctrl-C while ``pygent reason`` runs: the first asks the search to stop with its best
    partial result, the second aborts it; later ones (the kernel stopping) are ignored."""

    def __init__(self) -> None:
        self.stopping = False
        self.abort = anyio.CancelScope()

    async def watch(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        with anyio.open_signal_receiver(signal.SIGINT) as signals:
            task_status.started()
            async for _ in signals:
                if self.stopping:
                    self.abort.cancel()
                    continue
                self.stopping = True
                err.print("[yellow]Stopping: the search ends with its best partial result "
                          "(Ctrl-C again to abort).[/]")


def register(cli: click.Group) -> None:
    """Add ``reason`` to the ``pygent`` command."""

    @cli.command()
    @click.argument("problem")
    @click.option("--mode", metavar="MODE",
                  help=f"Pipeline mode: {', '.join(MODES)} (default: [reasoning] mode).")
    @click.option("--task", help="Reasoning task, e.g. game24 or open (default: the pipeline's choice).")
    @click.option("--breadth", type=int, help="States kept per layer (BFS) or children tried (DFS).")
    @click.option("--depth", type=int, help="Depth limit in steps (default: the task's).")
    @click.option("--search", type=click.Choice(["bfs", "dfs"]), help="Search algorithm.")
    @click.option("--evaluator", type=click.Choice(["value", "vote"]), help="How states are valued.")
    @click.option("-m", "--model", help="Chat model of the search (default: the default model).")
    @click.option("-C", "--collection", help="Collection the retrieving modes search.")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (no tree drawn).")
    @pass_cli
    def reason(ctx: CliContext, problem: str, mode: str | None, task: str | None, breadth: int | None,
               depth: int | None, search: str | None, evaluator: str | None, model: str | None,
               collection: str | None, as_json: bool) -> None:
        """Reason about PROBLEM: draw the search tree as it grows, then the solution path."""
        if not problem.strip():
            raise click.UsageError('PROBLEM is empty: pygent reason "what to solve"')
        overrides = {k: v for k, v in (("breadth", breadth), ("depth", depth), ("search", search),
                                       ("evaluator", evaluator)) if v is not None}

        async def main() -> ReasoningResult | PygentError | str | None:
            """The result (None: aborted), a bad request's message, or the error that stopped
            the run: returned, not raised, so that no task group wraps it."""
            interrupts = Interrupts()
            async with anyio.create_task_group() as watching:
                if threading.current_thread() is threading.main_thread():
                    await watching.start(interrupts.watch)  # until the kernel has stopped
                try:
                    async with ctx.kernel() as kernel:
                        pipeline = kernel.service(REASONING)
                        try:
                            settings = check_request(kernel.service(TREE_SEARCH), problem, mode=mode,
                                                     task=task, settings=overrides, model=model,
                                                     described=pipeline.modes())
                            check_model(kernel.service, settings)
                        except ReasoningError as error:
                            return str(error)
                        return await solve(kernel, pipeline, settings, interrupts)
                except PygentError as error:
                    return error
                finally:
                    watching.cancel_scope.cancel()

        async def solve(kernel: Any, pipeline: Any, settings: Any, interrupts: Interrupts) -> ReasoningResult | None:
            session_id = uuid.uuid4().hex[:16]
            tree = LiveTree(session_id)
            result: ReasoningResult | None = None

            async def follow(sub: Any) -> None:
                async for event in sub:
                    tree.apply(event)

            with kernel.bus.subscribe("tot.>", maxsize=10_000, name="pygent-reason") as sub:
                live = None
                if not as_json:
                    from rich.live import Live

                    live = Live(draw(problem, ()), console=err, auto_refresh=False,
                                vertical_overflow="ellipsis" if err.is_terminal else "visible")
                    live.start()
                failed: PygentError | None = None
                try:
                    async with anyio.create_task_group() as tasks:
                        tasks.start_soon(follow, sub)
                        if live is not None:
                            tasks.start_soon(paint, live, problem, tree)
                        with interrupts.abort:
                            try:
                                result = await pipeline.run(
                                    problem, mode=mode or pipeline.config.mode, task=task, settings=settings,
                                    collection=collection, session_id=session_id,
                                    stop=lambda: interrupts.stopping)
                            except PygentError as error:
                                failed = error
                        tasks.cancel_scope.cancel()
                    for event in sub.drain():  # what the follower had not read yet
                        tree.apply(event)
                finally:
                    if live is not None:  # once at the end: the whole tree (the result's, if any)
                        nodes = (result.tree or {}).get("nodes") if result is not None else None
                        live.update(draw(problem, nodes or tree.nodes.values()))  # stop() draws it
                        live.stop()
                        if not err.is_terminal:
                            err.print()  # the drawn tree ends its line
            if failed is not None:
                raise failed
            return result

        found = run(main)
        if isinstance(found, str):
            raise click.UsageError(found)
        if isinstance(found, PygentError) and busy(found):
            err.print(f"[red]Busy:[/] {escape(str(found))}\n{BUSY_HINT}", soft_wrap=True)
            click.get_current_context().exit(3)
        if isinstance(found, PygentError):
            raise found  # `pygent` prints it and exits with status 2
        if found is None:
            err.print("[red]Aborted.[/]")
            click.get_current_context().exit(130)
        if as_json:
            print(json.dumps(found.to_dict(), indent=2, default=str))
        else:
            report(found)
        tree = found.tree or {}
        used = model or (tree.get("settings") or {}).get("model") or ""
        if tree.get("task") == "game24" and tree.get("verified") is not True and not used.startswith("oracle:"):
            err.print(f"Tip: {ORACLE_TIP}", soft_wrap=True)
        if not found.found or tree.get("verified") is False:
            click.get_current_context().exit(1)
