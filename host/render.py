"""How the host shows things: tables, error paragraphs and status lines, with rich."""

from __future__ import annotations

from collections.abc import Iterable

from pygent_sdk.errors import ConfigErrors, PygentError
from rich.console import Console
from rich.markup import escape

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

STATUS_STYLE = {
    "ok": "green", "ready": "green", "running": "green", "degraded": "yellow",
    "disabled": "dim", "not configured": "dim", "down": "red", "error": "red",
}


def flatten(error: PygentError) -> list[PygentError]:
    """The individual errors inside ``error`` (itself, unless it groups several)."""
    return list(error.errors) if isinstance(error, ConfigErrors) else [error]


def show_error(error: PygentError) -> None:
    """Print an error as one paragraph per problem, never a traceback."""
    problems = flatten(error)
    title = "Error" if len(problems) == 1 else f"{len(problems)} errors"
    err.print(f"[bold red]{title}:[/]")
    for problem in problems:
        err.print(f"  [red]•[/] {escape(str(problem))}", soft_wrap=True)


def show_problems(problems: Iterable[tuple[PygentError, bool]]) -> None:
    """Print collected problems, fatal ones as errors and tolerated ones as warnings."""
    for problem, fatal in problems:
        for one in flatten(problem):
            label = "[red]error[/]" if fatal else "[yellow]warning (on_error = \"continue\")[/]"
            err.print(f"  {label}: {escape(str(one))}", soft_wrap=True)


def styled(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{escape(status)}[/]"
