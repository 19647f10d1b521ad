"""greeter: an example third-party plugin, written only against the public SDK.

It shows the parts a real plugin uses: a validated config, ``provides``, a hookspec of its own
(``greeter_decorate``) that other plugins may implement, an event it publishes on start, a
listener, and a health report.
"""

from __future__ import annotations

from pydantic import Field
from pygent_sdk import (
    Event, Health, KernelStarted, Listener, Plugin, PluginConfig, event, hookimpl, hookspec,
)


@event("greeter.greeted")
class Greeted(Event):
    """The greeter greeted someone with ``text``."""

    text: str


class GreeterHooks:
    """Hooks the greeter declares for other plugins."""

    @hookspec(firstresult=True)
    def greeter_decorate(self, text: str) -> str | None:
        """Return a changed greeting, or None to leave ``text`` as it is. First answer wins."""


class GreeterConfig(PluginConfig):
    """Configuration of the ``[greeter]`` table."""

    name: str = Field("world", min_length=1, description="Who to greet.")
    greeting: str = Field("Hello", description="The word of greeting.")


class GreeterPlugin(Plugin):
    """Greets on start-up and counts kernel start-ups it has seen."""

    Config = GreeterConfig
    provides = ("greeting",)
    config: GreeterConfig

    starts_seen = 0

    @hookimpl
    def pygent_addhooks(self, pluginmanager) -> None:  # type: ignore[no-untyped-def]
        pluginmanager.add_hookspecs(GreeterHooks)

    async def start(self) -> None:
        text = f"{self.config.greeting}, {self.config.name}!"
        text = self.context.hook.greeter_decorate(text=text) or text
        await self.context.bus.publish(Greeted(text=text, source=self.context.name))

    def _count(self, _event: Event) -> None:
        self.starts_seen += 1

    @hookimpl
    def pygent_listeners(self) -> list[Listener]:
        return [Listener(KernelStarted.topic, self._count)]

    @hookimpl
    def pygent_health(self) -> Health:
        return Health.ok(f"saw {self.starts_seen} kernel start(s)")
