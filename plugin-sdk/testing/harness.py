"""PluginHarness: run plugins in an isolated kernel with in-memory config, recording what happens.

::

    async with PluginHarness({"greeter": GreeterPlugin}, config={"greeter": {"name": "Ada"}}) as h:
        event = await h.wait_for("greeter.greeted")
        assert h.calls_to("pygent_health") == []
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
from pygent_kernel import Kernel, Subscription
from pygent_kernel.topics import compile_pattern

from ..events import Event
from ..plugin import Plugin


@dataclasses.dataclass(slots=True)
class HookCall:
    """One hook call the harness saw: its name, keyword arguments, and result or exception."""

    name: str
    kwargs: dict[str, Any]
    result: Any = None
    error: BaseException | None = None


class PluginHarness:
    """An isolated kernel around the given plugins.

    ``plugins`` maps names to classes (no entry points needed), or names installed plugins by
    their entry-point names: ``PluginHarness({"mine": MyPlugin, "memory": None})`` or
    ``PluginHarness(["models", "scripted", "agents"])``. ``config`` holds each plugin's table
    as it would appear in plugins.toml, plus an optional ``"kernel"`` table. Data goes to a
    temporary directory unless ``config["kernel"]["data_dir"]`` says otherwise.
    """

    def __init__(
        self, plugins: Mapping[str, type[Plugin] | None] | Sequence[str],
        config: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        config = dict(config or {})
        named = dict(plugins) if isinstance(plugins, Mapping) else dict.fromkeys(plugins)
        classes = {name: cls for name, cls in named.items() if cls is not None}
        self._tmp = tempfile.TemporaryDirectory(prefix="pygent-harness-")
        kernel_table = {"data_dir": str(Path(self._tmp.name)), **config.pop("kernel", {})}
        tables = {"kernel": kernel_table, **{name: dict(config.get(name, {})) for name in named}}
        try:
            self.kernel = Kernel.from_mapping(tables, classes=classes, source="<harness>")
        except BaseException:
            self._tmp.cleanup()
            raise
        self.hook_calls: list[HookCall] = []
        self._recorded: list[Event] = []
        self._sub: Subscription = self.kernel.bus.subscribe(
            ">", maxsize=100_000, overflow="drop_oldest", name="harness"
        )
        self.kernel.pm.add_hookcall_monitoring(self._before, self._after)

    def plugin(self, name: str) -> Plugin:
        """The running instance of plugin ``name``."""
        instance = self.kernel.plugins[name].instance
        if instance is None:
            raise KeyError(f"plugin '{name}' has no instance (state: {self.kernel.plugins[name].state})")
        return instance

    @property
    def events(self) -> list[Event]:
        """Every event published since the harness was made, in order."""
        self._recorded.extend(self._sub.drain())
        return self._recorded

    def events_on(self, pattern: str) -> list[Event]:
        """The recorded events whose topic matches ``pattern``."""
        matches = compile_pattern(pattern)
        return [e for e in self.events if matches(e.topic)]

    def calls_to(self, hook_name: str) -> list[HookCall]:
        """The recorded calls of one hook."""
        return [c for c in self.hook_calls if c.name == hook_name]

    async def wait_for(self, pattern: str, *, timeout: float = 5.0) -> Event:
        """The first recorded event matching ``pattern``, waiting up to ``timeout`` seconds."""
        matches = compile_pattern(pattern)
        seen = 0
        with anyio.fail_after(timeout):
            while True:
                events = self.events
                for event in events[seen:]:
                    if matches(event.topic):
                        return event
                seen = len(events)
                self._recorded.append(await self._sub.__anext__())

    async def settle(self) -> None:
        """Wait until every task is idle: listeners have handled every event delivered so far."""
        await anyio.wait_all_tasks_blocked()

    async def __aenter__(self) -> PluginHarness:
        await self.kernel.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        try:
            return await self.kernel.__aexit__(*exc_info)
        finally:
            self._sub.close()
            self._tmp.cleanup()

    def _before(self, hook_name: str, _impls: object, kwargs: Mapping[str, Any]) -> None:
        self.hook_calls.append(HookCall(hook_name, dict(kwargs)))

    def _after(self, outcome: Any, hook_name: str, _impls: object, kwargs: Mapping[str, Any]) -> None:
        for call in reversed(self.hook_calls):
            if call.name == hook_name:
                call.error = outcome.exception
                if call.error is None:
                    call.result = outcome.get_result()
                break
