"""The ``pygent`` command and the embedding entry points. Re-exports only."""

from .cli import __version__, main

__all__ = ["__version__", "main"]
