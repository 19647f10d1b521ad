"""The main job on embedded defaults, offline: what `make demo` runs.

Starts the kernel from plugins.toml (llama.cpp with SmolLM2-135M in-process, SQLite memory),
creates a general and a coding agent, streams answers, uses a tool, solves a small coding task
in the sandbox and prints the stored conversation.
"""

from __future__ import annotations

from pathlib import Path

import anyio
from pygent_kernel import Kernel
from rich.console import Console
from rich.markdown import Markdown
from rich.panel import Panel

ROOT = Path(__file__).parents[2]
console = Console(highlight=False)


async def stream(text: str) -> None:
    console.print(text, end="", style="bold")


async def main() -> None:
    kernel = Kernel.from_config(ROOT / "plugins.toml")
    console.rule("PyGent Factory demo: agents on an embedded model, offline")
    async with kernel:
        console.print(f"Kernel up with {len(kernel.order)} plugins: {', '.join(kernel.order)}")
        usage = kernel.bus.subscribe("llm.usage", maxsize=1000, name="demo")
        registry = kernel.hook.pygent_agent_registry()
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
        "or make it the default in plugins.toml:\n"
        "  [models]\n  default = \"openai:gpt-4o-mini\"                (with [openai] api_key = \"${OPENAI_API_KEY}\")",
        markup=False,
    )


if __name__ == "__main__":
    anyio.run(main)
