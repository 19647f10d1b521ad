"""pgvector: placeholder, being built (issue 10)."""

from pygent_sdk import Plugin


class PgVectorPlugin(Plugin):
    """Placeholder of the pgvector plugin (issue 10)."""
