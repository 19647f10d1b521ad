"""embeddings: placeholder, being built (issue 10)."""

from pygent_sdk import Plugin


class EmbeddingsPlugin(Plugin):
    """Placeholder of the embeddings plugin (issue 10)."""
