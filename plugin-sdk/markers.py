"""The pluggy markers every PyGent plugin and hookspec module uses."""

from __future__ import annotations

import pluggy

PROJECT = "pygent"

hookimpl = pluggy.HookimplMarker(PROJECT)
"""Mark a plugin method as an implementation of the hook of the same name."""

hookspec = pluggy.HookspecMarker(PROJECT)
"""Mark a function in a hookspec module or class as a hook specification."""
