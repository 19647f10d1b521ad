"""Start-up order from plugins' ``provides``/``requires``: providers start before what needs them."""

from __future__ import annotations

import graphlib
from collections.abc import Mapping, Sequence

from pygent_sdk.errors import DependencyError


def missing(
    requires: Mapping[str, Sequence[str]], provides: Mapping[str, Sequence[str]]
) -> dict[str, list[str]]:
    """For each plugin, the capabilities it requires that no plugin in ``provides`` offers."""
    offered = {cap for caps in provides.values() for cap in caps}
    return {
        name: gaps for name, caps in requires.items()
        if (gaps := [c for c in caps if c not in offered])
    }


def start_order(
    requires: Mapping[str, Sequence[str]], provides: Mapping[str, Sequence[str]],
    uses: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """Plugin names in an order where every provider precedes its requirers (file order otherwise).

    ``uses`` are soft requirements: a plugin starts after their providers when some are present,
    and without them otherwise. Assumes every requirement has a provider (see :func:`missing`);
    raises DependencyError naming the plugins of a cycle.
    """
    uses = uses or {}
    wants = {name: (*requires[name], *uses.get(name, ())) for name in requires}
    providers: dict[str, list[str]] = {}
    for name, caps in provides.items():
        for cap in caps:
            providers.setdefault(cap, []).append(name)
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for name in requires:
        deps = [p for cap in wants[name] for p in providers.get(cap, []) if p != name]
        sorter.add(name, *deps)
    position = {name: i for i, name in enumerate(requires)}
    try:
        sorter.prepare()
    except graphlib.CycleError as err:
        cycle: list[str] = err.args[1]
        # Each node in graphlib's cycle is a dependency (provider) of the node after it.
        links = "; ".join(
            f"'{user}' requires {', '.join(sorted(set(wants[user]) & set(provides[dep])))} "
            f"from '{dep}'"
            for dep, user in zip(cycle, cycle[1:])
        )
        raise DependencyError(
            f"Dependency cycle between plugins: {links}. Remove one of these requirements or "
            "disable one of the plugins.",
            plugins=tuple(dict.fromkeys(cycle)),
        ) from None
    # Among the plugins free to start, always take the one earliest in the file.
    order: list[str] = []
    ready: list[str] = []
    while sorter.is_active():
        ready.extend(sorter.get_ready())
        ready.sort(key=position.__getitem__)
        name = ready.pop(0)
        order.append(name)
        sorter.done(name)
    return order
