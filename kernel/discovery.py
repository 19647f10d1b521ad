"""Finding plugins: entry points of the ``pygent.plugins`` group, loaded by name with stevedore."""

from __future__ import annotations

import dataclasses
import importlib.metadata
from collections.abc import Sequence

from pygent_sdk.errors import PluginError
from pygent_sdk.plugin import Plugin
from stevedore import NamedExtensionManager

NAMESPACE = "pygent.plugins"


@dataclasses.dataclass(frozen=True, slots=True)
class Installed:
    """An installed plugin's entry point and the distribution that ships it."""

    name: str
    target: str
    distribution: str
    version: str


def installed() -> dict[str, Installed]:
    """Every plugin installed in this environment, by entry-point name."""
    found: dict[str, Installed] = {}
    for ep in importlib.metadata.entry_points(group=NAMESPACE):
        dist = ep.dist
        found.setdefault(ep.name, Installed(
            ep.name, ep.value, dist.name if dist else "?", dist.version if dist else "?"
        ))
    return found


def load(names: Sequence[str]) -> tuple[dict[str, type[Plugin]], dict[str, PluginError]]:
    """Import the named plugins' classes; failures come back per name, never raised."""
    failures: dict[str, PluginError] = {}

    def failed(_mgr: object, ep: importlib.metadata.EntryPoint, err: BaseException) -> None:
        failures[ep.name] = PluginError(
            ep.name, "load", f"importing {ep.value} raised {type(err).__name__}: {err}"
        )

    manager = NamedExtensionManager(
        NAMESPACE, names=list(names), on_load_failure_callback=failed,
        on_missing_entrypoints_callback=None,
    )
    classes: dict[str, type[Plugin]] = {}
    for ext in manager:
        if isinstance(ext.plugin, type) and issubclass(ext.plugin, Plugin):
            classes[ext.name] = ext.plugin
        else:
            failures[ext.name] = PluginError(
                ext.name, "load",
                f"entry point {ext.entry_point.value} is {ext.plugin!r}, "
                "expected a subclass of pygent_sdk.Plugin",
            )
    return classes, failures
