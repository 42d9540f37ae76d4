"""`flowvox <verb>`: the command line. ``flowvox.cli.main.main`` is the entry point."""
