"""Tests of the greeter plugin in isolation, with the SDK's harness (the `pygent_harness` fixture)."""

import pytest
from pygent_greeter import GreeterPlugin, Greeted
from pygent_sdk import ConfigError, Plugin, hookimpl

pytestmark = pytest.mark.anyio


async def test_greets_from_config(pygent_harness):
    async with pygent_harness({"greeter": GreeterPlugin}, {"greeter": {"name": "Ada"}}) as h:
        event = await h.wait_for("greeter.greeted")
    assert isinstance(event, Greeted)
    assert event.text == "Hello, Ada!"
    assert event.source == "greeter"


async def test_other_plugins_decorate_the_greeting(pygent_harness):
    class Shouter(Plugin):
        @hookimpl
        def greeter_decorate(self, text: str) -> str:
            return text.upper()

    async with pygent_harness({"greeter": GreeterPlugin, "shouter": Shouter}) as h:
        event = await h.wait_for("greeter.greeted")
        (call,) = h.calls_to("greeter_decorate")
    assert event.text == "HELLO, WORLD!"
    assert call.kwargs == {"text": "Hello, world!"} and call.result == "HELLO, WORLD!"


async def test_listener_and_health(pygent_harness):
    async with pygent_harness({"greeter": GreeterPlugin}) as h:
        await h.wait_for("kernel.started")
        await h.settle()
        health = await h.kernel.health()
    assert h.plugin("greeter").starts_seen == 1
    assert health.plugins["greeter"].detail == "saw 1 kernel start(s)"


def test_bad_config_names_the_key(pygent_harness):
    with pytest.raises(ConfigError, match=r"\[greeter\] key 'name'"):
        pygent_harness({"greeter": GreeterPlugin}, {"greeter": {"name": ""}})
