"""PyGent's built-in plugins, each registered under the ``pygent.plugins`` entry-point group."""
