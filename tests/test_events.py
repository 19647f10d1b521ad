"""Events that can cross a wire: ids, origin, the topic registry, to_dict/from_dict, inject."""

from __future__ import annotations

import json
import subprocess
import sys

import anyio
import pytest
from pygent_kernel import EventBus
from pygent_sdk import Event, event
from pygent_sdk.events import ORIGIN, KernelStarted, UnknownEvent, event_types

from .meta import event_classes

pytestmark = pytest.mark.anyio


def sample(cls: type[Event]) -> Event:
    """An instance of ``cls`` with a plausible value for every field."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(cls)
    values: dict[str, object] = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
            continue
        hint = hints[f.name]
        origin = typing.get_origin(hint) or hint
        values[f.name] = {
            str: "x", int: 3, float: 1.5, bool: True, tuple: ("a", "b"), dict: {"k": [1, 2]},
            list: ["a"],
        }.get(origin, None)
    return cls(**values)


@pytest.mark.parametrize("cls", event_classes(), ids=lambda c: c.topic)
def test_every_event_round_trips_through_json(cls: type[Event]) -> None:
    original = sample(cls)
    wire = json.loads(json.dumps(original.to_dict()))
    assert wire["topic"] == cls.topic and wire["version"] == cls.version
    assert Event.from_dict(wire) == original


def test_every_event_class_is_registered_by_topic() -> None:
    registered = event_types()
    for cls in event_classes():
        assert registered[cls.topic] is cls


def test_events_carry_unique_ids_timestamps_and_this_process_as_origin() -> None:
    a, b = KernelStarted(plugins=()), KernelStarted(plugins=())
    assert a.id != b.id and a.origin == b.origin == ORIGIN and a.is_local
    assert a.ts <= b.ts


def test_ids_and_origins_differ_between_processes() -> None:
    code = "from pygent_sdk.events import KernelStarted as K; e = K(plugins=()); print(e.id, e.origin)"
    other_id, other_origin = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    mine = KernelStarted(plugins=())
    assert other_origin != ORIGIN
    assert other_id.split("-")[0] != mine.id.split("-")[0]


def test_a_remote_event_is_rebuilt_with_its_own_id_and_origin() -> None:
    wire = {**KernelStarted(plugins=("a",)).to_dict(), "origin": "elsewhere:1:ab", "id": "r-1"}
    remote = Event.from_dict(wire)
    assert isinstance(remote, KernelStarted) and remote.plugins == ("a",)
    assert remote.id == "r-1" and not remote.is_local


def test_from_dict_refuses_unknown_topics_newer_versions_and_missing_fields() -> None:
    with pytest.raises(UnknownEvent, match="no event class is registered for topic 'nope.never'"):
        Event.from_dict({"topic": "nope.never"})
    with pytest.raises(UnknownEvent, match="schema version 99"):
        Event.from_dict({**KernelStarted(plugins=()).to_dict(), "version": 99})
    with pytest.raises(TypeError, match="kernel.started"):
        Event.from_dict({"topic": "kernel.started"})


def test_from_dict_ignores_fields_it_does_not_know() -> None:
    wire = {**KernelStarted(plugins=()).to_dict(), "added_later": 1}
    assert isinstance(Event.from_dict(wire), KernelStarted)


def test_a_topic_belongs_to_one_class() -> None:
    with pytest.raises(ValueError, match="registered twice.*KernelStarted.*Impostor"):
        @event("kernel.started")
        class Impostor(Event):
            plugins: tuple[str, ...]


async def test_a_bridge_forwards_local_events_and_injected_ones_do_not_echo() -> None:
    bus = EventBus()
    forwarded: list[Event] = []
    seen: list[Event] = []
    with bus.subscribe(">") as bridge, bus.subscribe(">") as listener:
        await bus.publish(KernelStarted(plugins=()))
        remote = Event.from_dict({**KernelStarted(plugins=()).to_dict(), "origin": "other:2:cd"})
        await bus.inject(remote)
        with anyio.fail_after(1):
            for _ in range(2):
                e = await bridge.__anext__()
                if e.is_local:
                    forwarded.append(e)
                seen.append(await listener.__anext__())
    assert [e.is_local for e in seen] == [True, False]
    assert len(forwarded) == 1
    assert bus.stats().injected == 1 and bus.stats().published == 2


async def test_inject_refuses_a_local_event() -> None:
    with pytest.raises(ValueError, match="is local"):
        await EventBus().inject(KernelStarted(plugins=()))


def test_a_forked_child_is_its_own_origin_with_its_own_ids() -> None:
    import os

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports its event's origin and id, then leaves at once
        child = KernelStarted(plugins=())
        os.write(write, f"{child.origin} {child.id} {child.is_local}".encode())
        os._exit(0)
    os.waitpid(pid, 0)
    origin, event_id, local = os.read(read, 1000).decode().split()
    mine = KernelStarted(plugins=())
    assert origin != mine.origin and local == "True"
    assert event_id.split("-")[0] != mine.id.split("-")[0]
