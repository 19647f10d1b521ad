"""chroma: placeholder, being built (issue 10)."""

from pygent_sdk import Plugin


class ChromaPlugin(Plugin):
    """Placeholder of the chroma plugin (issue 10)."""
