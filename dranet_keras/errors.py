"""Errors a user can cause; the CLI prints them as one line instead of a traceback."""


class UserError(Exception):
    """Base class: a mistake in input data, configuration or paths, with a message that says
    which file/key is wrong and what was expected."""
