"""The main job on embedded defaults, offline: what `make demo` runs.

Starts the kernel from plugins.toml (llama.cpp with SmolLM2-135M in-process, SQLite memory,
MiniLM embeddings, FAISS), creates a general and a coding agent, streams answers, uses a tool,
solves a small coding task in the sandbox, ingests the project's own docs/ and answers a question
about them with citations, solves a Game of 24 puzzle by Tree-of-Thought with the checkable
oracle, and prints the stored conversation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
from pygent_kernel import Kernel
from pygent_sdk.agents import AGENT_REGISTRY, AgentRegistry
from pygent_sdk.knowledge import KNOWLEDGE, IngestProgress
from pygent_sdk.reasoning import REASONING, TREE_SEARCH
from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.tree import Tree

ROOT = Path(__file__).parents[2]
console = Console(highlight=False)


async def stream(text: str) -> None:
    console.print(text, end="", style="bold", markup=False)


def shown(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it (docs/... from the
    repository), else absolute: how the sources are named in citations."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


async def knowledge(kernel: Any, registry: AgentRegistry) -> None:
    """Ingest docs/ (unchanged files are skipped on a second run) and ask the search agent."""
    console.rule("Knowledge: the project's own docs, ingested and cited")
    docs = shown(ROOT / "docs")
    columns = (SpinnerColumn(), TextColumn("ingesting {task.description}"), BarColumn(),
               MofNCompleteColumn(), TextColumn("files · {task.fields[detail]}"))
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(docs + "/", total=None, detail="loading MiniLM")

        def advanced(p: IngestProgress) -> None:
            progress.update(task, completed=p.files_done, total=p.files_total,
                            detail=f"{p.chunks} chunks, {p.vectors_per_s:.0f} vectors/s")

        report = await kernel.service(KNOWLEDGE).ingest_paths([docs], collection="docs",
                                                               progress=advanced)
    console.print(f"{len(report.added)} new, {len(report.replaced)} changed and "
                  f"{len(report.unchanged)} unchanged file(s): {report.chunks} chunks embedded "
                  f"(MiniLM) into FAISS in {report.seconds:.1f} s.")
    search = await registry.create("search", name="demo-search", config={"collection": "docs"})
    question = "How do I write a plugin?"
    console.print(f"[cyan]you ›[/] {question}")
    console.print("[magenta]search agent ›[/] ", end="")
    result = await registry.run(search.id, question, on_token=stream)
    console.print()
    for step in result.steps:
        if step.kind == "retrieval":
            console.print(f"  [green]✓[/] {escape(step.summary())}")
    console.print()
    await registry.delete(search.id)


async def reasoning(kernel: Any) -> None:
    """Tree-of-Thought on a Game of 24 puzzle with the checkable oracle (an exact proposer and
    evaluator, no language model): the tree it kept, the solution path, the verifier's verdict."""
    console.rule("Reasoning: Tree-of-Thought on the Game of 24, verified exactly")
    puzzle = "4 9 10 13"
    settings = kernel.service(TREE_SEARCH).settings({"model": "oracle:game24", "breadth": 3})
    result = await kernel.service(REASONING).run(puzzle, mode="tot_only", task="game24",
                                                 settings=settings)
    nodes = {n["id"]: n for n in result.tree["nodes"]}
    drawn = {result.tree["path"][0]: Tree(f"[cyan]{puzzle}[/]")}
    for node in result.tree["nodes"]:  # the nodes the search kept, in the order proposed
        if node["parent_id"] in drawn and node["status"] in ("kept", "solution"):
            mark = "[green]✓ [/]" if node["status"] == "solution" else ""
            value = "" if node["value"] is None else f"  [dim]value {node['value']:g}[/]"
            drawn[node["id"]] = drawn[node["parent_id"]].add(f"{mark}{escape(node['thought'])}{value}")
    console.print(drawn[result.tree["path"][0]])
    pruned = sum(n["status"] == "pruned" for n in nodes.values())
    verdict = "verified ✓" if result.tree["verified"] else "not verified"
    console.print(f"[bold]{escape(result.answer)}[/] = 24 ({verdict}); {len(nodes)} nodes "
                  f"proposed, {pruned} pruned, breadth {settings.breadth}, "
                  f"{result.timings.get('tot', 0):.2f} s. Try: pygent reason --task game24 "
                  f'"{puzzle}" --model oracle:game24\n', markup=True)


async def main() -> None:
    kernel = Kernel.from_config(ROOT / "plugins.toml")
    console.rule("PyGent Factory demo: agents on an embedded model, offline")
    async with kernel:
        console.print(f"Kernel up with {len(kernel.order)} plugins: {', '.join(kernel.order)}")
        usage = kernel.bus.subscribe("llm.usage", maxsize=1000, name="demo")
        registry = kernel.service(AGENT_REGISTRY)
        general = await registry.create("general", name="demo-general")
        console.print(f"Created a [cyan]general[/] agent on [cyan]{general.model}[/] "
                      "(the first answer also loads the model).\n")

        for question in ["Hi! Who are you?", "What is 17*23?"]:
            console.print(f"[cyan]you ›[/] {question}")
            console.print("[magenta]agent ›[/] ", end="")
            result = await registry.run(general.id, question, on_token=stream)
            console.print()
            for step in result.steps:
                if step.kind == "tool":
                    console.print(f"  {'[green]✓' if step.ok else '[red]✗'} {step.summary()}[/]")
            console.print()

        # A task the 135M model solves on any build; harder ones want a stronger model (below).
        coding = await registry.create("coding", name="demo-coding", config={
            "check": "assert square(4) == 16 and square(-3) == 9", "max_attempts": 3})
        task = "Write a function square(n) that returns n * n, and print square(4)."
        console.print(f"[cyan]coding task ›[/] {task}")
        result = await registry.run(coding.id, task, on_token=lambda t: anyio.sleep(0))
        for step in result.steps:
            console.print(f"  {'[green]✓[/]' if step.ok else '[red]✗[/]'} {step.summary()}")
            console.print(Panel(step.code or "(no code)", title="code", expand=False))
        console.print(f"[bold]{result.output}[/]\n")

        await knowledge(kernel, registry)
        await reasoning(kernel)

        memory = kernel.hook.pygent_memory_store()
        console.rule("The stored conversation of the general agent")
        console.print(Markdown(await memory.export(general.conversation_id, "markdown")))
        exchanges = usage.drain()
        tokens = sum(e.completion_tokens for e in exchanges)
        seconds = sum(e.total_s for e in exchanges)
        console.rule()
        console.print(f"{len(exchanges)} model calls, {tokens} tokens generated in {seconds:.1f} s "
                      f"({tokens / max(seconds, 1e-9):.0f} tokens/s, llm.usage events).")
        for info in (general, coding):
            await registry.delete(info.id)
    console.print("[green]Demo finished.[/]")
    console.print(
        "This ran SmolLM2-135M, a tiny model, in-process. For harder tasks switch to a stronger one:\n"
        "  pygent run coding \"...\" -m ollama:qwen2.5-coder      (an Ollama server with that model)\n"
        "  pygent ask \"How do jobs report progress?\" --collection docs   (cited answers from your documents)\n"
        "or make it the default in plugins.toml:\n"
        "  [models]\n  default = \"openai:gpt-4o-mini\"                (with [openai] api_key = \"${OPENAI_API_KEY}\")",
        markup=False,
    )


if __name__ == "__main__":
    anyio.run(main)
