"""tot: placeholder, being written (issue 11)."""

from pygent_sdk import Plugin


class TotPlugin(Plugin):
    """Placeholder."""
