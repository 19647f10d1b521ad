"""The ``pygent`` pytest plugin (entry point ``pytest11``): SDK test doubles as fixtures.

``pygent_harness`` is :class:`~pygent_sdk.testing.PluginHarness` itself, to call with your
plugins; ``scripted_model`` makes a :class:`~pygent_sdk.testing.ScriptedChatModel`. Imports are
lazy so that installing PyGent adds nothing to pytest's start-up.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def pygent_harness() -> Any:
    """The PluginHarness class: ``async with pygent_harness({"x": XPlugin}, config) as h``."""
    from .harness import PluginHarness

    return PluginHarness


@pytest.fixture
def scripted_model() -> Any:
    """A factory of ScriptedChatModel: ``scripted_model(["reply 1", "reply 2"])``."""
    from .models import ScriptedChatModel

    return ScriptedChatModel
