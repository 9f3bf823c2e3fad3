"""Thin CLIs, one per DVC stage; each exposes add_arguments(parser) and run(args)."""
