"""Kernel lifecycle: dependency order, failure policies, hooks, health, shutdown."""

from __future__ import annotations

import signal
from typing import ClassVar

import anyio
import pluggy
import pytest
from pygent_kernel import Kernel, State
from pygent_sdk import (
    DependencyError, Event, Health, Listener, Plugin, PluginError, hookimpl, hookspec,
)
from pygent_sdk.testing import PluginHarness

from .conftest import Ping

pytestmark = pytest.mark.anyio


class Recorder:
    """Collects lifecycle steps across plugins of one test."""

    steps: ClassVar[list[str]] = []


@pytest.fixture(autouse=True)
def _reset() -> None:
    Recorder.steps = []


def plugin(name: str, provides: tuple[str, ...] = (), requires: tuple[str, ...] = (),
           fail_start: bool = False) -> type[Plugin]:
    class P(Plugin):
        async def start(self) -> None:
            if fail_start:
                raise RuntimeError(f"{name} cannot reach its database")
            Recorder.steps.append(f"start {name}")

        async def stop(self) -> None:
            Recorder.steps.append(f"stop {name}")

    P.provides, P.requires, P.__name__ = provides, requires, name
    return P


def build(tables: dict[str, dict[str, object]], **classes: type[Plugin]) -> Kernel:
    return Kernel.from_mapping(tables, classes=classes)


async def test_start_in_dependency_order_and_stop_in_reverse() -> None:
    kernel = build(
        {"agents": {}, "model": {}, "store": {}},
        agents=plugin("agents", requires=("chat-model", "memory")),
        model=plugin("model", provides=("chat-model",), requires=("memory",)),
        store=plugin("store", provides=("memory",)),
    )
    assert kernel.order == ["store", "model", "agents"]
    async with kernel:
        assert all(r.state is State.RUNNING for r in kernel.plugins.values())
    assert Recorder.steps == [
        "start store", "start model", "start agents", "stop agents", "stop model", "stop store",
    ]
    assert all(r.state is State.STOPPED for r in kernel.plugins.values())


def test_cycle_is_refused_naming_the_plugins() -> None:
    with pytest.raises(DependencyError) as info:
        build({"a": {}, "b": {}},
              a=plugin("a", provides=("x",), requires=("y",)),
              b=plugin("b", provides=("y",), requires=("x",)))
    message = str(info.value)
    assert "Dependency cycle" in message and "'a' requires" in message and "'b'" in message
    assert set(info.value.plugins) == {"a", "b"}


def test_missing_provider_is_refused_naming_requirer_and_capability() -> None:
    with pytest.raises(DependencyError, match="Plugin 'agents' requires 'chat-model', which no enabled"):
        build({"agents": {}}, agents=plugin("agents", requires=("chat-model",)))


def test_missing_provider_names_a_disabled_one() -> None:
    with pytest.raises(DependencyError, match=r"'model' \(disabled\)"):
        build({"agents": {}, "model": {"enabled": False}},
              agents=plugin("agents", requires=("chat-model",)),
              model=plugin("model", provides=("chat-model",)))


async def test_plugin_raising_on_start_stops_the_kernel_by_default() -> None:
    kernel = build({"store": {}, "db": {}}, store=plugin("store"), db=plugin("db", fail_start=True))
    with pytest.raises(PluginError) as info:
        async with kernel:
            pytest.fail("the body must not run")
    assert str(info.value) == (
        "Plugin 'db' failed to start: RuntimeError: db cannot reach its database"
    )
    assert Recorder.steps == ["start store", "stop store"]


async def test_continue_policy_carries_on_without_the_plugin_and_its_dependents() -> None:
    kernel = build(
        {"db": {"on_error": "continue"}, "cache": {"on_error": "continue"}, "web": {}},
        db=plugin("db", provides=("sql",), fail_start=True),
        cache=plugin("cache", requires=("sql",)),
        web=plugin("web"),
    )
    async with kernel:
        health = await kernel.health()
    assert kernel.plugins["db"].state is State.FAILED
    assert kernel.plugins["cache"].state is State.FAILED
    assert "whose providers failed to start" in str(kernel.plugins["cache"].error)
    assert health.status == "down"
    assert health.plugins["web"] == Health.ok()
    assert "cannot reach its database" in health.plugins["db"].detail


async def test_tolerated_problems_are_logged_when_the_kernel_starts(caplog: pytest.LogCaptureFixture) -> None:
    kernel = build({"store": {"on_error": "continue", "bogus": 1}, "web": {}},
                   store=plugin("store"), web=plugin("web"))
    assert not caplog.records  # building reports through kernel.errors, not the log
    async with kernel:
        pass
    (record,) = [r for r in caplog.records if r.name == "pygent.kernel" and r.levelname == "WARNING"]
    assert "[store] key 'bogus': unknown key" in record.getMessage()
    assert 'on_error = "continue"' in record.getMessage()


async def test_crash_after_start_stops_the_kernel_and_raises_the_named_error() -> None:
    class Crashy(Plugin):
        async def run(self, *, task_status=anyio.TASK_STATUS_IGNORED) -> None:
            task_status.started()
            await anyio.sleep(0.01)
            raise OSError("disk full")

    kernel = build({"store": {}, "crashy": {}}, store=plugin("store"), crashy=Crashy)
    with pytest.raises(PluginError, match="Plugin 'crashy' failed to run: OSError: disk full"):
        async with kernel:
            await kernel.run_until_stopped(handle_signals=False)
    assert Recorder.steps == ["start store", "stop store"]


async def test_crash_with_continue_policy_leaves_the_kernel_running() -> None:
    class Crashy(Plugin):
        async def run(self, *, task_status=anyio.TASK_STATUS_IGNORED) -> None:
            task_status.started()
            raise OSError("disk full")

    async with PluginHarness({"crashy": Crashy, "store": plugin("store")},
                             {"crashy": {"on_error": "continue"}}) as h:
        failed = await h.wait_for("kernel.plugin.failed")
        assert failed.plugin == "crashy" and "disk full" in failed.error
        assert h.kernel.plugins["store"].state is State.RUNNING


async def test_an_error_in_the_embedding_code_propagates_unwrapped() -> None:
    with pytest.raises(ValueError, match="application bug"):
        async with build({"store": {}}, store=plugin("store")):
            raise ValueError("application bug")
    assert Recorder.steps == ["start store", "stop store"]


async def test_outer_cancellation_stops_the_plugins() -> None:
    with anyio.move_on_after(0.05) as scope:
        async with build({"store": {}}, store=plugin("store")) as kernel:
            await kernel.run_until_stopped(handle_signals=False)
    assert scope.cancelled_caught
    assert Recorder.steps == ["start store", "stop store"]


async def test_constructor_error_is_named() -> None:
    class Broken(Plugin):
        def __init__(self, config, context) -> None:  # type: ignore[no-untyped-def]
            raise ValueError("bad wiring")

    with pytest.raises(PluginError, match="Plugin 'broken' failed to load: ValueError: bad wiring"):
        build({"broken": {}}, broken=Broken)


def test_hookimpl_for_an_undeclared_hook_is_refused() -> None:
    class Typo(Plugin):
        @hookimpl
        def pygent_helth(self) -> Health:
            return Health.ok()

    with pytest.raises(PluginError, match="implements hook 'pygent_helth', which no enabled plugin declares"):
        build({"typo": {}}, typo=Typo)


def test_hookimpl_with_wrong_arguments_is_refused() -> None:
    class Wrong(Plugin):
        @hookimpl
        def pygent_health(self, verbose: bool) -> Health:
            return Health.ok()

    with pytest.raises(PluginError, match="Plugin 'wrong' failed to register:.*verbose"):
        build({"wrong": {}}, wrong=Wrong)


def test_each_kernel_has_its_own_plugin_manager() -> None:
    a, b = build({}), build({})
    assert a.pm is not b.pm and isinstance(a.pm, pluggy.PluginManager)


async def test_hook_pygent_addhooks() -> None:
    class Specs:
        @hookspec
        def shop_prices(self, item: str) -> float:
            """Price of ``item``."""

    class Shop(Plugin):
        @hookimpl
        def pygent_addhooks(self, pluginmanager: pluggy.PluginManager) -> None:
            pluginmanager.add_hookspecs(Specs)

    class Supplier(Plugin):
        @hookimpl
        def shop_prices(self, item: str) -> float:
            return {"tea": 2.5}[item]

    # The implementer registers before the plugin that declares the hook: still accepted.
    kernel = build({"supplier": {}, "shop": {}}, supplier=Supplier, shop=Shop)
    assert kernel.hook.shop_prices(item="tea") == [2.5]


async def test_hook_pygent_listeners() -> None:
    received: list[int] = []

    class Listens(Plugin):
        @hookimpl
        def pygent_listeners(self) -> list[Listener]:
            async def slow_ok(event: Event) -> None:
                await anyio.sleep(0)
                received.append(event.n)  # type: ignore[attr-defined]

            def broken(event: Event) -> None:
                raise RuntimeError("listener bug")

            return [Listener("test.*", slow_ok, overflow="wait"), Listener("test.ping", broken, name="broken")]

    async with PluginHarness({"listens": Listens}) as h:
        for n in range(3):
            await h.kernel.bus.publish(Ping(n=n))
        await h.settle()
        stats = {s.name: s for s in h.kernel.bus.stats().subscriptions}
    assert received == [0, 1, 2]
    assert stats["listens:broken"].errors == 3
    assert stats["listens:test.*"].errors == 0


async def test_hook_pygent_health() -> None:
    class Fine(Plugin):
        @hookimpl
        async def pygent_health(self) -> Health:
            return Health.degraded("slow disk")

    class Raises(Plugin):
        @hookimpl
        def pygent_health(self) -> Health:
            raise ConnectionError("db gone")

    class Hangs(Plugin):
        @hookimpl
        async def pygent_health(self) -> Health:
            await anyio.sleep(10)
            return Health.ok()

    class Silent(Plugin):
        pass

    async with PluginHarness(
        {"fine": Fine, "raises": Raises, "hangs": Hangs, "silent": Silent},
        {"kernel": {"health_timeout": 0.05}},
    ) as h:
        health = await h.kernel.health()
    assert health.plugins["fine"] == Health.degraded("slow disk")
    assert health.plugins["raises"] == Health.down("health check raised ConnectionError: db gone")
    assert health.plugins["hangs"] == Health.down("health check took longer than 0.05 s")
    assert health.plugins["silent"] == Health.ok()
    assert health.status == "down"
    assert len(h.calls_to("pygent_health")) == 4


async def test_request_shutdown_ends_run_until_stopped() -> None:
    async with build({"store": {}}, store=plugin("store")) as kernel:
        kernel.request_shutdown("maintenance")
        assert await kernel.run_until_stopped(handle_signals=False) == "maintenance"


async def test_sigterm_stops_the_kernel_gracefully() -> None:
    kernel = build({"store": {}}, store=plugin("store"))
    async with kernel:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: _kill_soon(signal.SIGTERM))
            reason = await kernel.run_until_stopped()
    assert reason == "received SIGTERM"
    assert Recorder.steps == ["start store", "stop store"]


async def _kill_soon(signum: int) -> None:
    import os

    await anyio.sleep(0.05)
    os.kill(os.getpid(), signum)


async def test_kernel_publishes_lifecycle_events() -> None:
    async with PluginHarness({"store": plugin("store")}) as h:
        await h.wait_for("kernel.started")
    topics = [e.topic for e in h.events]
    assert topics == [
        "kernel.plugin.started", "kernel.started", "kernel.stopping", "kernel.plugin.stopped",
    ]


async def test_stop_is_bounded_by_stop_timeout() -> None:
    class Stubborn(Plugin):
        async def stop(self) -> None:
            await anyio.sleep(30)

    kernel = build({"kernel": {"stop_timeout": 0.1}, "stubborn": {}}, stubborn=Stubborn)
    with anyio.fail_after(5):
        async with kernel:
            pass
    assert kernel.plugins["stubborn"].state is State.STOPPED


def test_start_order_keeps_file_order_where_dependencies_allow() -> None:
    from pygent_kernel.graph import start_order

    requires = {"a": [], "b": ["x"], "c": [], "d": [], "e": []}
    provides = {"a": [], "b": [], "c": [], "d": ["x"], "e": []}
    assert start_order(requires, provides) == ["a", "c", "d", "b", "e"]
