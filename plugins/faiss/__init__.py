"""faiss: placeholder, being built (issue 10)."""

from pygent_sdk import Plugin


class FaissPlugin(Plugin):
    """Placeholder of the faiss plugin (issue 10)."""
