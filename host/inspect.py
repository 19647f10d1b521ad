"""``pygent plugins list|info`` and ``pygent config check``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
from pydantic_core import PydanticUndefined
from pygent_kernel import Kernel, State, discovery
from pygent_sdk.errors import PygentError
from pygent_sdk.markers import PROJECT
from pygent_sdk.plugin import Plugin
from rich.markup import escape
from rich.table import Table

from .render import err, out, show_problems, styled
from .session import load


def _kernel(config_path: Path | None, classes: dict[str, type[Plugin]]) -> Kernel:
    """A kernel over ``config_path`` (None: the defaults) that keeps its problems instead of raising them."""
    return Kernel(load(config_path), classes)


def list_plugins(config_path: Path | None, *, health: bool) -> None:
    installed = discovery.installed()
    classes, failures = discovery.load(list(installed))
    kernel = _kernel(config_path, classes)
    status = {name: "error" if name in failures else "not configured" for name in installed}
    for name, rec in kernel.plugins.items():
        status[name] = "error" if rec.state is State.FAILED else (
            "disabled" if rec.state is State.DISABLED else "ready"
        )
    if health and not any(fatal for _, fatal in kernel.errors):
        status.update(anyio.run(_health, kernel))
    table = Table(title=f"Plugins ({config_path or 'built-in defaults'})")
    for column in ("name", "version", "distribution", "provides", "requires", "enabled", "status"):
        table.add_column(column)
    for name in sorted(set(installed) | set(kernel.plugins)):
        info, cls = installed.get(name), classes.get(name)
        rec = kernel.plugins.get(name)
        table.add_row(
            name, info.version if info else "-", info.distribution if info else "(not installed)",
            ", ".join(cls.provides) if cls else "", ", ".join(cls.requires) if cls else "",
            "yes" if rec and rec.entry.enabled else "no", styled(status.get(name, "error")),
        )
    out.print(table)
    problems = [(e, True) for e in failures.values() if e.plugin not in kernel.plugins]
    problems += kernel.errors
    if problems:
        err.print("Problems:")
        show_problems(problems)


async def _health(kernel: Kernel) -> dict[str, str]:
    async with kernel:
        report = await kernel.health()
    return {name: h.status + (f": {h.detail}" if h.detail else "") for name, h in report.plugins.items()}


def plugin_info(name: str) -> None:
    installed = discovery.installed()
    if name not in installed:
        raise PygentError(
            f"No installed plugin is named '{name}'; installed plugins: "
            f"{', '.join(sorted(installed)) or '(none)'}"
        )
    classes, failures = discovery.load([name])
    if name in failures:
        raise failures[name]
    cls, info = classes[name], installed[name]
    out.print(f"[bold]{name}[/] {info.version} — {escape(cls.summary())}")
    out.print(f"  distribution: {info.distribution}   entry point: {info.target}")
    out.print(f"  provides: {', '.join(cls.provides) or '-'}   requires: {', '.join(cls.requires) or '-'}")
    hooks = sorted(n for n in dir(cls) if getattr(getattr(cls, n), f"{PROJECT}_impl", None) is not None)
    out.print(f"  hooks: {', '.join(hooks) or '-'}")
    table = Table(title=escape(f"[{name}] configuration"))
    for column in ("key", "type", "default", "description"):
        table.add_column(column)
    table.add_row("enabled", "bool", "true", "Reserved: false keeps the table but skips the plugin.")
    table.add_row("on_error", "'stop' | 'continue'", "'stop'",
                  "Reserved: on a failure, stop the kernel or carry on without this plugin.")
    for key, field in cls.Config.model_fields.items():
        table.add_row(key, escape(_type_name(field.annotation)), escape(_default(field)),
                      escape(field.description or ""))
    out.print(table)


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) if isinstance(annotation, type) else str(annotation).replace("typing.", "")


def _default(field: Any) -> str:
    if field.is_required():
        return "(required)"
    value = field.default if field.default is not PydanticUndefined else field.default_factory()
    return repr(value)


def check_config(path: Path | None) -> bool:
    """Report every problem in ``path`` (None: the built-in defaults); True when none is fatal."""
    kernel = Kernel(load(path))
    path = path or Path("<built-in defaults>")
    enabled = [n for n, r in kernel.plugins.items() if r.entry.enabled]
    if kernel.errors:
        err.print(f"[bold]{escape(str(path))}[/]:")
        show_problems(kernel.errors)
    fatal = any(f for _, f in kernel.errors)
    if not fatal:
        out.print(
            f"[green]✓[/] {escape(str(path))} is valid: {len(enabled)} plugins enabled; "
            f"start order: {' → '.join(kernel.order) or '(none)'}"
        )
    return not fatal
