"""research: placeholder, being built (issue 10)."""

from pygent_sdk import Plugin


class ResearchPlugin(Plugin):
    """Placeholder of the research plugin (issue 10)."""
