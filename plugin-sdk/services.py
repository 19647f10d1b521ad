"""Typed services: ask another plugin's capability for a typed object, or get a clear error.

A capability that hands out an object (a memory store, the agent registry, a sandbox) declares a
firstresult hook that returns it, and a :class:`ServiceKey` naming that hook, the type and the
capability that provides it (pytest's ``StashKey[T]`` is the model)::

    MEMORY_STORE = ServiceKey("pygent_memory_store", MemoryStore, provider="memory")

    store = self.context.service(MEMORY_STORE)            # MemoryStore, or ServiceUnavailable
    store = self.context.optional_service(MEMORY_STORE)   # MemoryStore | None
"""

from __future__ import annotations

import dataclasses
from typing import Any, Generic, TypeVar

from .errors import PygentError

T = TypeVar("T")


class ServiceUnavailable(PygentError, LookupError):
    """A plugin asked for a service that no enabled, started plugin provides."""


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceKey(Generic[T]):
    """Names a service: the firstresult hook answering it, its type, and who provides it."""

    hook: str
    type: type[T]
    provider: str
    """The capability (``provides``) of the plugin that answers, for error messages."""

    def lookup(self, hook: Any, **kwargs: Any) -> T | None:
        """Call the hook on ``hook`` (a pluggy relay), arguments not given passed as None (the
        default: ``service(EMBEDDER)`` is ``service(EMBEDDER, name=None)``); None when nobody
        declared or answered it."""
        caller = getattr(hook, self.hook, None)
        if caller is None or caller.spec is None:
            return None
        missing = {name: None for name in caller.spec.argnames if name not in kwargs}
        return caller(**kwargs, **missing)

    def require(self, hook: Any, *, who: str = "", **kwargs: Any) -> T:
        """Like :meth:`lookup`, but raise :class:`ServiceUnavailable` naming the provider."""
        found = self.lookup(hook, **kwargs)
        if found is None:
            asker = f"Plugin '{who}' needs" if who else "This needs"
            raise ServiceUnavailable(
                f"{asker} the {self.type.__name__} service (hook {self.hook}), which comes from "
                f"a plugin providing '{self.provider}': enable it in plugins.toml "
                f"(e.g. [{self.provider}])."
            )
        return found
