"""rag: placeholder, being built (issue 10)."""

from pygent_sdk import Plugin


class RagPlugin(Plugin):
    """Placeholder of the rag plugin (issue 10)."""
