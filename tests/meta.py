"""What the meta-tests check: every hookspec and event the project itself declares."""

from __future__ import annotations

import importlib

from pygent_kernel import Kernel, installed
from pygent_sdk import Event
from pygent_sdk.events import event_types

PROJECT_DIST = "pygent-factory"


def builtin_plugins() -> list[str]:
    return sorted(n for n, i in installed().items() if i.distribution == PROJECT_DIST)


def hook_names() -> list[str]:
    """Every hookspec: the kernel's and those the built-in plugins add through pygent_addhooks."""
    kernel = Kernel.from_mapping({name: {} for name in builtin_plugins()})
    return sorted(n for n in vars(kernel.pm.hook) if getattr(kernel.pm.hook, n).spec is not None)


def event_classes() -> list[type[Event]]:
    """Every event class the SDK and the built-in plugins register, by topic."""
    for name in builtin_plugins():
        module, _, _ = installed()[name].target.partition(":")
        importlib.import_module(module)
    found = {
        topic: cls for topic, cls in event_types().items()
        if cls.__module__.startswith(("pygent_sdk", "pygent_plugins"))
    }
    return [found[topic] for topic in sorted(found)]
