"""The kernel's platform surface: the start-up phase, CLI commands from plugins, typed services,
soft dependencies, and running without a plugins.toml."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from pygent_kernel import Kernel
from pygent_sdk import Plugin, PluginError, hookimpl, hookspec
from pygent_sdk.cli import CliContext, out, pass_cli
from pygent_sdk.services import ServiceKey, ServiceUnavailable
from pygent_sdk.testing import PluginHarness

pytestmark = pytest.mark.anyio
PYGENT = Path(sys.executable).with_name("pygent")


class Greeting:
    text = "hi"


class GreetingHooks:
    @hookspec(firstresult=True)
    def test_greeting(self) -> Greeting | None:
        """The greeting service."""


GREETING = ServiceKey("test_greeting", Greeting, provider="greeting")
order: list[str] = []


class Provider(Plugin):
    provides = ("greeting",)

    @hookimpl
    def pygent_addhooks(self, pluginmanager) -> None:  # type: ignore[no-untyped-def]
        pluginmanager.add_hookspecs(GreetingHooks)

    async def start(self) -> None:
        order.append("provider")

    @hookimpl
    def test_greeting(self) -> Greeting:
        return Greeting()


class User(Plugin):
    uses = ("greeting",)
    seen: str | None = None

    async def start(self) -> None:
        order.append("user")
        found = self.context.optional_service(GREETING)
        self.seen = found.text if found else None

    @hookimpl
    async def pygent_startup(self) -> None:
        order.append("user startup")
        self.context.service(GREETING)


async def test_a_soft_dependency_starts_first_when_present_and_is_optional_otherwise() -> None:
    order.clear()
    async with PluginHarness({"user": User, "greeting": Provider}) as h:
        assert order == ["provider", "user", "user startup"]
        assert h.plugin("user").seen == "hi"


async def test_hook_pygent_startup() -> None:
    order.clear()
    with pytest.raises(PluginError, match="Plugin 'user' failed to start: .*needs the Greeting service"):
        async with PluginHarness({"user": User}):
            pass
    assert order == ["user", "user startup"]

    class Late(Plugin):
        """Counts what every other plugin contributed only once all have started."""

        @hookimpl
        def pygent_startup(self) -> None:
            self.running = [s.name for s in self.context.plugins() if s.state == "running"]

    async with PluginHarness({"late": Late, "greeting": Provider}) as h:
        assert h.plugin("late").running == ["late", "greeting"]
        started = await h.wait_for("kernel.started")
        assert started.plugins == ("late", "greeting")


async def test_a_failing_startup_under_continue_leaves_the_others_running() -> None:
    class Broken(Plugin):
        @hookimpl
        def pygent_startup(self) -> None:
            raise RuntimeError("cannot assemble")

    config = {"broken": {"on_error": "continue"}}
    async with PluginHarness({"broken": Broken, "greeting": Provider}, config) as h:
        states = {s.name: s.state for s in h.kernel.statuses()}
        failed = h.events_on("kernel.plugin.failed")
    assert states == {"broken": "failed", "greeting": "running"}
    assert "cannot assemble" in failed[0].error


def test_services_name_the_missing_provider() -> None:
    kernel = Kernel.from_mapping({})
    assert kernel.optional_service(GREETING) is None
    with pytest.raises(ServiceUnavailable, match=r"needs the Greeting service \(hook test_greeting\).*'greeting'"):
        kernel.service(GREETING)


def test_hook_pygent_cli_commands(tmp_path: Path) -> None:
    from pygent_host.cli import plugin_commands

    commands = plugin_commands()
    assert {"agents", "chat", "models", "conversations", "auth", "serve"} <= set(commands.commands)

    class WithCommand(Plugin):
        @staticmethod
        @hookimpl
        def pygent_cli_commands(cli: click.Group) -> None:
            @cli.command()
            @pass_cli
            def hello(ctx: CliContext) -> None:
                out.print(f"hello from {ctx.config_path}")

    group = click.Group("t")
    WithCommand.pygent_cli_commands(cli=group)
    from click.testing import CliRunner

    result = CliRunner().invoke(group, ["hello"], obj=CliContext(tmp_path, None, None))  # type: ignore[arg-type]
    assert result.exit_code == 0 and f"hello from {tmp_path}" in result.output


def pygent(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYGENT_CONFIG"}
    return subprocess.run([str(PYGENT), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={**env, "COLUMNS": "200"})


def test_without_plugins_toml_the_builtin_defaults_apply_and_init_writes_them(tmp_path: Path) -> None:
    checked = pygent("config", "check", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "built-in defaults" in checked.stderr and checked.stderr.count("built-in defaults") == 1
    assert "llamacpp" in checked.stdout and "agents" in checked.stdout
    written = pygent("init", cwd=tmp_path)
    assert written.returncode == 0 and (tmp_path / "plugins.toml").exists()
    assert "[llamacpp]" in (tmp_path / "plugins.toml").read_text()
    again = pygent("init", cwd=tmp_path)
    assert again.returncode == 2 and "--force" in again.stderr
    quiet = pygent("config", "check", cwd=tmp_path)
    assert quiet.returncode == 0 and "built-in defaults" not in quiet.stderr


def test_an_explicit_missing_config_is_an_error(tmp_path: Path) -> None:
    result = pygent("-c", "nope.toml", "plugins", "list", cwd=tmp_path)
    assert result.returncode == 2 and "nope.toml" in result.stderr and "not found" in result.stderr


def test_the_builtin_defaults_are_the_repository_plugins_toml() -> None:
    root = Path(__file__).parents[1]
    assert (root / "host" / "default_plugins.toml").read_text() == (root / "plugins.toml").read_text()


def test_a_plugin_missing_its_requirement_is_told_what_to_enable_not_about_hooks() -> None:
    from pygent_sdk.agents import AgentType

    class NeedsAgents(Plugin):
        requires = ("agents",)

        @hookimpl
        def pygent_agent_types(self) -> list[AgentType]:
            return []

    with pytest.raises(Exception, match=r"'needs' requires 'agents', which no enabled plugin "
                                        r"provides; it would come from 'agents' \(not in the config\)"):
        Kernel.from_mapping({"needs": {}}, classes={"needs": NeedsAgents})
