"""The kernel: loads the plugins plugins.toml enables, starts them in dependency order, stops them
in reverse, and carries their hooks and events. It never imports a plugin by name.

::

    async with Kernel.from_config("plugins.toml") as kernel:
        await kernel.bus.publish(SomeEvent(...))
        await kernel.run_until_stopped()      # SIGINT/SIGTERM or kernel.request_shutdown()
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import logging
import os
import signal
from collections.abc import Mapping
from typing import Any

import anyio
import pluggy
from anyio.abc import TaskGroup, TaskStatus
from pygent_sdk.bus import Listener
from pygent_sdk.errors import (
    ConfigError, ConfigErrors, DependencyError, PluginError, PygentError,
)
from pygent_sdk.events import (
    KernelStarted, KernelStopping, PluginFailed, PluginStarted, PluginStopped,
)
from pygent_sdk.files import private_dir
from pygent_sdk.health import Health, KernelHealth, PluginStatus, worst
from pygent_sdk.markers import PROJECT
from pygent_sdk.plugin import Plugin, PluginConfig, PluginContext
from pygent_sdk.services import ServiceKey, T

from . import discovery, graph, hookspecs
from .bus import EventBus, Subscription
from .config import ConfigFile, PluginEntry, parse_config, read_config, validate

log = logging.getLogger("pygent.kernel")


class State(enum.StrEnum):
    """Where a plugin is in its life."""

    DISABLED = "disabled"
    LOADED = "loaded"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclasses.dataclass(eq=False)
class PluginRecord:
    """The kernel's view of one configured plugin."""

    entry: PluginEntry
    cls: type[Plugin] | None = None
    config: PluginConfig | None = None
    instance: Plugin | None = None
    state: State = State.LOADED
    error: PygentError | None = None
    scope: anyio.CancelScope | None = None
    done: anyio.Event | None = None

    @property
    def name(self) -> str:
        return self.entry.name


class Kernel:
    """One kernel instance: its own plugin manager, bus and plugins.

    Construction loads, validates, instantiates and registers the enabled plugins and computes
    the start order; problems are collected in :attr:`errors`. A problem in a plugin whose
    ``on_error`` is ``"stop"`` is fatal: ``from_config`` raises it (unless ``check=False``) and
    so does entering the kernel. With ``"continue"`` the plugin is marked failed and skipped.
    """

    def __init__(
        self, config: ConfigFile, classes: Mapping[str, type[Plugin]] | None = None
    ) -> None:
        """``classes`` maps plugin names to classes, bypassing entry points (tests, embedding)."""
        self.settings = config.kernel
        self.source = config.source
        self.bus = EventBus(self.settings.bus_maxsize)
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.hook = self.pm.hook
        self.plugins: dict[str, PluginRecord] = {e.name: PluginRecord(e) for e in config.plugins}
        self.errors: list[tuple[PygentError, bool]] = [(e, True) for e in config.errors]
        """Every problem found, with whether it is fatal."""
        self.order: list[str] = []
        self._started: list[PluginRecord] = []
        self._tg: TaskGroup | None = None
        self._fatal: PygentError | None = None
        self._stop_requested = anyio.Event()
        self.stop_reason = ""
        self._classes = dict(classes or {})
        self._plugin_impls: dict[tuple[str, str], list[pluggy.HookImpl]] = {}
        self._prepare()

    @classmethod
    def from_config(cls, path: str | os.PathLike[str], *, check: bool = True) -> Kernel:
        """Build a kernel from a ``plugins.toml`` file; ``check`` raises fatal problems now."""
        kernel = cls(read_config(path))
        if check:
            kernel.raise_fatal()
        return kernel

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, classes: Mapping[str, type[Plugin]] | None = None,
        source: str = "<memory>", check: bool = True,
    ) -> Kernel:
        """Build a kernel from config data shaped like plugins.toml (``{"name": {...}}``)."""
        kernel = cls(parse_config(data, source=source), classes)
        if check:
            kernel.raise_fatal()
        return kernel

    # Preparation ---------------------------------------------------------------------------

    def _prepare(self) -> None:
        classes = self._classes
        enabled = [r for r in self.plugins.values() if r.entry.enabled]
        for rec in self.plugins.values():
            if not rec.entry.enabled:
                rec.state = State.DISABLED
        wanted = [r.name for r in enabled if r.name not in classes and r.entry.error is None]
        loaded, failures = discovery.load(wanted) if wanted else ({}, {})
        loaded = {**loaded, **classes}
        self.pm.hook.pygent_addhooks.call_historic(kwargs={"pluginmanager": self.pm})
        for rec in enabled:
            if rec.entry.error is not None:
                self._fail(rec, rec.entry.error)
            elif rec.name in failures:
                self._fail(rec, failures[rec.name])
            elif rec.name not in loaded:
                names = ", ".join(sorted(discovery.installed())) or "(none)"
                self._fail(rec, ConfigError(
                    f"no installed plugin is named '{rec.name}'; installed plugins: {names}",
                    file=self.source, table=rec.name,
                ))
            else:
                self._instantiate(rec, loaded[rec.name])
        self._check_hooks()
        self._resolve_dependencies()

    def _instantiate(self, rec: PluginRecord, cls: type[Plugin]) -> None:
        rec.cls = cls
        try:
            rec.config = validate(cls.Config, rec.entry.options, source=self.source, table=rec.name)
        except (ConfigError, ConfigErrors) as err:
            self._fail(rec, err)
            return
        context = PluginContext(
            name=rec.name, bus=self.bus, hook=self.pm.hook,
            data_dir=self.settings.data_dir / rec.name,
            log=logging.getLogger(f"pygent.plugin.{rec.name}"),
            stop_timeout=self.settings.stop_timeout, request_shutdown=self.request_shutdown,
            health=self.health, plugins=self.statuses,
        )
        try:
            rec.instance = cls(rec.config, context)
        except Exception as err:
            self._fail(rec, PluginError(rec.name, "load", _describe(err)))
            return
        try:
            self.pm.register(rec.instance, name=rec.name)
        except pluggy.PluginValidationError as err:
            self._fail(rec, PluginError(rec.name, "register", " ".join(str(err).split("\n"))))

    def _check_hooks(self) -> None:
        """Refuse hookimpls for hooks that no plugin declared (typos, missing providers).

        ``@hookimpl(optionalhook=True)`` marks an implementation of another plugin's extension
        point that may be absent (e.g. routes for the http transport): it is kept, unused.
        A plugin whose ``requires`` are not provided is left to the dependency check, whose
        message names the capability and the plugin that would provide it.
        """
        provided = {
            cap for r in self.plugins.values() if r.cls and r.state is State.LOADED
            for cap in r.cls.provides
        }
        for rec in self.plugins.values():
            if rec.instance is None or rec.state is State.FAILED:
                continue
            if rec.cls is not None and not set(rec.cls.requires) <= provided:
                continue
            for caller in self.pm.get_hookcallers(rec.instance) or []:
                impls = [i for i in caller.get_hookimpls() if i.plugin is rec.instance]
                if caller.spec is None and not all(i.optionalhook for i in impls):
                    declared = ", ".join(sorted(
                        n for n in vars(self.pm.hook) if getattr(self.pm.hook, n).spec
                    ))
                    self._fail(rec, PluginError(
                        rec.name, "register",
                        f"it implements hook '{caller.name}', which no enabled plugin declares. "
                        f"Declared hooks: {declared}",
                    ))
                    break

    def _resolve_dependencies(self) -> None:
        """Fail plugins whose requirements are unmet (repeatedly: a failure may cascade), then order."""
        while True:
            live = {n: r.cls for n, r in self.plugins.items() if r.cls and r.state is State.LOADED}
            requires = {n: cls.requires for n, cls in live.items()}
            provides = {n: cls.provides for n, cls in live.items()}
            uses = {n: cls.uses for n, cls in live.items()}
            gaps = graph.missing(requires, provides)
            if not gaps:
                break
            for name, caps in gaps.items():
                self._fail(self.plugins[name], DependencyError(
                    f"Plugin '{name}' requires {', '.join(repr(c) for c in caps)}, which no "
                    f"enabled plugin provides{self._would_provide(caps)}.",
                    plugins=(name,),
                ))
        try:
            self.order = graph.start_order(requires, provides, uses)
        except DependencyError as err:
            self.errors.append((err, True))

    def _would_provide(self, caps: list[str]) -> str:
        """Name the plugins that would provide ``caps`` but are disabled, failed or unlisted.

        Only on this error path are plugins that are not enabled imported, to read ``provides``.
        """
        idle = [n for n in discovery.installed() if n not in self.plugins and n not in self._classes]
        idle += [r.name for r in self.plugins.values() if r.state is not State.LOADED]
        loaded, _ = discovery.load([n for n in idle if n not in self._classes])
        classes = {**loaded, **self._classes}
        candidates = [
            f"'{name}' ({self.plugins[name].state if name in self.plugins else 'not in the config'})"
            for name in idle if name in classes and set(caps) & set(classes[name].provides)
        ]
        return f"; it would come from {', '.join(candidates)}" if candidates else (
            "; install and enable a plugin that provides it"
        )

    def _fail(self, rec: PluginRecord, err: PygentError) -> None:
        rec.state, rec.error = State.FAILED, err
        if rec.instance is not None and self.pm.is_registered(rec.instance):
            self.pm.unregister(rec.instance)
            self._plugin_impls.clear()
        self.errors.append((err, rec.entry.on_error == "stop"))

    def raise_fatal(self) -> None:
        """Raise the fatal problems found so far, all of them in one error."""
        fatal = [e for e, is_fatal in self.errors if is_fatal]
        if fatal:
            flat = [x for e in fatal for x in (e.errors if isinstance(e, ConfigErrors) else [e])]
            raise flat[0] if len(flat) == 1 else ConfigErrors(flat)

    # Hooks ---------------------------------------------------------------------------------

    def call_plugin(self, hook_name: str, plugin: str, **kwargs: Any) -> list[Any]:
        """Call one plugin's implementation of ``hook_name``: a list of its answer, empty when
        the plugin does not implement it.

        The plugin's implementations are looked up once (pluggy's subset callers filter every
        implementation on every call) and run through pluggy's hook execution, so hook-call
        monitoring (the test harness's recording) sees the call.
        """
        impls = self._plugin_impls.get((hook_name, plugin))
        if impls is None:
            target = self.pm.get_plugin(plugin)
            caller = getattr(self.pm.hook, hook_name, None)
            impls = self._plugin_impls[hook_name, plugin] = [
                i for i in (caller.get_hookimpls() if caller is not None else []) if i.plugin is target
            ] if target is not None else []
        return self.pm._hookexec(hook_name, impls, kwargs, False)  # type: ignore[return-value]

    def service(self, key: ServiceKey[T], **kwargs: Any) -> T:
        """The service ``key`` names (e.g. ``pygent_sdk.memory.MEMORY_STORE``), or raise
        ``ServiceUnavailable`` naming the plugin to enable."""
        return key.require(self.hook, **kwargs)

    def optional_service(self, key: ServiceKey[T], **kwargs: Any) -> T | None:
        """The service ``key`` names, or None when no enabled plugin provides it."""
        return key.lookup(self.hook, **kwargs)

    # Lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> Kernel:
        self.raise_fatal()
        for err, _ in self.errors:  # none is fatal, or raise_fatal would have raised
            _log_tolerated(err)
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        try:
            for name in self.order:
                await self._start(self.plugins[name])
            for rec in list(self._started):
                await self._startup(rec)
            running = tuple(r.name for r in self._started)
            await self.bus.publish(KernelStarted(plugins=running, source="kernel"))
            log.info("kernel started: %s", ", ".join(running) or "no plugins")
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._stop_all("start-up failed")
            await self._tg.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool | None:
        with anyio.CancelScope(shield=True):
            await self._stop_all(self.stop_reason or "kernel exited")
        assert self._tg is not None
        if exc is None or isinstance(exc, anyio.get_cancelled_exc_class()):
            # A cancellation may be the task group's own (a fatal crash): let its scope judge it.
            suppressed = await self._tg.__aexit__(exc_type, exc, tb)
        else:
            # The plugins have stopped: the caller's own error propagates as it is, not grouped.
            await self._tg.__aexit__(None, None, None)
            suppressed = False
        if self._fatal is not None:
            raise self._fatal
        return suppressed

    async def _start(self, rec: PluginRecord) -> None:
        assert self._tg is not None and rec.cls is not None
        lost = [c for c in rec.cls.requires if not self._provided(c)]
        if lost:
            err: PygentError = DependencyError(
                f"Plugin '{rec.name}' requires {', '.join(lost)}, whose providers failed to start.",
                plugins=(rec.name,),
            )
        else:
            try:
                assert rec.instance is not None
                private_dir(self.settings.data_dir, tighten=False)  # 0700 whatever the umask
                private_dir(rec.instance.context.data_dir)
                await self._tg.start(self._run_plugin, rec)
                self._started.append(rec)
                return
            except Exception as exc:
                err = PluginError(rec.name, "start", _describe(exc))
        self._fail(rec, err)
        await self.bus.publish(PluginFailed(plugin=rec.name, phase="start", error=str(err)))
        if rec.entry.on_error == "stop":
            raise err
        _log_tolerated(err)

    async def _startup(self, rec: PluginRecord) -> None:
        """Run one started plugin's ``pygent_startup``; a failure counts as a failed start."""
        try:
            for result in self.call_plugin("pygent_startup", rec.name):
                if inspect.isawaitable(result):
                    await result
            return
        except Exception as exc:
            err = PluginError(rec.name, "start", _describe(exc))
        await self._stop_one(rec)
        self._started.remove(rec)
        self._fail(rec, err)
        await self.bus.publish(PluginFailed(plugin=rec.name, phase="start", error=str(err)))
        if rec.entry.on_error == "stop":
            raise err
        _log_tolerated(err)

    def _provided(self, capability: str) -> bool:
        return any(
            r.state is State.RUNNING and capability in r.cls.provides  # type: ignore[union-attr]
            for r in self._started
        )

    async def _run_plugin(self, rec: PluginRecord, *, task_status: TaskStatus[None]) -> None:
        """Run one plugin and its listeners, shielded so the kernel stops them one by one."""
        assert rec.instance is not None
        rec.done = anyio.Event()
        subs: list[Subscription] = []
        started = False
        try:
            with anyio.CancelScope(shield=True) as rec.scope:
                async with anyio.create_task_group() as tg:
                    rec.state = State.STARTING
                    await tg.start(rec.instance.run)
                    for listener in self._listeners_of(rec):
                        sub = self.bus.subscribe(
                            listener.pattern, maxsize=listener.maxsize,
                            overflow=listener.overflow,
                            name=f"{rec.name}:{listener.name or listener.pattern}",
                        )
                        subs.append(sub)
                        tg.start_soon(_listen, rec.name, listener, sub)
                    rec.state, started = State.RUNNING, True
                    task_status.started()
                    await self.bus.publish(PluginStarted(plugin=rec.name, source="kernel"))
        except Exception as exc:
            if not started:
                raise
            await self._crashed(rec, PluginError(rec.name, "run", _describe(exc)))
        finally:
            for sub in subs:
                sub.close()
            if rec.state in (State.RUNNING, State.STOPPING):
                rec.state = State.STOPPED
            rec.done.set()

    def _listeners_of(self, rec: PluginRecord) -> list[Listener]:
        listeners: list[Listener] = []
        for contributed in self.call_plugin("pygent_listeners", rec.name):
            listeners.extend(contributed or [])
        return listeners

    async def _crashed(self, rec: PluginRecord, err: PluginError) -> None:
        self._fail(rec, err)
        with anyio.CancelScope(shield=True):
            await self.bus.publish(PluginFailed(plugin=rec.name, phase="run", error=str(err)))
        if rec.entry.on_error != "stop":
            _log_tolerated(err)
        elif self._fatal is None and self._tg is not None:
            log.error("%s; stopping the kernel (on_error = \"stop\")", err)
            self._fatal = err
            self.request_shutdown(str(err))
            self._tg.cancel_scope.cancel()

    async def _stop_all(self, reason: str) -> None:
        with anyio.move_on_after(self.settings.stop_timeout):
            await self.bus.publish(KernelStopping(reason=reason, source="kernel"))
        for rec in reversed(self._started):
            await self._stop_one(rec)
        self._started.clear()

    async def _stop_one(self, rec: PluginRecord) -> None:
        if rec.scope is None or rec.done is None or rec.done.is_set():
            return
        rec.state = State.STOPPING
        rec.scope.cancel()
        with anyio.move_on_after(self.settings.stop_timeout + 1):
            await rec.done.wait()
        if not rec.done.is_set():
            log.error("plugin '%s' did not stop within %.0f s", rec.name, self.settings.stop_timeout)
            return
        if rec.state is State.STOPPED:
            with anyio.move_on_after(self.settings.stop_timeout):
                await self.bus.publish(PluginStopped(plugin=rec.name, source="kernel"))

    def request_shutdown(self, reason: str = "shutdown requested") -> None:
        """Ask the kernel to stop: :meth:`run_until_stopped` returns."""
        if not self._stop_requested.is_set():
            self.stop_reason = reason
            self._stop_requested.set()

    async def run_until_stopped(self, *, handle_signals: bool = True) -> str:
        """Wait for SIGINT/SIGTERM (when ``handle_signals``) or :meth:`request_shutdown`.

        Returns the reason. Signal handling needs the main thread.
        """
        async with anyio.create_task_group() as tg:
            if handle_signals:
                await tg.start(self.watch_signals)
            await self._stop_requested.wait()
            tg.cancel_scope.cancel()
        return self.stop_reason

    async def watch_signals(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Turn SIGINT and SIGTERM into :meth:`request_shutdown` until cancelled (main thread).

        Start it with ``TaskGroup.start`` before entering the kernel to cover start-up too.
        """
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
            async for signum in signals:
                self.request_shutdown(f"received {signal.Signals(signum).name}")

    # Health --------------------------------------------------------------------------------

    def statuses(self) -> list[PluginStatus]:
        """Every configured plugin: state, summary, capabilities and error, in start order."""
        rows = []
        for name in self.order + [n for n in self.plugins if n not in self.order]:
            rec = self.plugins[name]
            rows.append(PluginStatus(
                name=name, state=str(rec.state), summary=rec.cls.summary() if rec.cls else "",
                provides=tuple(rec.cls.provides) if rec.cls else (),
                requires=tuple(rec.cls.requires) if rec.cls else (),
                error=str(rec.error) if rec.error else None,
            ))
        return rows

    async def health(self) -> KernelHealth:
        """Every enabled plugin's health, through its ``pygent_health`` hook."""
        reports: dict[str, Health] = {}
        for name, rec in self.plugins.items():
            if rec.state is State.DISABLED:
                continue
            if rec.state is State.FAILED:
                reports[name] = Health.down(str(rec.error))
            elif rec.state is not State.RUNNING:
                reports[name] = Health.down(f"not running ({rec.state})")
            else:
                reports[name] = await self._plugin_health(name)
        return KernelHealth(worst([h.status for h in reports.values()]), reports)

    async def _plugin_health(self, name: str) -> Health:
        timeout = self.settings.health_timeout
        try:
            results = self.call_plugin("pygent_health", name)
            if not results:
                return Health.ok()
            result = results[0]
            if inspect.isawaitable(result):  # a sync hook cannot be interrupted anyway
                with anyio.fail_after(timeout):
                    result = await result
        except TimeoutError:
            return Health.down(f"health check took longer than {timeout:g} s")
        except Exception as exc:
            return Health.down(f"health check raised {_describe(exc)}")
        if not isinstance(result, Health):
            return Health.down(f"health hook returned {result!r}, expected a pygent_sdk.Health")
        return result


async def _listen(plugin: str, listener: Listener, sub: Subscription) -> None:
    """Feed one listener from its subscription, one event at a time; contain its errors."""
    async for event in sub:
        try:
            result = listener.callback(event)
            if inspect.isawaitable(result):
                await result
        except Exception:
            sub.errors += 1
            log.exception(
                "listener %r of plugin '%s' raised on a %s event (failure %d; it keeps listening)",
                listener.name or listener.pattern, plugin, event.topic, sub.errors,
            )


def _log_tolerated(err: PygentError) -> None:
    log.warning("%s (on_error = \"continue\": carrying on without it)", err)


def _describe(exc: BaseException) -> str:
    """``Type: message`` of an exception, looking through single-member exception groups."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    if isinstance(exc, PygentError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
