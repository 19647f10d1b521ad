"""The built-in reasoning tasks of the ``tot`` plugin."""
