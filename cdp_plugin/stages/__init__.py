"""The built-in stages, each an ordinary plugin module (see ``manager.DEFAULT_PLUGINS``)."""
